/**
 * In-memory sandbox state: registered clients, auth sessions, authorization codes, connections (credentials),
 * tokens (stored as SHA-256 hashes only), counters. Pure logic; the HTTP layer maps results to responses.
 */
import { createHash, createHmac, createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { DAY, type Clock, SECOND } from '../clock';
import { authErrors, TlError } from './errors';
import { hashId, randomHex, randomUrlToken, sha256Hex, uuid } from './ids';
import { findProvider, type Provider, type Scope } from './providers';
import { DEFAULT_SWITCHES, type Switches } from './switches';
import type { MockUser } from './users';

export interface Client {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  /** Optional provider allow-list for `/api/providers?clientId=`; all providers when absent. */
  providers?: string[];
}

export type AuthStep = 'provider' | 'consent' | 'login' | 'done';

export interface AuthSession {
  id: string;
  clientId: string;
  redirectUri: string;
  scopes: Scope[];
  state?: string;
  nonce?: string;
  responseMode: 'query' | 'form_post';
  codeChallenge?: string;
  allowedProviders: string[];
  providerId?: string;
  step: AuthStep;
  reauthCredentialsId?: string;
  createdAt: number;
  expiresAt: number;
}

interface AuthCodeRecord {
  clientId: string;
  redirectUri: string;
  codeChallenge?: string;
  expiresAt: number;
  used: boolean;
  credentialsId: string;
  scopes: Scope[];
}

export interface Connection {
  credentialsId: string;
  clientId: string;
  user: MockUser;
  providerId: string;
  scopes: Scope[];
  consentId: string;
  consentCreatedAt: number;
  consentExpiresAt: number;
  consentStatusUpdatedAt: number;
  revoked: boolean;
  /** Time of the last bank authentication (start of the SCA window). */
  authenticatedAt: number;
  accountEpoch: number;
  refreshTokenHash?: string;
  refreshGeneration: number;
  /** Last time the refresh token was issued or used (for the idle-lapse rule). */
  refreshUsedAt: number;
  currentAccessJti?: string;
  refreshGrants: number;
  codeGrants: number;
  dataCalls: number;
  unattendedCalls: number;
  debugIds: string[];
}

interface AccessTokenRecord {
  jti: string;
  credentialsId: string;
  clientId: string;
  expiresAt: number;
  scopes: Scope[];
}

export interface TokenResponse {
  access_token: string;
  expires_in: number;
  token_type: 'Bearer';
  refresh_token?: string;
  scope: string;
}

export interface SandboxCounters {
  tokenGrants: { authorization_code: number; refresh_token: number };
  authorizations: number;
  dataCalls: number;
  webhooks: { attempted: number; delivered: number; failed: number; dropped: number };
}

export function pkceS256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export class SandboxState {
  readonly clients = new Map<string, Client>();
  readonly sessions = new Map<string, AuthSession>();
  private readonly codes = new Map<string, AuthCodeRecord>();
  readonly connections = new Map<string, Connection>();
  private readonly accessTokens = new Map<string, AccessTokenRecord>();
  private readonly refreshTokens = new Map<string, string>();
  private readonly debugIds = new Map<string, string>();
  readonly switches: Switches = { ...DEFAULT_SWITCHES };
  counters: SandboxCounters = SandboxState.freshCounters();
  private signingKey: KeyObject | undefined;
  private readonly kid = randomHex(20).toUpperCase();
  private readonly refreshSecret = randomHex(32);

  constructor(
    readonly clock: Clock,
    clients: Client[],
    signingKeyPem?: string,
  ) {
    for (const c of clients) this.clients.set(c.client_id, c);
    if (signingKeyPem) this.signingKey = createPrivateKey(signingKeyPem);
  }

  static freshCounters(): SandboxCounters {
    return {
      tokenGrants: { authorization_code: 0, refresh_token: 0 },
      authorizations: 0,
      dataCalls: 0,
      webhooks: { attempted: 0, delivered: 0, failed: 0, dropped: 0 },
    };
  }

  // ---- clients -------------------------------------------------------------------------------------------------

  checkClient(clientId: unknown, secret: unknown): Client {
    if (typeof clientId !== 'string' || typeof secret !== 'string') throw authErrors.unauthorizedClient();
    const client = this.clients.get(clientId);
    if (!client || !timingSafeEqualString(client.client_secret, secret)) throw authErrors.unauthorizedClient();
    return client;
  }

  // ---- auth sessions -------------------------------------------------------------------------------------------

  createSession(input: Omit<AuthSession, 'id' | 'createdAt' | 'expiresAt' | 'step'> & { step?: AuthStep }): AuthSession {
    const now = this.clock.now();
    const session: AuthSession = {
      ...input,
      id: `auth-${randomUrlToken(24)}`,
      step: input.step ?? (input.providerId ? 'consent' : 'provider'),
      createdAt: now,
      expiresAt: now + 30 * 60 * SECOND,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  getSession(id: string): AuthSession | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.clock.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  /** A reauthentication must log in to the same bank login (same data set) as the original connection. */
  reauthUserMismatch(session: AuthSession, user: MockUser): boolean {
    if (!session.reauthCredentialsId) return false;
    const conn = this.connections.get(session.reauthCredentialsId);
    return conn !== undefined && conn.user.dataKey !== user.dataKey;
  }

  /** Completes the session for an authenticated mock user: creates (or reauthenticates) the connection, returns a code. */
  completeSession(session: AuthSession, user: MockUser): { code: string; credentialsId: string } {
    if (session.step === 'done') throw new Error('auth session already completed');
    const provider = session.providerId ? findProvider(session.providerId) : undefined;
    if (!provider) throw new Error('no provider selected');
    const now = this.clock.now();
    const consentEnd = now + this.switches.consentDays * DAY;
    let conn: Connection | undefined;
    if (session.reauthCredentialsId) {
      conn = this.connections.get(session.reauthCredentialsId);
      if (!conn) throw new Error('connection to reauthenticate no longer exists');
      conn.user = user;
      conn.consentCreatedAt = now;
      conn.consentExpiresAt = consentEnd;
      conn.consentStatusUpdatedAt = now;
      conn.authenticatedAt = now;
      conn.refreshUsedAt = now;
      conn.revoked = false;
      if (this.switches.accountIdChangeOnReauth) conn.accountEpoch += 1;
    } else {
      conn = {
        credentialsId: Buffer.from(randomHex(32), 'hex').toString('base64'),
        clientId: session.clientId,
        user,
        providerId: provider.provider_id,
        scopes: grantedScopes(session.scopes, provider),
        consentId: uuid(),
        consentCreatedAt: now,
        consentExpiresAt: consentEnd,
        consentStatusUpdatedAt: now,
        revoked: false,
        authenticatedAt: now,
        accountEpoch: 0,
        refreshGeneration: 0,
        refreshUsedAt: now,
        refreshGrants: 0,
        codeGrants: 0,
        dataCalls: 0,
        unattendedCalls: 0,
        debugIds: [],
      };
      this.connections.set(conn.credentialsId, conn);
    }
    session.step = 'done';
    this.counters.authorizations += 1;
    const code = randomHex(32).toUpperCase();
    this.codes.set(sha256Hex(code), {
      clientId: session.clientId,
      redirectUri: session.redirectUri,
      codeChallenge: session.codeChallenge,
      expiresAt: now + this.switches.authCodeTtlSeconds * SECOND,
      used: false,
      credentialsId: conn.credentialsId,
      scopes: conn.scopes,
    });
    return { code, credentialsId: conn.credentialsId };
  }

  // ---- token endpoint ------------------------------------------------------------------------------------------

  exchangeCode(input: { client: Client; code: unknown; redirectUri: unknown; codeVerifier: unknown; issuer: string }): TokenResponse {
    if (typeof input.code !== 'string' || typeof input.redirectUri !== 'string') throw authErrors.invalidRequest('code and redirect_uri are required');
    const record = this.codes.get(sha256Hex(input.code));
    const now = this.clock.now();
    if (!record || record.used || record.expiresAt <= now) throw authErrors.invalidGrant();
    if (record.clientId !== input.client.client_id || record.redirectUri !== input.redirectUri) throw authErrors.invalidGrant();
    if (record.codeChallenge !== undefined) {
      if (typeof input.codeVerifier !== 'string' || pkceS256(input.codeVerifier) !== record.codeChallenge) throw authErrors.invalidGrant();
    }
    record.used = true;
    const conn = this.connections.get(record.credentialsId);
    if (!conn || conn.revoked) throw authErrors.invalidGrant();
    this.counters.tokenGrants.authorization_code += 1;
    conn.codeGrants += 1;
    const access = this.issueAccessToken(conn, input.issuer);
    const response: TokenResponse = { access_token: access.token, expires_in: access.expiresIn, token_type: 'Bearer', scope: conn.scopes.join(' ') };
    if (conn.scopes.includes('offline_access')) {
      // Reauthentication keeps the existing refresh token (support 360017594238) unless rotation is on.
      response.refresh_token =
        !conn.refreshTokenHash || this.switches.refreshTokenRotation ? this.issueRefreshToken(conn) : this.deriveRefreshToken(conn);
    }
    return response;
  }

  /**
   * Refresh tokens are HMAC(server secret, credentials_id | generation): only their hash is stored, yet the same value
   * can be returned again after reauthentication (TrueLayer keeps the refresh token stable, support 360017594238).
   */
  private deriveRefreshToken(conn: Connection): string {
    return createHmac('sha256', this.refreshSecret).update(`${conn.credentialsId}|${conn.refreshGeneration}`).digest('hex').toUpperCase();
  }

  private issueRefreshToken(conn: Connection): string {
    if (conn.refreshTokenHash) this.refreshTokens.delete(conn.refreshTokenHash);
    conn.refreshGeneration += 1;
    const token = this.deriveRefreshToken(conn);
    const hash = sha256Hex(token);
    conn.refreshTokenHash = hash;
    this.refreshTokens.set(hash, conn.credentialsId);
    return token;
  }

  refresh(input: { client: Client; refreshToken: unknown; issuer: string }): TokenResponse {
    if (typeof input.refreshToken !== 'string' || input.refreshToken.length === 0) throw authErrors.invalidRefreshToken();
    if (!/^[A-Za-z0-9._~+/=-]{16,}$/.test(input.refreshToken)) throw authErrors.invalidRefreshToken();
    const hash = sha256Hex(input.refreshToken);
    const credentialsId = this.refreshTokens.get(hash);
    const conn = credentialsId ? this.connections.get(credentialsId) : undefined;
    const now = this.clock.now();
    if (!conn || conn.refreshTokenHash !== hash || conn.clientId !== input.client.client_id) throw authErrors.invalidGrant();
    if (conn.revoked || conn.consentExpiresAt <= now) throw authErrors.invalidGrant();
    const idleDays = this.switches.refreshTokenIdleDays;
    if (idleDays > 0 && now - conn.refreshUsedAt > idleDays * DAY) throw authErrors.invalidGrant();
    conn.refreshUsedAt = now;
    this.counters.tokenGrants.refresh_token += 1;
    conn.refreshGrants += 1;
    const access = this.issueAccessToken(conn, input.issuer);
    const refreshToken = this.switches.refreshTokenRotation ? this.issueRefreshToken(conn) : input.refreshToken;
    return { access_token: access.token, expires_in: access.expiresIn, token_type: 'Bearer', refresh_token: refreshToken, scope: conn.scopes.join(' ') };
  }

  /** New access token for an extend `no_action_needed` outcome; keeps the refresh token unless rotation is on. */
  extendTokens(conn: Connection, presentedRefreshToken: string, issuer: string): { access_token: string; expires_in: number; refresh_token: string } {
    const access = this.issueAccessToken(conn, issuer);
    const refreshToken = this.switches.refreshTokenRotation ? this.issueRefreshToken(conn) : presentedRefreshToken;
    return { access_token: access.token, expires_in: access.expiresIn, refresh_token: refreshToken };
  }

  connectionForRefreshToken(refreshToken: unknown): Connection | undefined {
    if (typeof refreshToken !== 'string') return undefined;
    const hash = sha256Hex(refreshToken);
    const id = this.refreshTokens.get(hash);
    const conn = id ? this.connections.get(id) : undefined;
    return conn && conn.refreshTokenHash === hash ? conn : undefined;
  }

  private key(): KeyObject {
    if (!this.signingKey) this.signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    return this.signingKey;
  }

  private issueAccessToken(conn: Connection, issuer: string): { token: string; expiresIn: number } {
    const now = this.clock.now();
    const iat = Math.floor(now / 1000);
    const expiresIn = this.switches.accessTokenTtlSeconds;
    const jti = randomHex(16).toUpperCase();
    const header = { alg: 'RS256', kid: this.kid, typ: 'at+jwt', x5t: hashId(27, this.kid) };
    const payload = {
      nbf: iat,
      exp: iat + expiresIn,
      iss: issuer,
      aud: 'data_api',
      client_id: conn.clientId,
      sub: conn.credentialsId,
      auth_time: Math.floor(conn.authenticatedAt / 1000),
      idp: 'local',
      jti,
      sid: `auth-${randomUrlToken(18)}`,
      iat,
      connector_id: conn.providerId,
      credentials_key: randomHex(32),
      privacy_policy: 'Feb2019',
      consent_id: conn.consentId,
      scope: conn.scopes,
      amr: ['pwd'],
    };
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const signingInput = `${enc(header)}.${enc(payload)}`;
    const signature = sign('RSA-SHA256', Buffer.from(signingInput), this.key()).toString('base64url');
    const token = `${signingInput}.${signature}`;
    this.accessTokens.set(sha256Hex(token), { jti, credentialsId: conn.credentialsId, clientId: conn.clientId, expiresAt: (iat + expiresIn) * 1000, scopes: conn.scopes });
    conn.currentAccessJti = jti;
    return { token, expiresIn };
  }

  /**
   * Resolves a bearer token. Throws the Data API error for an invalid/expired/superseded token (401 invalid_token)
   * and for an expired or revoked consent (403 access_denied).
   */
  authenticate(authorization: string | undefined): { conn: Connection; token: string } {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const invalid = (description: string): TlError =>
      new TlError(401, { error: 'invalid_token', error_description: description, error_details: {} });
    if (!match || match[1] === undefined) throw invalid('Missing or malformed access token.');
    const token = match[1];
    const record = this.accessTokens.get(sha256Hex(token));
    if (!record) throw invalid('Invalid access token.');
    const conn = this.connections.get(record.credentialsId);
    if (!conn) throw invalid('Invalid access token.');
    const now = this.clock.now();
    if (record.expiresAt <= now) {
      const at = new Date(record.expiresAt).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
      throw invalid(`The token expired at '${at}'`);
    }
    if (this.switches.onlyNewestAccessTokenValid && conn.currentAccessJti !== record.jti) throw invalid('Invalid access token.');
    if (conn.revoked || conn.consentExpiresAt <= now) {
      throw new TlError(
        403,
        { error: 'access_denied', error_description: 'Access to a specific resource has been denied.', error_details: {} },
        { 'X-Credentials-Id': conn.credentialsId },
      );
    }
    return { conn, token };
  }

  /** Token lookup for auth-server endpoints (`/api/delete`, `/api/debug`): no consent check. */
  lookupAccessToken(token: string): { conn: Connection; expired: boolean; superseded: boolean } | undefined {
    const record = this.accessTokens.get(sha256Hex(token));
    const conn = record ? this.connections.get(record.credentialsId) : undefined;
    if (!record || !conn) return undefined;
    return {
      conn,
      expired: record.expiresAt <= this.clock.now(),
      superseded: this.switches.onlyNewestAccessTokenValid && conn.currentAccessJti !== record.jti,
    };
  }

  revoke(conn: Connection): void {
    conn.revoked = true;
    conn.consentStatusUpdatedAt = this.clock.now();
    if (conn.refreshTokenHash) this.refreshTokens.delete(conn.refreshTokenHash);
    conn.refreshTokenHash = undefined;
  }

  createDebugId(conn: Connection): string {
    const id = `${conn.providerId}|${Buffer.from(randomHex(24), 'hex').toString('base64url')}`;
    this.debugIds.set(id, conn.credentialsId);
    conn.debugIds.push(id);
    return id;
  }

  deleteDebugId(id: string): Connection | undefined {
    const credentialsId = this.debugIds.get(id);
    if (!credentialsId) return undefined;
    this.debugIds.delete(id);
    return this.connections.get(credentialsId);
  }

  consentActive(conn: Connection): boolean {
    return !conn.revoked && conn.consentExpiresAt > this.clock.now();
  }
}

export function grantedScopes(requested: Scope[], provider: Provider): Scope[] {
  return requested.filter((s) => provider.scopes.includes(s));
}

function timingSafeEqualString(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  let diff = 0;
  for (let i = 0; i < ha.length; i += 1) diff |= (ha[i] ?? 0) ^ (hb[i] ?? 0);
  return diff === 0 && a.length === b.length;
}
