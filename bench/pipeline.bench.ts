/**
 * Benchmark: raw transactions through enrichment and reconciliation to the store and the change feed, next to the
 * ceiling of the same machine measured in the same run on the same bytes and documents (issue 10, issue 13).
 *
 * Per size N (transactions):
 * - Data: N booked transactions of ~N/PER_USER users (PER_USER ≈ 2,500: a current account, an easy saver and a
 *   credit card, 24 months of history), produced to a fresh topic prefix as data-fetcher's backfill produces them:
 *   per user an accounts event, a cards event, one balance event per account or card, then one fetch result per
 *   window of BENCH_PIPELINE_WINDOW_MONTHS (default 12, data-fetcher's BACKFILL_WINDOW_MONTHS) and resource, split
 *   into RawDataEvents of at most RAW_EVENT_MAX_ITEMS (splitRawItems; 1,000 since 5 December, 500 before), published through data-fetcher's own kafkaRawSink
 *   on EventProducer (acks=all, key = user id), 8 events per request (its publishChunk). Descriptions are the enrichment labelled set's UK descriptions (every run of 3+ digits, store
 *   and card numbers, redrawn per transaction) plus each user's salary, rent, direct debits, card repayments and
 *   transfers between the user's own accounts, so the categoriser, the dedupe, the recurring-series and the
 *   own-transfer analysis all do real work.
 * - Pipeline: reconciliation, then enrichment, start as real child processes (@ais/testing startService, their own
 *   config with defaults; fresh databases and consumer groups; tracing off unless BENCH_PIPELINE_TRACING=zipkin),
 *   with their images' memory settings (bench/proc.ts `runEnv`; BENCH_IMAGE_ENV=0: V8's defaults, as before
 *   6 December).
 *   The clock starts when enrichment logs `service ready` (its group has joined and fetches ais.raw.v1 from the
 *   start) and stops when reconciliation's group has committed the end of ais.enriched.v1 after enrichment's group
 *   committed the end of ais.raw.v1 (reconciliation commits a batch after its writes, analysis and change-feed
 *   publish). Checked after: the store holds exactly N transactions, nothing was dead-lettered, no user is left
 *   with unpublished changes, and the change feed (ais.ledger.v1) has at least N events.
 * - Ceiling, same run: (a) Kafka produce of the raw events (timed while producing them above) and a plain kafkajs
 *   consumer reading the same raw topic start to end (group join to last message, no decode); (b) an unordered bulk upsert
 *   (bulkWrite of updateOne + upsert by `_id`, as the pipeline adds a row, ordered: false, 500 per call, serial)
 *   of the very transaction documents the pipeline stored, into a fresh collection with the same indexes (copied
 *   from the pipeline's transactions collection). The ceiling the pipeline is compared with is SERIAL: the sum of
 *   the per-transaction costs of Kafka consume and bulk upsert, which is what the two stages cost when they share
 *   the machine (the pipeline's clock, like this one, excludes producing the raw events). The slowest single
 *   stage (the bound if stages overlapped on idle cores) is reported beside it.
 * - Where the time goes: CPU seconds of each process during the pipeline (enrichment, reconciliation, Kafka,
 *   FerretDB, PostgreSQL with its backends) and of the whole machine (other agents' work shows there), peak RSS of
 *   both services (VmHWM).
 *
 * Run: npm run bench -- pipeline     (BENCH_PIPELINE_SIZES, default 10000,100000; by hand 10000,100000,1000000;
 *      smoke: BENCH_PIPELINE_SIZES=2000)
 * Writes bench/results/pipeline.json, or <BENCH_PIPELINE_RESULT>.json: the scale model's per-message cost comes from
 * `BENCH_PIPELINE_RESULT=pipeline-small-users BENCH_PIPELINE_TX_PER_USER=100 BENCH_PIPELINE_SIZES=10000` run beside
 * the full run (bench/scale.bench.ts).
 */
import { splitRawItems, toDecimalString, TOPICS, topicName, EVENT_TYPES, RAW_EVENT_SCHEMA_VERSION } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { createKafka, EventProducer, newMeta } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { connectMongo } from '@ais/platform-mongo';
import { ensureStack, freePort, provisionTopics, startService, stopStack, type ServiceProcess, type StackHandle } from '@ais/testing';
import type { Kafka } from 'kafkajs';
import type { AnyBulkWriteOperation, Document } from 'mongodb';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { kafkaRawSink } from '../apps/data-fetcher/src/domain/fetcher';
import { loadLabelledSet } from '../apps/enrichment/src/quality/labelled-set';
import { endOffsets } from './kafka';
import { childPids, cpuSeconds, peakRssMb, resultsDir, runEnv, servicesRuntime } from './proc';

const SIZES = (process.env['BENCH_PIPELINE_SIZES'] ?? '10000,100000').split(',').map(Number);
const PER_USER = Number(process.env['BENCH_PIPELINE_TX_PER_USER'] ?? 2_500);
const TRACING = process.env['BENCH_PIPELINE_TRACING'] ?? 'none';
const RESULT_NAME = process.env['BENCH_PIPELINE_RESULT'] ?? 'pipeline';
if (!/^pipeline[a-z0-9-]*$/.test(RESULT_NAME)) throw new Error(`BENCH_PIPELINE_RESULT must start with "pipeline" and hold only a-z, 0-9 and -, not ${JSON.stringify(RESULT_NAME)}`);
const MONTHS = 24;
/** Months per backfill result: data-fetcher's BACKFILL_WINDOW_MONTHS default (12; earlier runs of this bench used 3). */
const WINDOW_MONTHS = Number(process.env['BENCH_PIPELINE_WINDOW_MONTHS'] ?? 12);
const PUBLISH_CHUNK = 8; // data-fetcher's fetcherSettings().publishChunk
/**
 * Scheduled refreshes of every user after the backfill, one round after another (`refreshEventsOf`); the CPU of each
 * round is measured like the pipeline's and the scale model costs a refresh from the last one (0: none).
 */
const REFRESH_ROUNDS = Number(process.env['BENCH_PIPELINE_REFRESH_ROUNDS'] ?? 0);
/** The sizes whose users are refreshed (default: every size): the rounds' new rows are in the size's store after. */
const REFRESH_SIZES = process.env['BENCH_PIPELINE_REFRESH_SIZES'] ? process.env['BENCH_PIPELINE_REFRESH_SIZES'].split(',').map(Number) : undefined;
/** data-fetcher's SYNC_OVERLAP_DAYS: each refresh re-reads this many days. */
const REFRESH_OVERLAP_DAYS = 7;
const UPSERT_BATCH = 500;
const DAY = 86_400_000;
const CLK_TCK = 100;

class BenchFailure extends Error {}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const round3 = (x: number) => round(x, 3);
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// Data

