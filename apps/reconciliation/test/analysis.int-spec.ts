/**
 * Analysis on the real MongoDB-wire server: history stored through `store.applyBatch` (accounts, then booked rows),
 * mandates through `applyMandates`, then `analyse`: series and transfer pairs are written, the transactions that
 * changed carry new sequence numbers (change kind `modified`, reason `analysis`, `updatedAt` = the given time), a
 * second run with no new data writes nothing, and every query it makes is served by a named index.
 *
 * `applyBatch` does not store enrichment in this base (the enriched consumer is wired elsewhere), so the test sets
 * `enrichment` on the seeded rows with a direct update, as the enriched-batch path would.
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainUsesIndex, mongoose, type Connection } from '@ais/platform-mongo';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { randomBytes } from 'node:crypto';
import { ANALYSIS_INDEXES, Analysis, type AnalysisResult, type MandateDoc, type SeriesDoc } from '../src/data/analysis';
import { RECON_INDEXES, ReconciliationStore, type Batch, type StoredEnrichment } from '../src/data/store';
import type { FetchedTransaction } from '../src/domain/dedupe';
import { seriesIdOf } from '../src/domain/recurring';
import { bankRow } from './feed-fixtures';

const logger = createLogger({ service: 'reconciliation-analysis-int', level: 'warn' });
const DAY = 86_400_000;
const d = (iso: string) => new Date(`${iso}T00:00:00Z`);
const FETCHED = d('2026-06-20');
const AT = new Date('2026-06-20T12:00:00Z');

function payday(year: number, month: number, day: number): Date {
  const due = new Date(Date.UTC(year, month, day));
  const dow = due.getUTCDay();
  return new Date(due.getTime() - (dow === 6 ? 1 : dow === 0 ? 2 : 0) * DAY);
}

const row = bankRow;

const current: FetchedTransaction[] = [
  ...[0, 1, 2, 3, 4, 5].map((m) => row(`nflx-${m}`, new Date(Date.UTC(2026, m, 14)), '-10.99', 'DEBIT', 'NETFLIX.COM 866-579-7172', 'DIRECT_DEBIT')),
  ...[0, 1, 2, 3, 4].map((m) => row(`pay-${m}`, payday(2026, m, 25), '2500.00', 'CREDIT', 'BGC ACME WIDGETS LTD SALARY', 'CREDIT')),
  ...[2, 9, 33, 70].map((k, i) => row(`tesco-${i}`, new Date(d('2026-01-01').getTime() + k * DAY), `-${['23.10', '61.00', '5.25', '40.50'][i]}`, 'DEBIT', 'TESCO STORES 3297')),
  row('to-sav', d('2026-03-03'), '-200.00', 'DEBIT', 'TO SAVINGS 87654321', 'TRANSFER'),
  row('to-card', d('2026-04-10'), '-150.00', 'DEBIT', 'LLOYDS CREDIT CARD 4242', 'DIRECT_DEBIT'),
];
const savings = [row('from-cur', d('2026-03-04'), '200', 'CREDIT', 'FROM CURRENT ACC', 'CREDIT')];
// card endpoints send purchases positive with DEBIT and repayments positive with CREDIT
const card = [row('card-repay', d('2026-04-12'), '150.00', 'CREDIT', 'PAYMENT RECEIVED THANK YOU', 'CREDIT'), row('card-shop', d('2026-04-11'), '150.00', 'DEBIT', 'JOHN LEWIS')];

function batch(payload: Batch['payload']): Batch {
  return { eventId: `ev-${Math.random()}`, clientId: 'client-1', connectionId: 'conn-1', providerId: 'ob-lloyds', fetchId: 'fetch-1', fetchedAt: FETCHED, payload };
}
const single = { index: 0, count: 1, complete: true };
const window = { from: d('2026-01-01'), to: FETCHED };
const txBatch = (providerAccountId: string, transactions: FetchedTransaction[]) => batch({ kind: 'transactions', providerAccountId, window, batch: single, transactions });

const netflixEnrichment: StoredEnrichment = { primary: 'ENTERTAINMENT', detailed: 'ENTERTAINMENT_TV_AND_MOVIES', merchantName: 'Netflix', merchantKey: 'netflix', source: 'dictionary', reason: 'merchant:netflix', confidence: 0.9, version: 'test', taxonomy: 'pfc-v2' };

function directDebit(id: string, name: string, amount: string, previous: Date, mandate: string): eventsV1.RawDirectDebit {
  return { directDebitId: id, timestamp: FETCHED, name, status: 'Active', previousPaymentTimestamp: previous, previousPaymentAmount: amount, currency: 'GBP', meta: { provider_mandate_identification: mandate, provider_account_id: 'tl-cur' } };
}
const standingOrder: eventsV1.RawStandingOrder = {
  frequency: 'IntrvlMnthDay:01:01',
  status: 'Active',
  timestamp: FETCHED,
  currency: 'GBP',
  nextPaymentDate: d('2026-07-01'),
  nextPaymentAmount: '850.00',
  firstPaymentDate: d('2026-07-01'),
  firstPaymentAmount: '850.00',
  finalPaymentDate: d('9999-12-31'),
  finalPaymentAmount: '850.00',
  payee: 'MRS P LANDLORD',
  reference: 'FLAT 2',
  meta: {},
};

describe('analysis (real server)', () => {
  let conn: Connection;
  let store: ReconciliationStore;
  let analysis: Analysis;
  const U = 'u-analysis';
  const meta = { clientId: 'client-1', connectionId: 'conn-1', providerAccountId: 'tl-cur', fetchedAt: FETCHED };

  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_analysis_${randomBytes(4).toString('hex')}`, logger });
    store = new ReconciliationStore(conn);
    analysis = new Analysis(conn, store);
    await store.ensureIndexes();
    await analysis.ensureIndexes();
    await store.applyBatch(
      U,
      batch({
        kind: 'accounts',
        accounts: [
          { kind: 'account', accountId: 'tl-cur', providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' },
          { kind: 'account', accountId: 'tl-sav', providerId: 'ob-lloyds', displayName: 'Easy Saver', currency: 'GBP', type: 'SAVINGS', sortCode: '30-94-57', number: '87654321' },
        ],
      }),
    );
    await store.applyBatch(U, batch({ kind: 'accounts', accounts: [{ kind: 'card', accountId: 'tl-card', providerId: 'ob-lloyds', displayName: 'Credit Card', currency: 'GBP', type: 'CREDIT', partialCardNumber: '4242', nameOnCard: 'ANN SMITH', cardNetwork: 'VISA' }] }));
    await store.applyBatch(U, txBatch('tl-cur', current));
    await store.applyBatch(U, txBatch('tl-sav', savings));
    await store.applyBatch(U, txBatch('tl-card', card));
    await store.transactions.updateMany({ userId: U, description: /NETFLIX/ }, { $set: { enrichment: netflixEnrichment } });
  });
  afterAll(async () => {
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
  });

  it('stores standing orders and direct debits per internal account, deduplicated on content; unknown accounts are refused', async () => {
    const dds = [directDebit('dd-a', 'NETFLIX.COM', '10.99', d('2026-06-14'), 'NFLX-1'), directDebit('dd-b', 'OCTOPUS ENERGY', '96.40', d('2026-06-02'), 'OCT-9')];
    expect(await analysis.applyMandates(U, meta, 'direct_debits', dds)).toEqual({ written: 2, unlisted: 0 });
    expect(await analysis.applyMandates(U, meta, 'standing_orders', [standingOrder])).toEqual({ written: 1, unlisted: 0 });
    // the next request: TrueLayer changed every direct_debit_id, nothing else
    const renamed = dds.map((x, i) => ({ ...x, directDebitId: `dd-new-${i}` }));
    expect(await analysis.applyMandates(U, { ...meta, fetchedAt: new Date(FETCHED.getTime() + DAY) }, 'direct_debits', renamed)).toEqual({ written: 0, unlisted: 0 });
    // one part of a list split over several messages unlists nothing
    expect(await analysis.applyMandates(U, { ...meta, complete: false }, 'direct_debits', renamed.slice(0, 1))).toEqual({ written: 0, unlisted: 0 });
    const stored = await analysis.mandates.find({ userId: U }).sort({ _id: 1 }).toArray();
    expect(stored.every((m) => m.listed)).toBe(true);
    expect(stored).toHaveLength(3);
    const accountId = (await store.internalAccount(U, 'client-1', 'tl-cur'))._id;
    expect(stored.every((m) => m.accountId === accountId)).toBe(true);
    expect(stored.find((m) => m.kind === 'standing_order')).toMatchObject({ name: 'MRS P LANDLORD', amount: '-850', finalPaymentDate: null, nextPaymentDate: d('2026-07-01') });
    await expect(analysis.applyMandates(U, { ...meta, providerAccountId: 'tl-unknown' }, 'direct_debits', dds)).rejects.toMatchObject({ code: 'unknown_account', kind: 'failed_precondition', retriable: false });
    expect(await analysis.mandates.countDocuments({ userId: U })).toBe(3);
  });

  it('analyse writes series, transfer pairs and per-transaction changes with sequence numbers; a second run writes nothing', async () => {
    const before = (await store.userState(U))!;
    const res = await analysis.analyse(U, AT);
    // 6 Netflix + 5 salary rows join series; 2 + 2 rows of two transfers get their pair
    expect(res).toMatchObject({ pairs: 2, changes: 15, firstSeq: before.seq + 1, lastSeq: before.seq + 15 });
    expect(await store.userState(U)).toMatchObject({ seq: before.seq + 15, committedSeq: before.seq + 15 });

    const series = await analysis.listSeries(U);
    const netflixId = seriesIdOf(U, 'netflix', 'monthly', 'outflow');
    const byId = new Map(series.map((s) => [s.seriesId, s]));
    expect(byId.get(netflixId)).toMatchObject({ cadence: 'monthly', amount: '-10.99', occurrences: 6, source: 'direct_debit', primary: 'ENTERTAINMENT', active: true, found: true, nextExpectedDate: d('2026-07-14'), updatedAt: AT });
    expect(byId.get(seriesIdOf(U, 'acme-widgets-salary', 'monthly', 'inflow'))).toMatchObject({ direction: 'inflow', income: true, detailed: 'INCOME_WAGES', amount: '2500', occurrences: 5 });
    expect(byId.get(seriesIdOf(U, 'octopus-energy', 'monthly', 'outflow'))).toMatchObject({ source: 'direct_debit', occurrences: 0, nextExpectedDate: d('2026-07-02'), active: true });
    expect(byId.get(seriesIdOf(U, 'mrs-landlord', 'monthly', 'outflow'))).toMatchObject({ source: 'standing_order', amount: '-850', nextExpectedDate: d('2026-07-01') });
    expect(series).toHaveLength(4);

    const changed = await store.cursors.transactionChanges(U, before.seq, 100).toArray();
    expect(changed.map((t) => t.seq)).toEqual(Array.from({ length: 15 }, (_, i) => before.seq + 1 + i));
    expect(changed.every((t) => t.changeKind === 'modified' && t.changeReason === 'analysis' && t.updatedAt.getTime() === AT.getTime())).toBe(true);
    const byNpt = new Map((await store.transactions.find({ userId: U }).toArray()).map((t) => [t.normalisedProviderTransactionId, t]));
    expect(byNpt.get('txn-nflx-3')!.recurring).toEqual({ seriesId: netflixId, cadence: 'monthly' });
    expect(byNpt.get('txn-to-sav')!.transferPairId).toBe(byNpt.get('txn-from-cur')!._id);
    expect(byNpt.get('txn-from-cur')!.transferPairId).toBe(byNpt.get('txn-to-sav')!._id);
    expect(byNpt.get('txn-to-card')!.transferPairId).toBe(byNpt.get('txn-card-repay')!._id);
    expect(byNpt.get('txn-card-shop')!.transferPairId ?? null).toBeNull();
    expect(byNpt.get('txn-tesco-1')!.recurring ?? null).toBeNull();
    expect(byNpt.get('txn-tesco-1')!.seq).toBeLessThanOrEqual(before.seq);

    const sum = await store.checksum(U);
    const seriesDocs = await analysis.series.find({ userId: U }).sort({ _id: 1 }).toArray();
    expect(await analysis.analyse(U, AT)).toEqual({ rows: 20, series: 4, seriesWritten: 0, pairs: 2, changes: 0 });
    expect(await store.checksum(U)).toBe(sum);
    expect(await analysis.series.find({ userId: U }).sort({ _id: 1 }).toArray()).toEqual(seriesDocs);
  });

  it('new data changes only what it touches; a series no longer found is kept, inactive', async () => {
    const before = (await store.userState(U))!;
    const later = new Date('2026-07-20T12:00:00Z');
    await store.applyBatch(U, { ...txBatch('tl-cur', [row('nflx-6', d('2026-07-14'), '-10.99', 'DEBIT', 'NETFLIX.COM 866-579-7172', 'DIRECT_DEBIT')]), fetchedAt: later });
    await store.transactions.updateOne({ userId: U, normalisedProviderTransactionId: 'txn-nflx-6' }, { $set: { enrichment: netflixEnrichment } });
    // the Octopus direct debit is gone from the account's complete list
    await analysis.applyMandates(U, { ...meta, fetchedAt: later }, 'direct_debits', [directDebit('dd-c', 'NETFLIX.COM', '10.99', d('2026-07-14'), 'NFLX-1')]);
    const res = await analysis.analyse(U, later);
    // the added row took one number; analysis adds exactly one change (the new row joining the series)
    expect(res).toMatchObject({ changes: 1, firstSeq: before.seq + 2, lastSeq: before.seq + 2 });
    const netflix = (await analysis.series.findOne({ userId: U, seriesId: seriesIdOf(U, 'netflix', 'monthly', 'outflow') }))!;
    expect(netflix).toMatchObject({ occurrences: 7, lastDate: d('2026-07-14'), nextExpectedDate: d('2026-08-14'), updatedAt: later });
    expect(await analysis.series.findOne({ userId: U, seriesId: seriesIdOf(U, 'octopus-energy', 'monthly', 'outflow') })).toMatchObject({ found: false, active: false, updatedAt: later });
    expect((await analysis.mandates.findOne({ userId: U, name: 'OCTOPUS ENERGY' }))!.listed).toBe(false);
    expect((await analysis.analyse(U, later)).changes).toBe(0);
  });

  it('a sliding window: rows that leave it are cleared, a pair whose partner left is unpaired; the same data and day give the same values again', async () => {
    const later = new Date('2026-07-20T12:00:00Z');
    const derived = async () => (await store.transactions.find({ userId: U }).sort({ _id: 1 }).toArray()).map((t) => [t._id, t.recurring ?? null, t.transferPairId ?? null]);
    const full = await derived();
    const before = (await store.userState(U))!;
    const savingsSide = (await store.transactions.findOne({ userId: U, normalisedProviderTransactionId: 'txn-from-cur' }))!;
    const currentSide = (await store.transactions.findOne({ _id: savingsSide.transferPairId! }))!;
    // the window now starts on the savings side's posting day: its partner (a day earlier) is outside
    const narrow = new Analysis(conn, store, { windowDays: (Date.UTC(2026, 6, 20) - savingsSide.bookedAt.getTime()) / DAY });
    const res = await narrow.analyse(U, later);
    expect((await store.transactions.findOne({ _id: savingsSide._id }))!.transferPairId ?? null).toBeNull();
    expect((await store.transactions.findOne({ _id: currentSide._id }))!.transferPairId ?? null).toBeNull();
    // rows outside the window carry nothing (Netflix January and February: the series is still found in the window)
    for (const t of await store.transactions.find({ userId: U, bookedAt: { $lt: savingsSide.bookedAt } }).toArray()) expect([t.recurring ?? null, t.transferPairId ?? null]).toEqual([null, null]);
    expect((await store.transactions.findOne({ userId: U, normalisedProviderTransactionId: 'txn-nflx-3' }))!.recurring).toMatchObject({ cadence: 'monthly' });
    // each cleared row is a change with its sequence number
    expect(res).toMatchObject({ firstSeq: before.seq + 1, lastSeq: before.seq + res.changes });
    expect(res.changes).toBeGreaterThanOrEqual(4);
    expect((await narrow.analyse(U, later)).changes).toBe(0);
    // a window too short for any series: no row carries one
    await new Analysis(conn, store, { windowDays: 20 }).analyse(U, later);
    expect(await store.transactions.countDocuments({ userId: U, recurring: { $ne: null } })).toBe(0);
    expect(await analysis.series.findOne({ userId: U, seriesId: seriesIdOf(U, 'acme-widgets-salary', 'monthly', 'inflow') })).toMatchObject({ found: false, active: false });
    // back to the full window: the values are those of the data and the day, not of the runs in between
    await analysis.analyse(U, later);
    expect(await derived()).toEqual(full);
  });

  it('its queries use named indexes', async () => {
    // other users' data, so that a scan would be a real alternative for the planner
    await analysis.series.insertMany(Array.from({ length: 400 }, (_, i) => ({ _id: `rs_seed_${i}`, seriesId: `rs_seed_${i}`, userId: `seed-${i % 40}` })) as unknown as SeriesDoc[]);
    await analysis.mandates.insertMany(Array.from({ length: 400 }, (_, i) => ({ _id: `m_seed_${i}`, userId: `seed-${i % 40}`, accountId: `acc-${i % 80}`, kind: 'direct_debit' })) as unknown as MandateDoc[]);
    const uses = async (cursor: { explain: () => Promise<unknown> }, index: string): Promise<void> => {
      const plan = await cursor.explain();
      if (!explainUsesIndex(plan, index)) throw new Error(`expected ${index}, got ${JSON.stringify(plan).slice(0, 1500)}`);
    };
    const acc = await store.internalAccount(U, 'client-1', 'tl-cur');
    await uses(analysis.cursors.accountHistory(U, acc._id, d('2025-01-01')), RECON_INDEXES.transactionsTimeline);
    await uses(analysis.cursors.userSeries('seed-3'), ANALYSIS_INDEXES.seriesByUser);
    await uses(analysis.cursors.userMandates('seed-3'), ANALYSIS_INDEXES.mandatesByAccount);
    await uses(analysis.cursors.accountMandates('seed-3', 'acc-3', 'direct_debit'), ANALYSIS_INDEXES.mandatesByAccount);
    await uses(store.cursors.userAccounts(U), RECON_INDEXES.accountsProviderId);
  });
});

/**
 * The same booked rows stored in different batchings, with the analysis run after each part at the part's event
 * time (what the consumer does), must end with the same derived values: a replay of the raw topic batches
 * differently than the live run did. The history is longer than the window and the time moves across the window's
 * edge between runs, as it does during a real backfill.
 */
