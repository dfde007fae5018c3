/**
 * MongoDB connection bootstrap (mongoose) and small shared helpers. Each service owns its database and its
 * models live in the service's own `data/` folder; only connection handling and generic helpers live here.
 *
 * Works against MongoDB and against the MongoDB-wire server used locally (FerretDB): no transactions, no TTL
 * indexes, no change streams are assumed.
 */
import mongoose, { type Connection } from 'mongoose';
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
 * Remembers processed event ids (one document per id) so that a redelivered Kafka event is skipped.
 * Purged by age by an explicit job (no TTL index: the local wire server lacks them).
 */
export class MongoIdempotencyGuard {
  private readonly collection;

  constructor(conn: Connection, collectionName = 'processed_events') {
    this.collection = conn.collection<{ _id: string; at: Date }>(collectionName);
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
 * Leases and once-only markers built on the one write that is atomic on every MongoDB-wire server we run: an
 * insert into a unique `_id`. (FerretDB v1 evaluates a conditional `updateOne`/`findOneAndUpdate` filter and
 * the write separately, so two concurrent "compare-and-set" updates can both succeed: measured, see
 * infra/README.md. MongoDB itself is atomic per document either way.)
 */
export class Leases {
  private readonly collection;

  constructor(conn: Connection, collectionName = 'leases') {
    this.collection = conn.collection<{ _id: string; owner: string; until: Date }>(collectionName);
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
    const current = await this.collection.findOne({ _id: key });
    if (!current || current.until.getTime() > now.getTime()) return false;
    await this.collection.deleteOne({ _id: key, owner: current.owner, until: current.until });
    try {
      await this.collection.insertOne({ _id: key, owner, until });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
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
