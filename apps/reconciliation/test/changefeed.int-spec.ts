/**
 * The change feed from the writer's memory (data/feed-memory.ts) sends exactly what reading the store sends: two
 * stores get the same messages of one user (new rows, a pending row that settles, a content change, a pending row
 * that goes missing and is removed, a re-enrichment, analysis' changes, balances between them), each result of more
 * than 5 rows in messages of 5; one publishes from what it wrote and reconciles a result's later messages against
 * the rows its first one read, the other (its memory dropped before every message) reads the store. The events
 * and the stored documents must be equal, run by run, and the first must not have read transactions back.
 */
import { bindings } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import type { EventProducer } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { connectMongo, type Connection } from '@ais/platform-mongo';
import { randomBytes } from 'node:crypto';
import { Analysis } from '../src/data/analysis';
import { ChangeFeedPublisher } from '../src/data/changefeed';
import { ReconciliationStore, type Batch, type StoredEnrichment } from '../src/data/store';
import type { FetchedTransaction } from '../src/domain/dedupe';

const logger = createLogger({ service: 'reconciliation-changefeed-int', level: 'warn' });
const DAY = 86_400_000;
const U = 'user-feed';
const T0 = new Date('2026-05-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);

const tx = (id: string, day: number, amount: string, description: string, extra: Partial<FetchedTransaction> = {}): FetchedTransaction => ({
  transactionId: `tl-${id}`,
  normalisedProviderTransactionId: `txn-${id}`,
  providerTransactionId: '',
  timestamp: at(day),
  description,
  amount,
  currency: 'GBP',
  transactionType: amount.startsWith('-') ? 'DEBIT' : 'CREDIT',
  transactionCategory: 'PURCHASE',
  transactionClassification: [],
  merchantName: '',
  meta: {},
  ...extra,
});
const enrichment = (merchantKey: string, primary = 'GENERAL_MERCHANDISE'): StoredEnrichment => ({ primary, detailed: `${primary}_OTHER`, merchantName: merchantKey.toUpperCase(), merchantKey, source: 'dictionary', reason: `merchant:${merchantKey}`, confidence: 0.9, version: 'test', taxonomy: 'pfc-v2' });

const booked = [
  ...[0, 1, 2, 3].map((m) => tx(`nflx-${m}`, -120 + m * 30, '-10.99', 'NETFLIX.COM 866-579-7172')),
  ...Array.from({ length: 12 }, (_, i) => tx(`shop-${i}`, -100 + i * 7, `-${i + 3}.25`, `SHOP ${i % 4}`)),
  // the bank listed this row twice in one result, in two messages: the second finds the first
  tx('shop-0', -100, '-3.25', 'SHOP 0'),
];
const pendingTesco = tx('tesco-p', 1, '-23.10', 'TESCO STORES 3297', { transactionId: 'tl-tesco-p', normalisedProviderTransactionId: '' });
const pendingHold = tx('hold-p', 1, '-200.00', 'HOTEL HOLD', { transactionId: 'tl-hold-p', normalisedProviderTransactionId: '' });
const window = { from: at(-130), to: at(2) };
const single = { index: 0, count: 1, complete: true };

function batch(fetchedAt: Date, payload: Batch['payload']): Batch {
  return { eventId: `ev-${fetchedAt.toISOString()}`, clientId: 'client-1', connectionId: 'conn-1', providerId: 'ob-lloyds', fetchId: `fetch-${fetchedAt.toISOString()}`, fetchedAt, payload };
}
const transactions = (fetchedAt: Date, rows: FetchedTransaction[], kind: 'transactions' | 'pending_transactions' = 'transactions') =>
  batch(fetchedAt, { kind, providerAccountId: 'tl-cur', window, batch: single, transactions: rows, enrichments: rows.map((r) => (r.description.startsWith('NETFLIX') ? enrichment('netflix', 'ENTERTAINMENT') : enrichment(r.description.toLowerCase().replace(/[^a-z]+/g, '-')))) });
const balance = (fetchedAt: Date, current: string) => batch(fetchedAt, { kind: 'balance', providerAccountId: 'tl-cur', balance: { currency: 'GBP', current, available: current, overdraft: '', creditLimit: '', updateTimestamp: fetchedAt } });

/**
 * A result of more than `size` rows as data-fetcher publishes one of more than 500: several messages of one fetch, in
 * order, each with its part of the rows and of the enrichments. `between` runs between two of them.
 */
async function applyResult(s: ReconciliationStore, b: Batch, between: () => void, also?: (index: number) => Promise<void>, size = 5): Promise<void> {
  const p = b.payload;
  if ((p.kind !== 'transactions' && p.kind !== 'pending_transactions') || p.transactions.length <= size) return void (await s.applyBatch(U, b));
  const count = Math.ceil(p.transactions.length / size);
  for (let index = 0; index < count; index += 1) {
    if (index > 0) await also?.(index);
    if (index > 0) between();
    const part = (list: readonly unknown[] | undefined) => list?.slice(index * size, (index + 1) * size);
    await s.applyBatch(U, { ...b, eventId: `${b.eventId}-${index}`, payload: { ...p, batch: { index, count, complete: true }, transactions: part(p.transactions) as FetchedTransaction[], enrichments: part(p.enrichments) as StoredEnrichment[] } });
  }
}

/** One result, applied as the consumer does: the store, message by message, then analysis. */
type Step = (s: ReconciliationStore, a: Analysis, between: () => void) => Promise<Date>;
const steps: Step[] = [
  async (s) => (await s.applyBatch(U, batch(at(1), { kind: 'accounts', accounts: [{ kind: 'account', accountId: 'tl-cur', providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' }] })), at(1)),
  async (s, _a, between) => (await applyResult(s, transactions(at(1), booked), between), at(1)),
  async (s) => (await s.applyBatch(U, balance(at(1), '100.00')), at(1)),
  async (s, _a, between) => (await applyResult(s, transactions(at(1), [pendingTesco, pendingHold], 'pending_transactions'), between), at(1)),
  // the Tesco row settles, a shop row's amount is corrected by the bank, a new row arrives
  async (s, _a, between) =>
    (await applyResult(s, transactions(at(2), [...booked.map((r) => (r.transactionId === 'tl-shop-3' ? { ...r, amount: '-6.75' } : r)), { ...pendingTesco, transactionId: 'tl-tesco-b', normalisedProviderTransactionId: 'txn-tesco', timestamp: at(2) }, tx('new-1', 2, '-4.00', 'SHOP 9')]), between), at(2)),
  // a re-enrichment between two messages of a result (another message of the user's partition): the later
  // messages find the rows as it left them
  async (s, _a, between) => {
    const reEnrich = async (index: number) => {
      if (index !== 1) return;
      const shops = await s.transactions.find({ userId: U, description: /^SHOP 1/ }).sort({ _id: 1 }).toArray();
      await s.applyReEnrichment(U, shops.map((t) => ({ transactionId: t._id, enrichment: enrichment('shop-one-co') })), at(3));
    };
    await applyResult(s, transactions(at(4), [...booked].reverse()), between, reEnrich);
    return at(4);
  },
  // the hold is gone from a complete pending result (missing), then removed after the grace period
  async (s, _a, between) => (await applyResult(s, transactions(at(2), [], 'pending_transactions'), between), at(2)),
  async (s) => (await s.applyBatch(U, balance(at(3), '90.00')), at(3)),
  async (s, _a, between) => (await applyResult(s, transactions(at(6), [], 'pending_transactions'), between), at(6)),
  async (s) => {
    const shops = await s.transactions.find({ userId: U, description: /^SHOP 1/ }).sort({ _id: 1 }).toArray();
    await s.applyReEnrichment(U, shops.map((t) => ({ transactionId: t._id, enrichment: enrichment('shop-one-ltd') })), at(6));
    return at(6);
  },
];

describe('change feed from memory (real server)', () => {
  const conns: Connection[] = [];

  async function consumer(): Promise<{ store: ReconciliationStore; analysis: Analysis; publisher: ChangeFeedPublisher; events: eventsV1.ChangeEvent[] }> {
    const conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_feed_${randomBytes(4).toString('hex')}`, logger });
    conns.push(conn);
    const store = new ReconciliationStore(conn);
    await store.ensureIndexes();
    const analysis = new Analysis(conn, store, { historyCacheUsers: 4 });
    await analysis.ensureIndexes();
    const events: eventsV1.ChangeEvent[] = [];
    const producer = { publish: async (_b: ReturnType<typeof bindings.ledger>, list: eventsV1.ChangeEvent[]) => void events.push(...list) } as unknown as EventProducer;
    // a page of 4: ranges longer than a page are published in several pages
    return { store, analysis, events, publisher: new ChangeFeedPublisher({ store, producer, logger, pageSize: 4 }) };
  }

  afterAll(async () => {
    for (const c of conns) {
      await c.dropDatabase().catch(() => undefined);
      await c.close();
    }
  });

  it('publishes the same events from what it wrote as from reading the store, without reading transactions back', async () => {
    const memory = await consumer();
    const reading = await consumer();
    const readBack = jest.spyOn(memory.store.cursors, 'transactionChanges');
    const windowReads = [jest.spyOn(memory.store.cursors, 'window'), jest.spyOn(reading.store.cursors, 'window')];
    const runs: [number, number][] = [];
    // published after these steps, as the consumer publishes once per Kafka batch: a row written twice in between
    // (the pending Tesco row added, then settled; rows analysis changed, then the bank changed) is sent once
    const publishAfter = new Set([2, 4, 5, steps.length - 1]);
    for (const [i, step] of steps.entries()) {
      for (const c of [memory, reading]) {
        // the store path: nothing remembered, neither the rows a result's messages read nor what was written
        const between = c === reading ? () => c.store.forgetAll() : () => undefined;
        const when = await step(c.store, c.analysis, between);
        await c.analysis.refresh(U, when);
        between();
        if (publishAfter.has(i)) await c.publisher.publishUser(U);
      }
      if (publishAfter.has(i)) runs.push([memory.events.length, reading.events.length]);
    }
    expect(readBack).not.toHaveBeenCalled();
    expect(runs.map(([m]) => m)).toEqual(runs.map(([, r]) => r));
    expect(memory.events).toEqual(reading.events);
    // the run covered every kind of change, and nothing stays held once published
    const reasons = new Set(memory.events.map((e) => e.reason));
    for (const r of ['content', 'settled', 'pending_gone', 'enrichment', 'analysis']) expect(reasons).toContain(r);
    expect(memory.events.map((e) => Number(e.seq))).toEqual([...new Set(memory.events.map((e) => Number(e.seq)))].sort((a, b) => a - b));
    expect(memory.store.feed.size().docs).toBe(0);
    expect(await memory.store.checksum(U)).toBe(await reading.store.checksum(U));
    // the memory path read each result's rows once (6 results) but after the re-enrichment, the store path once per
    // message (15 messages)
    expect(windowReads.map((w) => w.mock.calls.length)).toEqual([7, 15]);
  });

  it('leaves out the reads of the other collections only for a range of transaction changes it holds whole', async () => {
    const memory = await consumer();
    const reading = await consumer();
    const c = memory.store.cursors;
    const others = [jest.spyOn(c, 'accountChanges'), jest.spyOn(c, 'balanceChanges'), jest.spyOn(c, 'editChanges')];
    const readsOfOthers = () => others.reduce((n, o) => n + o.mock.calls.length, 0);
    const unique = booked.filter((r, i) => booked.findIndex((x) => x.transactionId === r.transactionId) === i);
    const more = [tx('later-1', 3, '-7.00', 'SHOP 7'), tx('later-2', 3, '-8.00', 'SHOP 8')];
    const publish = async (step: (s: ReconciliationStore) => Promise<unknown>): Promise<number> => {
      const before = readsOfOthers();
      for (const x of [memory, reading]) {
        await step(x.store);
        if (x === reading) x.store.forgetAll();
        await x.publisher.publishUser(U);
      }
      return readsOfOthers() - before;
    };
    // the account list: a change of another collection, read from there
    expect(await publish((s) => s.applyBatch(U, batch(at(1), { kind: 'accounts', accounts: [{ kind: 'account', accountId: 'tl-cur', providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' }] })))).toBe(3);
    // a result of 16 new rows in messages of 5: every number is a row the memory holds, so no other reads
    expect(await publish((s) => applyResult(s, transactions(at(1), unique), () => undefined))).toBe(0);
    // a balance between two results: the range holds a number of another collection, so the reads run again
    expect(
      await publish(async (s) => {
        await s.applyBatch(U, balance(at(2), '100.00'));
        await s.applyBatch(U, transactions(at(3), [...unique, ...more]));
      }),
    ).toBe(3);
    expect(memory.events).toEqual(reading.events);
    expect(memory.events.filter((e) => e.entity?.$case === 'balance')).toHaveLength(1);
    expect(memory.events.filter((e) => e.entity?.$case === 'transaction')).toHaveLength(unique.length + more.length);
  });
});
