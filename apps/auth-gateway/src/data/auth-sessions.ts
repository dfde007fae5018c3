import { isDuplicateKeyError, type Connection } from '@ais/platform-mongo';
import type { Intent } from '../security/state';

export type Dialog = 'truelayer' | 'hosted' | 'reauth';
export type Outcome = 'connected' | 'cancelled' | 'failed' | 'extended';

/** One auth attempt. Holds the PKCE verifier (never leaves the server) and is consumed once by the callback. */
export interface AuthSessionRecord {
  _id: string;
  clientId: string;
  userId: string;
  intent: Intent;
  dialog: Dialog;
  /** Opaque token of the hosted pages' URLs (option 2 only). */
  pageToken: string | null;
  codeVerifier: string | null;
  redirectUri: string;
  responseMode: 'query' | 'form_post';
  providers: string[];
  scopes: string[];
  providerId: string | null;
  returnUrl: string | null;
  /** Web fallback when the return URL is a universal/app link and the app is absent (defaults to returnUrl). */
  webFallbackUrl: string | null;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
  outcome: Outcome | null;
  /** Safe error code of a failed/cancelled outcome (e.g. access_denied). */
  outcomeCode: string | null;
  connectionId: string | null;
  bounceToken: string | null;
  bounceExpiresAt: Date | null;
}

export interface OutcomeUpdate {
  outcome: Outcome;
  outcomeCode: string | null;
  connectionId: string | null;
  bounceToken: string | null;
  bounceExpiresAt: Date | null;
}

export interface AuthSessionStore {
  create(record: AuthSessionRecord): Promise<void>;
  /** Read only; used to explain a rejected callback. */
  peek(sid: string): Promise<AuthSessionRecord | null>;
  /** An unconsumed, unexpired hosted session by its page token. */
  findByPageToken(pageToken: string, now: Date): Promise<AuthSessionRecord | null>;
  /**
   * Marks the session consumed, exactly once even under concurrency, when it is unconsumed, unexpired and belongs to
   * this user and client. Returns the record (before the update) or null when nothing matched (nothing changes then).
   */
  consume(sid: string, userId: string, clientId: string, now: Date): Promise<AuthSessionRecord | null>;
  setProvider(sid: string, providerId: string): Promise<void>;
  setVerifier(sid: string, codeVerifier: string, dialog: Dialog, pageToken: string | null): Promise<void>;
  finish(sid: string, update: OutcomeUpdate): Promise<void>;
  findByBounceToken(bounceToken: string, now: Date): Promise<AuthSessionRecord | null>;
  delete(sid: string): Promise<void>;
  /** Deletes sessions that expired before `before`; returns how many. */
  purge(before: Date): Promise<number>;
  count(): Promise<number>;
}

/**
 * MongoDB store. Single use is guarded by a unique-`_id` insert into `auth_session_uses`, NOT by a conditional
 * `findOneAndUpdate`: on the MongoDB-wire server used locally (FerretDB) concurrent conditional updates of one
 * document can all match (measured: 6 of 8 parallel `findOneAndUpdate({consumedAt:null})` "won"), while duplicate
 * `_id` inserts are rejected reliably. On real MongoDB both are atomic; the insert guard is correct on both.
 */
export class MongoAuthSessionStore implements AuthSessionStore {
  private readonly col;
  private readonly uses;

  constructor(conn: Connection) {
    this.col = conn.collection<AuthSessionRecord>('auth_sessions');
    this.uses = conn.collection<{ _id: string; at: Date; expiresAt: Date }>('auth_session_uses');
  }

  async ensureIndexes(): Promise<void> {
    await this.col.createIndex({ pageToken: 1 }, { sparse: true });
    await this.col.createIndex({ bounceToken: 1 }, { sparse: true });
    await this.col.createIndex({ expiresAt: 1 });
  }

  async create(record: AuthSessionRecord): Promise<void> {
    await this.col.insertOne(record);
  }

  async peek(sid: string): Promise<AuthSessionRecord | null> {
    return this.col.findOne({ _id: sid });
  }

  async findByPageToken(pageToken: string, now: Date): Promise<AuthSessionRecord | null> {
    return this.col.findOne({ pageToken, consumedAt: null, expiresAt: { $gt: now } });
  }

