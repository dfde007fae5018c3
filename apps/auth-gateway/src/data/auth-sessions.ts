import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
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
  /** SHA-256 (hex) of the binding cookie set in the browser that first opened the hosted pages; null until then. */
  browserBinding: string | null;
  /** The hosted pages' funnel stages already counted for this session (markStage); absent until the first. */
  funnelStages?: string[];
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
  /**
   * Binds an unconsumed, unexpired hosted session to a browser: true for the first call only (a conditional update
   * on `browserBinding: null`, atomic per document), false when another browser bound it first.
   */
  bindBrowser(sid: string, bindingHash: string, now: Date): Promise<boolean>;
  setProvider(sid: string, providerId: string): Promise<void>;
  /**
   * Notes that the session reached a funnel stage of the hosted pages: true the first time only (a conditional
   * update, atomic per document), so a reloaded page, the back button or a form posted twice counts once.
   */
  markStage(sid: string, stage: string): Promise<boolean>;
  setVerifier(sid: string, codeVerifier: string, dialog: Dialog, pageToken: string | null): Promise<void>;
  finish(sid: string, update: OutcomeUpdate): Promise<void>;
  findByBounceToken(bounceToken: string, now: Date): Promise<AuthSessionRecord | null>;
  delete(sid: string): Promise<void>;
  /** Erasure: every session of the user (`auth_sessions_user`). Returns how many. */
  deleteForUser(clientId: string, userId: string): Promise<number>;
  /** Deletes sessions that expired before `before`; returns how many. */
  purge(before: Date): Promise<number>;
  count(): Promise<number>;
}

function hashToken(value: string | null): string | null {
  return value === null ? null : createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * MongoDB store. Single use is guarded by a unique-`_id` insert into `auth_session_uses`. (It was chosen when the
 * local server, FerretDB 1.24, let several concurrent conditional `findOneAndUpdate({consumedAt:null})` win; the
 * local server now, FerretDB 2 over DocumentDB, and MongoDB are both atomic per document, and the insert guard
 * stays: one write, correct on every MongoDB-wire server, and it leaves a record of the use.)
 */
export class MongoAuthSessionStore implements AuthSessionStore {
  private readonly col;
  private readonly uses;
  private readonly fieldKey: Buffer;

  /**
   * At rest, page and bounce tokens are stored as SHA-256 hashes (looked up by hash) and the PKCE verifier is
   * sealed with AES-256-GCM under a key derived (HKDF) from the gateway's state key held in Vault: a database
   * dump alone opens no hosted page, bounce page or code exchange.
   */
  constructor(conn: Connection, stateKey: Buffer) {
    this.col = conn.collection<AuthSessionRecord>('auth_sessions');
    this.uses = conn.collection<{ _id: string; at: Date; expiresAt: Date }>('auth_session_uses');
    this.fieldKey = Buffer.from(hkdfSync('sha256', stateKey, Buffer.alloc(0), 'ais auth_sessions fields v1', 32));
  }

  private seal(value: string | null): string | null {
    if (value === null) return null;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.fieldKey, iv);
    const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return `gcm1:${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
  }

  private unseal(value: string | null): string | null {
    if (value === null || !value.startsWith('gcm1:')) return value;
    const raw = Buffer.from(value.slice(5), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.fieldKey, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  private toStored<T extends Partial<AuthSessionRecord>>(r: T): T {
    const out = { ...r };
    if (out.pageToken !== undefined) out.pageToken = hashToken(out.pageToken);
    if (out.bounceToken !== undefined) out.bounceToken = hashToken(out.bounceToken);
    if (out.codeVerifier !== undefined) out.codeVerifier = this.seal(out.codeVerifier);
    return out;
  }

  private fromStored(r: AuthSessionRecord | null): AuthSessionRecord | null {
    return r ? { ...r, codeVerifier: this.unseal(r.codeVerifier) } : null;
  }

  async ensureIndexes(): Promise<void> {
    await this.col.createIndex({ pageToken: 1 }, { sparse: true });
    await this.col.createIndex({ bounceToken: 1 }, { sparse: true });
    await this.col.createIndex({ expiresAt: 1 });
    await this.col.createIndex({ clientId: 1, userId: 1 }, { name: 'auth_sessions_user' });
  }

  async create(record: AuthSessionRecord): Promise<void> {
    await this.col.insertOne(this.toStored(record));
  }

  async peek(sid: string): Promise<AuthSessionRecord | null> {
    return this.fromStored(await this.col.findOne({ _id: sid }));
  }

  async findByPageToken(pageToken: string, now: Date): Promise<AuthSessionRecord | null> {
    return this.fromStored(await this.col.findOne({ pageToken: hashToken(pageToken), consumedAt: null, expiresAt: { $gt: now } }));
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
    return this.fromStored(rec);
  }

  async bindBrowser(sid: string, bindingHash: string, now: Date): Promise<boolean> {
    const res = await this.col.updateOne({ _id: sid, browserBinding: null, consumedAt: null, expiresAt: { $gt: now } }, { $set: { browserBinding: bindingHash } });
    return res.modifiedCount === 1;
  }

  async setProvider(sid: string, providerId: string): Promise<void> {
    await this.col.updateOne({ _id: sid, consumedAt: null }, { $set: { providerId } });
  }

  async markStage(sid: string, stage: string): Promise<boolean> {
    const res = await this.col.updateOne({ _id: sid, funnelStages: { $ne: stage } }, { $addToSet: { funnelStages: stage } });
    return res.modifiedCount === 1;
  }

  async setVerifier(sid: string, codeVerifier: string, dialog: Dialog, pageToken: string | null): Promise<void> {
    await this.col.updateOne({ _id: sid, consumedAt: null }, { $set: this.toStored({ codeVerifier, dialog, pageToken }) });
  }

  async finish(sid: string, update: OutcomeUpdate): Promise<void> {
    await this.col.updateOne({ _id: sid }, { $set: this.toStored({ ...update }) });
  }

  async findByBounceToken(bounceToken: string, now: Date): Promise<AuthSessionRecord | null> {
    return this.fromStored(await this.col.findOne({ bounceToken: hashToken(bounceToken), bounceExpiresAt: { $gt: now } }));
  }

  async delete(sid: string): Promise<void> {
    await this.col.deleteOne({ _id: sid });
  }

  async deleteForUser(clientId: string, userId: string): Promise<number> {
    return (await this.col.deleteMany({ clientId, userId })).deletedCount;
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

  async bindBrowser(sid: string, bindingHash: string, now: Date): Promise<boolean> {
    const r = this.records.get(sid);
    if (!r || (r.browserBinding ?? null) !== null || r.consumedAt !== null || r.expiresAt <= now) return false;
    r.browserBinding = bindingHash;
    return true;
  }

  async setProvider(sid: string, providerId: string): Promise<void> {
    const r = this.records.get(sid);
    if (r && r.consumedAt === null) r.providerId = providerId;
  }

  async markStage(sid: string, stage: string): Promise<boolean> {
    const r = this.records.get(sid);
    if (!r || (r.funnelStages ?? []).includes(stage)) return false;
    r.funnelStages = [...(r.funnelStages ?? []), stage];
    return true;
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

  async deleteForUser(clientId: string, userId: string): Promise<number> {
    let n = 0;
    for (const [sid, r] of this.records) {
      if (r.clientId === clientId && r.userId === userId) {
        this.records.delete(sid);
        n += 1;
      }
    }
    return n;
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
