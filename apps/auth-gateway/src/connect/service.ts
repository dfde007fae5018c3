/**
 * The connect journey: connect sessions (option 1: TrueLayer's dialog; option 2: our hosted pages), the callback
 * (state check, single-use consumption, code exchange in token-vault), and re-consent.
 */
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import { NO_PROVIDER, recordFunnelStage } from '@ais/platform-telemetry';
import { buildAuthLink, codeChallengeS256, createPkcePair } from '@ais/truelayer-client';
import { randomBytes } from 'node:crypto';
import type { Downstreams } from '../clients/grpc-clients';
import type { ApiClientRecord } from '../data/api-clients';
import type { AuthSessionRecord, AuthSessionStore, Dialog } from '../data/auth-sessions';
import { sameIntent, StateCodec, StateError, type Intent } from '../security/state';

export interface ConnectSettings {
  /** Public origin of the gateway (set after the port is bound when not configured). */
  publicBaseUrl: string;
  /** Registered redirect URI; undefined → `${publicBaseUrl}/v1/callback`. */
  redirectUri: string | undefined;
  trueLayerClientId: string;
  authBaseUrl: string;
  providers: string[];
  scopes: string[];
  countries: string[];
  sessionTtlMs: number;
  bounceTtlMs: number;
  productName: string;
  privacyPolicyUrl: string;
  bounceAutoRedirectSeconds: number;
}

export interface CreateSessionInput {
  client: ApiClientRecord;
  userId: string;
  dialog: 'truelayer' | 'hosted';
  providers?: string[] | undefined;
  scopes?: string[] | undefined;
  returnUrl?: string | undefined;
  webFallbackUrl?: string | undefined;
  responseMode?: 'query' | 'form_post' | undefined;
  intent?: Intent;
}

export interface CreatedSession {
  sessionId: string;
  url: string;
  expiresAt: Date;
}

/** `userIp`: the consenting user's IP as this gateway saw the redirect (Express `req.ip`, honouring TRUST_PROXY). */
export type CallbackInput = { state?: string | undefined; authCode?: string | undefined; error?: string | undefined; userIp?: string | undefined };

export type RejectReason = 'missing' | 'malformed' | 'forged' | 'expired' | 'replayed' | 'mismatch' | 'unknown';

export type CallbackResult =
  | { kind: 'rejected'; reason: RejectReason }
  | { kind: 'cancelled' | 'failed'; code: string; returnUrl: string | undefined }
  | { kind: 'connected'; bounceToken: string };

export type ReconsentResult =
  | { outcome: 'extended'; connection: tokenvaultV1.Connection }
  | { outcome: 'reauth' | 'new_auth' | 'confirm'; sessionId: string; url: string; expiresAt: Date };

/** Where the browser goes after the user reconfirmed on our hosted page. */
export type ReconfirmResult = { kind: 'bounce'; bounceToken: string } | { kind: 'redirect'; url: string };

const token = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/** `return_url` must be http(s) (or a custom app scheme) and start with one of the client's allowed prefixes. */
export function checkReturnUrl(client: ApiClientRecord, url: string, field = 'return_url'): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw AppError.invalid('invalid_return_url', `${field} is not an absolute URL`, [{ field, description: 'absolute URL' }]);
  }
  if (['javascript:', 'data:', 'file:', 'vbscript:'].includes(parsed.protocol) || parsed.username || parsed.password) {
    throw AppError.invalid('invalid_return_url', `${field} uses a forbidden scheme`, [{ field, description: 'http(s) or app scheme' }]);
  }
  const href = parsed.toString();
  const allowed = client.allowedReturnUrls.some((prefix) => href === prefix || href.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`) || href.startsWith(`${prefix}?`));
  if (!allowed) {
    throw new AppError({ code: 'return_url_not_allowed', message: `${field} is not among the client's allowed return URLs`, kind: 'permission_denied', violations: [{ field, description: 'allowed prefix' }] });
  }
  return href;
}

export function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