describe('analysis is a function of the data, not of the batching (real server)', () => {
  const U = 'u-batching';
  const WINDOW_DAYS = 60;
  const AT1 = new Date('2026-06-20T12:00:00Z');
  const AT2 = new Date('2026-06-23T09:00:00Z');
  // weekly coffee from 2026-04-01; with AT2 the window starts on 2026-04-24, so 2026-04-22 leaves it between runs
  const coffee = Array.from({ length: 12 }, (_, i) => row(`coffee-${i}`, new Date(d('2026-04-01').getTime() + i * 7 * DAY), '-5.00', 'DEBIT', 'COFFEE CLUB WEEKLY'));
  const gym = [3, 4, 5].map((m) => row(`gym-${m}`, new Date(Date.UTC(2026, m, 10)), '-30.00', 'DEBIT', 'PUREGYM MEMBERSHIP'));
  // a transfer across the edge: its money-out side leaves the window between the runs, its arrival stays
  const out = [row('edge-out', d('2026-04-23'), '-100.00', 'DEBIT', 'TO SAVINGS 87654321', 'TRANSFER'), row('mid-out', d('2026-05-15'), '-60.00', 'DEBIT', 'TO SAVINGS 87654321', 'TRANSFER')];
  const into = [row('edge-in', d('2026-04-25'), '100.00', 'CREDIT', 'FROM CURRENT ACC', 'CREDIT'), row('mid-in', d('2026-05-15'), '60.00', 'CREDIT', 'FROM CURRENT ACC', 'CREDIT')];
  const current = [...coffee, ...gym, ...out];
  const before = (t: FetchedTransaction) => t.timestamp!.getTime() < d('2026-04-24').getTime();
  const conns: Connection[] = [];

  afterAll(async () => {
    for (const c of conns) {
      await c.dropDatabase().catch(() => undefined);
      await c.close();
    }
  });

  type Part = { at: Date; cur: FetchedTransaction[]; sav: FetchedTransaction[] };
  /** Stores the parts in order in a fresh database, analysing after each; returns every row's derived values. */
  /** Counts the reads (`find` commands) a connection sends, by collection. */
  type Reads = Map<string, number>;
  async function run(
    parts: Part[],
    historyCacheUsers = 0,
    reads?: Reads,
    historySnapshotRows = 0,
    historyCacheRows?: number,
  ): Promise<{ derived: Record<string, unknown>; analysis: Analysis; store: ReconciliationStore; conn: Connection }> {
    const db = `it_batching_${randomBytes(4).toString('hex')}`;
    const conn = reads
      ? await mongoose.createConnection(process.env['MONGODB_URI']!, { dbName: db, monitorCommands: true, retryWrites: false }).asPromise()
      : await connectMongo({ uri: process.env['MONGODB_URI']!, db, logger });
    conn.getClient().on('commandStarted', (e) => {
      if (e.commandName === 'find') reads?.set(String(e.command['find']), (reads.get(String(e.command['find'])) ?? 0) + 1);
    });
    conns.push(conn);
    const store = new ReconciliationStore(conn);
    const analysis = new Analysis(conn, store, { windowDays: WINDOW_DAYS, historyCacheUsers, historySnapshotRows, ...(historyCacheRows === undefined ? {} : { historyCacheRows }) });
    await store.ensureIndexes();
    await analysis.ensureIndexes();
    const at0 = { ...batch({ kind: 'accounts', accounts: [] }), fetchedAt: AT1 };
    await store.applyBatch(U, {
      ...at0,
      payload: {
        kind: 'accounts',
        accounts: [
          { kind: 'account', accountId: 'tl-cur', providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' },
          { kind: 'account', accountId: 'tl-sav', providerId: 'ob-lloyds', displayName: 'Easy Saver', currency: 'GBP', type: 'SAVINGS', sortCode: '30-94-57', number: '87654321' },
        ],
      },
    });
    for (const p of parts) {
      if (p.cur.length) await store.applyBatch(U, { ...txBatch('tl-cur', p.cur), fetchedAt: p.at });
      if (p.sav.length) await store.applyBatch(U, { ...txBatch('tl-sav', p.sav), fetchedAt: p.at });
      await analysis.analyse(U, p.at);
    }
    const docs = await store.transactions.find({ userId: U }).sort({ _id: 1 }).toArray();
    const npt = new Map(docs.map((t) => [t._id, t.normalisedProviderTransactionId]));
    const derived = Object.fromEntries(docs.map((t) => [t.normalisedProviderTransactionId, { recurring: t.recurring ?? null, pair: t.transferPairId ? npt.get(t.transferPairId) : null }]));
    return { derived, analysis, store, conn };
  }

  it('whole history at once, newest part first, or oldest part first: the same derived values as one run on the final data', async () => {
    const once = await run([{ at: AT2, cur: current, sav: into }]);
    const variants = [
      // everything early, then only time moves
      await run([
        { at: AT1, cur: current, sav: into },
        { at: AT2, cur: [], sav: [] },
      ]),
      // a backfill that goes back in time: the recent part first
      await run([
        { at: AT1, cur: current.filter((t) => !before(t)), sav: into.filter((t) => !before(t)) },
        { at: AT2, cur: current.filter(before), sav: into.filter(before) },
      ]),
      // a backfill that goes forward: the old part first
      await run([
        { at: AT1, cur: current.filter(before), sav: into.filter(before) },
        { at: AT2, cur: current.filter((t) => !before(t)), sav: into.filter((t) => !before(t)) },
      ]),
    ];
    // the final data holds a weekly coffee series, a monthly gym series and the mid-May transfer
    const coffeeId = seriesIdOf(U, 'coffee-club-weekly', 'weekly', 'outflow');
    expect(once.derived['txn-coffee-5']).toEqual({ recurring: { seriesId: coffeeId, cadence: 'weekly' }, pair: null });
    expect(once.derived['txn-mid-out']).toMatchObject({ pair: 'txn-mid-in' });
    for (const v of variants) expect(v.derived).toEqual(once.derived);
  });

  it('refresh after every message: the same documents (checksum) with or without redelivery; it skips what would change nothing', async () => {
    const AT3 = new Date('2026-06-24T08:00:00Z');
    const mandateMeta = { clientId: 'client-1', connectionId: 'conn-1', providerAccountId: 'tl-cur', fetchedAt: AT2, complete: true };
    const gymDd = directDebit('dd-gym', 'PUREGYM', '30.00', d('2026-06-10'), 'GYM-1');
    // the user's messages in partition order, each as the consumer applies it (then refresh with its data time)
    type Step = (a: Analysis, s: ReconciliationStore) => Promise<Date>;
    const messages: Step[] = [
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current.filter(before)), fetchedAt: AT1 }), AT1),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-sav', into), fetchedAt: AT1 }), AT1),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current.filter((t) => !before(t))), fetchedAt: AT2 }), AT2),
      async (a) => (await a.applyMandates(U, mandateMeta, 'direct_debits', [gymDd]), AT2),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current), fetchedAt: AT3 }), AT3),
    ];
    const feed = async (target: { analysis: Analysis; store: ReconciliationStore }, steps: Step[]) => {
      const out: (AnalysisResult | null)[] = [];
      for (const step of steps) out.push(await target.analysis.refresh(U, await step(target.analysis, target.store)));
      return out;
    };
    const a = await run([]);
    const results = await feed(a, messages);
    // every message changed something the analysis reads, or the day, except the last (a re-fetch of known rows on
    // a new day: it runs, and finds nothing to change in the transactions)
    expect(results.map((r) => r !== null)).toEqual([true, true, true, true, true]);
    expect(results[4]!.changes).toBe(0);
    // the direct debit (a message that changed no transaction) made a run: its series is there
    expect(await a.analysis.series.countDocuments({ userId: U, source: 'direct_debit', mandateId: { $ne: null } })).toBe(1);
    // the same messages again (a redelivery) and an edit-less refresh later the same day: skipped, nothing written
    const sum = await a.store.checksum(U);
    expect(await feed(a, messages)).toEqual([null, null, null, null, null]);
    expect(await a.analysis.refresh(U, new Date('2026-06-24T23:00:00Z'))).toBeNull();
    expect(await a.store.checksum(U)).toBe(sum);

    // another store gets the first three, then (a consumer restart) all of them again
    const b = await run([]);
    await feed(b, messages.slice(0, 3));
    await feed(b, messages);
    expect(await b.store.checksum(U)).toBe(sum);
    expect(await b.analysis.series.find({ userId: U }).sort({ _id: 1 }).toArray()).toEqual(await a.analysis.series.find({ userId: U }).sort({ _id: 1 }).toArray());
  });

  it('the history cache: the same documents as reading the window every run, and a cold run afterwards changes nothing', async () => {
    const AT3 = new Date('2026-06-24T08:00:00Z');
    // a later day: the window (60 days) moves past April, so rows leave it and lose their values
    const AT4 = new Date('2026-07-05T08:00:00Z');
    const gymDd = directDebit('dd-gym', 'PUREGYM', '30.00', d('2026-06-10'), 'GYM-1');
    const pendingCoffee = row('coffee-p', d('2026-06-24'), '-5.00', 'DEBIT', 'COFFEE CLUB WEEKLY');
    const pendingBatch = (rows: FetchedTransaction[]) => batch({ kind: 'pending_transactions', providerAccountId: 'tl-cur', batch: single, transactions: rows });
    type Step = (a: Analysis, s: ReconciliationStore) => Promise<Date>;
    const messages: Step[] = [
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current.filter((t) => !before(t))), fetchedAt: AT1 }), AT1),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-sav', into), fetchedAt: AT1 }), AT1),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current.filter(before)), fetchedAt: AT2 }), AT2),
      async (a) => (await a.applyMandates(U, { clientId: 'client-1', connectionId: 'conn-1', providerAccountId: 'tl-cur', fetchedAt: AT2, complete: true }, 'direct_debits', [gymDd]), AT2),
      // re-enrichment moves the coffee rows to another merchant key: their series (and its id) changes
      async (_a, st) => {
        const coffeeRows = await st.transactions.find({ userId: U, description: /COFFEE/ }).sort({ _id: 1 }).toArray();
        const bean = { ...netflixEnrichment, merchantKey: 'bean-there', merchantName: 'Bean There', primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE' };
        await st.applyReEnrichment(U, coffeeRows.map((t) => ({ transactionId: t._id, enrichment: bean })), AT3);
        return AT3;
      },
      // a pending coffee, then its booked counterpart (the pending row is modified into the booked one)
      async (_a, st) => (await st.applyBatch(U, { ...pendingBatch([pendingCoffee]), fetchedAt: AT3 }), AT3),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', [{ ...pendingCoffee, transactionId: 'coffee-b' }]), fetchedAt: AT3 }), AT3),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current), fetchedAt: AT4 }), AT4),
    ];
    const rowsRead: number[] = [];
    const feed = async (target: { analysis: Analysis; store: ReconciliationStore }) => {
      const out: (AnalysisResult | null)[] = [];
      rowsRead.length = 0;
      for (const step of messages) {
        out.push(await target.analysis.refresh(U, await step(target.analysis, target.store)));
        rowsRead.push(target.analysis.stats.historyRowsRead);
      }
      return out;
    };
    const reading = await run([]);
    const caching = await run([], 4);
    const results = await feed(reading);
    const readWithoutCache = rowsRead.at(-1)!;
    expect(await feed(caching)).toEqual(results);
    // with the cache, the first run reads the window and later runs read nothing back: the store told the cache what
    // it wrote (new rows, settled and re-enriched ones); without it every run reads the window again
    expect(rowsRead[0]).toBeGreaterThan(0);
    expect(rowsRead.every((n) => n === rowsRead[0])).toBe(true);
    expect(readWithoutCache).toBeGreaterThan(rowsRead[0]! * 4);
    // it holds the rows booked since the last run's window start, not every row it ever read or was told of (the
    // first run read the whole history, and April's rows were written after it)
    const lastFrom = new Date(Date.UTC(2026, 6, 5) - WINDOW_DAYS * DAY);
    const held = await caching.store.transactions.countDocuments({ userId: U, bookedAt: { $gte: lastFrom } });
    expect(caching.analysis.cachedRows).toBe(held);
    expect(held).toBeLessThan(await caching.store.transactions.countDocuments({ userId: U }));
    // a row budget below the user's rows keeps nothing: every run reads the window, with the same results
    const tight = await run([], 4, undefined, 0, 1);
    expect(await feed(tight)).toEqual(results);
    expect(tight.analysis.cachedRows).toBe(0);
    expect(rowsRead.at(-1)).toBe(readWithoutCache);
    expect(await tight.store.checksum(U)).toBe(await reading.store.checksum(U));
    // the runs did real work: series were found and rows changed, and the last day cleared rows that left the window
    expect(results.filter((r) => r && r.changes > 0).length).toBeGreaterThanOrEqual(3);
    expect(await caching.store.checksum(U)).toBe(await reading.store.checksum(U));
    const seriesOf = (a: Analysis) => a.series.find({ userId: U }).sort({ _id: 1 }).toArray();
    expect(await seriesOf(caching.analysis)).toEqual(await seriesOf(reading.analysis));
    // the re-enriched coffee rows are members of the series of their new merchant key
    const coffee = await caching.store.transactions.find({ userId: U, description: /COFFEE/, 'recurring.seriesId': seriesIdOf(U, 'bean-there', 'weekly', 'outflow') }).toArray();
    expect(coffee.length).toBeGreaterThanOrEqual(3);
    // a cold instance (what a restart or another group member would be) reads the window and finds nothing to do
    const cold = await new Analysis(caching.conn, caching.store, { windowDays: WINDOW_DAYS }).analyse(U, AT4);
    expect(cold).toMatchObject({ changes: 0, seriesWritten: 0 });
    expect(cold.rows).toBeGreaterThan(0);
  });

  it('the stored history: the same documents as reading the window every run; a cold instance reads it and only the rows changed since', async () => {
    const AT3 = new Date('2026-06-24T08:00:00Z');
    // a later day: the window (60 days) moves past April, so rows leave it and lose their values
    const AT4 = new Date('2026-07-05T08:00:00Z');
    const pendingCoffee = row('coffee-p', d('2026-06-24'), '-5.00', 'DEBIT', 'COFFEE CLUB WEEKLY');
    const pendingBatch = (rows: FetchedTransaction[]) => batch({ kind: 'pending_transactions', providerAccountId: 'tl-cur', batch: single, transactions: rows });
    type Step = (s: ReconciliationStore) => Promise<Date>;
    const messages: Step[] = [
      async (st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current.filter((t) => !before(t))), fetchedAt: AT1 }), AT1),
      async (st) => (await st.applyBatch(U, { ...txBatch('tl-sav', into), fetchedAt: AT1 }), AT1),
      async (st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current.filter(before)), fetchedAt: AT2 }), AT2),
      // re-enrichment moves the coffee rows to another merchant key: their series (and its id) changes
      async (st) => {
        const coffeeRows = await st.transactions.find({ userId: U, description: /COFFEE/ }).sort({ _id: 1 }).toArray();
        const bean = { ...netflixEnrichment, merchantKey: 'bean-there', merchantName: 'Bean There', primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE' };
        await st.applyReEnrichment(U, coffeeRows.map((t) => ({ transactionId: t._id, enrichment: bean })), AT3);
        return AT3;
      },
      // a pending coffee, then its booked counterpart (the pending row is modified into the booked one)
      async (st) => (await st.applyBatch(U, { ...pendingBatch([pendingCoffee]), fetchedAt: AT3 }), AT3),
      async (st) => (await st.applyBatch(U, { ...txBatch('tl-cur', [{ ...pendingCoffee, transactionId: 'coffee-b' }]), fetchedAt: AT3 }), AT3),
      async (st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current), fetchedAt: AT4 }), AT4),
    ];
    // each message on a new instance (what a scheduled refresh meets: the memory cache holds other users by then)
    const feed = async (target: { conn: Connection; analysis: Analysis }, snapshotRows: number) => {
      const out: (AnalysisResult | null)[] = [];
      const stats = { historyRowsRead: 0, snapshotsRead: 0, snapshotsWritten: 0 };
      for (const step of messages) {
        const st = new ReconciliationStore(target.conn);
        const a = new Analysis(target.conn, st, { windowDays: WINDOW_DAYS, historySnapshotRows: snapshotRows });
        out.push(await a.refresh(U, await step(st)));
        for (const k of Object.keys(stats) as (keyof typeof stats)[]) stats[k] += a.stats[k];
      }
      return { out, stats };
    };
    const reading = await run([]);
    const storing = await run([], 0, undefined, 10_000);
    const read = await feed(reading, 0);
    const stored = await feed(storing, 10_000);
    expect(stored.out).toEqual(read.out);
    expect(read.out.filter((r) => r && r.changes > 0).length).toBeGreaterThanOrEqual(3);
    expect(await storing.store.checksum(U)).toBe(await reading.store.checksum(U));
    const seriesOf = (a: Analysis) => a.series.find({ userId: U }).sort({ _id: 1 }).toArray();
    expect(await seriesOf(storing.analysis)).toEqual(await seriesOf(reading.analysis));
    expect(await storing.analysis.state.findOne({ _id: U })).toEqual(await reading.analysis.state.findOne({ _id: U }));
    // the first run read the window and stored it; every later one read the stored history and the rows changed since
    expect(read.stats).toMatchObject({ snapshotsRead: 0, snapshotsWritten: 0 });
    expect(stored.stats.snapshotsRead).toBe(messages.length - 1);
    // (on this small history every catch-up stays under the rewrite bound: only the first run stored it)
    expect(stored.stats.snapshotsWritten).toBe(1);
    expect(await storing.analysis.snapshots.countDocuments()).toBe(1);
    expect(await reading.analysis.snapshots.countDocuments()).toBe(0);

    // a run that caught it up by more rows than the bound (here: any) stores it again
    const rewriting = new Analysis(storing.conn, new ReconciliationStore(storing.conn), { windowDays: WINDOW_DAYS, historySnapshotRows: 10_000, historySnapshotRewriteRows: 0 });
    expect(await rewriting.analyse(U, AT4)).toMatchObject({ changes: 0 });
    expect(rewriting.stats).toMatchObject({ snapshotsRead: 1, snapshotsWritten: 1 });
    expect(rewriting.stats.historyRowsRead).toBeGreaterThan(0);

    // a refresh with one new row: the stored history and that row are read, not the window
    const refresh = { ...txBatch('tl-sav', [...into, row('late-in', d('2026-07-04'), '5.00', 'CREDIT', 'INTEREST', 'CREDIT')]), fetchedAt: AT4 };
    const outcomes = [];
    for (const target of [reading, storing]) {
      await target.store.applyBatch(U, refresh);
      const a = new Analysis(target.conn, new ReconciliationStore(target.conn), { windowDays: WINDOW_DAYS, historySnapshotRows: target === storing ? 10_000 : 0 });
      outcomes.push({ result: await a.refresh(U, AT4), stats: { ...a.stats } });
    }
    expect(outcomes[1]!.result).toEqual(outcomes[0]!.result);
    expect(outcomes[0]!.stats).toMatchObject({ snapshotsRead: 0, historyRowsRead: outcomes[0]!.result!.rows });
    expect(outcomes[1]!.stats).toMatchObject({ snapshotsRead: 1, historyRowsRead: 1, snapshotsWritten: 0 });
    expect(outcomes[1]!.result!.rows).toBeGreaterThan(10);
    expect(await storing.store.checksum(U)).toBe(await reading.store.checksum(U));
    // and a cold instance that reads the window finds nothing to change
    expect(await new Analysis(storing.conn, new ReconciliationStore(storing.conn), { windowDays: WINDOW_DAYS }).analyse(U, AT4)).toMatchObject({ changes: 0, seriesWritten: 0 });

    // one further back than it has rows (or 1,000) numbers is not used either: the window is read, and stored again
    const many = Array.from({ length: 1_100 }, (_, i) => row(`many-${i}`, new Date(d('2026-06-01').getTime() + (i % 30) * DAY + i * 1000), `-${(i % 50) + 1}.00`, 'DEBIT', `SHOP ${i}`));
    await storing.store.applyBatch(U, { ...txBatch('tl-cur', many), fetchedAt: AT4 });
    const behind = new Analysis(storing.conn, new ReconciliationStore(storing.conn), { windowDays: WINDOW_DAYS, historySnapshotRows: 10_000 });
    await behind.analyse(U, AT4);
    expect(behind.stats).toMatchObject({ snapshotsRead: 0, snapshotsWritten: 1 });
    expect(behind.stats.historyRowsRead).toBeGreaterThan(1_100);
    expect((await storing.analysis.snapshots.findOne({ _id: U }))?.count).toBe(behind.stats.historyRowsRead);

    // a stored history that does not cover the window (its start later than the run's) is not used: the window is read
    await storing.analysis.snapshots.updateOne({ _id: U }, { $set: { from: AT4 } });
    const later = new Analysis(storing.conn, new ReconciliationStore(storing.conn), { windowDays: WINDOW_DAYS, historySnapshotRows: 10_000 });
    await later.analyse(U, AT4);
    expect(later.stats).toMatchObject({ snapshotsRead: 0, snapshotsWritten: 1 });
    expect(later.stats.historyRowsRead).toBeGreaterThan(1);
    // a user with more rows than the bound keeps none: its older stored history is deleted, not left behind
    await storing.analysis.snapshots.updateOne({ _id: U }, { $set: { from: AT4 } });
    const bounded = new Analysis(storing.conn, new ReconciliationStore(storing.conn), { windowDays: WINDOW_DAYS, historySnapshotRows: 5 });
    await bounded.analyse(U, AT4);
    expect(bounded.stats).toMatchObject({ snapshotsRead: 0, snapshotsWritten: 0 });
    expect(await storing.analysis.snapshots.countDocuments()).toBe(0);
  });

  it('the writer keeps what a run reads besides the rows: the same documents, one read of each input, none for a refresh that finds nothing to do', async () => {
    const AT3 = new Date('2026-06-24T08:00:00Z');
    const gymDd = directDebit('dd-gym', 'PUREGYM', '30.00', d('2026-06-10'), 'GYM-1');
    const mandateMeta = { clientId: 'client-1', connectionId: 'conn-1', providerAccountId: 'tl-cur', fetchedAt: AT2, complete: true };
    type Step = (a: Analysis, s: ReconciliationStore) => Promise<Date>;
    const messages: Step[] = [
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current.filter(before)), fetchedAt: AT1 }), AT1),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-sav', into), fetchedAt: AT1 }), AT1),
      async (a) => (await a.applyMandates(U, mandateMeta, 'direct_debits', [gymDd]), AT2),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current.filter((t) => !before(t))), fetchedAt: AT2 }), AT2),
      async (_a, st) => (await st.applyBatch(U, { ...txBatch('tl-cur', current), fetchedAt: AT3 }), AT3),
    ];
    const feed = async (target: { analysis: Analysis; store: ReconciliationStore }) => {
      const out: (AnalysisResult | null)[] = [];
      for (const step of messages) out.push(await target.analysis.refresh(U, await step(target.analysis, target.store)));
      return out;
    };
    const readingReads: Reads = new Map();
    const keepingReads: Reads = new Map();
    const reading = await run([], 0, readingReads);
    const keeping = await run([], 4, keepingReads);
    const results = await feed(reading);
    expect(await feed(keeping)).toEqual(results);
    // what the runs read (the checks below read too)
    const readBy = { reading: new Map(readingReads), keeping: new Map(keepingReads) };
    expect(results.filter((r) => r && r.changes > 0).length).toBeGreaterThanOrEqual(2);
    expect(await keeping.store.checksum(U)).toBe(await reading.store.checksum(U));
    const seriesOf = (a: Analysis) => a.series.find({ userId: U }).sort({ _id: 1 }).toArray();
    expect(await seriesOf(keeping.analysis)).toEqual(await seriesOf(reading.analysis));
    const stateOf = (a: Analysis) => a.state.findOne({ _id: U });
    expect(await stateOf(keeping.analysis)).toEqual(await stateOf(reading.analysis));
    // every refresh of the reading instance reads the run's state and the mandates; the keeping one reads each once,
    // and the mandates again after applyMandates wrote one (applyMandates reads none: the kept list holds its account's)
    expect(readBy.reading.get('analysis_state')).toBe(messages.length);
    expect(readBy.reading.get('mandates')).toBe(messages.length + 1); // applyMandates reads its account's list
    expect(readBy.keeping.get('analysis_state')).toBe(1);
    expect(readBy.keeping.get('recurring_series')).toBe(1);
    expect(readBy.keeping.get('mandates')).toBe(2);
    // the store keeps the writer's accounts and numbers: the accounts list's own read, one after it (internal account
    // lookups and every run share it) and one for the highest account number; user_state is read by the accounts list
    // (the connection's links) and once for the committed number
    expect(readBy.keeping.get('accounts')).toBe(3);
    expect(readBy.keeping.get('user_state')).toBe(2);

    // the same messages again (a redelivery): every refresh is skipped, and the only reads are the rows' windows
    keepingReads.clear();
    expect(await feed(keeping)).toEqual([null, null, null, null, null]);
    expect([...keepingReads.keys()]).toEqual(['transactions']);

    // what was kept ends with the partitions (a rebalance) or the user's erasure: read again (the run's state, the
    // mandates, and the highest numbers of the user's transactions and accounts), and still nothing to do
    keeping.analysis.forgetAll();
    keeping.store.forgetAll();
    keepingReads.clear();
    expect(await keeping.analysis.refresh(U, AT3)).toBeNull();
    expect(Object.fromEntries(keepingReads)).toEqual({ analysis_state: 1, mandates: 1, transactions: 1, accounts: 1 });

    // a balance takes a number, but analysis reads no balance: no run, here and on a cold instance (what a restart or
    // another group member would decide from the stored data alone), and on the one that reads everything every time
    const balance = (current: string) => ({ ...batch({ kind: 'balance', providerAccountId: 'tl-cur', balance: { currency: 'GBP', current, available: current, overdraft: '', creditLimit: '', updateTimestamp: AT3 } }), fetchedAt: AT3 });
    expect((await keeping.store.applyBatch(U, balance('812.40'))).changes).toBe(1);
    expect((await reading.store.applyBatch(U, balance('812.40'))).changes).toBe(1);
    expect(await keeping.analysis.refresh(U, AT3)).toBeNull();
    expect(await reading.analysis.refresh(U, AT3)).toBeNull();
    const cold = new ReconciliationStore(keeping.conn);
    expect(await new Analysis(keeping.conn, cold, { windowDays: WINDOW_DAYS, historyCacheUsers: 4 }).refresh(U, AT3)).toBeNull();
    // a transaction change makes the next refresh run, on every instance, with the same documents
    const late = { ...txBatch('tl-sav', [...into, row('late-in', d('2026-06-18'), '5.00', 'CREDIT', 'INTEREST', 'CREDIT')]), fetchedAt: AT3 };
    await keeping.store.applyBatch(U, late);
    await reading.store.applyBatch(U, late);
    expect(await cold.analysedInputsSeq(U)).toBeLessThan(await keeping.store.analysedInputsSeq(U));
    expect(await keeping.analysis.refresh(U, AT3)).not.toBeNull();
    expect(await reading.analysis.refresh(U, AT3)).not.toBeNull();
    expect(await keeping.store.checksum(U)).toBe(await reading.store.checksum(U));
    expect(await new ReconciliationStore(keeping.conn).analysedInputsSeq(U)).toBe(await keeping.store.analysedInputsSeq(U));
    expect((await keeping.store.userState(U))?.committedSeq).toBe(await keeping.store.committedSeq(U));
  });
});
