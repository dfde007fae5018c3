/**
 * One user id under two API clients of a deployment (an e-mail address, a small integer): two users, whose data never
 * mixes even when they connect the same bank accounts. Each client's listing makes accounts of its own (they are
 * never matched to the other client's: that moved the accounts to whichever client listed them last, while the
 * transactions stayed with the first), every change-feed event names its own client (balance snapshots and user
 * edits carried none), and one client's erasure leaves the other's data. Real server.
 *
 * What the two still share is the user's sequence numbering (each sees gaps where the other's changes are) and the
 * derived analysis (apps/reconciliation/README.md, known limits).
 */
import { bindings } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { createLogger } from '@ais/platform-logger';
import type { EventProducer } from '@ais/platform-kafka';
import { connectMongo, type Connection } from '@ais/platform-mongo';
import { randomBytes } from 'node:crypto';
import { Analysis } from '../src/data/analysis';
import { ChangeFeedPublisher } from '../src/data/changefeed';
import { Erasures } from '../src/data/erasure';
import { ReadQueries } from '../src/data/queries';
import { ReconciliationStore, type Batch } from '../src/data/store';
import { reconciliationHandlers } from '../src/grpc/reconciliation.service';
import { bankRow, DAY, T } from './feed-fixtures';

const logger = createLogger({ service: 'reconciliation-two-clients-int', level: 'warn' });
const U = 'ann@example.com';
const CLIENTS = ['client-a', 'client-b'] as const;
const V0 = 'user-7';