export class ConnectService {
  constructor(
    private readonly settings: ConnectSettings,
    private readonly sessions: AuthSessionStore,
    private readonly state: StateCodec,
    private readonly downstreams: Downstreams,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get redirectUri(): string {
    return this.settings.redirectUri ?? `${this.settings.publicBaseUrl.replace(/\/+$/, '')}/v1/callback`;
  }

  async createSession(input: CreateSessionInput): Promise<CreatedSession> {
    const returnUrl = input.returnUrl === undefined ? null : checkReturnUrl(input.client, input.returnUrl);
    const webFallbackUrl = input.webFallbackUrl === undefined ? returnUrl : checkReturnUrl(input.client, input.webFallbackUrl, 'web_fallback_url');
    const now = this.now();
    const pkce = createPkcePair();
    const record: AuthSessionRecord = {
      _id: token(16),
      clientId: input.client._id,
      userId: input.userId,
      intent: input.intent ?? { kind: 'new' },
      dialog: input.dialog,
      pageToken: input.dialog === 'hosted' ? token() : null,
      codeVerifier: pkce.codeVerifier,
      redirectUri: this.redirectUri,
      responseMode: input.responseMode ?? 'query',
      providers: input.providers?.length ? input.providers : this.settings.providers,
      scopes: input.scopes?.length ? input.scopes : this.settings.scopes,
      providerId: null,
      returnUrl,
      webFallbackUrl,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.settings.sessionTtlMs),
      consumedAt: null,
      outcome: null,
      outcomeCode: null,
      connectionId: null,
      bounceToken: null,
      bounceExpiresAt: null,
      browserBinding: null,
    };
    // Validate the link before storing anything (bad scopes/providers → 400).
    const url = record.pageToken ? this.hostedUrl(record.pageToken) : this.authLink(record, undefined);
    await this.sessions.create(record);
    if (record.intent.kind === 'new') recordFunnelStage('link_created', NO_PROVIDER);
    return { sessionId: record._id, url, expiresAt: record.expiresAt };
  }

  hostedUrl(pageToken: string): string {
    return `${this.settings.publicBaseUrl.replace(/\/+$/, '')}/connect/${pageToken}`;
  }

  /** TrueLayer's auth-dialog link for a session (with `provider_id` from the hosted picker when given). */
  authLink(record: AuthSessionRecord, providerId: string | undefined): string {
    const state = this.state.seal({ sid: record._id, uid: record.userId, cid: record.clientId, intent: record.intent, exp: record.expiresAt.getTime() });
    try {
      return buildAuthLink(this.settings.authBaseUrl, {
        clientId: this.settings.trueLayerClientId,
        redirectUri: record.redirectUri,
        scope: record.scopes,
        providers: record.providers,
        state,
        responseMode: record.responseMode,
        ...(record.codeVerifier ? { codeChallenge: codeChallengeS256(record.codeVerifier), codeChallengeMethod: 'S256' as const } : {}),
        ...(providerId ? { providerId } : {}),
      });
    } catch (error) {
      throw AppError.invalid('invalid_auth_request', (error as Error).message);
    }
  }