  async consume(sid: string, userId: string, clientId: string, now: Date): Promise<AuthSessionRecord | null> {
    const rec = await this.col.findOne({ _id: sid, userId, clientId, consumedAt: null, expiresAt: { $gt: now } });
    if (!rec) return null;
    try {
      await this.uses.insertOne({ _id: sid, at: now, expiresAt: rec.expiresAt });
    } catch (error) {
      if (isDuplicateKeyError(error)) return null;
      throw error;
    }
    await this.col.updateOne({ _id: sid }, { $set: { consumedAt: now } });
    return rec;
  }

  async setProvider(sid: string, providerId: string): Promise<void> {
    await this.col.updateOne({ _id: sid, consumedAt: null }, { $set: { providerId } });
  }

  async setVerifier(sid: string, codeVerifier: string, dialog: Dialog, pageToken: string | null): Promise<void> {
    await this.col.updateOne({ _id: sid, consumedAt: null }, { $set: { codeVerifier, dialog, pageToken } });
  }

  async finish(sid: string, update: OutcomeUpdate): Promise<void> {
    await this.col.updateOne({ _id: sid }, { $set: { ...update } });
  }

  async findByBounceToken(bounceToken: string, now: Date): Promise<AuthSessionRecord | null> {
    return this.col.findOne({ bounceToken, bounceExpiresAt: { $gt: now } });
  }

  async delete(sid: string): Promise<void> {
    await this.col.deleteOne({ _id: sid });
  }

  async purge(before: Date): Promise<number> {
    const res = await this.col.deleteMany({ expiresAt: { $lt: before }, $or: [{ bounceExpiresAt: null }, { bounceExpiresAt: { $lt: before } }] });
    await this.uses.deleteMany({ expiresAt: { $lt: before } });
    return res.deletedCount;
  }

  async count(): Promise<number> {
    return this.col.countDocuments({});
  }
}

/** In-memory store with the same semantics (unit tests). */
export class MemoryAuthSessionStore implements AuthSessionStore {
  readonly records = new Map<string, AuthSessionRecord>();

  async create(record: AuthSessionRecord): Promise<void> {
    if (this.records.has(record._id)) throw Object.assign(new Error('duplicate'), { code: 11000 });
    this.records.set(record._id, structuredClone(record));
  }

  async peek(sid: string): Promise<AuthSessionRecord | null> {
    const r = this.records.get(sid);
    return r ? structuredClone(r) : null;
  }

  async findByPageToken(pageToken: string, now: Date): Promise<AuthSessionRecord | null> {
    const r = [...this.records.values()].find((x) => x.pageToken === pageToken && x.consumedAt === null && x.expiresAt > now);
    return r ? structuredClone(r) : null;
  }

  async consume(sid: string, userId: string, clientId: string, now: Date): Promise<AuthSessionRecord | null> {
    const r = this.records.get(sid);
    if (!r || r.userId !== userId || r.clientId !== clientId || r.consumedAt !== null || r.expiresAt <= now) return null;
    const before = structuredClone(r);
    r.consumedAt = now;
    return before;
  }

  async setProvider(sid: string, providerId: string): Promise<void> {
    const r = this.records.get(sid);
    if (r && r.consumedAt === null) r.providerId = providerId;
  }

  async setVerifier(sid: string, codeVerifier: string, dialog: Dialog, pageToken: string | null): Promise<void> {
    const r = this.records.get(sid);
    if (r && r.consumedAt === null) Object.assign(r, { codeVerifier, dialog, pageToken });
  }

  async finish(sid: string, update: OutcomeUpdate): Promise<void> {
    const r = this.records.get(sid);
    if (r) Object.assign(r, update);
  }

  async findByBounceToken(bounceToken: string, now: Date): Promise<AuthSessionRecord | null> {
    const r = [...this.records.values()].find((x) => x.bounceToken === bounceToken && x.bounceExpiresAt !== null && x.bounceExpiresAt > now);
    return r ? structuredClone(r) : null;
  }

  async delete(sid: string): Promise<void> {
    this.records.delete(sid);
  }

  async purge(before: Date): Promise<number> {
    let n = 0;
    for (const [id, r] of this.records) {
      if (r.expiresAt < before && (r.bounceExpiresAt === null || r.bounceExpiresAt < before)) {
        this.records.delete(id);
        n += 1;
      }
    }
    return n;
  }

  async count(): Promise<number> {
    return this.records.size;
  }
}