/** One connection's sync for `clientId`: the same bank account, its rows and a balance, whoever asks. */
function sync(clientId: string, connectionId: string): Batch[] {
  const b = (payload: Batch['payload']): Batch => ({ eventId: `ev-${clientId}-${payload.kind}`, clientId, connectionId, providerId: 'ob-lloyds', fetchId: `fetch-${connectionId}`, fetchedAt: T, payload });
  const rows = [0, 1, 2].map((i) => bankRow(`shop-${i}`, new Date(T.getTime() - (i + 1) * DAY), `-${i + 1}.50`, 'DEBIT', `SHOP ${i}`));
  return [
    b({ kind: 'accounts', accounts: [{ kind: 'account', accountId: 'tl-cur', providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' }] }),
    b({ kind: 'transactions', providerAccountId: 'tl-cur', window: { from: new Date(T.getTime() - 30 * DAY), to: T }, batch: { index: 0, count: 1, complete: true }, transactions: rows }),
    b({ kind: 'balance', providerAccountId: 'tl-cur', balance: { currency: 'GBP', current: '100.00', available: '100.00', overdraft: '', creditLimit: '', updateTimestamp: T } }),
  ];
}

describe('one user id under two API clients (real server)', () => {
  let conn: Connection;
  let store: ReconciliationStore;
  let analysis: Analysis;
  let erasures: Erasures;
  const events: eventsV1.ChangeEvent[] = [];
  let publisher: ChangeFeedPublisher;

  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_two_clients_${randomBytes(4).toString('hex')}`, logger });
    store = new ReconciliationStore(conn);
    await store.ensureIndexes();
    analysis = new Analysis(conn, store, { historyCacheUsers: 4 });
    await analysis.ensureIndexes();
    erasures = new Erasures(conn, store, analysis);
    await erasures.ensureIndexes();
    const producer = { publish: async (_b: ReturnType<typeof bindings.ledger>, list: eventsV1.ChangeEvent[]) => void events.push(...list) } as unknown as EventProducer;
    publisher = new ChangeFeedPublisher({ store, producer, logger, erasures });
  });

  afterAll(async () => {
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
  });

  it('keeps each client\'s accounts, rows, balances and edits its own, names the client on every change event, and erases one client\'s alone', async () => {
    for (const [i, clientId] of CLIENTS.entries()) {
      await store.linkConnection(U, `conn-${clientId}`, `conn-${clientId}-before`);
      for (const b of sync(clientId, `conn-${clientId}`)) await store.applyBatch(U, b);
      const [row] = await store.transactions.find({ userId: U, clientId }).sort({ _id: 1 }).limit(1).toArray();
      await store.applyEdit(U, 'transaction', row!._id, { notes: `note of ${clientId}` }, new Date(T.getTime() + i), `req-${clientId}`, clientId);
    }

    // two accounts of one bank account, one per client, each with the three rows and the balance
    const accounts = await store.accounts.find({ userId: U }).toArray();
    expect(accounts.map((a) => [a.clientId, a.connectionId]).sort()).toEqual(CLIENTS.map((c) => [c, `conn-${c}`]));
    const clientOf = new Map(accounts.map((a) => [a._id, a.clientId]));
    for (const clientId of CLIENTS) {
      const own = accounts.find((a) => a.clientId === clientId)!._id;
      expect(await store.transactions.countDocuments({ userId: U, clientId, accountId: own })).toBe(3);
      expect(await store.transactions.countDocuments({ userId: U, clientId })).toBe(3);
      expect(await store.balances.countDocuments({ userId: U, accountId: own, clientId })).toBe(1);
    }

    // an edit and a balance stored before they carried their client: the event still names it (their target's)
    const b = accounts.find((a) => a.clientId === 'client-b')!._id;
    await store.balances.updateOne({ userId: U, accountId: b }, { $unset: { clientId: '' } });
    await store.edits.updateOne({ userId: U, clientId: 'client-b' }, { $unset: { clientId: '' } });

    await publisher.publishUser(U);
    const kinds = new Set(events.map((e) => e.entity?.$case));
    for (const k of ['account', 'transaction', 'balance', 'userEdit']) expect(kinds).toContain(k);
    const txClient = new Map((await store.transactions.find({ userId: U }).toArray()).map((t) => [t._id, t.clientId]));
    for (const e of events) {
      const ent = e.entity!;
      const expected =
        ent.$case === 'account' ? clientOf.get(ent.account.accountId)
        : ent.$case === 'transaction' ? txClient.get(ent.transaction.transactionId)
        : ent.$case === 'balance' ? clientOf.get(ent.balance.accountId)
        : ent.$case === 'userEdit' ? txClient.get(ent.userEdit.targetId)
        : undefined;
      expect([e.seq, ent.$case, e.clientId]).toEqual([e.seq, ent.$case, expected]);
    }

    // client-a erases its user: client-b's user of the same id keeps everything, its renewal link included
    const before = await Promise.all([store.accounts, store.transactions, store.balances, store.edits].map((c) => c.countDocuments({ userId: U })));
    const result = await erasures.apply(U, { erasureId: 'er-a', userId: U, clientId: 'client-a', reason: 'user_request', connectionIds: ['conn-client-a'], steps: [], accountIds: [] }, new Date(T.getTime() + DAY));
    expect(result.accountIds).toEqual(accounts.filter((a) => a.clientId === 'client-a').map((a) => a._id));
    const left = async (clientId: string) => ({
      accounts: await store.accounts.countDocuments({ userId: U, clientId }),
      transactions: await store.transactions.countDocuments({ userId: U, clientId }),
      balances: await store.balances.countDocuments({ userId: U, accountId: { $in: accounts.filter((a) => a.clientId === clientId).map((a) => a._id) } }),
      edits: (await store.edits.find({ userId: U }).toArray()).filter((e) => txClient.get(e.targetId) === clientId).length,
    });
    expect(await left('client-a')).toEqual({ accounts: 0, transactions: 0, balances: 0, edits: 0 });
    expect(await left('client-b')).toEqual({ accounts: 1, transactions: 3, balances: 1, edits: 1 });
    expect(before).toEqual([2, 6, 2, 2]);
    expect((await store.userState(U))?.links).toEqual([{ connectionId: 'conn-client-b', previousConnectionId: 'conn-client-b-before' }]);
  });

  it('finds each client\'s recurring series among its own rows and lists them to it alone, and pairs own-account transfers within one client\'s accounts', async () => {
    const V = 'user-42';
    const day = new Date(T.getTime() - 2 * DAY);
    const at = (clientId: string, payload: Batch['payload']): Batch => ({ eventId: `ev-${clientId}-${Math.random()}`, clientId, connectionId: `conn-${V}-${clientId}`, providerId: 'ob-lloyds', fetchId: `fetch-${V}-${clientId}`, fetchedAt: T, payload });
    const window = { from: new Date(T.getTime() - 30 * DAY), to: T };
    const single = { index: 0, count: 1, complete: true };
    const current = { kind: 'account' as const, accountId: 'tl-cur', providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' };
    const saver = { kind: 'account' as const, accountId: 'tl-sav', providerId: 'ob-lloyds', displayName: 'Easy Saver', currency: 'GBP', type: 'SAVINGS', sortCode: '30-94-57', number: '87654321' };
    // client-a's user moves 250.00 out of its current account; client-b's user of the same id receives 250.00 in its
    // saver the same day. Both look like an own transfer, but they are two users' accounts.
    await store.applyBatch(V, at('client-a', { kind: 'accounts', accounts: [current] }));
    await store.applyBatch(V, at('client-a', { kind: 'transactions', providerAccountId: 'tl-cur', window, batch: single, transactions: [bankRow('a-out', day, '-250.00', 'DEBIT', 'TO SAVINGS', 'TRANSFER')] }));
    // client-b's user has a real own transfer of 75.00 between its two accounts
    await store.applyBatch(V, at('client-b', { kind: 'accounts', accounts: [current, saver] }));
    await store.applyBatch(V, at('client-b', { kind: 'transactions', providerAccountId: 'tl-cur', window, batch: single, transactions: [bankRow('b-out', day, '-75.00', 'DEBIT', 'TO SAVINGS', 'TRANSFER')] }));
    await store.applyBatch(V, at('client-b', { kind: 'transactions', providerAccountId: 'tl-sav', window, batch: single, transactions: [bankRow('b-in', day, '75.00', 'CREDIT', 'FROM CURRENT', 'TRANSFER'), bankRow('b-in-250', day, '250.00', 'CREDIT', 'FROM CURRENT', 'TRANSFER')] }));
    await analysis.refresh(V, T);
    const pairOf = new Map((await store.transactions.find({ userId: V }).toArray()).map((t) => [t.normalisedProviderTransactionId, [t.clientId, t.transferPairId ?? null, t._id] as const]));
    expect(pairOf.get('txn-b-out')![1]).toBe(pairOf.get('txn-b-in')![2]);
    expect(pairOf.get('txn-b-in')![1]).toBe(pairOf.get('txn-b-out')![2]);
    expect(pairOf.get('txn-a-out')).toEqual(['client-a', null, expect.any(String)]);
    expect(pairOf.get('txn-b-in-250')).toEqual(['client-b', null, expect.any(String)]);

    // the same monthly payment on the same bank account, in both clients' copies: each client's user has the series,
    // found among its own rows, under the same seriesId (a function of the user id and the payment), in a document of
    // its own
    const monthly = (n: number) => bankRow(`nflx-${n}`, new Date(T.getTime() - (n * 30 + 1) * DAY), '-9.99', 'DEBIT', 'NETFLIX.COM');
    for (const clientId of ['client-a', 'client-b']) {
      await store.applyBatch(V, at(clientId, { kind: 'transactions', providerAccountId: 'tl-cur', window: { from: new Date(T.getTime() - 150 * DAY), to: T }, batch: single, transactions: [0, 1, 2, 3].map(monthly) }));
    }
    await analysis.refresh(V, new Date(T.getTime() + 1000));
    const accountOf = async (clientId: string) => (await store.internalAccount(V, clientId, 'tl-cur'))._id;
    const rowsOf = async (clientId: string) => (await store.transactions.find({ userId: V, clientId, description: 'NETFLIX.COM' }).toArray()).map((t) => t._id).sort();
    const docs = await analysis.series.find({ userId: V }).sort({ _id: 1 }).toArray();
    expect(docs.map((d) => [d._id, d.clientId, d.accountId, [...d.memberIds].sort()])).toEqual([
      [`client-a/${docs[0]!.seriesId}`, 'client-a', await accountOf('client-a'), await rowsOf('client-a')],
      [`client-b/${docs[0]!.seriesId}`, 'client-b', await accountOf('client-b'), await rowsOf('client-b')],
    ]);
    const handlers = reconciliationHandlers({ queries: new ReadQueries(store, conn) });
    const listed = async (clientId: string) => (await handlers.listRecurring({ clientId, userId: V } as never, undefined as never)).series.map((x) => [x.seriesId, x.accountId, x.occurrences]);
    for (const clientId of ['client-a', 'client-b']) expect(await listed(clientId)).toEqual([[docs[0]!.seriesId, await accountOf(clientId), 4]]);

    // a store written before series had a client: client-a's series as it was stored then (`_id` = seriesId, no
    // client) is listed to client-a (its account's client) alone, and the next run replaces it by client-a's
    // document, with the same seriesId
    const { _id: _drop, clientId: _c, ...legacy } = docs[0]!;
    await analysis.series.deleteOne({ _id: docs[0]!._id });
    await analysis.series.insertOne({ ...legacy, _id: docs[0]!.seriesId, contentHash: 'before' });
    expect(await listed('client-a')).toEqual([[docs[0]!.seriesId, await accountOf('client-a'), 4]]);
    expect(await listed('client-b')).toEqual([[docs[0]!.seriesId, await accountOf('client-b'), 4]]);
    analysis.forget(V);
    await analysis.state.deleteOne({ _id: V });
    await analysis.refresh(V, new Date(T.getTime() + 2000));
    expect((await analysis.series.find({ userId: V }).sort({ _id: 1 }).toArray()).map((d) => [d._id, d.clientId])).toEqual([
      [`client-a/${docs[0]!.seriesId}`, 'client-a'],
      [`client-b/${docs[0]!.seriesId}`, 'client-b'],
    ]);
  });

  it('upgrades a store with the series index of earlier releases: the unique {userId, seriesId} gives way to {userId, clientId, seriesId}', async () => {
    const old = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_two_clients_old_${randomBytes(4).toString('hex')}`, logger });
    try {
      const series = old.collection('recurring_series');
      await series.createIndex({ userId: 1, seriesId: 1 }, { name: 'recurring_series_user', unique: true });
      await series.insertOne({ _id: 'rs_legacy' as never, userId: V0, seriesId: 'rs_legacy' });
      const s = new ReconciliationStore(old);
      await s.ensureIndexes();
      const a = new Analysis(old, s, { historyCacheUsers: 4 });
      // both writers of the index replace it, in either order, and again at every start
      for (const ensure of [() => a.ensureIndexes(), () => new ReadQueries(s, old).ensureIndexes(), () => a.ensureIndexes()]) await ensure();
      const indexes = await series.indexes();
      expect(indexes.map((i) => i.name)).not.toContain('recurring_series_user');
      expect(indexes.find((i) => i.name === 'recurring_series_client')).toMatchObject({ key: { userId: 1, clientId: 1, seriesId: 1 }, unique: true });
      // the same seriesId of the same user id under two clients, beside the legacy document
      await series.insertMany([{ _id: `client-a/rs_legacy` as never, userId: V0, clientId: 'client-a', seriesId: 'rs_legacy' }, { _id: `client-b/rs_legacy` as never, userId: V0, clientId: 'client-b', seriesId: 'rs_legacy' }]);
      await expect(series.insertOne({ _id: 'dup' as never, userId: V0, clientId: 'client-a', seriesId: 'rs_legacy' })).rejects.toMatchObject({ code: 11000 });
    } finally {
      await old.dropDatabase().catch(() => undefined);
      await old.close();
    }
  });
});
