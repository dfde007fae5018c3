/**
 * MongoDB connection bootstrap (mongoose) and small shared helpers. Each service owns its database and its
 * models live in the service's own `data/` folder; only connection handling and generic helpers live here.
 *
 * Works against MongoDB and against the MongoDB-wire server used locally (FerretDB 2 over PostgreSQL with
 * DocumentDB, see infra/README.md): indexes, TTL indexes and atomic single-document conditional updates are
 * relied on (both servers have them, and test/store.int-spec.ts proves it on the local one); multi-document
 * transactions and change streams are not (the local server has neither).
 */
import mongoose, { type Connection, type ConnectOptions } from 'mongoose';
import './bson-strings';
import { readFileSync } from 'node:fs';
import { AppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';

export { mongoose, type Connection };

export interface MongoSettings {
  uri: string;
  db: string;
  logger: Logger;
  connectTimeoutMs?: number;
  /** Build indexes declared on schemas at start-up (on by default; off where ops manage indexes). */
  autoIndex?: boolean;
  /** Production transport and credentials (docs/SECURITY.md); absent = what the URI says (the local stack). */
  security?: MongoSecurity;
}

export interface MongoSecurity {
  tls?: { caFile?: string | undefined; certificateKeyFile?: string | undefined } | undefined;
  /** A per-service user whose role reaches only its own database; the password comes from a file (a mounted secret). */
  auth?: { username: string; passwordFile: string; authSource?: string | undefined } | undefined;
}

/** Driver options for {@link MongoSecurity} (the password file is read once, at start). */
export function mongoSecurityOptions(security: MongoSecurity | undefined): ConnectOptions {
  const out: ConnectOptions = {};
  if (security?.tls) {
    out.tls = true;
    if (security.tls.caFile) out.tlsCAFile = security.tls.caFile;
    if (security.tls.certificateKeyFile) out.tlsCertificateKeyFile = security.tls.certificateKeyFile;
  }
  if (security?.auth) {
    out.auth = { username: security.auth.username, password: readFileSync(security.auth.passwordFile, 'utf8').trim() };
    out.authSource = security.auth.authSource ?? 'admin';
  }
  return out;
}

/** Connects (failing fast with a clear error when the server is unreachable) and returns the connection. */
export async function connectMongo(settings: MongoSettings): Promise<Connection> {
  const timeout = settings.connectTimeoutMs ?? 10_000;
  const conn = mongoose.createConnection(settings.uri, {
    dbName: settings.db,
    serverSelectionTimeoutMS: timeout,
    connectTimeoutMS: timeout,
    autoIndex: settings.autoIndex ?? true,
    autoCreate: true,
    retryWrites: false,
    ...mongoSecurityOptions(settings.security),
  });
  const log = settings.logger.child({ component: 'mongo', db: settings.db });
  conn.on('disconnected', () => log.warn('mongo disconnected'));
  conn.on('reconnected', () => log.info('mongo reconnected'));
  try {
    await conn.asPromise();
  } catch (error) {
    await conn.close().catch(() => undefined);
    throw AppError.unavailable('mongo_unreachable', `cannot reach MongoDB at ${mongoHosts(settings.uri)} for database ${settings.db} within ${timeout} ms`, error);
  }
  log.info('mongo connected');
  return conn;
}

/** The host list of a MongoDB URI, without credentials or options (for messages). */
export function mongoHosts(uri: string): string {
  return /^mongodb(?:\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri)?.[1] ?? '(unparsable URI)';
}

export function mongoReady(conn: Connection): boolean {
  return conn.readyState === mongoose.ConnectionStates.connected;
}

export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: number }).code === 11000;
}

/**
 * Drops index `name` of `collection` when it is there: an index of an earlier release that a store may still have.
 * A collection that does not exist yet (26 NamespaceNotFound) or an index dropped already (27 IndexNotFound) is no
 * error.
 */
export async function dropIndexIfPresent(collection: { dropIndex(name: string): Promise<unknown> }, name: string): Promise<void> {
  try {
    await collection.dropIndex(name);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 26 && code !== 27) throw err;
  }
}

/** How long processed-event markers are kept by default: well past Kafka's default 7-day retention. */
export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 14 * 24 * 3600_000;

/**
 * Remembers processed event ids (one document per id) so that a redelivered Kafka event is skipped.
 * Markers expire through a TTL index on `at` (`ensureIndexes`), named `processed_events_ttl`; a marker must
 * outlive any redelivery, so the retention is longer than the topic's.
 */
export class MongoIdempotencyGuard {
  private readonly collection;

  constructor(
    conn: Connection,
    collectionName = 'processed_events',
    private readonly retentionMs = DEFAULT_IDEMPOTENCY_RETENTION_MS,
  ) {
    this.collection = conn.collection<{ _id: string; at: Date }>(collectionName);
  }

