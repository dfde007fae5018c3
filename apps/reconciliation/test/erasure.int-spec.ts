/**
 * The consumer asks, for every fetch result, whether its connection was erased (a result published after the
 * erasure is dropped). The answer "not erased" is remembered per user and connection, which holds under the single
 * writer per user: only `apply`, on the user's partition, erases, and it drops what is remembered first; a
 * rebalance (`forgetAll`) drops everything. Real server.
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo, type Connection } from '@ais/platform-mongo';
import { randomBytes } from 'node:crypto';
import { Analysis } from '../src/data/analysis';
import { Erasures } from '../src/data/erasure';
import { ReconciliationStore } from '../src/data/store';

const logger = createLogger({ service: 'reconciliation-erasure-int', level: 'warn' });
const U = 'user-erased';

describe('erased connections (real server)', () => {
  let conn: Connection;
  let store: ReconciliationStore;
  let analysis: Analysis;

  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_erasure_${randomBytes(4).toString('hex')}`, logger });
    store = new ReconciliationStore(conn);
    await store.ensureIndexes();
    analysis = new Analysis(conn, store, { historyCacheUsers: 4 });
    await analysis.ensureIndexes();
  });

  afterAll(async () => {
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
  });

  const erasure = (erasureId: string, connectionIds: string[]) => ({ erasureId, userId: U, clientId: 'client-1', reason: 'retention', connectionIds, steps: [], accountIds: [] });

  it('looks a connection up once while it is not erased, and finds it erased once this process erased it', async () => {
    const erasures = new Erasures(conn, store, analysis);
    await erasures.ensureIndexes();
    const lookups = jest.spyOn(erasures.erased, 'countDocuments');
    for (let i = 0; i < 5; i += 1) expect(await erasures.isErased(U, 'conn-a')).toBe(false);
    expect(lookups).toHaveBeenCalledTimes(1);
    // another user's connection, and the empty id (data without a connection), are their own answers
    expect(await erasures.isErased('user-other', 'conn-a')).toBe(false);
    expect(await erasures.isErased(U, '')).toBe(false);
    expect(lookups).toHaveBeenCalledTimes(2);

    await erasures.apply(U, erasure('er-1', ['conn-a']), new Date());
    expect(await erasures.isErased(U, 'conn-a')).toBe(true);
    // an erased connection is never remembered as not erased: each result of it is looked up (and dropped)
    expect(await erasures.isErased(U, 'conn-a')).toBe(true);
    expect(lookups).toHaveBeenCalledTimes(4);
  });

  it('forgets what it knew when its partitions may have changed (another process may have erased meanwhile)', async () => {
    const here = new Erasures(conn, store, analysis);
    const there = new Erasures(conn, store, analysis);
    expect(await here.isErased(U, 'conn-b')).toBe(false);
    // the partition moved to another process, which erased the connection; then it came back here
    await there.apply(U, erasure('er-2', ['conn-b']), new Date());
    here.forgetAll();
    expect(await here.isErased(U, 'conn-b')).toBe(true);
  });
});