/** mulberry32: deterministic per seed, fast enough for a million rows. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    hex: (n: number) => {
      let s = '';
      while (s.length < n) s += Math.floor(next() * 0x100000000).toString(16).padStart(8, '0');
      return s.slice(0, n);
    },
    digits: (n: number) => {
      let s = '';
      for (let i = 0; i < n; i += 1) s += Math.floor(next() * 10);
      return s;
    },
  };
}
type Rng = ReturnType<typeof rng>;

interface Template {
  description: string;
  amountMinor: number;
  type: 'DEBIT' | 'CREDIT';
  category: string;
  classification: string[];
  merchantName: string;
}

interface Item extends Template {
  at: number;
}

const labelled = loadLabelledSet();
const toTemplate = (l: (typeof labelled)[number]): Template => ({
  description: l.description,
  amountMinor: Math.round(l.amount * 100),
  type: l.transaction_type,
  category: l.transaction_category,
  classification: l.transaction_classification,
  merchantName: l.merchant_name ?? '',
});
const ACCOUNT_LINES = labelled.map(toTemplate);
const CARD_LINES = labelled.filter((l) => l.transaction_type === 'DEBIT' && l.transaction_category === 'PURCHASE').map(toTemplate);
const EMPLOYERS = ['ACME LTD', 'NORTHWIND TRADING', 'BRIGHTSIDE NHS TRUST', 'CONTOSO UK LTD', 'FABRIKAM PLC', 'HARBOUR COUNCIL'];
const LANDLORDS = ['HOMELY LETTINGS', 'OAKWOOD ESTATES', 'CITY LETS LTD', 'J PATEL'];
const DIRECT_DEBITS: readonly [string, number][] = [
  ['EE LIMITED', 2500],
  ['BRITISH GAS', 6500],
  ['THAMES WATER', 3400],
  ['LONDON BOROUGH CNCL TAX', 12800],
  ['VIRGIN MEDIA', 4500],
  ['AVIVA INSURANCE', 2100],
  ['PUREGYM LTD', 2499],
];

/** The description with every run of 3+ digits redrawn (store numbers, card numbers, references). */
const vary = (r: Rng, d: string) => d.replace(/\d{3,}/g, (m) => r.digits(m.length));

interface Resource {
  id: string;
  isCard: boolean;
  items: Item[];
  openingMinor: number;
}

interface UserData {
  userId: string;
  connectionId: string;
  credentialsId: string;
  current: Resource;
  savings: Resource;
  card: Resource;
  /** The current account's mandates, listed by refreshes: the rent's standing order and the direct debits. */
  landlord: string;
  rent: number;
  dds: readonly (readonly [string, number])[];
}

/**
 * What a user's scheduled refreshes send again (kept from its backfill): the accounts and the card as listed, and
 * per account or card its balance and the rows of the last REFRESH_OVERLAP_DAYS, which every refresh re-reads.
 */
interface RefreshSource {
  d: UserData;
  accounts: eventsV1.RawAccount[];
  card: eventsV1.RawCard;
  resources: { x: Resource; balanceMinor: number; recent: eventsV1.RawTransaction[] }[];
  /** The new transactions of the refreshes so far (one a refresh, on the current account), re-read by the later ones. */
  added: eventsV1.RawTransaction[];
}

/** One user's `count` booked transactions over MONTHS months ending `end`. */
function userData(ns: string, u: number, count: number, end: number): UserData {
  const r = rng(u * 7919 + 17);
  const start = end - Math.round(MONTHS * 30.44) * DAY;
  const res = (isCard: boolean): Resource => ({ id: r.hex(32), isCard, items: [], openingMinor: isCard ? 0 : r.int(50_000, 400_000) });
  const current = res(false);
  const savings = res(false);
  const card = res(true);
  const nCard = Math.round(count * 0.17);
  const nSav = Math.max(0, Math.min(count - nCard, Math.round(count * 0.03)));
  const nCur = count - nCard - nSav;
  const employer = r.pick(EMPLOYERS);
  const landlord = r.pick(LANDLORDS);
  const salary = r.int(180_000, 520_000);
  const rent = r.int(60_000, 160_000);
  const dds = DIRECT_DEBITS.filter(() => r.next() < 0.6);
  const monthly = (dayOfMonth: number) => {
    const out: number[] = [];
    for (let m = 0; m < MONTHS; m += 1) {
      const d = new Date(start);
      const t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + m + 1, dayOfMonth, 6);
      if (t < end) out.push(t);
    }
    return out;
  };
  const t = (description: string, amountMinor: number, category: string, merchantName = '', classification: string[] = []): Template => ({
    description,
    amountMinor,
    type: amountMinor < 0 ? 'DEBIT' : 'CREDIT',
    category,
    classification,
    merchantName,
  });
  const add = (to: Resource, limit: number, at: number, tpl: Template) => {
    if (to.items.length < limit) to.items.push({ ...tpl, at });
  };
  for (const at of monthly(25)) add(current, nCur, at, t(`${employer} SALARY`, salary + r.int(-2000, 2000), 'CREDIT'));
  for (const at of monthly(1)) add(current, nCur, at, t(`${landlord} RENT`, -rent, 'STANDING_ORDER'));
  for (const [name, minor] of dds) for (const at of monthly(r.int(1, 28))) add(current, nCur, at, t(name, -minor, 'DIRECT_DEBIT', name));
  // own-account transfers (current -> savings, same day and amount) and the card's monthly repayment
  for (const at of monthly(26)) {
    const amount = r.int(5_000, 40_000);
    add(current, nCur, at, t('TO EASY SAVER', -amount, 'TRANSFER'));
    add(savings, nSav, at, t('FROM CURRENT ACCOUNT', amount, 'TRANSFER'));
  }
  for (const at of monthly(5)) {
    const amount = r.int(10_000, 90_000);
    add(current, nCur, at, t('BARCLAYCARD PAYMENT', -amount, 'DIRECT_DEBIT', 'Barclaycard'));
    add(card, nCard, at, t('PAYMENT RECEIVED - THANK YOU', -amount, 'CREDIT'));
  }
  for (const at of monthly(28)) add(savings, nSav, at + 17 * 3_600_000, t('INTEREST PAID', r.int(150, 900), 'INTEREST'));
  const fill = (to: Resource, limit: number, lines: readonly Template[], card: boolean) => {
    while (to.items.length < limit) {
      const l = r.pick(lines);
      const base = Math.abs(l.amountMinor) || 1000;
      const minor = Math.max(1, Math.round(base * (0.5 + r.next())));
      const sign = card ? 1 : l.amountMinor < 0 ? -1 : 1;
      to.items.push({ ...l, description: vary(r, l.description), amountMinor: sign * minor, at: start + Math.floor(r.next() * (end - start)) });
    }
  };
  fill(current, nCur, ACCOUNT_LINES, false);
  fill(savings, nSav, [t('TRANSFER FROM J SMITH', 2500, 'TRANSFER'), t('INTEREST PAID', 300, 'INTEREST')], false);
  fill(card, nCard, CARD_LINES, true);
  for (const x of [current, savings, card]) x.items.sort((a, b) => a.at - b.at);
  return { userId: `bench-${ns}-user-${String(u).padStart(5, '0')}`, connectionId: `bench-conn-${ns}-${u}`, credentialsId: r.hex(24), current, savings, card, landlord, rent, dds };
}

const CLIENT_ID = 'bench-client';
const PROVIDER = 'ob-lloyds';

/** A raw event's envelope as data-fetcher makes it (every field but the payload). */
function envelope(
  d: UserData,
  r: Rng,
  e: { eventType: string; fetchId: string; mode: eventsV1.FetchMode; fetchedAt: Date; index: number; count: number; resource?: Resource | undefined; window?: { from: Date; to: Date } | undefined; moreWindowsFollow: boolean },
): Omit<eventsV1.RawDataEvent, 'payload'> {
  return {
    meta: newMeta('data-fetcher', e.eventType, RAW_EVENT_SCHEMA_VERSION, e.fetchId),
    userId: d.userId,
    clientId: CLIENT_ID,
    connectionId: d.connectionId,
    providerId: PROVIDER,
    credentialsId: d.credentialsId,
    accountId: e.resource?.id ?? '',
    isCard: e.resource?.isCard ?? false,
    fetchId: e.fetchId,
    mode: e.mode,
    window: e.window,
    batch: { index: e.index, count: e.count, complete: true },
    correlationIds: [r.hex(32)],
    fetchedAt: e.fetchedAt,
    moreWindowsFollow: e.moreWindowsFollow,
  };
}

