/**
 * What the platform relies on from its MongoDB-wire server, checked on the one the local stack runs (FerretDB 2
 * over PostgreSQL + DocumentDB; production runs MongoDB, which has each of these): the hot queries are served by
 * their named indexes, single-document conditional updates are atomic under a race, a compound unique index holds
 * inside unordered bulk writes, a replay of matching upserts completes and changes nothing, keyset pages neither
 * skip nor repeat, and TTL indexes purge.
 */
import { createLogger } from '@ais/platform-logger';
import { randomBytes } from 'node:crypto';
import { connectMongo, explainUsesIndex, type Connection } from '../src';

const logger = createLogger({ service: 'store-int', level: 'warn' });
const URI = process.env['MONGODB_URI']!;

interface Txn {
  _id: string;
  user_id: string;
  account_id: string;
  transaction_id: string;
  timestamp: Date;
  amount: number;
  description: string;
}

function txn(i: number, user = `u${i % 7}`): Txn {
  return {
    _id: `t-${i}`,
    user_id: user,
    account_id: `acc-${i % 13}`,
    transaction_id: `tx-${i}`,
    // many equal timestamps on purpose: the keyset must break ties on _id
    timestamp: new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 3) * 3600_000),
    amount: -((i * 37) % 5000) / 100,
    description: `CARD PAYMENT TO MERCHANT ${i % 50} ON ${i % 28}`,
  };
}

describe('the local MongoDB-wire server does what the platform relies on', () => {
  let conn: Connection;
  let other: Connection;

  beforeAll(async () => {
    const db = `it_store_${randomBytes(4).toString('hex')}`;
    conn = await connectMongo({ uri: URI, db, logger });
    other = await connectMongo({ uri: URI, db, logger });
  });

  afterAll(async () => {
    await conn.dropDatabase();
    await Promise.all([conn.close(), other.close()]);
  });

  it('serves the keyset page and the upsert by business key from their named indexes', async () => {
    const col = conn.collection<Txn>('transactions_idx');
    await col.createIndex({ account_id: 1, transaction_id: 1 }, { unique: true, name: 'account_transaction_unique' });
    await col.createIndex({ user_id: 1, timestamp: -1, _id: -1 }, { name: 'user_timestamp_keyset' });
    await col.insertMany(Array.from({ length: 5000 }, (_, i) => txn(i)), { ordered: false });

    const page = await col.find({ user_id: 'u3' }).sort({ timestamp: -1, _id: -1 }).limit(100).explain();
    expect(explainUsesIndex(page, 'user_timestamp_keyset')).toBe(true);
    const byKey = await col.find({ account_id: 'acc-5', transaction_id: 'tx-18' }).explain();
    expect(explainUsesIndex(byKey, 'account_transaction_unique')).toBe(true);
    // and the negative: a filter no index covers is reported as a scan, so the check above can fail
    const unindexed = await col.find({ description: 'nothing' }).explain();
    expect(explainUsesIndex(unindexed, 'user_timestamp_keyset')).toBe(false);
  });

  it('lets exactly one of many racing conditional updates win, from two connections', async () => {
    const a = conn.collection<{ _id: string; lock: string | null }>('locks');
    const b = other.collection<{ _id: string; lock: string | null }>('locks');
    for (let round = 0; round < 20; round += 1) {
      await a.insertOne({ _id: `r${round}`, lock: null });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).updateOne({ _id: `r${round}`, lock: null }, { $set: { lock: `c${i}` } })),
      );
      const winners = results.filter((r) => r.modifiedCount === 1);
      expect(winners).toHaveLength(1);
    }
  });

  it('enforces a compound unique index inside an unordered bulk write, and a replay of matching upserts changes nothing', async () => {
    const col = conn.collection<Txn>('transactions_bulk');
    await col.createIndex({ account_id: 1, transaction_id: 1 }, { unique: true, name: 'account_transaction_unique' });
    const docs = Array.from({ length: 600 }, (_, i) => txn(i));
    // 50 of the 650 inserts repeat a business key with a new _id: they must fail, the rest must land
    const dupes = docs.slice(0, 50).map((d) => ({ ...d, _id: `dup-${d._id}` }));
    const error = (await col.insertMany([...docs, ...dupes], { ordered: false }).catch((e: unknown) => e)) as {
      writeErrors?: Array<{ code: number }>;
    };
    expect(error.writeErrors?.length).toBe(50);
    expect(error.writeErrors?.every((w) => w.code === 11000)).toBe(true);
    expect(await col.countDocuments()).toBe(600);

    const replay = await col.bulkWrite(
      docs.slice(0, 500).map((d) => {
        const { _id, ...rest } = d;
        void _id;
        return { updateOne: { filter: { account_id: d.account_id, transaction_id: d.transaction_id }, update: { $set: rest }, upsert: true } };
      }),
      { ordered: false },
    );
    expect(replay.matchedCount).toBe(500);
    expect(replay.upsertedCount).toBe(0);
    expect(replay.modifiedCount).toBe(0);
    expect(await col.countDocuments()).toBe(600);
  });

  it('pages by (timestamp desc, _id desc) without skipping or repeating a document, across ties', async () => {
    const col = conn.collection<Txn>('transactions_idx');
    const all = await col.find({ user_id: 'u2' }).sort({ timestamp: -1, _id: -1 }).toArray();
    const seen: string[] = [];
    let after: { timestamp: Date; _id: string } | undefined;
    for (;;) {
      const filter = after
        ? { user_id: 'u2', $or: [{ timestamp: { $lt: after.timestamp } }, { timestamp: after.timestamp, _id: { $lt: after._id } }] }
        : { user_id: 'u2' };
      const page = await col.find(filter).sort({ timestamp: -1, _id: -1 }).limit(37).toArray();
      if (page.length === 0) break;
      seen.push(...page.map((d) => d._id));
      const last = page[page.length - 1]!;
      after = { timestamp: last.timestamp, _id: last._id };
    }
    expect(all.length).toBeGreaterThan(500);
    expect(seen).toEqual(all.map((d) => d._id));
  });

  it('purges documents through a TTL index (the server checks about once a minute, as MongoDB does)', async () => {
    const col = conn.collection<{ _id: string; at: Date }>('ttl_markers');
    await col.createIndex({ at: 1 }, { name: 'ttl_markers_ttl', expireAfterSeconds: 1 });
    const old = new Date(Date.now() - 3600_000);
    await col.insertMany([
      { _id: 'expired-1', at: old },
      { _id: 'expired-2', at: old },
      { _id: 'fresh', at: new Date(Date.now() + 24 * 3600_000) },
    ]);
    const deadline = Date.now() + 150_000;
    while ((await col.countDocuments({ _id: { $in: ['expired-1', 'expired-2'] } })) > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2_000));
    }
    expect(await col.find().map((d) => d._id).toArray()).toEqual(['fresh']);
  }, 180_000);
});
