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
import { ReconciliationStore, type Batch } from '../src/data/store';
import { bankRow } from './feed-fixtures';

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

  it('a connection erased: analysis runs again over what is left, on a cold instance too, and the pair with the erased account is gone', async () => {
    const V = 'user-partial';
    const at = new Date('2026-06-20T12:00:00Z');
    const b = (connectionId: string, payload: Batch['payload']): Batch => ({ eventId: `ev-${Math.random()}`, clientId: 'client-1', connectionId, providerId: 'ob-lloyds', fetchId: `f-${Math.random()}`, fetchedAt: at, payload });
    const tx = (id: string, day: string, amount: string, type: 'DEBIT' | 'CREDIT', description: string, category: string) => bankRow(id, new Date(`${day}T00:00:00Z`), amount, type, description, category);
    const window = { from: new Date('2026-01-01T00:00:00Z'), to: at };
    const single = { index: 0, count: 1, complete: true };
    // the current account on one connection, the savings account on another, and a transfer between them
    await store.applyBatch(V, b('conn-cur', { kind: 'accounts', accounts: [{ kind: 'account', accountId: 'tl-cur', providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' }] }));
    await store.applyBatch(V, b('conn-sav', { kind: 'accounts', accounts: [{ kind: 'account', accountId: 'tl-sav', providerId: 'ob-lloyds', displayName: 'Easy Saver', currency: 'GBP', type: 'SAVINGS', sortCode: '30-94-57', number: '87654321' }] }));
    await store.applyBatch(V, b('conn-cur', { kind: 'transactions', providerAccountId: 'tl-cur', window, batch: single, transactions: [tx('to-sav', '2026-03-03', '-200.00', 'DEBIT', 'TO SAVINGS 87654321', 'TRANSFER')] }));
    await store.applyBatch(V, b('conn-sav', { kind: 'transactions', providerAccountId: 'tl-sav', window, batch: single, transactions: [tx('from-cur', '2026-03-04', '200.00', 'CREDIT', 'FROM CURRENT ACC', 'CREDIT')] }));
    expect(await analysis.refresh(V, at)).toMatchObject({ pairs: 1 });
    const paired = () => store.transactions.findOne({ userId: V, normalisedProviderTransactionId: 'txn-to-sav' });
    expect((await paired())?.transferPairId).toEqual(expect.any(String));

    await new Erasures(conn, store, analysis).apply(V, { erasureId: 'er-partial', userId: V, clientId: 'client-1', reason: 'retention', connectionIds: ['conn-sav'], steps: [], accountIds: [], requestedAt: at }, at);
    // its deletions leave no number on what analysis reads: without its recorded run a cold instance (a restart,
    // another group member) would find nothing changed and keep the pair; the erasure deletes that record
    const cold = new Analysis(conn, new ReconciliationStore(conn), { historyCacheUsers: 4 });
    expect(await cold.refresh(V, at)).toMatchObject({ pairs: 0, changes: 1 });
    expect((await paired())?.transferPairId).toBeNull();
    expect(await analysis.refresh(V, at)).toBeNull();
  });
});