/** The user's raw events in data-fetcher's backfill order; `keep` receives what its refreshes send again. */
function rawEventsOf(d: UserData, end: number, keep?: (source: RefreshSource) => void): eventsV1.RawDataEvent[][] {
  const r = rng(d.userId.length * 31 + d.current.items.length);
  const fetchedAt = new Date(end);
  const base = (eventType: string, fetchId: string, index: number, count: number, resource?: Resource, window?: { from: Date; to: Date }, moreWindowsFollow = false) =>
    envelope(d, r, { eventType, fetchId, mode: eventsV1.FetchMode.FETCH_MODE_BACKFILL, fetchedAt, index, count, resource, window, moreWindowsFollow });
  const results: eventsV1.RawDataEvent[][] = [];
  const account = (x: Resource, type: string, name: string) =>
    eventsV1.RawAccount.fromPartial({
      accountId: x.id,
      accountType: type,
      displayName: name,
      currency: 'GBP',
      accountNumber: { number: r.digits(8), sortCode: `30-${r.digits(2)}-${r.digits(2)}`, iban: `GB${r.digits(2)}LOYD30${r.digits(12)}`, swiftBic: 'LOYDGB21' },
      providerId: PROVIDER,
      updateTimestamp: fetchedAt,
    });
  let fid = r.hex(32);
  const accounts = [account(d.current, 'TRANSACTION', 'Classic Account'), account(d.savings, 'SAVINGS', 'Easy Saver')];
  results.push([{ ...base(EVENT_TYPES.rawAccounts, fid, 0, 1), payload: { $case: 'accounts', accounts: { accounts } } }]);
  fid = r.hex(32);
  const card = eventsV1.RawCard.fromPartial({ accountId: d.card.id, cardNetwork: 'VISA', cardType: 'CREDIT', currency: 'GBP', displayName: 'Platinum Card', partialCardNumber: r.digits(4), nameOnCard: 'J SMITH', validFrom: '2022-01', validTo: '2029-01', providerId: PROVIDER, updateTimestamp: fetchedAt });
  results.push([{ ...base(EVENT_TYPES.rawCards, fid, 0, 1), payload: { $case: 'cards', cards: { cards: [card] } } }]);
  const source: RefreshSource = { d, accounts, card, resources: [], added: [] };
  for (const x of [d.current, d.savings, d.card]) {
    const balanceMinor = x.openingMinor + x.items.reduce((s, i) => s + i.amountMinor, 0);
    source.resources.push({ x, balanceMinor, recent: [] });
    const balance = eventsV1.RawBalance.fromPartial({ currency: 'GBP', current: toDecimalString(balanceMinor / 100), available: toDecimalString((balanceMinor + 100_000) / 100), overdraft: x.isCard ? '' : '1000', creditLimit: x.isCard ? '3300' : '', updateTimestamp: fetchedAt });
    results.push([{ ...base(EVENT_TYPES.rawBalance, r.hex(32), 0, 1, x), payload: { $case: 'balance', balance } }]);
  }
  const windowDays = Math.round(WINDOW_MONTHS * 30.44);
  const windows = Math.ceil(MONTHS / WINDOW_MONTHS) + 1;
  for (const x of [d.current, d.savings, d.card]) {
    let running = x.openingMinor;
    const rows = x.items.map((i) => {
      running += i.amountMinor;
      const id = r.hex(32);
      return {
        at: i.at,
        tx: eventsV1.RawTransaction.fromPartial({
          transactionId: r.hex(32),
          normalisedProviderTransactionId: `txn-${id}`,
          providerTransactionId: r.hex(20),
          timestamp: new Date(i.at),
          description: i.description,
          amount: toDecimalString(i.amountMinor / 100),
          currency: 'GBP',
          transactionType: i.type,
          transactionCategory: i.category,
          transactionClassification: i.classification,
          merchantName: i.merchantName,
          runningBalance: x.isCard ? undefined : { amount: toDecimalString(running / 100), currency: 'GBP' },
          meta: { provider_transaction_category: i.category === 'PURCHASE' ? 'DEB' : 'OTH', ...(x.isCard ? { transaction_type: i.type } : {}) },
        }),
      };
    });
    source.resources.find((s) => s.x === x)!.recent = rows.filter((row) => row.at >= end - REFRESH_OVERLAP_DAYS * DAY).map((row) => row.tx);
    // newest window first, as the backfill reads them; every window but the resource's last says another follows
    const read: { from: number; to: number; items: eventsV1.RawTransaction[] }[] = [];
    for (let w = 0; w < windows; w += 1) {
      const to = end - w * windowDays * DAY;
      const from = to - windowDays * DAY;
      const inWindow = rows.filter((row) => row.at >= from && row.at < to).map((row) => row.tx);
      if (w === windows - 1 && inWindow.length === 0) continue;
      read.push({ from, to, items: inWindow });
    }
    read.forEach(({ from, to, items }, w) => {
      const fetchId = r.hex(32);
      const chunks = splitRawItems(items);
      const window = { from: new Date(from), to: new Date(to - 1) };
      results.push(chunks.map((c, i) => ({ ...base(EVENT_TYPES.rawTransactions, fetchId, i, chunks.length, x, window, w < read.length - 1), payload: { $case: 'transactions', transactions: { transactions: c } } })));
    });
  }
  keep?.(source);
  return results;
}

/**
 * A scheduled refresh of the user `round` × 6 hours after its backfill, in data-fetcher's order: one raw event per
 * TrueLayer call, 16 for two accounts and a card (identity, accounts, cards; per account and card its balance,
 * transactions since REFRESH_OVERLAP_DAYS before the backfill's end and pending transactions; per account its
 * standing orders and direct debits). One new transaction on the current account (the model's users make 3.4 a day,
 * 0.85 a refresh): so analysis runs, as it would; the other transactions are re-read, stored already; the balances
 * move, the accounts and the card are listed again with the refresh's `update_timestamp`, there is nothing pending,
 * and the mandates are the current account's rent and direct debits (stored by the first refresh, the same after).
 */
