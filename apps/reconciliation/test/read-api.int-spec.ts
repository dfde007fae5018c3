/**
 * The read API over gRPC (a real server and client) on the real MongoDB-wire server, seeded through the store's
 * write path (applyBatch, applyEdit). Enrichment results and own-transfer pairs are set on the rows directly (their
 * writers are the enriched-batch consumer and data/analysis.ts). Proves: keyset pagination is stable, every filter
 * (on the effective category), tenant isolation, the change feed's added/modified/removed split with has_more, exact
 * spending sums without hidden rows and own transfers, edits through the (simulated) partition owner, validation
 * errors, and that each hot read is served by its named index.
 */
import { bindings } from '@ais/contracts-events';
import { eventsV1, reconciliationV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { createGrpcClient, GrpcServer, type GrpcClient } from '@ais/platform-grpc';
import { stackGrpcTls, startTestMetrics } from '@ais/testing';
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainBoundsBothEnds, explainUsesIndex, type Connection } from '@ais/platform-mongo';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { MAX_WINDOW_MS, MIN_WINDOW_MS, READ_INDEXES, ReadQueries, windowHint, type TxFilter, type TxKey } from '../src/data/queries';
import { RECON_INDEXES, ReconciliationStore, type Batch, type TransactionDoc } from '../src/data/store';
import type { FetchedTransaction } from '../src/domain/dedupe';
import { transactionView, type TransactionViewDoc } from '../src/domain/view';
import { reconciliationHandlers, type EditSink } from '../src/grpc/reconciliation.service';

const logger = createLogger({ service: 'reconciliation-read-int', level: 'warn' });
/** The handlers' log lines, to prove what an edit hop logs. */
const lines: string[] = [];
const handlerLogger = createLogger({ service: 'reconciliation-read-int', level: 'info', destination: new Writable({ write: (c, _e, cb) => void (lines.push(String(c)), cb()) }) });
const DAY = 86_400_000;
const RULES = { pendingGraceMs: 2 * DAY, settleWindowMs: 10 * DAY };
const T0 = new Date('2026-01-01T09:00:00Z');
const single = { index: 0, count: 1, complete: true };
const window = { from: T0, to: new Date(T0.getTime() + 120 * DAY) };

type Client = GrpcClient<reconciliationV1.ReconciliationServiceClient>;

function row(i: number, over: Partial<FetchedTransaction> = {}): FetchedTransaction {
  const kind = i % 5 === 4 ? 'salary' : i % 2 === 0 ? 'tesco' : 'pret';
  return {
    transactionId: `tid-${i}`,
    normalisedProviderTransactionId: `n-${i}`,
    providerTransactionId: `p-${i}`,
    // pairs of rows share a posting time: the page order falls back to the id
    timestamp: new Date(T0.getTime() + Math.floor(i / 2) * 3 * DAY),
    description: kind === 'salary' ? 'SALARY ACME LTD' : kind === 'tesco' ? `TESCO STORES ${i}` : `PRET A MANGER (${i})`,
    amount: kind === 'salary' ? '1000.05' : `-${i + 1}.1${i % 10}`,
    currency: 'GBP',
    transactionType: kind === 'salary' ? 'CREDIT' : 'DEBIT',
    transactionCategory: 'PURCHASE',
    transactionClassification: [],
    merchantName: '',
    meta: {},
    ...over,
  };
}

const ENRICH: Record<string, { primary: string; detailed: string; merchantKey: string; merchantName: string }> = {
  TESCO: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_GROCERIES', merchantKey: 'tesco', merchantName: 'Tesco' },
  PRET: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', merchantKey: 'pret-a-manger', merchantName: 'Pret A Manger' },
  SALARY: { primary: 'INCOME', detailed: 'INCOME_WAGES', merchantKey: 'acme', merchantName: 'ACME' },
};

function batch(clientId: string, connectionId: string, at: Date, payload: Batch['payload']): Batch {
  return { eventId: `ev-${Math.random()}`, clientId, connectionId, providerId: 'ob-lloyds', fetchId: `f-${at.toISOString()}-${Math.random()}`, fetchedAt: at, payload };
}

