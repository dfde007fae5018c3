/**
 * Rate limits shared by every gateway instance: fixed one-minute windows counted in MongoDB `rate_buckets`.
 *
 * One document per (scope, key, window): `_id = <scope>:<HMAC(key)>:<window start ms>`, counters raised with `$inc`
 * in one `findOneAndUpdate` by `_id` (the `_id_` index serves every query), whose result is the count. The first
 * request of a window finds no document: it inserts the bucket with no count (a duplicate key: another request did)
 * and increments it like the others. Neither an upsert creates the document nor an upsert is sent to it: on the
 * local store (FerretDB 2.7) upserts that create a document at the same time lose increments (twelve at once left
 * counts of 1 to 12, measured 5 December), and so did an upsert that only set `expiresAt` beside increments of the
 * document it found (one lost in some of 20 trials of 12); an increment of an existing document is atomic there
 * as on MongoDB.
 * `expiresAt` (the window's end) carries a TTL index, so old buckets delete themselves.
 *
 * Fixed rather than sliding windows: one atomic write per request and one small document per key and minute; a
 * sliding window needs either a document per request or a second read of the previous window. The price is a
 * burst of up to twice the limit across a window boundary, acceptable for abuse limits and per-key quotas.
 *
 * Keys (client addresses, client ids) are stored as HMAC-SHA256 under a secret every instance shares, so the
 * buckets hold no IP address.
 *
 * When MongoDB is slow or unreachable the limiter fails open to a per-process limiter (same limits, counted in
 * this process only, so N instances allow up to N× the limit until the store answers again): one warn line, then
 * the store is left alone for `retryAfterFailureMs` so that requests do not each wait for the timeout.
 */
import type { Logger } from '@ais/platform-logger';
import type { Connection } from '@ais/platform-mongo';
import { AppError } from '@ais/platform-errors';
import type { Response } from 'express';
import { createHmac, hkdfSync } from 'node:crypto';

export type Counters = Record<string, number>;

export interface RateStore {
  /** Adds `inc` to the counters of bucket `id` (created with `expiresAt` when new); returns the counters after. */
  add(id: string, inc: Counters, expiresAt: Date): Promise<Counters>;
}

export const RATE_BUCKETS_COLLECTION = 'rate_buckets';
export const RATE_BUCKETS_TTL_INDEX = 'rate_buckets_ttl';

/** A bucket: `expiresAt` and one number per counter (`n` requests, `f` failed key checks). */
interface BucketDoc {
  _id: string;
  expiresAt: Date;
  n?: number;
  f?: number;
}

function countersOf(doc: object | null): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(doc ?? {})) if (typeof v === 'number') out[k] = v;
  return out;
}

export class MongoRateStore implements RateStore {
  private readonly col;

  constructor(
    conn: Connection,
    private readonly maxTimeMs = 250,
  ) {
    this.col = conn.collection<BucketDoc>(RATE_BUCKETS_COLLECTION);
  }

  /** TTL index on the window's end: a bucket is deleted once its window is over (idempotent; call once at start). */
  async ensureIndexes(): Promise<void> {
    await this.col.createIndex({ expiresAt: 1 }, { name: RATE_BUCKETS_TTL_INDEX, expireAfterSeconds: 0 });
  }

  async add(id: string, inc: Counters, expiresAt: Date): Promise<Counters> {
    const increment = () => this.col.findOneAndUpdate({ _id: id }, { $inc: inc as { n?: number; f?: number } }, { returnDocument: 'after', maxTimeMS: this.maxTimeMs });
    const counted = await increment();
    if (counted) return countersOf(counted);
    // the window's first request: create the bucket (first requests at once all try; one inserts), then count
    await this.col.insertOne({ _id: id, expiresAt }, { maxTimeMS: this.maxTimeMs }).catch((error: unknown) => {
      if ((error as { code?: unknown }).code !== 11000) throw error;
    });
    const created = await increment();
    if (!created) throw AppError.unavailable('rate_bucket_missing', 'the rate bucket was not found after it was created');
    return countersOf(created);
  }
}

/** Counts in process memory (the fallback while MongoDB does not answer, and unit tests). */
export class MemoryRateStore implements RateStore {
  private readonly buckets = new Map<string, { counters: Counters; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async add(id: string, inc: Counters, expiresAt: Date): Promise<Counters> {
    let b = this.buckets.get(id);
    if (!b) {
      if (this.buckets.size >= 10_000) this.sweep();
      b = { counters: {}, expiresAt: expiresAt.getTime() };
      this.buckets.set(id, b);
    }
    for (const [k, v] of Object.entries(inc)) b.counters[k] = (b.counters[k] ?? 0) + v;
    return { ...b.counters };
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, b] of this.buckets) if (b.expiresAt <= t) this.buckets.delete(id);
  }
}