function refreshEventsOf(src: RefreshSource, end: number, round: number): eventsV1.RawDataEvent[] {
  const { d } = src;
  const r = rng(d.userId.length * 131 + round * 7 + d.current.items.length);
  const fetchedAt = new Date(end + round * 6 * 3_600_000);
  const out: eventsV1.RawDataEvent[] = [];
  const add = (eventType: string, payload: eventsV1.RawDataEvent['payload'], resource?: Resource, window?: { from: Date; to: Date }) => {
    const fetchId = r.hex(32);
    out.push({ ...envelope(d, r, { eventType, fetchId, mode: eventsV1.FetchMode.FETCH_MODE_SCHEDULED, fetchedAt, index: 0, count: 1, resource, window, moreWindowsFollow: false }), payload });
  };
  add(EVENT_TYPES.rawIdentity, { $case: 'identity', identity: { identities: [eventsV1.RawIdentity.fromPartial({ fullName: 'J SMITH', updateTimestamp: fetchedAt })] } });
  add(EVENT_TYPES.rawAccounts, { $case: 'accounts', accounts: { accounts: src.accounts.map((a) => ({ ...a, updateTimestamp: fetchedAt })) } });
  add(EVENT_TYPES.rawCards, { $case: 'cards', cards: { cards: [{ ...src.card, updateTimestamp: fetchedAt }] } });
  const id = r.hex(32);
  src.added.push(
    eventsV1.RawTransaction.fromPartial({
      transactionId: r.hex(32),
      normalisedProviderTransactionId: `txn-${id}`,
      providerTransactionId: r.hex(20),
      timestamp: new Date(fetchedAt.getTime() - 3_600_000),
      description: vary(r, 'TESCO STORES 3297'),
      amount: '-10.00',
      currency: 'GBP',
      transactionType: 'DEBIT',
      transactionCategory: 'PURCHASE',
      meta: { provider_transaction_category: 'DEB' },
    }),
  );
  for (const { x, balanceMinor, recent } of src.resources) {
    const minor = balanceMinor - round * 1_000;
    add(EVENT_TYPES.rawBalance, { $case: 'balance', balance: eventsV1.RawBalance.fromPartial({ currency: 'GBP', current: toDecimalString(minor / 100), available: toDecimalString((minor + 100_000) / 100), overdraft: x.isCard ? '' : '1000', creditLimit: x.isCard ? '3300' : '', updateTimestamp: fetchedAt }) }, x);
    add(EVENT_TYPES.rawTransactions, { $case: 'transactions', transactions: { transactions: x === d.current ? [...recent, ...src.added] : recent } }, x, { from: new Date(end - REFRESH_OVERLAP_DAYS * DAY), to: fetchedAt });
    add(EVENT_TYPES.rawPendingTransactions, { $case: 'pendingTransactions', pendingTransactions: { transactions: [] } }, x);
    if (x.isCard) continue;
    const current = x === d.current;
    const so = eventsV1.RawStandingOrder.fromPartial({ frequency: 'IntrvlMnthDay:01:01', status: 'Active', timestamp: fetchedAt, currency: 'GBP', nextPaymentDate: new Date(Date.UTC(2026, 11, 1)), nextPaymentAmount: toDecimalString(d.rent / 100), firstPaymentDate: new Date(Date.UTC(2024, 0, 1)), firstPaymentAmount: toDecimalString(d.rent / 100), finalPaymentDate: new Date(Date.UTC(9999, 11, 31)), payee: d.landlord, reference: 'RENT' });
    add(EVENT_TYPES.rawStandingOrders, { $case: 'standingOrders', standingOrders: { standingOrders: current ? [so] : [] } }, x);
    const dds = d.dds.map(([name, minor], i) => eventsV1.RawDirectDebit.fromPartial({ directDebitId: `dd-${i}-${round}`, timestamp: fetchedAt, name, status: 'Active', previousPaymentTimestamp: new Date(Date.UTC(2026, 10, 1 + i)), previousPaymentAmount: toDecimalString(minor / 100), currency: 'GBP', meta: { provider_mandate_identification: `MANDATE-${i}` } }));
    add(EVENT_TYPES.rawDirectDebits, { $case: 'directDebits', directDebits: { directDebits: current ? dds : [] } }, x);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Machine

/** Busy and total jiffies of the whole machine (/proc/stat). */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = line.reduce((s, x) => s + x, 0);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  return { busy: total - idle, total };
}

/** Bytes of a topic's log segments on the stack's broker (infra/stack.sh: DIR/data/kafka/logs/<topic>-<partition>). */
export function kafkaLogBytes(stack: StackHandle, topic: string): number | undefined {
  const logs = join(stack.dir ?? '', 'data/kafka/logs');
  if (!stack.dir || !existsSync(logs)) return undefined;
  let bytes = 0;
  for (const d of readdirSync(logs)) {
    if (!d.startsWith(`${topic}-`) || !/^\d+$/.test(d.slice(topic.length + 1))) continue;
    for (const f of readdirSync(join(logs, d))) if (f.endsWith('.log')) bytes += statSync(join(logs, d, f)).size;
  }
  return bytes;
}

/** The store's collStats (count, data size, storage size, index size) of every collection of `db`. */
export async function storeFootprint(db: import('mongodb').Db): Promise<Footprint['store'][string]> {
  const out: Footprint['store'][string] = {};
  for (const c of await db.listCollections({}, { nameOnly: true }).toArray()) {
    try {
      const st = await db.command({ collStats: c.name });
      out[c.name] = { count: Number(st['count'] ?? 0), size: Number(st['size'] ?? 0), storageSize: Number(st['storageSize'] ?? 0), totalIndexSize: Number(st['totalIndexSize'] ?? 0) };
    } catch {
      // a server without collStats: the footprint stays without this collection
    }
  }
  return out;
}

/** The stack's server processes (by the PID files infra/stack.sh writes), for CPU accounting. */
function stackPids(stack: StackHandle): { kafka?: number; ferretdb?: number; postgres?: number } {
  const read = (n: string) => {
    const f = join(stack.dir ?? '', 'pids', `${n}.pid`);
    return stack.dir && existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : undefined;
  };
  const out: { kafka?: number; ferretdb?: number; postgres?: number } = {};
  const k = read('kafka');
  const m = read('mongo');
  const p = read('mongo-pg');
  if (k) out.kafka = k;
  if (m) out.ferretdb = m;
  if (p) out.postgres = p;
  return out;
}

interface CpuSnapshot {
  procs: Record<string, number>;
  machineBusy: number;
  machineTotal: number;
}

function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  const procs: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    if (!pid) continue;
    // the stack's servers: their children too (PostgreSQL backends, the Kafka JVM under its wrapper)
    const kids = name === 'postgres' || name === 'kafka' || name === 'ferretdb' ? childPids(pid) : [];
    procs[name] = cpuSeconds(pid, kids.length > 0 || name === 'postgres') + kids.reduce((s, c) => s + cpuSeconds(c, true), 0);
  }
  const m = machineJiffies();
  return { procs, machineBusy: m.busy / CLK_TCK, machineTotal: m.total / CLK_TCK };
}