  /** Creates the TTL index that purges old markers (idempotent; call once at start). */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ at: 1 }, { name: 'processed_events_ttl', expireAfterSeconds: Math.ceil(this.retentionMs / 1000) });
  }

  async has(eventId: string): Promise<boolean> {
    return (await this.collection.countDocuments({ _id: eventId }, { limit: 1 })) > 0;
  }

  async remember(eventId: string): Promise<void> {
    try {
      await this.collection.insertOne({ _id: eventId, at: new Date() });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  /** Deletes markers older than `olderThan`; returns how many. */
  async purge(olderThan: Date): Promise<number> {
    const res = await this.collection.deleteMany({ at: { $lt: olderThan } });
    return res.deletedCount;
  }
}

/**
 * Leases and once-only markers. A free key is taken by an insert into a unique `_id`; a lapsed lease is taken
 * over by one conditional update (`until <= now`), atomic per document on MongoDB and on the local server
 * (racing takeovers have exactly one winner: test/mongo.int-spec.ts). Once-markers are unique inserts.
 */
export class Leases {
  private readonly collection;

  constructor(conn: Connection, collectionName = 'leases') {
    this.collection = conn.collection<{ _id: string; owner: string; until: Date }>(collectionName);
  }

  /**
   * Creates the TTL index `leases_ttl` on `until` (idempotent; call once at start): a lease that lapsed, or a
   * once-marker written, more than `retentionMs` ago (default 180 days, two consent periods) is deleted. Callers
   * key once-markers by period, so a marker is never needed after its period is over.
   */
  async ensureIndexes(retentionMs = 180 * 24 * 3600_000): Promise<void> {
    await this.collection.createIndex({ until: 1 }, { name: 'leases_ttl', expireAfterSeconds: Math.ceil(retentionMs / 1000) });
  }

  /** Takes `key` for `ttlMs` unless someone else holds it; a lapsed lease is taken over. */
  async acquire(key: string, owner: string, ttlMs: number, now = new Date()): Promise<boolean> {
    const until = new Date(now.getTime() + ttlMs);
    try {
      await this.collection.insertOne({ _id: key, owner, until });
      return true;
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
    const takeover = await this.collection.updateOne({ _id: key, until: { $lte: now } }, { $set: { owner, until } });
    return takeover.modifiedCount === 1;
  }

  /** Extends a lease this owner still holds (long work renews before `ttlMs` runs out); false when it was lost. */
  async renew(key: string, owner: string, ttlMs: number, now = new Date()): Promise<boolean> {
    const res = await this.collection.updateOne({ _id: key, owner }, { $set: { until: new Date(now.getTime() + ttlMs) } });
    return res.matchedCount === 1;
  }

  async holds(key: string, owner: string): Promise<boolean> {
    return (await this.collection.countDocuments({ _id: key, owner }, { limit: 1 })) > 0;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.collection.deleteOne({ _id: key, owner });
  }

  /** True exactly once per key across every instance (e.g. "consent_expiring 7d for connection X sent"). */
  async once(key: string, now = new Date()): Promise<boolean> {
    try {
      await this.collection.insertOne({ _id: `once:${key}`, owner: 'once', until: now });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }
}

/**
 * Whether a query plan (the `explain()` result) reads through the index named `indexName`. MongoDB names the
 * index of each IXSCAN stage of `queryPlanner.winningPlan` in `indexName` (rejected plans are ignored);
 * the local server (FerretDB 2 over DocumentDB) returns PostgreSQL's plan, whose index scans carry it in
 * `Index Name`. Used by tests that pin every hot query to its named index.
 */
export function explainUsesIndex(explain: unknown, indexName: string): boolean {
  return indexScanOf(explain, indexName) !== undefined;
}

/** The winning plan's node that scans `indexName` (MongoDB's `indexName`, PostgreSQL's `Index Name`), if any. */
function indexScanOf(explain: unknown, indexName: string): Record<string, unknown> | undefined {
  const planner = (explain as { queryPlanner?: { winningPlan?: unknown; Plan?: unknown } } | null)?.queryPlanner;
  const stack: unknown[] = [planner?.winningPlan ?? planner?.Plan ?? explain];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...(node as unknown[]));
    else if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (record['indexName'] === indexName || record['Index Name'] === indexName) return record;
      stack.push(...Object.values(record));
    }
  }
  return undefined;
}

const UNBOUNDED_KEY = /^(MaxKey|MinKey|new Date\(-?922337203685477580[78]\)|-?inf(\.0|inity)?)$/i;

/**
 * Whether the scan of the index `indexName` in a query plan is bounded on `field` from both sides: the range it
 * reads is cut above and below by the query, not only filtered row by row after it was read. A keyset page with no
 * upper bound on its sort field reads every row above its position, so its cost grows with the depth of the page.
 * MongoDB gives the IXSCAN stage's `indexBounds[field]` (strings like `[new Date(…), new Date(…)]`; an open end is
 * MinKey/MaxKey, the infinite date, or a number's inf.0 / -inf.0). The local server gives PostgreSQL's `Index Cond`, whose operands are BSON
 * documents in hex of one key each: `@>=`/`@>` bound below, `@<=`/`@<` above, `@=` both.
 */
export function explainBoundsBothEnds(explain: unknown, indexName: string, field: string): boolean {
  const scan = indexScanOf(explain, indexName);
  if (!scan) return false;
  if (scan['indexName'] === indexName) {
    const bounds = (scan['indexBounds'] as Record<string, string[]> | undefined)?.[field];
    if (!bounds || bounds.length === 0) return false;
    return bounds.every((b) => b.replace(/^[[(]|[\])]$/g, '').split(/,\s*/).every((end) => !UNBOUNDED_KEY.test(end.trim())));
  }
  const sides = new Set<string>();
  for (const m of String(scan['Index Cond'] ?? '').matchAll(/@(<=|<|>=|>|=)\)? '?BSONHEX([0-9a-f]+)/g)) {
    if (!Object.keys(mongoose.mongo.BSON.deserialize(Buffer.from(m[2]!, 'hex'))).includes(field)) continue;
    if (m[1] !== '<' && m[1] !== '<=') sides.add('lower');
    if (m[1] !== '>' && m[1] !== '>=') sides.add('upper');
  }
  return sides.size === 2;
}