async function grpcError(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

describe('reconciliation read API (gRPC, real server)', () => {
  let conn: Connection;
  let store: ReconciliationStore;
  let queries: ReadQueries;
  let server: GrpcServer;
  let client: Client;
  /** The simulated partition owner: applies each edit command as the consumer does, unless paused. */
  const sent: eventsV1.EnrichedEvent[] = [];
  let consumerRunning = true;
  const sink: EditSink = {
    async publish(binding, events) {
      expect(binding.topic).toBe(bindings.enriched('rt').topic);
      for (const e of events) {
        expect(binding.keyOf(e)).toBe(e.userId);
        // the command round-trips through the contract's encoding
        const decoded = binding.codec.decode(binding.codec.encode(e).finish());
        sent.push(decoded);
        if (!consumerRunning || decoded.payload?.$case !== 'userEdit') continue;
        const c = decoded.payload.userEdit;
        setTimeout(() => {
          const edit = {
            ...(c.setCategoryOverride ? { categoryOverride: c.categoryOverride || null } : {}),
            ...(c.setNotes ? { notes: c.notes || null } : {}),
            ...(c.setTags ? { tags: c.tags.length ? c.tags : null } : {}),
            ...(c.setHidden ? { hidden: c.hidden } : {}),
          };
          void store
            .applyEdit(decoded.userId, c.target as 'transaction' | 'account', c.targetId, edit, c.requestedAt ?? new Date())
            .then(() => store.edits.updateOne({ _id: `${c.target}:${c.targetId}` }, { $addToSet: { requestIds: c.requestId } } as never));
        }, 30);
      }
    },
  };

  const U = { clientId: 'client-1', userId: 'u1' };
  let cur = '';
  let sav = '';
  let ids: string[] = [];

  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_read_${randomBytes(4).toString('hex')}`, logger });
    store = new ReconciliationStore(conn, RULES);
    await store.ensureIndexes();
    queries = new ReadQueries(store, conn);
    await queries.ensureIndexes();
    // reconciliation's read API over mTLS, called as auth-gateway (its one allowed caller)
    const [serverTls, gatewayTls] = await Promise.all([stackGrpcTls(process.env, 'reconciliation'), stackGrpcTls(process.env, 'auth-gateway')]);
    server = new GrpcServer({ logger, tls: serverTls }).add(
      'ais.reconciliation.v1.ReconciliationService',
      reconciliationV1.ReconciliationServiceService,
      reconciliationHandlers({ queries, producer: sink, topicPrefix: 'rt', editWaitMs: 2_000, editPollMs: 20, logger: handlerLogger }),
    );
    const port = await server.listen('127.0.0.1', 0);
    client = createGrpcClient(reconciliationV1.ReconciliationServiceClient, `127.0.0.1:${port}`, 10_000, gatewayTls.channel('reconciliation'));

    // u1 of client-1: a current account (20 rows, two pending) and a savings account (own transfer in)
    const at = new Date(T0.getTime() + 40 * DAY);
    await store.applyBatch('u1', batch('client-1', 'conn-1', at, {
      kind: 'accounts',
      accounts: [
        { kind: 'account', accountId: 'tl-cur', providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' },
        { kind: 'account', accountId: 'tl-sav', providerId: 'ob-lloyds', displayName: 'Easy Saver', currency: 'GBP', type: 'SAVINGS', sortCode: '30-94-57', number: '87654321' },
      ],
    }));
    const rows = Array.from({ length: 20 }, (_, i) => row(i));
    rows.push(row(20, { description: 'TO EASY SAVER', amount: '-100.00', transactionType: 'DEBIT', timestamp: new Date(T0.getTime() + 5 * DAY + 60_000) }));
    await store.applyBatch('u1', batch('client-1', 'conn-1', at, { kind: 'transactions', providerAccountId: 'tl-cur', window, batch: single, transactions: rows }));
    await store.applyBatch('u1', batch('client-1', 'conn-1', at, { kind: 'transactions', providerAccountId: 'tl-sav', window, batch: single, transactions: [row(21, { description: 'FROM CLUB LLOYDS', amount: '100.00', transactionType: 'CREDIT', timestamp: new Date(T0.getTime() + 5 * DAY + 60_000) })] }));
    await store.applyBatch('u1', batch('client-1', 'conn-1', at, {
      kind: 'pending_transactions',
      providerAccountId: 'tl-cur',
      window,
      batch: single,
      transactions: [row(30, { normalisedProviderTransactionId: '', providerTransactionId: '', description: 'PRET A MANGER HOLD', amount: '-4.20', timestamp: new Date(at.getTime() - DAY) })],
    }));
    for (const [k, current] of [[0, '10.00'], [1, '20.00'], [2, '30.00']] as const) {
      await store.applyBatch('u1', batch('client-1', 'conn-1', new Date(at.getTime() + k * DAY), { kind: 'balance', providerAccountId: 'tl-cur', balance: { currency: 'GBP', current, available: current, overdraft: '', creditLimit: '' } }));
    }
    const accounts = await store.accounts.find({ userId: 'u1' }).toArray();
    cur = accounts.find((a) => a.providerAccountId === 'tl-cur')!._id;
    sav = accounts.find((a) => a.providerAccountId === 'tl-sav')!._id;
    await enrich();
    await store.transactions.updateMany({ userId: 'u1', description: { $in: ['TO EASY SAVER', 'FROM CLUB LLOYDS'] } }, { $set: { transferPairId: 'pair' } });
    ids = (await store.transactions.find({ userId: 'u1', removed: false }).toArray()).sort((a, b) => b.bookedAt.getTime() - a.bookedAt.getTime() || (a._id < b._id ? 1 : -1)).map((d) => d._id);

    // u2 of client-2
    await store.applyBatch('u2', batch('client-2', 'conn-9', at, { kind: 'accounts', accounts: [{ kind: 'account', accountId: 'tl-x', providerId: 'ob-hsbc', displayName: 'HSBC', currency: 'GBP', type: 'TRANSACTION', sortCode: '40-00-00', number: '11112222' }] }));
    await store.applyBatch('u2', batch('client-2', 'conn-9', at, { kind: 'transactions', providerAccountId: 'tl-x', window, batch: single, transactions: [row(1)] }));
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await server?.shutdown();
    await conn?.dropDatabase().catch(() => undefined);
    await conn?.close();
  });

  /** What the enriched-batch consumer writes (not this module's path). */
  async function enrich(): Promise<void> {
    for (const [prefix, e] of Object.entries(ENRICH)) {
      await store.transactions.updateMany({ userId: 'u1', description: { $regex: `^${prefix}` } }, { $set: { enrichment: { ...e, source: 'rule', reason: 'test', confidence: 0.9, version: 'v1', taxonomy: 'plaid-pfc-v1' } } });
    }
  }

  async function walk(req: Partial<reconciliationV1.ListTransactionsRequest>, pageSize = 4): Promise<reconciliationV1.Transaction[]> {
    const out: reconciliationV1.Transaction[] = [];
    let token = '';
    for (let n = 0; n < 100; n += 1) {
      const page = await client.listTransactions({ ...reconciliationV1.ListTransactionsRequest.fromPartial({ ...U, ...req }), pageSize, pageToken: token });
      out.push(...page.transactions);
      if (!page.nextPageToken) return out;
      token = page.nextPageToken;
    }
    throw new Error('no end of pages');
  }

  it('lists transactions newest first in stable keyset pages (ties by id), unaffected by a row added mid-walk', async () => {
    const all = await walk({}, 100);
    expect(all.map((t) => t.transactionId)).toEqual(ids);
    expect(ids).toHaveLength(23);
    // page by page, with a newer row stored between the first and second page
    const first = await client.listTransactions({ ...reconciliationV1.ListTransactionsRequest.fromPartial(U), pageSize: 5 });
    await store.applyBatch('u1', batch('client-1', 'conn-1', new Date(T0.getTime() + 41 * DAY), { kind: 'transactions', providerAccountId: 'tl-cur', window, batch: { index: 0, count: 1, complete: false }, transactions: [row(40, { timestamp: new Date(T0.getTime() + 39 * DAY) })] }));
    await enrich();
    const rest: string[] = [];
    let token = first.nextPageToken;
    while (token) {
      const p = await client.listTransactions({ ...reconciliationV1.ListTransactionsRequest.fromPartial(U), pageSize: 5, pageToken: token });
      rest.push(...p.transactions.map((t) => t.transactionId));
      token = p.nextPageToken;
    }
    expect([...first.transactions.map((t) => t.transactionId), ...rest]).toEqual(ids);
    const newest = (await client.listTransactions({ ...reconciliationV1.ListTransactionsRequest.fromPartial(U), pageSize: 1 })).transactions[0]!;
    expect(newest.description).toBe('TESCO STORES 40');
    ids = [newest.transactionId, ...ids];
    // money out is negative, the view carries the enrichment
    expect(newest).toMatchObject({ amount: '-41.1', category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_GROCERIES' } });
  });

  it('filters by account, time range, status, merchant, text (literal, case-insensitive) and hidden rows', async () => {
    const docs = await store.transactions.find({ userId: 'u1', removed: false }).toArray();
    const expectIds = (pred: (d: TransactionDoc) => boolean) => ids.filter((id) => pred(docs.find((d) => d._id === id)!));
    expect((await walk({ accountId: sav })).map((t) => t.transactionId)).toEqual(expectIds((d) => d.accountId === sav));
    const from = new Date(T0.getTime() + 6 * DAY);
    const to = new Date(T0.getTime() + 15 * DAY);
    const ranged = await walk({ from, to }, 3);
    expect(ranged.map((t) => t.transactionId)).toEqual(expectIds((d) => d.bookedAt >= from && d.bookedAt < to));
    expect(ranged.length).toBeGreaterThan(3);
    expect((await walk({ status: 'pending' })).map((t) => t.description)).toEqual(['PRET A MANGER HOLD']);
    expect((await walk({ merchantKey: 'pret-a-manger' }, 3)).map((t) => t.transactionId)).toEqual(expectIds((d) => d.description.startsWith('PRET')));
    expect((await walk({ text: 'pret a manger (1' })).map((t) => t.description).sort()).toEqual(['PRET A MANGER (1)', 'PRET A MANGER (11)', 'PRET A MANGER (13)', 'PRET A MANGER (15)', 'PRET A MANGER (17)'].sort());
    expect(await walk({ text: '.*' })).toEqual([]);
    expect((await walk({ text: 'acme' })).every((t) => t.merchantName === 'ACME')).toBe(true);
    // hide one row: gone by default, back with include_hidden
    const target = ids[3]!;
    await store.applyEdit('u1', 'transaction', target, { hidden: true }, new Date());
    expect((await walk({})).map((t) => t.transactionId)).toEqual(ids.filter((id) => id !== target));
    const withHidden = await walk({ includeHidden: true });
    expect(withHidden.map((t) => t.transactionId)).toEqual(ids);
    expect(withHidden[3]!.userEdit).toMatchObject({ hidden: true });
    await store.applyEdit('u1', 'transaction', target, { hidden: null }, new Date());
  });

  it('filters by the effective category: a user override wins over enrichment, primary or detailed', async () => {
    const tesco = await walk({ category: 'FOOD_AND_DRINK_GROCERIES' }, 100);
    expect(tesco.length).toBe(await store.transactions.countDocuments({ userId: 'u1', description: { $regex: '^TESCO' } }));
    expect(tesco.length).toBeGreaterThan(5);
    const moved = tesco[2]!.transactionId;
    const pret = (await walk({ category: 'FOOD_AND_DRINK_COFFEE' }, 100))[0]!.transactionId;
    await store.applyEdit('u1', 'transaction', moved, { categoryOverride: 'GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE' }, new Date());
    await store.applyEdit('u1', 'transaction', pret, { categoryOverride: 'FOOD_AND_DRINK_GROCERIES' }, new Date());
    const groceries = await walk({ category: 'FOOD_AND_DRINK_GROCERIES' }, 3);
    expect(groceries.map((t) => t.transactionId)).toEqual(ids.filter((id) => (tesco.some((t) => t.transactionId === id) && id !== moved) || id === pret));
    const general = await walk({ category: 'GENERAL_MERCHANDISE' });
    expect(general.map((t) => t.transactionId)).toEqual([moved]);
    expect(general[0]!.category).toMatchObject({ primary: 'GENERAL_MERCHANDISE', source: 'user' });
    expect(general[0]!.enrichedCategory).toMatchObject({ detailed: 'FOOD_AND_DRINK_GROCERIES' });
    const food = await walk({ category: 'FOOD_AND_DRINK' }, 100);
    expect(food.map((t) => t.transactionId)).not.toContain(moved);
    expect(food.map((t) => t.transactionId)).toContain(pret);
    await store.applyEdit('u1', 'transaction', moved, { categoryOverride: null }, new Date());
    await store.applyEdit('u1', 'transaction', pret, { categoryOverride: null }, new Date());
  });

  it('rejects bad input with INVALID_ARGUMENT naming the field', async () => {
    const base = reconciliationV1.ListTransactionsRequest.fromPartial(U);
    const first = await client.listTransactions({ ...base, pageSize: 2 });
    const tampered = Buffer.from(JSON.stringify({ b: 'yesterday', i: 'x' })).toString('base64url');
    for (const [req, field] of [
      [{ ...base, pageToken: tampered }, 'page_token'],
      [{ ...base, pageToken: first.nextPageToken.slice(0, -3) + '!!!' }, 'page_token'],
      [{ ...base, status: 'settled' }, 'status'],
      [{ ...base, category: 'SHOPPING' }, 'category'],
      [{ ...base, pageSize: 501 }, 'page_size'],
      [{ ...base, from: new Date('2026-02-01'), to: new Date('2026-01-01') }, 'from'],
    ] as const) {
      const e = await grpcError(client.listTransactions(req));
      expect(e.kind).toBe('invalid_argument');
      expect(e.violations.map((v) => v.field)).toContain(field);
    }
    const cursor = await grpcError(client.getChanges({ ...U, cursor: 'abc', count: 0 }));
    expect(cursor.violations.map((v) => v.field)).toEqual(['cursor']);
    const month = await grpcError(client.getSpendingSummary({ ...U, fromMonth: '2026-13', toMonth: '', accountId: '' }));
    expect(month.violations.map((v) => v.field)).toEqual(['from_month']);
  });

  it('another client never sees the user: NOT_FOUND on every call', async () => {
    const other = { clientId: 'client-2', userId: 'u1' };
    const calls: Promise<unknown>[] = [
      client.listAccounts({ ...other, pageSize: 0, pageToken: '' }),
      client.getBalanceHistory({ ...other, accountId: cur, pageSize: 0, pageToken: '' }),
      client.listTransactions(reconciliationV1.ListTransactionsRequest.fromPartial(other)),
      client.getChanges({ ...other, cursor: '', count: 0 }),
      // the user is checked before the cursor and the filters: a stranger learns nothing from their errors
      client.getChanges({ ...other, cursor: 'abc', count: 0 }),
      client.listTransactions(reconciliationV1.ListTransactionsRequest.fromPartial({ ...other, accountId: cur })),
      client.getSpendingSummary({ ...other, fromMonth: '', toMonth: '', accountId: '' }),
      client.listRecurring(other),
      client.editTransaction(reconciliationV1.EditTransactionRequest.fromPartial({ ...other, transactionId: ids[0]!, fields: { setNotes: true, notes: 'x' } })),
      client.editAccount(reconciliationV1.EditAccountRequest.fromPartial({ ...other, accountId: cur, fields: { setNotes: true, notes: 'x' } })),
      // client-2's own user asking for client-1's account
      client.getBalanceHistory({ clientId: 'client-2', userId: 'u2', accountId: cur, pageSize: 0, pageToken: '' }),
    ];
    for (const c of calls) expect((await grpcError(c)).kind).toBe('not_found');
    expect(sent).toHaveLength(0);
    expect(await grpcError(client.listTransactions(reconciliationV1.ListTransactionsRequest.fromPartial({ ...U, accountId: 'acc-none' })))).toMatchObject({ kind: 'not_found', code: 'account_not_found' });
    const own = await client.listTransactions(reconciliationV1.ListTransactionsRequest.fromPartial({ clientId: 'client-2', userId: 'u2' }));
    expect(own.transactions).toHaveLength(1);
  });

  it('lists accounts with their latest balance and user edit; balance history pages newest first', async () => {
    await store.applyEdit('u1', 'account', cur, { notes: 'bills' }, new Date());
    const res = await client.listAccounts({ ...U, pageSize: 0, pageToken: '' });
    expect(res.accounts.map((a) => a.accountId).sort()).toEqual([cur, sav].sort());
    const c = res.accounts.find((a) => a.accountId === cur)!;
    expect(c).toMatchObject({ numberLast4: '5678', latestBalance: { current: '30' }, userEdit: { notes: 'bills' } });
    expect(res.accounts.find((a) => a.accountId === sav)!.latestBalance).toBeUndefined();
    const p1 = await client.getBalanceHistory({ ...U, accountId: cur, pageSize: 2, pageToken: '' });
    const p2 = await client.getBalanceHistory({ ...U, accountId: cur, pageSize: 2, pageToken: p1.nextPageToken });
    expect([...p1.balances, ...p2.balances].map((b) => b.current)).toEqual(['30', '20', '10']);
    expect(p2.nextPageToken).toBe('');
  });

  it('changes: pages from the beginning with has_more, then a settle, a removal, an edit and an add split as Plaid does', async () => {
    const feed = async (cursor: string, count: number) => {
      const out = { added: [] as string[], modified: [] as string[], removed: [] as string[], accounts: [] as string[], cursor, pages: 0 };
      for (;;) {
        const r = await client.getChanges({ ...U, cursor: out.cursor, count });
        out.pages += 1;
        out.added.push(...r.added.map((t) => t.transactionId));
        out.modified.push(...r.modified.map((t) => t.transactionId));
        out.removed.push(...r.removed.map((t) => t.transactionId));
        out.accounts.push(...r.accounts.map((a) => a.accountId));
        out.cursor = r.nextCursor;
        expect(r.added.length + r.modified.length + r.removed.length + r.accounts.length).toBeLessThanOrEqual(count);
        if (!r.hasMore) return out;
      }
    };
    const all = await feed('', 7);
    expect(all.pages).toBeGreaterThan(3);
    expect(new Set(all.added)).toEqual(new Set(ids));
    expect(all.added).toHaveLength(ids.length);
    expect(all.removed).toEqual([]);
    expect(new Set(all.accounts)).toEqual(new Set([cur, sav]));
    // nothing new: the same cursor comes back, empty
    const again = await client.getChanges({ ...U, cursor: all.cursor, count: 0 });
    expect(again).toMatchObject({ added: [], modified: [], removed: [], accounts: [], hasMore: false, nextCursor: all.cursor });

    // the pending coffee settles (modified), a new pending hold appears then disappears (removed), an edit (modified)
    const pending = (await store.transactions.findOne({ userId: 'u1', status: 'pending' }))!;
    const at = new Date(T0.getTime() + 42 * DAY);
    await store.applyBatch('u1', batch('client-1', 'conn-1', at, { kind: 'transactions', providerAccountId: 'tl-cur', window, batch: { index: 0, count: 1, complete: false }, transactions: [row(31, { description: 'PRET A MANGER HOLD LONDON', amount: '-4.2', normalisedProviderTransactionId: 'n-settled', timestamp: new Date(T0.getTime() + 40 * DAY) })] }));
    expect(await store.transactions.findOne({ _id: pending._id })).toMatchObject({ status: 'booked', removed: false });
    const hold = row(32, { normalisedProviderTransactionId: '', providerTransactionId: '', description: 'HOTEL HOLD', amount: '-200', timestamp: at });
    await store.applyBatch('u1', batch('client-1', 'conn-1', at, { kind: 'pending_transactions', providerAccountId: 'tl-cur', window, batch: single, transactions: [hold] }));
    const holdId = (await store.transactions.findOne({ userId: 'u1', description: 'HOTEL HOLD' }))!._id;
    const mid = await client.getChanges({ ...U, cursor: all.cursor, count: 0 });
    expect(mid.added.map((t) => t.transactionId)).toEqual([holdId]);
    expect(mid.modified.map((t) => t.transactionId)).toEqual([pending._id]);
    for (const d of [1, 3]) {
      await store.applyBatch('u1', batch('client-1', 'conn-1', new Date(at.getTime() + d * DAY), { kind: 'pending_transactions', providerAccountId: 'tl-cur', window, batch: single, transactions: [] }));
    }
    await store.applyEdit('u1', 'transaction', ids[5]!, { notes: 'lunch with Sam' }, new Date());
    const next = await feed(all.cursor, 100);
    expect(next.added).toEqual([]);
    expect(next.removed).toEqual([holdId]);
    expect(next.modified.sort()).toEqual([pending._id, ids[5]!].sort());
    const edited = (await client.getChanges({ ...U, cursor: all.cursor, count: 100 })).modified.find((t) => t.transactionId === ids[5]);
    expect(edited!.userEdit).toMatchObject({ notes: 'lunch with Sam' });
    // an old cursor still works and a fresh walk has the hold neither added nor lost
    const fresh = await feed('', 500);
    expect(fresh.added).not.toContain(holdId);
    expect(fresh.removed).toEqual([holdId]);
  });

  it('spending summary: per month and effective category, exact decimals, without hidden rows and own transfers', async () => {
    const hidden = ids.find((id) => id !== ids[0])!;
    await store.applyEdit('u1', 'transaction', hidden, { hidden: true }, new Date());
    const res = await client.getSpendingSummary({ ...U, fromMonth: '2026-01', toMonth: '2026-02', accountId: '' });
    expect(res.months.map((m) => m.month)).toEqual(['2026-01', '2026-02']);
    const docs = await store.transactions.find({ userId: 'u1', removed: false, status: 'booked' }).toArray();
    for (const m of res.months) {
      const inMonth = docs.filter((d) => d.bookedAt.toISOString().startsWith(m.month) && d._id !== hidden);
      expect(m.ownTransfers).toBe(inMonth.filter((d) => d.transferPairId).length);
      // expected totals in pennies, computed from the rows
      const pennies = (s: string) => Math.round(Number(s.replace('-', '')) * 100);
      const expectTotals = (debit: boolean) => {
        const acc = new Map<string, number>();
        for (const d of inMonth.filter((x) => !x.transferPairId && (x.transactionType === 'DEBIT') === debit)) acc.set(d.enrichment?.detailed ?? '', (acc.get(d.enrichment?.detailed ?? '') ?? 0) + pennies(d.amount));
        return [...acc].map(([k, v]) => [k, (v / 100).toFixed(2)]).sort();
      };
      expect(m.spending.map((t) => [t.detailed, t.total]).sort()).toEqual(expectTotals(true));
      expect(m.income.map((t) => [t.detailed, t.total]).sort()).toEqual(expectTotals(false));
      expect(m.spending.every((t) => t.currency === 'GBP' && t.count > 0)).toBe(true);
    }
    const jan = res.months[0]!;
    expect(jan.ownTransfers).toBe(2);
    // four salaries of 1000.05 (rows 4, 9, 14, 19)
    expect(jan.income.find((t) => t.detailed === 'INCOME_WAGES')).toMatchObject({ primary: 'INCOME', total: '4000.20', count: 4 });
    // default range: six months up to the latest transaction's month
    const def = await client.getSpendingSummary({ ...U, fromMonth: '', toMonth: '', accountId: '' });
    expect(def.months.map((m) => m.month)).toEqual(['2025-09', '2025-10', '2025-11', '2025-12', '2026-01', '2026-02']);
    await store.applyEdit('u1', 'transaction', hidden, { hidden: null }, new Date());
  });

  it('edits travel to the partition owner: applied with the resulting view, idempotent on request_id, queued when nobody applies', async () => {
    const target = ids[1]!;
    const r = await client.editTransaction(
      reconciliationV1.EditTransactionRequest.fromPartial({ ...U, transactionId: target, requestId: 'req-1', fields: { setCategoryOverride: true, categoryOverride: 'FOOD_AND_DRINK_COFFEE', setTags: true, tags: ['work'] } }),
    );
    expect(r).toMatchObject({ applied: true, requestId: 'req-1', transaction: { transactionId: target, category: { detailed: 'FOOD_AND_DRINK_COFFEE', source: 'user' }, userEdit: { tags: ['work'] } } });
    const cmd = sent.at(-1)!;
    expect(cmd).toMatchObject({ userId: 'u1', clientId: 'client-1', meta: { eventType: 'enriched.user_edit' }, payload: { $case: 'userEdit', userEdit: { requestId: 'req-1', target: 'transaction', targetId: target, setNotes: false } } });
    // the same request id again: answered from the store, not sent twice
    const before = sent.length;
    expect((await client.editTransaction(reconciliationV1.EditTransactionRequest.fromPartial({ ...U, transactionId: target, requestId: 'req-1', fields: { setNotes: true, notes: 'x' } }))).applied).toBe(true);
    expect(sent).toHaveLength(before);
    // an account edit, request id generated
    const a = await client.editAccount(reconciliationV1.EditAccountRequest.fromPartial({ ...U, accountId: sav, fields: { setNotes: true, notes: 'holiday fund' } }));
    expect(a).toMatchObject({ applied: true, account: { accountId: sav, userEdit: { notes: 'holiday fund' } } });
    expect(a.requestId).toMatch(/^[0-9a-f-]{36}$/);
    // nobody applies: applied=false after the wait, the command is still sent
    consumerRunning = false;
    const q = await client.editTransaction(reconciliationV1.EditTransactionRequest.fromPartial({ ...U, transactionId: target, fields: { setHidden: true, hidden: true } }));
    consumerRunning = true;
    expect(q).toMatchObject({ applied: false, transaction: undefined });
    expect(sent.at(-1)!.payload).toMatchObject({ userEdit: { requestId: q.requestId, setHidden: true, hidden: true } });
    // each hop is logged with its ids and outcome, never the user's notes or tags
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.find((l) => l['requestId'] === 'req-1')).toMatchObject({ msg: 'user edit applied', applied: true, target: 'transaction', userId: 'u1' });
    expect(logged.find((l) => l['requestId'] === q.requestId)).toMatchObject({ msg: 'user edit queued (not applied within the wait)', applied: false });
    expect(lines.join('')).not.toContain('holiday fund');
    expect(lines.join('')).not.toContain('work');
  });

  it('edit validation: unknown category, no fields, category on an account, apply_to_merchant without a rule service', async () => {
    const base = { ...U, transactionId: ids[1]! };
    // each call starts when its turn comes: started all at once, a rejection not yet awaited is an unhandled one
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => client.editTransaction(reconciliationV1.EditTransactionRequest.fromPartial({ ...base, fields: { setCategoryOverride: true, categoryOverride: 'GROCERIES' } })), 'invalid_argument', 'fields.category_override'],
      [() => client.editTransaction(reconciliationV1.EditTransactionRequest.fromPartial({ ...base, fields: {} })), 'invalid_argument', 'fields'],
      [() => client.editTransaction(reconciliationV1.EditTransactionRequest.fromPartial({ ...base, requestId: 'a b', fields: { setNotes: true } })), 'invalid_argument', 'request_id'],
      [() => client.editAccount(reconciliationV1.EditAccountRequest.fromPartial({ ...U, accountId: cur, fields: { setCategoryOverride: true, categoryOverride: 'INCOME_WAGES' } })), 'invalid_argument', 'fields.category_override'],
      [() => client.editTransaction(reconciliationV1.EditTransactionRequest.fromPartial({ ...U, transactionId: 'txn_nope', fields: { setNotes: true } })), 'not_found', ''],
      [() => client.editTransaction(reconciliationV1.EditTransactionRequest.fromPartial({ ...base, applyToMerchant: true, fields: { setCategoryOverride: true, categoryOverride: 'FOOD_AND_DRINK_COFFEE' } })), 'failed_precondition', ''],
    ];
    const before = sent.length;
    for (const [call, kind, field] of cases) {
      const e = await grpcError(call());
      expect(e.kind).toBe(kind);
      if (field) expect(e.violations.map((v) => v.field)).toContain(field);
    }
    expect(sent).toHaveLength(before);
  });

  it('recurring: the stored series of this client and user only', async () => {
    expect((await client.listRecurring(U)).series).toEqual([]);
    await queries.recurring.insertMany([
      { _id: 's1', userId: 'u1', seriesId: 's1', merchantName: 'Netflix', merchantKey: 'netflix', accountId: cur, cadence: 'monthly', amount: '-10.99', currency: 'GBP', lastDate: new Date('2026-02-03T00:00:00Z'), nextExpectedDate: new Date('2026-03-03T00:00:00Z'), occurrences: 6, direction: 'outflow', primary: 'ENTERTAINMENT', detailed: 'ENTERTAINMENT_TV_AND_MOVIES', source: 'history', active: true, found: true },
      { _id: 's2', userId: 'u-other', seriesId: 's2', merchantName: 'Other', merchantKey: 'other', accountId: 'x', cadence: 'weekly', amount: '-1', currency: 'GBP', lastDate: null, nextExpectedDate: null, occurrences: 3, direction: 'outflow', primary: '', detailed: '', source: 'history', active: true, found: true },
    ] as never);
    const r = await client.listRecurring(U);
    expect(r.series).toEqual([expect.objectContaining({ seriesId: 's1', cadence: 'monthly', amount: '-10.99', nextExpectedDate: new Date('2026-03-03T00:00:00Z'), occurrences: 6, active: true, primaryCategory: 'ENTERTAINMENT' })]);
  });

  it('changes read in windows of sequence numbers: every committed change once, across gaps, at any count', async () => {
    // a user whose sequence numbers have a reserved-but-unused gap of 4,878 and uncommitted rows past committedSeq
    const USER = 'seq-win';
    const acc = (await store.accounts.findOne({ userId: 'u1' }))!;
    const bal = (await store.balances.findOne({ userId: 'u1' }))!;
    const tx = (await store.transactions.findOne({ userId: 'u1', removed: false }))!;
    await store.accounts.insertOne({ ...acc, _id: 'sw_acc', userId: USER, providerAccountIds: ['sw-tl'], seq: 1, createdSeq: 1 });
    const seqs = [...Array.from({ length: 120 }, (_, i) => i + 2), ...Array.from({ length: 40 }, (_, i) => 5_000 + i), 5_045];
    await store.transactions.insertMany(
      // every third of the first rows is another API client's (same user id): never shown, and never a reason to skip
      seqs.map((seq) => ({ ...tx, _id: `sw_${seq}`, userId: USER, clientId: seq < 200 && seq % 3 === 0 ? 'client-2' : U.clientId, accountId: 'sw_acc', dedupeKey: `sw:${seq}`, seq, createdSeq: seq, changeKind: 'added' as const, bookedAt: new Date(T0.getTime() + seq * 60_000) })),
    );
    await store.balances.insertMany([
      { ...bal, _id: 'sw_bal_1', userId: USER, accountId: 'sw_acc', asOf: new Date(T0.getTime() + DAY), seq: 122, createdSeq: 122 },
      { ...bal, _id: 'sw_bal_2', userId: USER, accountId: 'sw_acc', asOf: new Date(T0.getTime() + 2 * DAY), seq: 5_040, createdSeq: 5_040 },
    ]);
    await store.state.insertOne({ _id: USER, seq: 5_050, committedSeq: 5_040, links: [] } as never);
    const committedIds = seqs.filter((q) => q <= 5_040 && !(q < 200 && q % 3 === 0)).map((q) => `sw_${q}`);
    let lastCursor: string | undefined;
    for (const count of [1, 7, 50, 500]) {
      const out = { added: [] as string[], accounts: new Set<string>(), others: 0, cursor: '', pages: 0 };
      for (;;) {
        const r = await client.getChanges({ clientId: U.clientId, userId: USER, cursor: out.cursor, count });
        out.pages += 1;
        out.added.push(...r.added.map((t) => t.transactionId));
        for (const a of r.accounts) out.accounts.add(a.accountId);
        out.others += r.modified.length + r.removed.length;
        expect(r.added.length + r.modified.length + r.removed.length + r.accounts.length).toBeLessThanOrEqual(count);
        out.cursor = r.nextCursor;
        if (!r.hasMore) break;
      }
      expect({ count, added: out.added }).toEqual({ count, added: committedIds });
      expect(out.accounts).toEqual(new Set(['sw_acc']));
      expect(out.others).toBe(0);
      if (lastCursor !== undefined) expect(out.cursor).toBe(lastCursor);
      lastCursor = out.cursor;
    }
    // the end cursor stands at the committed sequence: the uncommitted row comes once it is committed
    await store.state.updateOne({ _id: USER }, { $set: { committedSeq: 5_050 } });
    const next = await client.getChanges({ clientId: U.clientId, userId: USER, cursor: lastCursor!, count: 1 });
    expect(next.added.map((t) => t.transactionId)).toEqual(['sw_5045']);
    expect(next.hasMore).toBe(false);
  });

  it('a page read window by window holds the rows, in the order, of the unbounded query', async () => {
    // one user's rows: a dense month, ties on the same instant, sparse years back to 2004 and one in 1986, future-dated holds
    const spots: number[] = [];
    for (let i = 0; i < 120; i += 1) spots.push(T0.getTime() - (i % 40) * 6 * 3600_000); // 3 rows per instant
    for (let y = 1; y <= 22; y += 1) spots.push(T0.getTime() - y * 365 * DAY - y * 3600_000);
    spots.push(T0.getTime() - 40 * 365 * DAY); // below every bounded window: only the last, open one finds it
    for (let i = 0; i < 9; i += 1) spots.push(T0.getTime() - (200 + i * 37) * DAY);
    spots.push(Date.now() + 3 * DAY, Date.now() + 40 * DAY);
    const U_W = 'win-user';
    const CLIENT = U.clientId;
    await store.transactions.insertMany(
      spots.map((at, i) => ({
        _id: `w_${String(i).padStart(3, '0')}`, userId: U_W, clientId: CLIENT, accountId: `wa_${i % 2}`, dedupeKey: `w:${i}`, transactionId: `t${i}`, fingerprint: 'f', contentHash: 'h',
        status: 'booked', bookedAt: new Date(at), amount: '-1', currency: 'GBP', description: i % 5 === 0 ? 'COFFEE' : 'SHOP', transactionType: 'DEBIT', transactionCategory: 'PURCHASE',
        classification: [], merchantName: '', runningBalance: null, meta: {}, normalisedProviderTransactionId: '', providerTransactionId: '', removed: false, missingSince: null,
        lastFetchId: null, changeReason: 'content', seq: i + 1, createdSeq: i + 1, changeKind: 'added', createdAt: T0, updatedAt: T0,
        enrichment: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', merchantName: 'M', merchantKey: `wm${i % 3}`, source: 'rule', reason: '', confidence: 1, version: 'v', taxonomy: 't' },
        recurring: i % 4 === 0 ? { seriesId: `ws_${i % 3}`, cadence: 'monthly' } : null,
        transferPairId: i % 6 === 0 ? `w_pair_${i}` : null,
      })) as never,
    );
    // the next page's key: the last row, and a first window as the handler hints it (`windowHint`) or fixed
    const walk = async (f: TxFilter, size: number, read: (after?: TxKey) => Promise<TransactionViewDoc[]>, hint?: number | 'hint'): Promise<string[]> => {
      const ids: string[] = [];
      let after: TxKey | undefined;
      for (;;) {
        const page = await read(after);
        ids.push(...page.map((d) => d._id));
        if (page.length < size) return ids;
        const windowMs = hint === 'hint' ? windowHint(page) : hint;
        after = { bookedAt: page.at(-1)!.bookedAt, id: page.at(-1)!._id, ...(windowMs ? { windowMs } : {}) };
      }
    };
    const filters: TxFilter[] = [
      {},
      { accountId: 'wa_1' },
      { merchantKey: 'wm2' },
      { text: 'coffee' },
      { from: new Date(T0.getTime() - 3 * 365 * DAY), to: new Date(T0.getTime() - 2 * DAY) },
      { to: new Date(T0.getTime() - 400 * DAY) },
    ];
    for (const f of filters) {
      for (const size of [1, 7, 50, 500]) {
        const unbounded = await walk(f, size, (after) => queries.cursors.transactions(CLIENT, U_W, f, size, after).toArray());
        // fixed first windows at the sizes of a few pages (size 1 walks every row, 154 pages)
        for (const hint of size === 1 ? ([undefined, 'hint'] as const) : ([undefined, 'hint', MIN_WINDOW_MS, 40 * DAY, MAX_WINDOW_MS] as const)) {
          const windowed = await walk(f, size, (after) => queries.transactionPage(CLIENT, U_W, f, size, after), hint);
          expect({ f, size, hint, ids: windowed }).toEqual({ f, size, hint, ids: unbounded });
        }
      }
    }
    // and the walk saw every row once (the unfiltered one)
    const all = await walk({}, 7, (after) => queries.transactionPage(CLIENT, U_W, {}, 7, after));
    expect(new Set(all).size).toBe(spots.length);
    expect(all).toHaveLength(spots.length);
    // a page carries only the view's fields, and shows each row as its whole stored document does
    const page = await queries.transactionPage(CLIENT, U_W, {}, 500);
    const stored = new Map((await store.transactions.find({ userId: U_W }).toArray()).map((d) => [d._id, d]));
    expect(page).toHaveLength(spots.length);
    expect(page[0]).not.toHaveProperty('dedupeKey');
    expect(page.map((d) => transactionView(d, undefined))).toEqual(page.map((d) => transactionView(stored.get(d._id)!, undefined)));
  });

  it('a paging client gets its next page read ahead: the same rows, and never a page from before a change', async () => {
    const m = startTestMetrics();
    try {
      const R = { clientId: U.clientId, userId: 'ra-user' };
      const at = new Date(T0.getTime() + 40 * DAY);
      await store.applyBatch(R.userId, batch(R.clientId, 'conn-ra', at, { kind: 'accounts', accounts: [{ kind: 'account', accountId: 'tl-ra', providerId: 'ob-lloyds', displayName: 'RA', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '55554444' }] }));
      await store.applyBatch(R.userId, batch(R.clientId, 'conn-ra', at, { kind: 'transactions', providerAccountId: 'tl-ra', window, batch: single, transactions: Array.from({ length: 14 }, (_, i) => row(2 * i)) }));
      const expected = (await store.transactions.find({ userId: R.userId, removed: false }).toArray()).sort((a, b) => b.bookedAt.getTime() - a.bookedAt.getTime() || (a._id < b._id ? 1 : -1)).map((d) => d._id);
      const outcome = (o: string) => m.value('ais_reconciliation_read_ahead_total', { outcome: o });
      const page = (token = '') => client.listTransactions({ ...reconciliationV1.ListTransactionsRequest.fromPartial(R), pageSize: 3, pageToken: token });

      // 14 rows in pages of 3: page 1 (no token) reads no further; pages 2-4 each read the next one, which is served
      const walked: string[] = [];
      let token = '';
      do {
        const p = await page(token);
        walked.push(...p.transactions.map((t) => t.transactionId));
        token = p.nextPageToken;
      } while (token);
      expect(walked).toEqual(expected);
      expect(await outcome('started')).toBe(3);
      expect(await outcome('hit')).toBe(3);

      // page 2 reads page 3 ahead; then the user hides page 3's first row: page 3 is read again, without it
      const p1 = await page();
      const p2 = await page(p1.nextPageToken);
      await store.applyEdit(R.userId, 'transaction', expected[6]!, { hidden: true }, new Date());
      const p3 = await page(p2.nextPageToken);
      expect(p3.transactions.map((t) => t.transactionId)).toEqual(expected.slice(7, 10));
      expect(await outcome('stale')).toBe(1);
      await store.applyEdit(R.userId, 'transaction', expected[6]!, { hidden: null }, new Date());

      // a page is read ahead with its views, the user's edits included: a note added meanwhile is on the page served
      const n2 = await page((await page()).nextPageToken);
      await store.applyEdit(R.userId, 'transaction', expected[7]!, { notes: 'split with Sam' }, new Date());
      const n3 = await page(n2.nextPageToken);
      expect(n3.transactions.map((t) => [t.transactionId, t.userEdit?.notes ?? ''])).toEqual([[expected[6]!, ''], [expected[7]!, 'split with Sam'], [expected[8]!, '']]);
      expect(await outcome('stale')).toBe(2);
      await store.applyEdit(R.userId, 'transaction', expected[7]!, { notes: null }, new Date());

      // page 2 reads page 3 ahead; then a sync stores a row that belongs on page 3: page 3 shows it
      const q2 = await page((await page()).nextPageToken);
      const onPage3 = (await store.transactions.findOne({ _id: expected[7]! }))!;
      await store.applyBatch(R.userId, batch(R.clientId, 'conn-ra', new Date(at.getTime() + DAY), { kind: 'transactions', providerAccountId: 'tl-ra', window, batch: { index: 0, count: 1, complete: false }, transactions: [row(201, { timestamp: new Date(onPage3.bookedAt.getTime() + 60_000) })] }));
      const q3 = await page(q2.nextPageToken);
      const added = (await store.transactions.findOne({ userId: R.userId, transactionId: 'tid-201' }))!;
      expect(q3.transactions.map((t) => t.transactionId)).toEqual([expected[6]!, added._id, expected[7]!]);
      expect(await outcome('stale')).toBe(3);
      expect(await outcome('hit')).toBe(3);
    } finally {
      await m.stop();
    }
  });

  describe('hot reads use their named indexes', () => {
    const USERS = 40;
    const PER = 80;
    beforeAll(async () => {
      const docs: TransactionDoc[] = [];
      for (let u = 0; u < USERS; u += 1) {
        for (let i = 0; i < PER; i += 1) {
          docs.push({
            _id: `ix_${u}_${i}`, userId: `ix-${u}`, clientId: 'client-ix', accountId: `ixa_${u}_${i % 3}`, dedupeKey: `ix:${u}:${i}`, transactionId: `t${i}`, fingerprint: 'f', contentHash: 'h',
            status: i % 20 === 0 ? 'pending' : 'booked', bookedAt: new Date(T0.getTime() + i * 3600_000), amount: '-1', currency: 'GBP', description: `SHOP ${i % 7}`, transactionType: 'DEBIT',
            transactionCategory: 'PURCHASE', classification: [], merchantName: '', runningBalance: null, meta: {}, normalisedProviderTransactionId: '', providerTransactionId: '', removed: false,
            missingSince: null, lastFetchId: null, changeReason: 'content', seq: i + 1, createdSeq: i + 1, changeKind: 'added', createdAt: T0, updatedAt: T0,
            enrichment: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', merchantName: `M${i % 5}`, merchantKey: `m${i % 5}`, source: 'rule', reason: '', confidence: 1, version: 'v', taxonomy: 't' },
          });
        }
      }
      await store.transactions.insertMany(docs);
      await store.accounts.insertMany(Array.from({ length: USERS * 3 }, (_, i) => ({ _id: `ixa_${i % USERS}_${i % 3}`, userId: `ix-${i % USERS}`, clientId: 'client-ix' }) as never));
      await queries.recurring.insertMany(Array.from({ length: USERS * 5 }, (_, i) => ({ _id: `ixs_${i}`, userId: `ix-${i % USERS}`, seriesId: `ixs_${i}`, merchantKey: `m${i}` }) as never));
    });
    const uses = async (cursor: { explain: () => Promise<unknown> }, index: string): Promise<void> => {
      const plan = await cursor.explain();
      if (!explainUsesIndex(plan, index)) throw new Error(`expected ${index}, got ${JSON.stringify(plan).slice(0, 1500)}`);
    };
    it('transactions across accounts, by merchant, by account, with filters; summary, recurring, user probe', async () => {
      const c = queries.cursors;
      const after = { bookedAt: new Date(T0.getTime() + 40 * 3600_000), id: 'ix_7_40' };
      await uses(c.transactions('client-ix', 'ix-7', {}, 51), READ_INDEXES.transactionsUserTimeline);
      await uses(c.transactions('client-ix', 'ix-7', { status: 'booked', text: 'shop', category: 'FOOD_AND_DRINK', overridden: ['a'], overriddenTo: ['b'], hidden: ['c'] }, 51, after), READ_INDEXES.transactionsUserTimeline);
      await uses(c.transactions('client-ix', 'ix-7', { from: T0, to: new Date(T0.getTime() + DAY) }, 51), READ_INDEXES.transactionsUserTimeline);
      await uses(c.transactions('client-ix', 'ix-7', { merchantKey: 'm3' }, 51, after), READ_INDEXES.transactionsUserMerchant);
      await uses(c.transactions('client-ix', 'ix-7', { accountId: 'ixa_7_1' }, 51, after), RECON_INDEXES.transactionsTimeline);
      // bounded to a window (transactionPage)
      const win = { from: new Date(T0.getTime() - 31 * DAY), to: T0 };
      await uses(c.transactions('client-ix', 'ix-7', {}, 51, after, win), READ_INDEXES.transactionsUserTimeline);
      await uses(c.transactions('client-ix', 'ix-7', { merchantKey: 'm3' }, 51, after, win), READ_INDEXES.transactionsUserMerchant);
      await uses(c.transactions('client-ix', 'ix-7', { accountId: 'ixa_7_1' }, 51, undefined, win), RECON_INDEXES.transactionsTimeline);
      // a later page's window is cut above by its keyset position, in the index's range: else each page reads every
      // newer row of the user, and paging through a history costs its square
      const below = { from: new Date(T0.getTime() - 31 * DAY) };
      for (const [f, index] of [
        [{}, READ_INDEXES.transactionsUserTimeline],
        [{ merchantKey: 'm3' }, READ_INDEXES.transactionsUserMerchant],
        [{ accountId: 'ixa_7_1' }, RECON_INDEXES.transactionsTimeline],
      ] as const) {
        const plan = await c.transactions('client-ix', 'ix-7', f, 51, after, below).explain();
        expect({ f, bounded: explainBoundsBothEnds(plan, index, 'bookedAt') }).toEqual({ f, bounded: true });
      }
      await uses(store.cursors.transactionChanges('ix-7', 10, 51, 112), RECON_INDEXES.transactionsChanges);
      await uses(c.bookedInRange('client-ix', 'ix-7', T0, new Date(T0.getTime() + 2 * DAY)), READ_INDEXES.transactionsUserTimeline);
      await uses(c.latestTransaction('client-ix', 'ix-7'), READ_INDEXES.transactionsUserTimeline);
      await uses(c.transactionEdits('ix-7'), RECON_INDEXES.editsChanges);
      await uses(c.recurring('client-ix', 'ix-7'), READ_INDEXES.recurringByUser);
      await uses(c.userProbe('client-ix', 'ix-7'), RECON_INDEXES.accountsByUser);
      await uses(c.balancePage('ix-7', 'ixa_7_0', 10, T0), RECON_INDEXES.balancesHistory);
      await uses(c.latestBalance('ix-7', 'ixa_7_0'), RECON_INDEXES.balancesHistory);
      // the merchant cursor walks the same keyset order as the timeline
      const viaMerchant = await c.transactions('client-ix', 'ix-7', { merchantKey: 'm3' }, 100).toArray();
      expect(viaMerchant.map((d) => d._id)).toEqual(Array.from({ length: PER }, (_, i) => i).filter((i) => i % 5 === 3).reverse().map((i) => `ix_7_${i}`));
    });
  });
});
