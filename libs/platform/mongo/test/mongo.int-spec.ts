/** mongoose against the real MongoDB-wire server: CRUD, a unique index, idempotency markers, fail-fast connect. */
import { createLogger } from '@ais/platform-logger';
import { AppError } from '@ais/platform-errors';
import { randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import { connectMongo, isDuplicateKeyError, Leases, MongoIdempotencyGuard, mongoReady, type Connection } from '../src';

const logger = createLogger({ service: 'mongo-int', level: 'warn' });

describe('platform-mongo on a real MongoDB-wire server', () => {
  let conn: Connection;

  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_${randomBytes(4).toString('hex')}`, logger });
  });

  afterAll(async () => {
    await conn.dropDatabase();
    await conn.close();
  });

  it('creates, reads, updates and deletes documents with mongoose', async () => {
    expect(mongoReady(conn)).toBe(true);
    const Item = conn.model('Item', new Schema({ sku: { type: String, required: true }, qty: Number }, { versionKey: false }));
    const created = await Item.create({ sku: 'a', qty: 1 });
    await Item.updateOne({ _id: created._id }, { $inc: { qty: 2 } });
    expect(await Item.findById(created._id).lean()).toMatchObject({ sku: 'a', qty: 3 });
    await Item.deleteOne({ _id: created._id });
    expect(await Item.countDocuments()).toBe(0);
  });

  it('enforces a unique index', async () => {
    const schema = new Schema({ email: { type: String, required: true } }, { versionKey: false });
    schema.index({ email: 1 }, { unique: true });
    const User = conn.model('User', schema);
    await User.init();
    await User.create({ email: 'x@example.test' });
    const error = await User.create({ email: 'x@example.test' }).catch((e: unknown) => e);
    expect(isDuplicateKeyError(error)).toBe(true);
    expect(await User.countDocuments({ email: 'x@example.test' })).toBe(1);
  });

  it('remembers processed event ids once, expires them through a TTL index, and purges old markers', async () => {
    const guard = new MongoIdempotencyGuard(conn, 'processed_events_it', 3 * 24 * 3600_000);
    await guard.ensureIndexes();
    await guard.ensureIndexes(); // idempotent at every start
    const indexes = await conn.collection('processed_events_it').indexes();
    expect(indexes.find((i) => i.name === 'processed_events_ttl')).toMatchObject({ key: { at: 1 }, expireAfterSeconds: 3 * 24 * 3600 });
    expect(await guard.has('e1')).toBe(false);
    await guard.remember('e1');
    await guard.remember('e1'); // a concurrent duplicate is not an error
    expect(await guard.has('e1')).toBe(true);
    expect(await guard.purge(new Date(Date.now() + 1000))).toBe(1);
    expect(await guard.has('e1')).toBe(false);
  });

  it('fails fast with a clear error when the server is unreachable', async () => {
    const started = Date.now();
    const error = await connectMongo({ uri: 'mongodb://127.0.0.1:1/?directConnection=true', db: 'x', logger, connectTimeoutMs: 1500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'mongo_unreachable', kind: 'unavailable' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('Leases on a real MongoDB-wire server', () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_leases_${randomBytes(4).toString('hex')}`, logger });
  });
  afterAll(async () => {
    await conn.dropDatabase();
    await conn.close();
  });

  it('grants a lease to exactly one of many concurrent contenders, from two connections', async () => {
    const other = await connectMongo({ uri: process.env['MONGODB_URI']!, db: conn.name, logger });
    const a = new Leases(conn);
    const b = new Leases(other);
    for (let round = 0; round < 10; round += 1) {
      const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).acquire(`k${round}`, `o${i}`, 60_000)));
      expect(wins.filter(Boolean)).toHaveLength(1);
    }
    await other.close();
  });

  it('hands a lapsed lease to exactly one of many racing contenders', async () => {
    const other = await connectMongo({ uri: process.env['MONGODB_URI']!, db: conn.name, logger });
    const a = new Leases(conn);
    const b = new Leases(other);
    const t0 = new Date('2031-01-01T00:00:00Z');
    for (let round = 0; round < 10; round += 1) {
      expect(await a.acquire(`lapsed${round}`, 'crashed', 1000, t0)).toBe(true);
      const later = new Date(t0.getTime() + 5000);
      const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).acquire(`lapsed${round}`, `o${i}`, 60_000, later)));
      expect(wins.filter(Boolean)).toHaveLength(1);
      const winner = `o${wins.indexOf(true)}`;
      expect(await a.holds(`lapsed${round}`, winner)).toBe(true);
    }
    await other.close();
  });

  it('takes over a lapsed lease, releases only its own, and says once exactly once', async () => {
    const leases = new Leases(conn);
    const t0 = new Date('2030-01-01T00:00:00Z');
    expect(await leases.acquire('x', 'a', 1000, t0)).toBe(true);
    expect(await leases.acquire('x', 'b', 1000, new Date(t0.getTime() + 500))).toBe(false);
    expect(await leases.acquire('x', 'b', 1000, new Date(t0.getTime() + 1500))).toBe(true);
    await leases.release('x', 'a');
    expect(await leases.holds('x', 'b')).toBe(true);
    await leases.release('x', 'b');
    expect(await leases.holds('x', 'b')).toBe(false);
    const once = await Promise.all(Array.from({ length: 8 }, () => leases.once('event-1')));
    expect(once.filter(Boolean)).toHaveLength(1);
    // lapsed leases and old once-markers expire through a TTL index
    await leases.ensureIndexes(30 * 24 * 3600_000);
    await leases.ensureIndexes(30 * 24 * 3600_000);
    const indexes = await conn.collection('leases').indexes();
    expect(indexes.find((i) => i.name === 'leases_ttl')).toMatchObject({ key: { until: 1 }, expireAfterSeconds: 30 * 24 * 3600 });
  });
});