function cpuDelta(a: CpuSnapshot, b: CpuSnapshot, wall: number) {
  const procs: Record<string, number> = {};
  for (const k of Object.keys(b.procs)) procs[k] = round(b.procs[k]! - (a.procs[k] ?? 0), 1);
  const ours = Object.values(procs).reduce((s, x) => s + x, 0);
  const busy = b.machineBusy - a.machineBusy;
  const cores = cpus().length;
  return {
    cpu_seconds: procs,
    machine_busy_cpu_seconds: round(busy, 1),
    machine_capacity_cpu_seconds: round(wall * cores, 1),
    other_processes_cpu_seconds: round(Math.max(0, busy - ours), 1),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Kafka helpers


const total = (m: Map<number, bigint>) => [...m.values()].reduce((s, x) => s + x, 0n);

/** Whether `groupId` has committed the end of every partition of `topic` (as given by `ends`). */
async function committedAll(admin: ReturnType<Kafka['admin']>, groupId: string, topic: string, ends: Map<number, bigint>): Promise<boolean> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committed = new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  for (const [p, high] of ends) if (high > 0n && (committed.get(p) ?? -1n) < high) return false;
  return true;
}

/** Ceiling (a): a plain consumer reads `topic` start to end; seconds from its group join to its last message. */
async function plainConsume(kafka: Kafka, topic: string, ends: Map<number, bigint>, ns: string): Promise<{ seconds: number; messages: number; bytes: number }> {
  const pending = new Set([...ends].filter(([, h]) => h > 0n).map(([p]) => p));
  const consumer = kafka.consumer({ groupId: `bench-pipeline-plain-${ns}-${randomBytes(3).toString('hex')}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  // from the group's join (as the pipeline's clock starts at enrichment's readiness, after its join) to the end
  let t0: bigint | undefined;
  consumer.on(consumer.events.GROUP_JOIN, () => (t0 ??= process.hrtime.bigint()));
  let messages = 0;
  let bytes = 0;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const s = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BenchFailure(`plain consume of ${topic} did not reach its end within 30 min`)), 1_800_000);
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            const high = ends.get(batch.partition) ?? 0n;
            for (const m of batch.messages) {
              if (BigInt(m.offset) >= high) break;
              messages += 1;
              bytes += m.value?.length ?? 0;
            }
            const last = batch.messages[batch.messages.length - 1];
            if (last && BigInt(last.offset) + 1n >= high && pending.delete(batch.partition) && pending.size === 0) {
              clearTimeout(timer);
              resolve(seconds(t0 ?? process.hrtime.bigint()));
            }
          },
        })
        .catch(reject);
    });
    return { seconds: s, messages, bytes };
  } finally {
    await consumer.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** What the size left on disk: Kafka's log segments per topic, and the store's own figures per collection. */
export interface Footprint {
  kafka_log_bytes: Record<string, number>;
  store: Record<string, Record<string, { count: number; size: number; storageSize: number; totalIndexSize: number }>>;
}

export interface RefreshRound {
  round: number;
  users: number;
  raw_events: number;
  /** Transactions the round's results carried (all stored already but `new_transactions`, one a user). */
  transactions_reread: number;
  new_transactions: number;
  /** From the first event produced to both groups' commits at the ends of their topics. */
  seconds: number;
  ledger_events: number;
  cpu: ReturnType<typeof cpuDelta>;
  /** CPU ms per refresh (per user) by process. */
  cpu_ms_per_refresh: Record<string, number>;
}

export interface SizeResult {
  footprint?: Footprint;
  /**
   * Analysis' stored history (reconciliation's `analysis_history`, one document per user) after the size's run: its
   * documents, the rows they hold and their bytes (storage or data, when larger, plus indexes). After refresh rounds
   * it holds each user's window; after a backfill alone only what the first analysis run read (data/analysis.ts).
   */
  stored_history?: { documents: number; rows: number; bytes: number };
  transactions: number;
  users: number;
  raw_events: number;
  raw_bytes: number;
  wall_seconds_for_size: number;
  pipeline: {
    seconds: number;
    tx_per_s: number;
    us_per_tx: number;
    enriched_events: number;
    ledger_events: number;
    stored_transactions: number;
    peak_rss_mb: { enrichment?: number; reconciliation?: number };
    cpu: ReturnType<typeof cpuDelta>;
  };
  /** BENCH_PIPELINE_REFRESH_ROUNDS > 0: each round of scheduled refreshes of every user, after the backfill. */
  refresh_rounds?: RefreshRound[];
  ceiling: {
    kafka_produce: { seconds: number; tx_per_s: number; us_per_tx: number };
    kafka_consume: { seconds: number; tx_per_s: number; us_per_tx: number };
    bulk_upsert: { seconds: number; tx_per_s: number; us_per_tx: number; avg_doc_bytes: number; indexes: string[] };
    serial_consume_plus_upsert: { tx_per_s: number; us_per_tx: number };
    slowest_stage: { name: string; tx_per_s: number; us_per_tx: number };
  };
  /** CPU time per transaction (all processes involved, summed): robust to other load on a shared machine. */
  cpu_us_per_tx: {
    pipeline: number;
    ceiling_consume_plus_upsert: number;
    ceiling_consume: { us_per_tx: number; cpu_seconds: Record<string, number> };
    ceiling_upsert: { us_per_tx: number; cpu_seconds: Record<string, number> };
    ratio_ceiling_to_pipeline: number;
  };
  /** With BENCH_PIPELINE_TRACING=zipkin: span time by service and name. */
  span_breakdown?: SpanStat[];
  ratio_pipeline_to_serial_ceiling: number;
  ratio_pipeline_to_slowest_stage: number;
}

interface SpanStat {
  span: string;
  count: number;
  total_s: number;
  mean_ms: number;
}

/** Spans of enrichment and reconciliation that ended in [fromMs, toMs], summed by service and name. */
async function spanBreakdown(zipkinUrl: string, fromMs: number, toMs: number): Promise<SpanStat[]> {
  const seen = new Set<string>();
  const by = new Map<string, { count: number; us: number }>();
  for (const service of ['enrichment', 'reconciliation']) {
    const q = new URLSearchParams({ serviceName: service, endTs: String(toMs), lookback: String(toMs - fromMs), limit: '1000000' });
    const res = await fetch(`${zipkinUrl}/api/v2/traces?${q.toString()}`);
    if (!res.ok) throw new BenchFailure(`zipkin answered ${res.status}`);
    const traces = (await res.json()) as { id: string; name?: string; duration?: number; localEndpoint?: { serviceName?: string } }[][];
    for (const span of traces.flat()) {
      if (seen.has(span.id)) continue;
      seen.add(span.id);
      const key = `${span.localEndpoint?.serviceName ?? '?'}: ${span.name ?? '?'}`;
      const x = by.get(key) ?? { count: 0, us: 0 };
      x.count += 1;
      x.us += span.duration ?? 0;
      by.set(key, x);
    }
  }
  return [...by]
    .map(([span, x]) => ({ span, count: x.count, total_s: round(x.us / 1e6, 2), mean_ms: round(x.us / 1e3 / x.count, 2) }))
    .sort((a, b) => b.total_s - a.total_s);
}

const rate = (n: number, s: number) => ({ seconds: round(s), tx_per_s: Math.round(n / s), us_per_tx: round((s * 1e6) / n, 1) });

/** What another benchmark may watch during a size (bench/memory.bench.ts samples the services' memory). */
export interface RunSizeHooks {
  /** Both services are ready; the pipeline's clock starts now. `rawTopic` holds the size's raw events. */
  started?: (p: { enrichment: ServiceProcess; reconciliation: ServiceProcess; rawTopic: string }) => void | Promise<void>;
  /** The pipeline has drained (before the services stop and before the checks). */
  drained?: () => void | Promise<void>;
}

export async function runSize(stack: StackHandle, n: number, log: (m: string) => void, hooks: RunSizeHooks = {}): Promise<SizeResult> {
  const wall0 = process.hrtime.bigint();
  const env = stack.env;
  const quiet = createLogger({ service: 'bench-pipeline', level: 'silent' });
  const ns = `${n}x${randomBytes(3).toString('hex')}`;
  const prefix = `benchpipe${ns}`;
  const kafka = createKafka({ brokers: env.KAFKA_BROKERS.split(','), clientId: 'bench-pipeline', logger: quiet });
  await provisionTopics({ brokers: env.KAFKA_BROKERS, prefix, topics: [TOPICS.raw, TOPICS.enriched, TOPICS.ledger, TOPICS.connection, TOPICS.deadLetter] });
  const rawTopic = topicName(TOPICS.raw, prefix);
  const enrichedTopic = topicName(TOPICS.enriched, prefix);
  const ledgerTopic = topicName(TOPICS.ledger, prefix);
  const dlqTopic = topicName(TOPICS.deadLetter, prefix);
  const rcDb = `bench_pipe_rc_${ns}`;
  const enDb = `bench_pipe_en_${ns}`;
  const ceilDb = `bench_pipe_ceil_${ns}`;

  // 1. raw events, produced as data-fetcher produces them; timed as the Kafka produce stage
  const producer = new EventProducer(kafka, { service: 'data-fetcher' });
  await producer.connect();
  const sink = kafkaRawSink(producer, prefix);
  const users = Math.ceil(n / PER_USER);
  const end = Date.UTC(2026, 10, 30);
  let produceSeconds = 0;
  let rawEvents = 0;
  let produced = 0;
  const sources: RefreshSource[] = [];
  const refreshRounds = !REFRESH_SIZES || REFRESH_SIZES.includes(n) ? REFRESH_ROUNDS : 0;
  try {
    for (let u = 0; u < users; u += 1) {
      const count = Math.min(PER_USER, n - u * PER_USER);
      const results = rawEventsOf(userData(ns, u, count, end), end, refreshRounds > 0 ? (src) => sources.push(src) : undefined);
      for (const events of results) {
        for (const e of events) if (e.payload?.$case === 'transactions') produced += e.payload.transactions.transactions.length;
        for (let i = 0; i < events.length; i += PUBLISH_CHUNK) {
          const t = process.hrtime.bigint();
          await sink.publish(events.slice(i, i + PUBLISH_CHUNK));
          produceSeconds += seconds(t);
        }
        rawEvents += events.length;
      }
    }
  } finally {
    await producer.disconnect();
  }
  if (produced !== n) throw new BenchFailure(`generated ${produced} transactions, wanted ${n}`);
  const rawEnds = await endOffsets(kafka, rawTopic);
  log(`  produced ${n} transactions of ${users} users in ${rawEvents} raw events (${round(produceSeconds, 1)} s in send)`);

  // 2. the pipeline: reconciliation first (idle), then enrichment; the clock starts at enrichment's readiness
  const common = {
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    MONGODB_URI: env.MONGODB_URI,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_CREATE_TOPICS: 'false',
    // gRPC certificates from the stack's Vault PKI, as in the integration harness (a bundle runs outside the
    // repository, where the development default finds none)
    VAULT_ADDR: env.VAULT_ADDR,
    VAULT_TOKEN: env.VAULT_TOKEN,
    OTEL_TRACES_EXPORTER: TRACING,
    ...(TRACING === 'zipkin' ? { OTEL_EXPORTER_ZIPKIN_ENDPOINT: env.OTEL_EXPORTER_ZIPKIN_ENDPOINT } : {}),
    SHUTDOWN_TIMEOUT_MS: '10000',
  };
  const procs: ServiceProcess[] = [];
  const admin = kafka.admin();
  await admin.connect();
  let pipelineSeconds = 0;
  let pipelineStartMs = 0;
  let cpu: ReturnType<typeof cpuDelta>;
  const rss: { enrichment?: number; reconciliation?: number } = {};
  const rounds: RefreshRound[] = [];
  try {
    const enrichmentPort = await freePort();
    const reconciliation = await startService('reconciliation', {
      ...common,
      MONGODB_DB: rcDb,
      KAFKA_GROUP_ID: `reconciliation-${ns}`,
      GRPC_PORT: String(await freePort()),
      ENRICHMENT_ADDR: `127.0.0.1:${enrichmentPort}`,
      ...runEnv('reconciliation'),
    });
    procs.push(reconciliation);
    const enrichment = await startService('enrichment', { ...common, MONGODB_DB: enDb, KAFKA_GROUP_ID: `enrichment-${ns}`, GRPC_PORT: String(enrichmentPort), ...runEnv('enrichment') });
    procs.push(enrichment);
    await hooks.started?.({ enrichment, reconciliation, rawTopic });
    const t0 = process.hrtime.bigint();
    pipelineStartMs = Date.now();
    // CPU from enrichment's readiness on (the services' start-up is not the pipeline's)
    const pids = { ...stackPids(stack), reconciliation: reconciliation.pid, enrichment: enrichment.pid, bench: process.pid };
    const before = cpuSnapshot(pids);
    const deadline = Date.now() + Math.max(600_000, n * 60); // 60 ms per transaction: far beyond any run, even on a loaded machine
    let lastLog = Date.now();
    /** Until enrichment's group committed the raw topic's `ends` and then reconciliation's the enriched topic's. */
    const drain = async (ends: Map<number, bigint>, what: string) => {
      let enrichedEnds: Map<number, bigint> | undefined;
      for (;;) {
        if (!enrichedEnds && (await committedAll(admin, `enrichment-${ns}`, rawTopic, ends))) enrichedEnds = await endOffsets(kafka, enrichedTopic);
        if (enrichedEnds && (await committedAll(admin, `reconciliation-${ns}`, enrichedTopic, enrichedEnds))) break;
        if (Date.now() > deadline) throw new BenchFailure(`the pipeline did not finish ${what} in ${Math.round(seconds(t0))} s`);
        for (const p of procs) if ((await Promise.race([p.exited, sleep(0).then(() => undefined)])) !== undefined) throw new BenchFailure(`${p.name} exited during the run: ${p.output().slice(-2000)}`);
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          log(`  ... ${Math.round(seconds(t0))} s, enrichment ${enrichedEnds ? 'done' : 'running'}, ledger events so far ${total(await endOffsets(kafka, ledgerTopic))}`);
        }
        await sleep(250);
      }
    };
    await drain(rawEnds, `${n} transactions`);
    pipelineSeconds = seconds(t0);
    await hooks.drained?.();
    const after = cpuSnapshot(pids);
    cpu = cpuDelta(before, after, pipelineSeconds);
    rss.enrichment = peakRssMb(enrichment.pid);
    rss.reconciliation = peakRssMb(reconciliation.pid);

    // scheduled refreshes of the stored users: produced and drained round by round, CPU from the first produce on
    // (the produce's own CPU is the bench's, left out below)
    for (let k = 1; k <= refreshRounds; k += 1) {
      const ledgerBefore = total(await endOffsets(kafka, ledgerTopic));
      const refreshProducer = new EventProducer(kafka, { service: 'data-fetcher' });
      await refreshProducer.connect();
      const roundBefore = cpuSnapshot(pids);
      const tr = process.hrtime.bigint();
      let events = 0;
      let reread = 0;
      try {
        const refreshSink = kafkaRawSink(refreshProducer, prefix);
        for (const src of sources) {
          const batch = refreshEventsOf(src, end, k);
          for (const e of batch) if (e.payload?.$case === 'transactions') reread += e.payload.transactions.transactions.length;
          reread -= 1; // the refresh's new transaction
          for (let i = 0; i < batch.length; i += PUBLISH_CHUNK) await refreshSink.publish(batch.slice(i, i + PUBLISH_CHUNK));
          events += batch.length;
        }
      } finally {
        await refreshProducer.disconnect();
      }
      await drain(await endOffsets(kafka, rawTopic), `refresh round ${k}`);
      const roundSeconds = seconds(tr);
      const roundCpu = cpuDelta(roundBefore, cpuSnapshot(pids), roundSeconds);
      const perRefresh = Object.fromEntries(Object.entries(roundCpu.cpu_seconds).filter(([k]) => k !== 'bench').map(([k, v]) => [k, round3((v * 1e3) / sources.length)]));
      rounds.push({ round: k, users: sources.length, raw_events: events, transactions_reread: reread, new_transactions: sources.length, seconds: round3(roundSeconds), ledger_events: Number(total(await endOffsets(kafka, ledgerTopic)) - ledgerBefore), cpu: roundCpu, cpu_ms_per_refresh: perRefresh });
      log(`  refresh round ${k}: ${sources.length} users, ${events} raw events, ${reread} transactions re-read, ${round3(roundSeconds)} s; CPU ms per refresh ${JSON.stringify(perRefresh)}`);
    }
  } finally {
    await admin.disconnect();
    await Promise.all(procs.map((p) => p.stop(15_000).catch(() => undefined)));
  }
  let spans: SpanStat[] | undefined;
  if (TRACING === 'zipkin') {
    await sleep(2_000);
    spans = await spanBreakdown(env.ZIPKIN_URL, pipelineStartMs, Date.now());
  }

  // 3. checks, and ceiling (b): the stored documents, bulk-upserted again into a fresh collection with the same indexes
  const mongo = await connectMongo({ uri: env.MONGODB_URI, db: rcDb, logger: quiet, connectTimeoutMs: 10_000 });
  const client = mongo.getClient();
  const stored = client.db(rcDb).collection('transactions');
  let upsertSeconds = 0;
  let docBytes = 0;
  let storedCount = 0;
  let indexNames: string[] = [];
  const footprint: Footprint = { kafka_log_bytes: {}, store: {} };
  let storedHistory: SizeResult['stored_history'];
  for (const [name, topic] of [['raw', rawTopic], ['enriched', enrichedTopic], ['ledger', ledgerTopic]] as const) {
    const b = kafkaLogBytes(stack, topic);
    if (b !== undefined) footprint.kafka_log_bytes[name] = b;
  }
  // the store's and the bench's CPU during the upsert (the bench also reads the source documents meanwhile)
  const storePids = { ...stackPids(stack), bench: process.pid };
  let upsertCpu: Record<string, number> = {};
  const ledgerEvents = Number(total(await endOffsets(kafka, ledgerTopic)));
  const deadLetters = Number(total(await endOffsets(kafka, dlqTopic)));
  const enrichedEvents = Number(total(await endOffsets(kafka, enrichedTopic)));
  try {
    storedCount = await stored.countDocuments({});
    footprint.store['reconciliation'] = await storeFootprint(client.db(rcDb));
    footprint.store['enrichment'] = await storeFootprint(client.db(enDb));
    const history = await client.db(rcDb).collection<{ count?: number }>('analysis_history').find({}, { projection: { count: 1 } }).toArray();
    const hs = footprint.store['reconciliation']['analysis_history'];
    storedHistory = { documents: history.length, rows: history.reduce((a, d) => a + (d.count ?? 0), 0), bytes: hs ? Math.max(hs.size, hs.storageSize) + hs.totalIndexSize : 0 };
    const expected = n + rounds.reduce((a, x) => a + x.new_transactions, 0);
    if (storedCount !== expected) throw new BenchFailure(`the store holds ${storedCount} transactions, ${expected} were produced`);
    if (deadLetters > 0) throw new BenchFailure(`${deadLetters} dead letters on ${dlqTopic}`);
    const unpublished = await client.db(rcDb).collection('user_state').countDocuments({ publishPending: true });
    if (unpublished > 0) throw new BenchFailure(`${unpublished} users still have unpublished changes`);
    if (ledgerEvents < n) throw new BenchFailure(`the change feed has ${ledgerEvents} events for ${n} transactions`);
    const indexes = (await stored.listIndexes().toArray()).filter((i) => i['name'] !== '_id_');
    indexNames = indexes.map((i) => String(i['name']));
    const target = client.db(ceilDb).collection('transactions');
    for (const i of indexes) {
      const { key, name, v, ns: _ns, ...options } = i as Document;
      void v;
      void _ns;
      await target.createIndex(key as Document, { ...options, name: name as string });
    }
    const flush = async (docs: Document[]) => {
      const ops: AnyBulkWriteOperation[] = docs.map(({ _id, ...rest }) => ({
        updateOne: { filter: { _id }, update: { $set: rest }, upsert: true },
      }));
      const t = process.hrtime.bigint();
      const res = await target.bulkWrite(ops, { ordered: false });
      upsertSeconds += seconds(t);
      if (res.upsertedCount + res.matchedCount !== docs.length) throw new BenchFailure(`bulk upsert: ${res.upsertedCount} upserted of ${docs.length}`);
    };
    const upsertBefore = cpuSnapshot(storePids);
    let batch: Document[] = [];
    for await (const doc of stored.find({}).batchSize(UPSERT_BATCH)) {
      docBytes += JSON.stringify(doc).length;
      batch.push(doc);
      if (batch.length === UPSERT_BATCH) {
        await flush(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await flush(batch);
    upsertCpu = cpuDelta(upsertBefore, cpuSnapshot(storePids), upsertSeconds).cpu_seconds;
    const copied = await target.countDocuments({});
    if (copied !== storedCount) throw new BenchFailure(`the ceiling's collection holds ${copied} documents, not ${storedCount}`);
  } finally {
    for (const db of [rcDb, enDb, ceilDb]) await client.db(db).dropDatabase().catch(() => undefined);
    await mongo.close();
  }

  // ceiling (a) consume: same raw topic, start to end
  const consumeBefore = cpuSnapshot({ kafka: storePids.kafka, bench: process.pid });
  const consumed = await plainConsume(kafka, rawTopic, rawEnds, ns);
  const consumeCpu = cpuDelta(consumeBefore, cpuSnapshot({ kafka: storePids.kafka, bench: process.pid }), consumed.seconds).cpu_seconds;
  if (consumed.messages !== rawEvents) throw new BenchFailure(`plain consumer read ${consumed.messages} messages, ${rawEvents} were produced`);

  const pipeline = rate(n, pipelineSeconds);
  const produce = rate(n, produceSeconds);
  const consume = rate(n, consumed.seconds);
  // the refresh rounds' new rows (if any) are upserted too: the upsert's cost per document is of all it wrote
  const upsert = rate(storedCount, upsertSeconds);
  const serialUs = consume.us_per_tx + upsert.us_per_tx;
  const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
  const cpuPerTx = (c: Record<string, number>) => round((sum(c) * 1e6) / n, 1);
  // the bench's own CPU meanwhile (polling offsets, reading the services' logs) is measurement, not pipeline
  const pipelineCpuUs = cpuPerTx(Object.fromEntries(Object.entries(cpu!.cpu_seconds).filter(([k]) => k !== 'bench')));
  const upsertCpuUs = round((sum(upsertCpu) * 1e6) / storedCount, 1);
  const ceilingCpuUs = cpuPerTx(consumeCpu) + upsertCpuUs;
  const slowest = consume.us_per_tx >= upsert.us_per_tx ? { name: 'kafka_consume', ...consume } : { name: 'bulk_upsert', ...upsert };
  return {
    footprint,
    ...(storedHistory ? { stored_history: storedHistory } : {}),
    transactions: n,
    users,
    raw_events: rawEvents,
    raw_bytes: consumed.bytes,
    wall_seconds_for_size: round(seconds(wall0), 1),
    pipeline: {
      seconds: pipeline.seconds,
      tx_per_s: pipeline.tx_per_s,
      us_per_tx: pipeline.us_per_tx,
      enriched_events: enrichedEvents,
      ledger_events: ledgerEvents,
      stored_transactions: storedCount,
      peak_rss_mb: rss,
      cpu: cpu!,
    },
    ...(rounds.length > 0 ? { refresh_rounds: rounds } : {}),
    ceiling: {
      kafka_produce: produce,
      kafka_consume: consume,
      bulk_upsert: { ...upsert, avg_doc_bytes: Math.round(docBytes / storedCount), indexes: indexNames },
      serial_consume_plus_upsert: { tx_per_s: Math.round(1e6 / serialUs), us_per_tx: round(serialUs, 1) },
      slowest_stage: { name: slowest.name, tx_per_s: slowest.tx_per_s, us_per_tx: slowest.us_per_tx },
    },
    cpu_us_per_tx: {
      pipeline: pipelineCpuUs,
      ceiling_consume_plus_upsert: round(ceilingCpuUs, 1),
      ceiling_consume: { us_per_tx: cpuPerTx(consumeCpu), cpu_seconds: consumeCpu },
      ceiling_upsert: { us_per_tx: upsertCpuUs, cpu_seconds: upsertCpu },
      ratio_ceiling_to_pipeline: round(ceilingCpuUs / pipelineCpuUs),
    },
    ...(spans ? { span_breakdown: spans } : {}),
    ratio_pipeline_to_serial_ceiling: round(serialUs / pipeline.us_per_tx),
    ratio_pipeline_to_slowest_stage: round(slowest.us_per_tx / pipeline.us_per_tx),
  };
}

async function main(): Promise<void> {
  if (SIZES.some((s) => !Number.isInteger(s) || s < 1)) throw new BenchFailure('BENCH_PIPELINE_SIZES must be positive integers, e.g. 10000,100000');
  const stack = await ensureStack((m) => console.log(m));
  const started = new Date();
  const load = { loadavg_1_5_15_at_start: loadavg().map((x) => round(x, 2)) };
  const results: SizeResult[] = [];
  try {
    for (const n of SIZES) {
      console.log(`==> ${n} transactions`);
      const r = await runSize(stack, n, (m) => console.log(m));
      results.push(r);
      console.log(JSON.stringify(r));
    }
  } finally {
    await stopStack(stack);
  }
  const machine = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? '',
    memory_gb: round(totalmem() / 2 ** 30, 1),
    ...load,
    loadavg_1_5_15_at_end: loadavg().map((x) => round(x, 2)),
  };
  const small = results.find((r) => r.transactions === 10_000);
  const big = results.find((r) => r.transactions === 1_000_000);
  const perTxGrowth = small && big ? round(big.pipeline.us_per_tx / small.pipeline.us_per_tx) : null;
  const table = [
    '| transactions | users | raw events | pipeline s | pipeline tx/s | pipeline µs/tx | Kafka produce µs/tx | Kafka consume µs/tx | bulk upsert µs/tx | serial ceiling tx/s (consume + upsert) | pipeline / serial ceiling | pipeline / slowest stage | peak RSS MB enrichment / reconciliation | wall s for the size |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.transactions} | ${r.users} | ${r.raw_events} | ${r.pipeline.seconds} | ${r.pipeline.tx_per_s} | ${r.pipeline.us_per_tx} | ${r.ceiling.kafka_produce.us_per_tx} | ${r.ceiling.kafka_consume.us_per_tx} | ${r.ceiling.bulk_upsert.us_per_tx} | ${r.ceiling.serial_consume_plus_upsert.tx_per_s} | ${r.ratio_pipeline_to_serial_ceiling} | ${r.ratio_pipeline_to_slowest_stage} | ${r.pipeline.peak_rss_mb.enrichment ?? 'n/a'} / ${r.pipeline.peak_rss_mb.reconciliation ?? 'n/a'} | ${r.wall_seconds_for_size} |`,
    ),
  ].join('\n');
  const cpuPerTxTable = [
    '| transactions | pipeline CPU µs/tx (services + Kafka + store) | ceiling CPU µs/tx (consume + upsert) | ceiling / pipeline (CPU) |',
    '|---|---|---|---|',
    ...results.map((r) => `| ${r.transactions} | ${r.cpu_us_per_tx.pipeline} | ${r.cpu_us_per_tx.ceiling_consume_plus_upsert} | ${r.cpu_us_per_tx.ratio_ceiling_to_pipeline} |`),
  ].join('\n');
  const cpuTable = [
    '| transactions | pipeline s | CPU s: enrichment | reconciliation | Kafka | FerretDB | PostgreSQL | other processes | machine busy / capacity |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) => {
      const c = r.pipeline.cpu;
      const s = c.cpu_seconds;
      return `| ${r.transactions} | ${r.pipeline.seconds} | ${s['enrichment'] ?? 'n/a'} | ${s['reconciliation'] ?? 'n/a'} | ${s['kafka'] ?? 'n/a'} | ${s['ferretdb'] ?? 'n/a'} | ${s['postgres'] ?? 'n/a'} | ${c.other_processes_cpu_seconds} | ${c.machine_busy_cpu_seconds} / ${c.machine_capacity_cpu_seconds} |`;
    }),
  ].join('\n');
  const out = {
    benchmark: 'pipeline: raw events through enrichment and reconciliation to the store and change feed, vs Kafka consume + bulk upsert of the same messages and documents',
    date: started.toISOString(),
    machine,
    services_runtime: servicesRuntime(),
    settings: { service_env: { enrichment: runEnv('enrichment'), reconciliation: runEnv('reconciliation') }, sizes: SIZES, transactions_per_user: PER_USER, months: MONTHS, window_months: WINDOW_MONTHS, tracing: TRACING, raw_topic_partitions: 3, upsert_batch: UPSERT_BATCH },
    ceiling_definition:
      'serial: per-transaction cost of a plain kafkajs consumer reading the raw topic start to end plus that of an unordered bulk upsert (bulkWrite updateOne+upsert, ordered:false, 500 per call, one call at a time) of the stored transaction documents into a fresh collection with the same indexes; ratio = ceiling µs/tx / pipeline µs/tx (1 = as fast as the ceiling). The slowest single stage is reported beside it.',
    targets: { ratio_pipeline_to_serial_ceiling_at_least: 0.5, per_tx_1m_over_10k_at_most: 1.2 },
    per_tx_cost_1m_over_10k: perTxGrowth,
    per_tx_cost_over_10k: small ? Object.fromEntries(results.map((r) => [r.transactions, round(r.pipeline.us_per_tx / small.pipeline.us_per_tx)])) : null,
    per_tx_cpu_over_10k: small ? Object.fromEntries(results.map((r) => [r.transactions, round(r.cpu_us_per_tx.pipeline / small.cpu_us_per_tx.pipeline)])) : null,
    results,
    table,
    cpu_table: cpuTable,
    cpu_per_tx_table: cpuPerTxTable,
  };
  const file = join(resultsDir(), `${RESULT_NAME}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\n${machine.platform}, ${machine.cores} cores, ${machine.cpu}, ${machine.memory_gb} GB, node ${machine.node}; load ${machine.loadavg_1_5_15_at_start.join(' ')} -> ${machine.loadavg_1_5_15_at_end.join(' ')}`);
  console.log(`\n${table}\n\n${cpuTable}\n\n${cpuPerTxTable}\n`);
  for (const r of results) if (r.span_breakdown) console.log(`spans at ${r.transactions}:\n${r.span_breakdown.slice(0, 15).map((x) => `  ${x.span}: ${x.count} spans, ${x.total_s} s, mean ${x.mean_ms} ms`).join('\n')}`);
  if (perTxGrowth !== null) console.log(`per-transaction cost at 1M / at 10k: ${perTxGrowth} (target <= 1.2)`);
  console.log(`written ${file}`);
}

// bench/memory.bench.ts imports runSize: the run starts only when this file is the entry point
if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