  /** Verifies and consumes the state, then exchanges the code (or records the cancellation). */
  async callback(input: CallbackInput): Promise<CallbackResult> {
    if (!input.state) return { kind: 'rejected', reason: 'missing' };
    const now = this.now();
    let payload;
    try {
      payload = this.state.open(input.state, now.getTime());
    } catch (error) {
      if (error instanceof StateError) return { kind: 'rejected', reason: error.reason };
      throw error;
    }
    const existing = await this.sessions.peek(payload.sid);
    if (!existing) return { kind: 'rejected', reason: 'unknown' };
    if (existing.userId !== payload.uid || existing.clientId !== payload.cid || !sameIntent(existing.intent, payload.intent)) {
      this.logger.warn({ sessionId: existing._id }, 'state does not match its session (user, client or intent): rejected');
      return { kind: 'rejected', reason: 'mismatch' };
    }
    if (existing.consumedAt) return { kind: 'rejected', reason: 'replayed' };
    if (existing.expiresAt <= now) return { kind: 'rejected', reason: 'expired' };
    const session = await this.sessions.consume(payload.sid, payload.uid, payload.cid, now);
    if (!session) return { kind: 'rejected', reason: 'replayed' };

    if (input.error || !input.authCode) {
      const code = input.error ? (/^[a-z_]{1,64}$/.test(input.error) ? input.error : 'provider_error') : 'missing_code';
      const kind = code === 'access_denied' ? 'cancelled' : 'failed';
      await this.sessions.finish(session._id, { outcome: kind, outcomeCode: code, connectionId: null, bounceToken: null, bounceExpiresAt: null });
      this.logger.info({ sessionId: session._id, outcome: kind, outcomeCode: code }, 'connect journey ended without a connection');
      return { kind, code, returnUrl: this.returnWith(session, { status: kind, error: code }) };
    }

    // The bank sent the user back with a code: consent given (the state is consumed, so once per journey).
    if (session.intent.kind === 'new') recordFunnelStage('consented', session.providerId);
    try {
      const res = await this.downstreams.tokenVault.exchangeCode({
        clientId: session.clientId,
        userId: session.userId,
        authorizationCode: input.authCode,
        redirectUri: session.redirectUri,
        codeVerifier: session.codeVerifier ?? '',
        previousConnectionId: session.intent.kind === 'reconsent' ? session.intent.connectionId : '',
        // For data-fetcher's post-consent fetch (X-PSU-IP), carried by connection.authorized; never logged.
        psuIp: input.userIp ?? '',
      });
      const bounceToken = token();
      await this.sessions.finish(session._id, {
        outcome: 'connected',
        outcomeCode: null,
        connectionId: res.connection?.connectionId ?? null,
        bounceToken,
        bounceExpiresAt: new Date(now.getTime() + this.settings.bounceTtlMs),
      });
      this.logger.info({ sessionId: session._id, connectionId: res.connection?.connectionId }, 'connect journey completed');
      return { kind: 'connected', bounceToken };
    } catch (error) {
      const app = error instanceof AppError ? error : AppError.internal('exchange failed', error);
      this.logger.warn({ sessionId: session._id, err: app, errCode: app.code }, 'code exchange failed');
      await this.sessions.finish(session._id, { outcome: 'failed', outcomeCode: 'exchange_failed', connectionId: null, bounceToken: null, bounceExpiresAt: null });
      return { kind: 'failed', code: 'exchange_failed', returnUrl: this.returnWith(session, { status: 'failed', error: 'exchange_failed' }) };
    }
  }

  returnWith(session: AuthSessionRecord, params: Record<string, string>): string | undefined {
    return session.returnUrl ? withParams(session.returnUrl, { ...params, session_id: session._id }) : undefined;
  }

  async reconsent(input: {
    client: ApiClientRecord;
    userId: string;
    connectionId: string;
    userReconfirmed: boolean;
    userIp: string | undefined;
    returnUrl: string | undefined;
    dialog: 'truelayer' | 'hosted';
  }): Promise<ReconsentResult> {
    const intent: Intent = { kind: 'reconsent', connectionId: input.connectionId };
    if (input.dialog === 'hosted' && !input.userReconfirmed) {
      // The user reconfirms on our own page first (then extend is possible); token-vault is asked from there.
      await this.connection(input.client._id, input.userId, input.connectionId);
      const created = await this.createSession({ client: input.client, userId: input.userId, dialog: 'hosted', returnUrl: input.returnUrl, intent });
      return { outcome: 'confirm', sessionId: created.sessionId, url: `${created.url}/reconfirm`, expiresAt: created.expiresAt };
    }
    // The session exists before token-vault sees the state: a reauth redirect comes back to /v1/callback.
    const created = await this.createSession({ client: input.client, userId: input.userId, dialog: 'truelayer', returnUrl: input.returnUrl, intent });
    const record = await this.sessions.peek(created.sessionId);
    if (!record) throw AppError.internal('session vanished');
    const state = this.state.seal({ sid: record._id, uid: record.userId, cid: record.clientId, intent, exp: record.expiresAt.getTime() });
    let res: tokenvaultV1.StartReconsentResponse;
    try {
      res = await this.downstreams.tokenVault.startReconsent({
        clientId: input.client._id,
        userId: input.userId,
        connectionId: input.connectionId,
        redirectUri: record.redirectUri,
        userReconfirmed: input.userReconfirmed,
        userIp: input.userIp ?? '',
        state,
      });
    } catch (error) {
      await this.sessions.delete(record._id);
      throw error;
    }
    const outcome = res.outcome;
    if (outcome?.$case === 'extended') {
      await this.sessions.delete(record._id);
      return { outcome: 'extended', connection: outcome.extended };
    }
    if (outcome?.$case === 'reauthUri') {
      // TrueLayer's reauth link carries no PKCE challenge from us: the exchange must not send a verifier.
      await this.sessions.setVerifier(record._id, '', 'reauth', null);
      return { outcome: 'reauth', sessionId: record._id, url: outcome.reauthUri, expiresAt: record.expiresAt };
    }
    if (outcome?.$case === 'newAuthRequired') {
      const dialog: Dialog = input.dialog;
      const pageToken = dialog === 'hosted' ? token() : null;
      await this.sessions.setVerifier(record._id, record.codeVerifier ?? createPkcePair().codeVerifier, dialog, pageToken);
      const url = pageToken ? this.hostedUrl(pageToken) : created.url;
      return { outcome: 'new_auth', sessionId: record._id, url, expiresAt: record.expiresAt };
    }
    await this.sessions.delete(record._id);
    throw AppError.unavailable('reconsent_unavailable', 'token-vault returned no re-consent outcome');
  }

