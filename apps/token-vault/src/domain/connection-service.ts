/**
 * Connections and their tokens: exchange, hand out valid access tokens (refresh-ahead under a lock that holds
 * across instances), re-consent (extend / reauth / fresh auth), revoke, and the background jobs (keep-alive,
 * consent horizons, expiry). Transport-free: the gRPC layer maps requests in and out.
 *
 * Refresh invariants (ARCHITECTURE.md #4): at most one refresh per connection at a time, across every
 * token-vault instance (an atomic lock on the connection document, guarded by `tokenVersion`); new tokens are
 * written while the lock is held; a failed refresh never touches the stored tokens, and if the old access token
 * is still valid it is handed out so the caller can go on.
 */
import { derivedUuid } from '@ais/contracts-events';
import type { erasureV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { registerSecret, type Logger } from '@ais/platform-logger';
import { recordFunnelStage } from '@ais/platform-telemetry';
import { TrueLayerError, type TokenSet, type TrueLayerClient } from '@ais/truelayer-client';
import { randomUUID } from 'node:crypto';
import type { ConnectionDoc, ConnectionRepository, EncryptedTokens } from '../data/connection.model';
import type { TokenCipher } from '../data/token-cipher';
import { recordConsentEvent, recordRefresh, refreshOutcomeOf } from './vault-metrics';

export type ConnectionEventPayload =
  /**
   * `psuIp` and `authenticatedAt` are set when the user just completed the bank's authentication (code exchange):
   * data-fetcher's post-consent fetch may send that IP as X-PSU-IP. The IP travels in the event only: it is never
   * stored or logged.
   */
  | { kind: 'authorized'; doc: ConnectionDoc; previousConnectionId?: string; psuIp?: string; authenticatedAt?: Date }
  | { kind: 'revoked'; doc: ConnectionDoc; reason: string }
  | { kind: 'token_refreshed'; doc: ConnectionDoc; expiresAt: Date; rotated: boolean; trigger: 'on_demand' | 'keep_alive' }
  | { kind: 'consent_expiring'; doc: ConnectionDoc; horizonDays: number }
  | { kind: 'consent_expired'; doc: ConnectionDoc }
  | { kind: 'reauth_required'; doc: ConnectionDoc; errorCode: string }
  /** An erasure to start downstream (ais.fetch.v1, key = user id); see proto/ais/erasure/v1/erasure.proto. */
  | { kind: 'erasure'; erasure: erasureV1.UserErasure };

export interface ConnectionEvents {
  publish(event: ConnectionEventPayload): Promise<void>;
}

export interface ServiceSettings {
  refreshAheadMs: number;
  lockMs: number;
  keepAliveAfterMs: number;
  horizonsDays: number[];
  reconsentWindowDays: number;
  jobIntervalMs: number;
  /**
   * How long a decrypted access token is served from memory without re-reading its connection (0 = always
   * re-read). Bounds how late another instance's refresh or revoke is noticed; this instance's own are at once.
   */
  tokenCacheTtlMs?: number;
  /**
   * What happens to a connection's stored bank data once its consent ended (revoked, or expired): `delete` erases
   * it `days` after the end (through the erasure chain, reason "retention"), `keep` keeps it until the user is
   * erased. Tokens are purged at the end either way. Default: delete after 30 days.
   */
  retention?: { mode: 'delete' | 'keep'; days: number };
}


/** Leases that hold across instances (see @ais/platform-mongo Leases). */
export interface LeasePort {
  acquire(key: string, owner: string, ttlMs: number): Promise<boolean>;
  release(key: string, owner: string): Promise<void>;
  holds(key: string, owner: string): Promise<boolean>;
  once(key: string): Promise<boolean>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

const DAY = 86_400_000;

export interface AccessToken {
  accessToken: string;
  expiresAt: Date;
  providerId: string;
  scopes: string[];
}

export type ReconsentOutcome =
  | { kind: 'extended'; doc: ConnectionDoc }
  | { kind: 'reauth_uri'; url: string }
  | { kind: 'new_auth_required'; reason: string };

export class ConnectionService {
  private readonly owner = `tv-${randomUUID()}`;
  /** Decrypted access tokens by connection, valid for one token version (memory only, never persisted). */
  private readonly cache = new Map<string, { version: number; token: AccessToken; readAt: number }>();

  constructor(
    private readonly repo: ConnectionRepository,
    private readonly leases: LeasePort,
    private readonly cipher: TokenCipher,
    private readonly truelayer: () => Promise<TrueLayerClient>,
    private readonly events: ConnectionEvents,
    private readonly settings: ServiceSettings,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  daysLeft(doc: ConnectionDoc, now = this.clock.now()): number {
    return Math.floor((doc.consentExpiresAt.getTime() - now.getTime()) / DAY);
  }

  reconsentDue(doc: ConnectionDoc, now = this.clock.now()): boolean {
    return (
      doc.status === 'reauth_required' ||
      (doc.status === 'active' && this.daysLeft(doc, now) < this.settings.reconsentWindowDays)
    );
  }

  list(clientId: string, userId: string): Promise<ConnectionDoc[]> {
    return this.repo.listForUser(clientId, userId);
  }

  async get(clientId: string, userId: string, connectionId: string): Promise<ConnectionDoc> {
    const doc = await this.repo.getForUser(clientId, userId, connectionId);
    if (!doc) throw AppError.notFound('connection_not_found', `connection ${connectionId} not found for this user`);
    return doc;
  }

  private async encryptTokens(
    connectionId: string,
    set: { accessToken: string; refreshToken: string | undefined; expiresAt: Date },
    keepRefreshCt: string | null,
  ): Promise<EncryptedTokens> {
    const [accessCt, refreshCt] = await Promise.all([
      this.cipher.encrypt(connectionId, 'access', set.accessToken),
      set.refreshToken ? this.cipher.encrypt(connectionId, 'refresh', set.refreshToken) : Promise.resolve(keepRefreshCt),
    ]);
    return { accessCt, refreshCt, accessExpiresAt: set.expiresAt };
  }

  /** Exchanges an authorization code and stores the new connection (a renewal when `previousConnectionId`). */
  async exchangeCode(p: {
    clientId: string;
    userId: string;
    authCode: string;
    redirectUri: string;
    codeVerifier: string;
    previousConnectionId: string;
    /** The consenting user's IP as the gateway saw it on the redirect (event only; never stored or logged). */
    psuIp?: string;
  }): Promise<ConnectionDoc> {
    let previous: ConnectionDoc | null = null;
    if (p.previousConnectionId) {
      previous = await this.repo.getForUser(p.clientId, p.userId, p.previousConnectionId);
      if (!previous) throw AppError.notFound('connection_not_found', 'the connection being renewed does not belong to this user');
    }
    const tl = await this.truelayer();
    registerSecret(p.authCode);
    registerSecret(p.codeVerifier);
    let tokens: TokenSet;
    try {
      tokens = await tl.auth.exchangeCode({
        code: p.authCode,
        redirectUri: p.redirectUri,
        ...(p.codeVerifier ? { codeVerifier: p.codeVerifier } : {}),
      });
    } catch (error) {
      throw mapTrueLayerError(error, 'exchange');
    }
    registerSecret(tokens.accessToken);
    registerSecret(tokens.refreshToken);
    // The code is exchanged right after the user completed the bank's authentication: the post-consent window starts here.
    const consented = { authenticatedAt: this.clock.now(), ...(p.psuIp ? { psuIp: p.psuIp } : {}) };
    const me = await tl.data.me(tokens.accessToken).catch((error: unknown) => {
      throw mapTrueLayerError(error, 'me');
    });
    const info = me.results[0];
    const now = this.clock.now();
    if (previous && info?.credentials_id && info.credentials_id === previous.credentialsId) {
      // A reauth of the same consent at the bank: the connection is renewed in place and keeps its id.
      const renewed = await this.repo.renew(previous._id, {
        tokens: await this.encryptTokens(previous._id, tokens, null),
        scopes: tokens.scope.length > 0 ? tokens.scope : previous.scopes,
        consentCreatedAt: toDate(info.consent_created_at) ?? now,
        consentExpiresAt: toDate(info.consent_expires_at) ?? new Date(now.getTime() + 90 * DAY),
        now,
      });
      this.cache.delete(previous._id);
      await this.events.publish({ kind: 'authorized', doc: renewed, previousConnectionId: previous._id, ...consented });
      this.logger.info({ connectionId: previous._id, providerId: renewed.providerId }, 'connection renewed in place');
      return renewed;
    }
    const id = randomUUID();
    const consentCreatedAt = toDate(info?.consent_created_at) ?? now;
    const doc: Omit<ConnectionDoc, 'createdAt' | 'updatedAt'> = {
      _id: id,
      clientId: p.clientId,
      userId: p.userId,
      providerId: info?.provider?.provider_id ?? 'unknown',
      credentialsId: info?.credentials_id ?? '',
      scopes: tokens.scope.length > 0 ? tokens.scope : (info?.scopes ?? []).map(String),
      status: 'active',
      statusReason: '',
      consentCreatedAt,
      consentExpiresAt: toDate(info?.consent_expires_at) ?? new Date(consentCreatedAt.getTime() + 90 * DAY),
      previousConnectionId: previous?._id ?? '',
      tokens: await this.encryptTokens(id, tokens, null),
      tokenVersion: 0,
      lastRefreshAt: now,
      jobDueAt: now,
    };
    await this.repo.insert(doc);
    const stored = (await this.repo.get(id))!;
    if (previous) {
      const old = await this.repo.setStatus(previous._id, 'revoked', `superseded_by:${id}`, true);
      if (old) await this.events.publish({ kind: 'revoked', doc: old, reason: 'superseded' });
    }
    await this.events.publish({ kind: 'authorized', doc: stored, ...consented });
    if (!previous) recordFunnelStage('tokens_stored', stored.providerId);
    this.logger.info({ connectionId: id, providerId: stored.providerId, renewed: previous?._id ?? null }, 'connection authorized');
    return stored;
  }

  /** A valid access token for an internal caller; refreshes ahead of expiry under the cross-instance lease. */
  async getAccessToken(
    connectionId: string,
    forceRefresh = false,
    trigger: 'on_demand' | 'keep_alive' = 'on_demand',
  ): Promise<AccessToken> {
    const hit = this.cache.get(connectionId);
    if (
      hit &&
      !forceRefresh &&
      Date.now() - hit.readAt < (this.settings.tokenCacheTtlMs ?? 0) &&
      hit.token.expiresAt.getTime() - this.clock.now().getTime() > this.settings.refreshAheadMs
    ) {
      return hit.token;
    }
    const deadline = Date.now() + this.settings.lockMs + 5_000;
    const lease = `refresh:${connectionId}`;
    let force = forceRefresh;
    let seenVersion: number | undefined;
    for (;;) {
      const doc = await this.repo.get(connectionId);
      if (!doc) throw AppError.notFound('connection_not_found', `connection ${connectionId} not found`);
      if (doc.status !== 'active' || !doc.tokens) {
        throw new AppError({
          code: doc.status === 'active' ? 'no_tokens' : doc.status,
          message: `connection is ${doc.status}; the user must re-consent`,
          kind: 'failed_precondition',
          details: { status: doc.status },
        });
      }
      // A refresh by someone else since our first look satisfies a forced refresh too.
      if (seenVersion !== undefined && doc.tokenVersion !== seenVersion) force = false;
      seenVersion ??= doc.tokenVersion;
      const fresh = doc.tokens.accessExpiresAt.getTime() - this.clock.now().getTime() > this.settings.refreshAheadMs;
      if (fresh && !force) return this.decryptAccess(doc);
      if (await this.leases.acquire(lease, this.owner, this.settings.lockMs)) {
        try {
          // Re-read under the lease: another instance may have refreshed between our read and the lease.
          const current = await this.repo.get(connectionId);
          if (current && current.tokenVersion !== seenVersion) {
            seenVersion = current.tokenVersion;
            force = false;
            continue;
          }
          return await this.refreshLeased(current ?? doc, lease, trigger);
        } finally {
          await this.leases.release(lease, this.owner).catch(() => undefined);
        }
      }
      if (Date.now() > deadline) throw AppError.unavailable('refresh_lock_timeout', 'timed out waiting for a concurrent refresh');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async decryptAccess(doc: ConnectionDoc): Promise<AccessToken> {
    const hit = this.cache.get(doc._id);
    if (hit && hit.version === doc.tokenVersion) {
      hit.readAt = Date.now();
      return hit.token;
    }
    const token: AccessToken = {
      accessToken: await this.cipher.decrypt(doc._id, 'access', doc.tokens!.accessCt),
      expiresAt: doc.tokens!.accessExpiresAt,
      providerId: doc.providerId,
      scopes: doc.scopes,
    };
    this.cache.set(doc._id, { version: doc.tokenVersion, token, readAt: Date.now() });
    return token;
  }

  private async refreshLeased(doc: ConnectionDoc, lease: string, trigger: 'on_demand' | 'keep_alive'): Promise<AccessToken> {
    const tokens = doc.tokens!;
    let answered = false; // TrueLayer granted the refresh (what ais_token_refresh_total counts as `ok`)
    try {
      if (!tokens.refreshCt) {
        throw new AppError({ code: 'no_refresh_token', message: 'connection has no refresh token (offline_access not granted)', kind: 'failed_precondition' });
      }
      const refreshToken = await this.cipher.decrypt(doc._id, 'refresh', tokens.refreshCt);
      const set = await (await this.truelayer()).auth.refresh(refreshToken, { provider: doc.providerId });
      answered = true;
      recordRefresh('ok', trigger, doc.providerId);
      const encrypted = await this.encryptTokens(doc._id, set, tokens.refreshCt);
      if (!(await this.leases.holds(lease, this.owner))) {
        // The lease lapsed while we refreshed and another instance may have taken over: do not overwrite.
        throw AppError.unavailable('refresh_lock_lost', 'refresh lease lapsed during refresh');
      }
      await this.repo.storeTokens(doc._id, encrypted, this.clock.now());
      const updated = (await this.repo.get(doc._id))!;
      await this.events.publish({ kind: 'token_refreshed', doc: updated, expiresAt: set.expiresAt, rotated: Boolean(set.refreshToken), trigger });
      return this.decryptAccess(updated);
    } catch (error) {
      if (!answered) recordRefresh(refreshOutcomeOf(error), trigger, doc.providerId);
      const tlError = error instanceof TrueLayerError ? error : undefined;
      if (tlError && (tlError.category === 'consent_gone' || tlError.code === 'invalid_grant' || tlError.code === 'access_denied')) {
        const marked = await this.repo.setStatus(doc._id, 'reauth_required', tlError.code, false);
        if (marked) await this.events.publish({ kind: 'reauth_required', doc: marked, errorCode: tlError.code });
        throw new AppError({
          code: 'reauth_required',
          message: 'TrueLayer refused the refresh; the user must re-consent',
          kind: 'failed_precondition',
          details: { truelayer_code: tlError.code },
        });
      }
      // Transient failure: the stored tokens are untouched; hand out the old access token while it still works.
      if (tokens.accessExpiresAt.getTime() > this.clock.now().getTime()) {
        this.logger.warn({ connectionId: doc._id, err: error }, 'refresh failed; serving the still-valid access token');
        return this.decryptAccess(doc);
      }
      throw error instanceof AppError ? error : mapTrueLayerError(error, 'refresh');
    }
  }

  /**
   * Re-consent: extend when the user reconfirmed, else a reauth link, else a fresh auth is needed. `psuIp` is the
   * present user's IP: sent as X-PSU-IP on the extend and on the /me call that follows it (never stored or logged).
   */
  async startReconsent(p: {
    clientId: string;
    userId: string;
    connectionId: string;
    redirectUri: string;
    userReconfirmed: boolean;
    state: string;
    psuIp?: string;
  }): Promise<ReconsentOutcome> {
    const doc = await this.get(p.clientId, p.userId, p.connectionId);
    if (doc.status === 'revoked' || doc.status === 'expired' || !doc.tokens?.refreshCt) {
      return { kind: 'new_auth_required', reason: doc.tokens?.refreshCt ? doc.status : 'no_refresh_token' };
    }
    const refreshToken = await this.cipher.decrypt(doc._id, 'refresh', doc.tokens.refreshCt);
    const tl = await this.truelayer();
    if (p.userReconfirmed && doc.status === 'active') {
      try {
        const present = { provider: doc.providerId, ...(p.psuIp ? { psuIp: p.psuIp } : {}) };
        const res = await tl.auth.extendConnection(
          {
            refreshToken,
            redirectUri: p.redirectUri,
            user: { id: p.userId },
            userHasReconfirmedConsent: true,
            ...(p.state ? { state: p.state } : {}),
          },
          present,
        );
        if (res.action !== 'no_action_needed') return { kind: 'reauth_uri', url: res.userInputLink };
        const now = this.clock.now();
        const encrypted = await this.encryptTokens(doc._id, res, doc.tokens.refreshCt);
        const me = await tl.data.me(res.accessToken, present).catch(() => undefined);
        const expires = toDate(me?.results[0]?.consent_expires_at) ?? new Date(now.getTime() + 90 * DAY);
        const extended = (await this.repo.extendConsent(doc._id, expires, encrypted, now))!;
        await this.events.publish({ kind: 'authorized', doc: extended });
        return { kind: 'extended', doc: extended };
      } catch (error) {
        this.logger.info({ connectionId: doc._id, code: (error as { code?: string }).code }, 'extend not possible; falling back to reauth');
      }
    }
    try {
      const link = await tl.auth.reauthLink({ refreshToken, redirectUri: p.redirectUri, ...(p.state ? { state: p.state } : {}) }, { provider: doc.providerId });
      return { kind: 'reauth_uri', url: link.url };
    } catch (error) {
      if (error instanceof TrueLayerError && !error.retriable) return { kind: 'new_auth_required', reason: error.code };
      throw mapTrueLayerError(error, 'reauth');
    }
  }

  /** Deletes the connection at TrueLayer (best effort) and purges its tokens at once. */
  async revoke(p: { clientId: string; userId: string; connectionId: string; reason: string }): Promise<ConnectionDoc> {
    const doc = await this.get(p.clientId, p.userId, p.connectionId);
    if (doc.status === 'revoked') return doc;
    if (doc.tokens && doc.status === 'active') {
      try {
        const token = await this.getAccessToken(doc._id);
        await (await this.truelayer()).auth.deleteConnection(token.accessToken, { provider: doc.providerId });
      } catch (error) {
        this.logger.warn({ connectionId: doc._id, err: error }, 'TrueLayer delete failed; purging locally anyway');
      }
    }
    const reason = p.reason || 'user_revoked';
    const revoked = (await this.repo.setStatus(doc._id, 'revoked', reason, true))!;
    this.cache.delete(doc._id);
    await this.events.publish({ kind: 'revoked', doc: revoked, reason });
    this.logger.info({ connectionId: doc._id, reason }, 'connection revoked; tokens purged');
    await this.consentEnded(revoked);
    return revoked;
  }

  /** The consent of `doc` ended (revoked or expired): applies the retention setting to its stored data. */
  private async consentEnded(doc: ConnectionDoc): Promise<void> {
    const r = this.settings.retention ?? { mode: 'delete', days: 30 };
    if (r.mode === 'keep') {
      this.logger.info({ connectionId: doc._id, retention: 'keep' }, 'consent ended; stored data kept (retention setting keep)');
      return;
    }
    const at = new Date(this.clock.now().getTime() + r.days * DAY);
    await this.repo.scheduleRetention(doc._id, at);
    this.logger.info({ connectionId: doc._id, retentionDays: r.days, eraseAt: at.toISOString() }, 'consent ended; stored data to be erased after the retention period');
  }

  /**
   * Erases a user (DELETE /v1/users/{id}): deletes each connection at TrueLayer (`/api/delete` with a valid access
   * token, refreshed first when needed; failures are logged and do not stop the erasure, since TrueLayer's consent
   * ends by itself within 90 days), purges tokens, starts the erasure of the user's data downstream, and then
   * deletes the connection records. Started before the records go, so a retry after a failure in between carries
   * the connection ids again. Idempotent: with nothing left, the downstream erasure runs again and finds nothing.
   */
  async eraseUser(p: { clientId: string; userId: string }): Promise<{ erasure: erasureV1.UserErasure; deleted: number; deletedAtTrueLayer: number }> {
    const docs = await this.repo.listForUser(p.clientId, p.userId);
    let deletedAtTrueLayer = 0;
    for (const doc of docs) {
      if (doc.tokens && (doc.status === 'active' || doc.status === 'reauth_required')) {
        try {
          const token = await this.getAccessToken(doc._id);
          await (await this.truelayer()).auth.deleteConnection(token.accessToken, { provider: doc.providerId });
          deletedAtTrueLayer += 1;
        } catch (error) {
          this.logger.warn({ connectionId: doc._id, code: (error as { code?: string }).code }, 'erasure: TrueLayer delete failed; purging locally anyway');
        }
      }
      if (doc.tokens) await this.repo.setStatus(doc._id, 'revoked', 'erased', true);
      this.cache.delete(doc._id);
    }
    const now = this.clock.now();
    const erasure: erasureV1.UserErasure = {
      erasureId: randomUUID(),
      userId: p.userId,
      clientId: p.clientId,
      reason: 'user_request',
      connectionIds: docs.map((d) => d._id),
      requestedAt: now,
      // this service's step travels with the erasure: the records it names are deleted right after the publish
      steps: [{ service: 'token-vault', documentsDeleted: String(docs.length), completedAt: now, detail: `${docs.length} connections deleted, ${deletedAtTrueLayer} at TrueLayer` }],
      accountIds: [],
    };
    await this.events.publish({ kind: 'erasure', erasure });
    const deleted = await this.repo.deleteForUser(p.clientId, p.userId);
    this.logger.info({ erasureId: erasure.erasureId, connections: docs.length, deleted, deletedAtTrueLayer }, 'user erased in token-vault; erasure sent downstream');
    return { erasure, deleted, deletedAtTrueLayer };
  }

  /**
   * Starts the retention erasure of every ended connection whose retention period is over (each leased, so one
   * instance does it). The erasure id derives from the connection id: a retry after a crash sends the same one.
   */
  async runRetention(limit = 100): Promise<number> {
    const now = this.clock.now();
    let started = 0;
    for (const doc of await this.repo.retentionDue(now, limit)) {
      const lease = `retention:${doc._id}`;
      if (!(await this.leases.acquire(lease, this.owner, this.settings.lockMs))) continue;
      try {
        await this.events.publish({
          kind: 'erasure',
          erasure: {
            erasureId: derivedUuid(`retention\u0000${doc._id}`),
            userId: doc.userId,
            clientId: doc.clientId,
            reason: 'retention',
            connectionIds: [doc._id],
            requestedAt: now,
            steps: [{ service: 'token-vault', documentsDeleted: '0', completedAt: now, detail: `consent ended ${doc.statusReason || doc.status}; retention period over` }],
            accountIds: [],
          },
        });
        await this.repo.retentionStarted(doc._id, now);
        started += 1;
        this.logger.info({ connectionId: doc._id }, 'retention period over: erasure of the connection\'s stored data started');
      } finally {
        await this.leases.release(lease, this.owner).catch(() => undefined);
      }
    }
    return started;
  }

  /**
   * After a Transit key rotation: re-encrypts every stored token under the newest key version, inside Vault
   * (plaintext never leaves it). Each connection is leased while it is rewrapped so a concurrent refresh wins.
   */
  async rewrapTokens(batch = 100): Promise<number> {
    let after = '';
    let count = 0;
    for (;;) {
      const docs = await this.repo.withTokens(after, batch);
      if (docs.length === 0) return count;
      for (const doc of docs) {
        after = doc._id;
        const lease = `refresh:${doc._id}`;
        if (!doc.tokens || !(await this.leases.acquire(lease, this.owner, this.settings.lockMs))) continue;
        try {
          const [accessCt, refreshCt] = await Promise.all([
            this.cipher.rewrap(doc._id, 'access', doc.tokens.accessCt),
            doc.tokens.refreshCt ? this.cipher.rewrap(doc._id, 'refresh', doc.tokens.refreshCt) : Promise.resolve(null),
          ]);
          await this.repo.replaceCiphertexts(doc._id, doc.tokenVersion, { ...doc.tokens, accessCt, refreshCt });
          count += 1;
        } finally {
          await this.leases.release(lease, this.owner).catch(() => undefined);
        }
      }
    }
  }

  /**
   * One pass of the background work over connections that are due. Each connection is leased for the pass, so
   * several instances never work on the same one at once; events that must go out once per consent period
   * (each expiring horizon, the expiry) are guarded by once-only markers.
   */
  async runJobs(limit = 100): Promise<{ claimed: number; refreshed: number; expiring: number; expired: number; erasing: number }> {
    const now = this.clock.now();
    const due = await this.repo.due(now, limit);
    const horizons = [...this.settings.horizonsDays].sort((a, b) => a - b);
    let claimed = 0;
    let refreshed = 0;
    let expiring = 0;
    let expired = 0;
    for (const doc of due) {
      const lease = `jobs:${doc._id}`;
      if (!(await this.leases.acquire(lease, this.owner, this.settings.lockMs))) continue;
      claimed += 1;
      try {
        const period = doc.consentExpiresAt.toISOString();
        const msLeft = doc.consentExpiresAt.getTime() - now.getTime();
        if (msLeft <= 0) {
          await this.repo.expire(doc._id);
          this.cache.delete(doc._id);
          if (await this.leases.once(`expired:${doc._id}:${period}`)) {
            expired += 1;
            recordConsentEvent('expired', 0, doc.providerId);
            await this.events.publish({ kind: 'consent_expired', doc });
            await this.consentEnded(doc);
          }
          continue;
        }
        for (const h of horizons) {
          if (msLeft > h * DAY) continue;
          if (await this.leases.once(`expiring:${doc._id}:${period}:${h}`)) {
            expiring += 1;
            recordConsentEvent('expiring', h, doc.providerId);
            await this.events.publish({ kind: 'consent_expiring', doc, horizonDays: h });
          }
          break;
        }
        if (doc.status === 'active' && now.getTime() - doc.lastRefreshAt.getTime() >= this.settings.keepAliveAfterMs) {
          try {
            await this.getAccessToken(doc._id, true, 'keep_alive');
            refreshed += 1;
          } catch (error) {
            this.logger.warn({ connectionId: doc._id, err: error }, 'keep-alive refresh failed');
          }
        }
        await this.repo.setJobDue(doc._id, new Date(now.getTime() + this.settings.jobIntervalMs));
      } finally {
        await this.leases.release(lease, this.owner).catch(() => undefined);
      }
    }
    const erasing = await this.runRetention(limit);
    return { claimed, refreshed, expiring, expired, erasing };
  }
}

function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value === 'string' && value) {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

/** TrueLayer errors as platform errors: a defined handling per category. */
export function mapTrueLayerError(error: unknown, operation: string): AppError {
  if (error instanceof AppError) return error;
  if (!(error instanceof TrueLayerError)) return AppError.unavailable('truelayer_unreachable', `TrueLayer ${operation} failed`, error);
  const details: Record<string, string> = {
    truelayer_code: error.code,
    ...(error.correlationId ? { truelayer_correlation_id: error.correlationId } : {}),
  };
  const message = `TrueLayer ${operation}: ${error.code}`;
  switch (error.category) {
    case 'consent_gone':
    case 'token_expired':
      return operation === 'exchange'
        ? new AppError({ code: 'invalid_authorization_code', message, kind: 'invalid_argument', details, cause: error })
        : new AppError({ code: 'reauth_required', message, kind: 'failed_precondition', details, cause: error });
    case 'invalid_request':
      return new AppError({ code: 'truelayer_rejected', message, kind: 'invalid_argument', details, cause: error });
    case 'provider_rate_limited':
    case 'unattended_limit':
      return new AppError({
        code: 'truelayer_rate_limited',
        message,
        kind: 'rate_limited',
        details,
        cause: error,
        ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
      });
    case 'not_supported':
      return new AppError({ code: 'not_supported', message, kind: 'failed_precondition', details, cause: error });
    default:
      return new AppError({ code: 'truelayer_unavailable', message, kind: 'unavailable', retriable: error.retriable, details, cause: error });
  }
}