export interface Verdict {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Until the window ends. */
  resetMs: number;
}

export interface RateLimiterOptions {
  /** The shared store; without one, counts stay in this process. */
  store?: RateStore | undefined;
  logger?: Logger | undefined;
  /** Keys are stored as HMAC-SHA256 under a key derived from this secret (every instance must share it). */
  secret?: Buffer | undefined;
  now?: () => number;
  windowMs?: number;
  /** A store call slower than this counts as a failure (the request is counted locally). */
  timeoutMs?: number;
  /** After a failure the store is not asked for this long. */
  retryAfterFailureMs?: number;
}

export class RateLimiter {
  private readonly local: MemoryRateStore;
  private readonly store: RateStore | undefined;
  private readonly logger: Logger | undefined;
  private readonly hmacKey: Buffer;
  private readonly now: () => number;
  readonly windowMs: number;
  private readonly timeoutMs: number;
  private readonly retryAfterFailureMs: number;
  private storeSkippedUntil = 0;

  constructor(opts: RateLimiterOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.local = new MemoryRateStore(this.now);
    this.store = opts.store;
    this.logger = opts.logger;
    this.hmacKey = Buffer.from(hkdfSync('sha256', opts.secret ?? Buffer.alloc(32), Buffer.alloc(0), 'ais rate_buckets keys v1', 32));
    this.windowMs = opts.windowMs ?? 60_000;
    this.timeoutMs = opts.timeoutMs ?? 250;
    this.retryAfterFailureMs = opts.retryAfterFailureMs ?? 5_000;
  }

  /** The bucket id of `key` in `scope` for the window starting at `start`. */
  bucketId(scope: string, key: string, start: number): string {
    return `${scope}:${createHmac('sha256', this.hmacKey).update(key, 'utf8').digest('base64url').slice(0, 22)}:${start}`;
  }

  /** Adds `inc` to the current window's counters of `key` in `scope`; returns them with the time left in the window. */
  async count(scope: string, key: string, inc: Counters): Promise<{ counters: Counters; resetMs: number }> {
    const t = this.now();
    const start = t - (t % this.windowMs);
    const id = this.bucketId(scope, key, start);
    const expiresAt = new Date(start + this.windowMs);
    const resetMs = start + this.windowMs - t;
    if (this.store && t >= this.storeSkippedUntil) {
      try {
        return { counters: await this.withTimeout(this.store.add(id, inc, expiresAt)), resetMs };
      } catch (error) {
        this.storeSkippedUntil = t + this.retryAfterFailureMs;
        this.logger?.warn({ err: error, scope, fallbackMs: this.retryAfterFailureMs }, 'rate limit store failed: counting in this process only (fail open to the local limiter)');
      }
    }
    return { counters: await this.local.add(id, inc, expiresAt), resetMs };
  }

  /** Counts one request of `key` against `limit` per window. */
  async take(scope: string, key: string, limit: number): Promise<Verdict> {
    const { counters, resetMs } = await this.count(scope, key, { n: 1 });
    const n = counters['n'] ?? 0;
    return { allowed: n <= limit, limit, remaining: Math.max(0, limit - n), resetMs };
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`rate limit store did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}

/** Per client address (`req.ip`, which TRUST_PROXY decides), per one-minute window, across every instance. */
export interface IpLimits {
  /** Requests to the caller API (`/v1/users/…`), counted before the API key is looked up. */
  apiPerMinute: number;
  /** Failed API-key checks; once reached, the address gets 429 without a key lookup until the window ends. */
  authFailuresPerMinute: number;
  /** Hosted pages, the OAuth callback and the bounce page. */
  pagesPerMinute: number;
}

export const DEFAULT_IP_LIMITS: IpLimits = { apiPerMinute: 1200, authFailuresPerMinute: 20, pagesPerMinute: 300 };

export function setRateLimitHeaders(res: Response, v: Verdict): void {
  res.setHeader('RateLimit-Limit', String(v.limit));
  res.setHeader('RateLimit-Remaining', String(v.remaining));
  res.setHeader('RateLimit-Reset', String(Math.ceil(v.resetMs / 1000)));
}

export function rateLimited(message: string, resetMs: number): AppError {
  return new AppError({ code: 'rate_limited', message, kind: 'rate_limited', retryAfterMs: Math.max(1000, resetMs) });
}