  /** The connection a re-consent session is about (client and user scoped). */
  async connection(clientId: string, userId: string, connectionId: string): Promise<tokenvaultV1.Connection> {
    const res = await this.downstreams.tokenVault.getConnection({ clientId, userId, connectionId });
    if (!res.connection) throw AppError.notFound('connection_not_found', 'no such connection for this user');
    return res.connection;
  }

  /**
   * The user confirmed on our hosted re-consent page (present: their IP is passed for TrueLayer's extend). Extended →
   * bounce page; otherwise the browser goes to the reauth link or to a fresh auth for the same bank.
   */
  async reconfirm(session: AuthSessionRecord, userIp: string | undefined): Promise<ReconfirmResult> {
    if (session.intent.kind !== 'reconsent') throw AppError.invalid('not_a_reconsent', 'this session is not a re-consent');
    const connectionId = session.intent.connectionId;
    const state = this.state.seal({ sid: session._id, uid: session.userId, cid: session.clientId, intent: session.intent, exp: session.expiresAt.getTime() });
    const res = await this.downstreams.tokenVault.startReconsent({
      clientId: session.clientId,
      userId: session.userId,
      connectionId,
      redirectUri: session.redirectUri,
      userReconfirmed: true,
      userIp: userIp ?? '',
      state,
    });
    const outcome = res.outcome;
    if (outcome?.$case === 'extended') {
      const now = this.now();
      const consumed = await this.sessions.consume(session._id, session.userId, session.clientId, now);
      if (!consumed) throw AppError.invalid('session_used', 'this link has already been used');
      const bounceToken = token();
      await this.sessions.finish(session._id, { outcome: 'extended', outcomeCode: null, connectionId, bounceToken, bounceExpiresAt: new Date(now.getTime() + this.settings.bounceTtlMs) });
      this.logger.info({ sessionId: session._id, connectionId }, 'connection extended after the user reconfirmed');
      return { kind: 'bounce', bounceToken };
    }
    if (outcome?.$case === 'reauthUri') {
      await this.sessions.setVerifier(session._id, '', 'reauth', null);
      return { kind: 'redirect', url: outcome.reauthUri };
    }
    if (outcome?.$case === 'newAuthRequired') {
      const conn = await this.connection(session.clientId, session.userId, connectionId);
      const providers = conn.providerId && !session.providers.includes(conn.providerId) ? [...session.providers, conn.providerId] : session.providers;
      await this.sessions.setProvider(session._id, conn.providerId);
      return { kind: 'redirect', url: this.authLink({ ...session, providers }, conn.providerId || undefined) };
    }
    throw AppError.unavailable('reconsent_unavailable', 'token-vault returned no re-consent outcome');
  }
}
