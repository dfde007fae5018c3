/**
 * Knowledge derived from a user's stored history: recurring series (domain/recurring.ts), own-account transfer
 * pairs (domain/transfers.ts), and the standing orders and direct debits TrueLayer lists. It lives in
 * reconciliation because only reconciliation holds the user's history deduplicated, with account and transaction
 * ids that stay stable across re-fetches, re-consents and pending→booked; computed anywhere else, a re-consent
 * would double every series.
 *
 * Collections (driver collections, no hydration):
 * - `recurring_series`: one document per series of an API client's user (`seriesId` derived from user id + merchant
 *   key + cadence + direction; `_id` = `<clientId>/<seriesId>`: the same user id under two clients is two users, each
 *   with its series, found among its own rows). Upserted when its content changes; a series no longer found is marked
 *   `active: false` and `found: false`, never deleted (its id stays on member transactions and in clients' hands).
 *   Documents written before December 2026 have `_id` = `seriesId` and no `clientId`; a run replaces each with its
 *   client's (the client of its account), the same `seriesId`, so nothing a client holds changes.
 * - `mandates`: standing orders and direct debits per user and internal account. `_id` is a content key (kind,
 *   account, payee/name, reference, frequency and first payment for standing orders; the mandate identification,
 *   else the name, for direct debits) because TrueLayer's `direct_debit_id` may change between requests. A mandate
 *   missing from a later complete list of its account is kept with `listed: false`.
 *
 * - `analysis_state`: per user (`_id` = user id), what the last run saw (the user's `committedSeq`, a hash of the
 *   mandates, the event time and the window start), so that `refresh` can skip a run that would change nothing.
 *
 * ## A function of the data
 *
 * The derived values are a function of the stored data and the UTC day of the latest event time alone: the rows
 * booked on or after `day - windowDays` carry what detection and pairing find among exactly those rows (and the
 * accounts and mandates); every other row (older, pending, removed) carries none. A row that leaves the window is
 * therefore cleared, and a pair whose other side left the window is unpaired. Nothing depends on earlier runs, so
 * the same raw events end in the same values however they were batched, redelivered or replayed. (An earlier
 * version kept the values of rows that had left the window, and pairs whose partner had: those values came from
 * whichever run last saw them, on whatever part of a backfill had arrived by then, so a replay differed.)
 *
 * The documents are the same too (sequence numbers, `updatedAt`), because whether `refresh` runs after a message
 * depends on the message alone (kafka/enriched.consumer.ts `afterEvent`, `refreshesAfter` below), never on how Kafka
 * batched the partition: that differs between a live run and a replay, and each run's changes take sequence numbers.
 *
 * ## When it runs: `refreshesAfter`
 *
 * After every message that can change what `analyse` reads: the last message of a booked-transactions result (a
 * result is split into messages of at most 1,000 items, and the earlier parts' rows are analysed with the last)
 * unless the message says that the next backfill window of the same account follows (`moreWindowsFollow`:
 * data-fetcher marks a window only once it has read the next one, and publishes that next, so the rows are analysed
 * with the resource's last window), an accounts or cards list, the last message of a standing-order or direct-debit
 * list, and every message that is not a fetch result (edits, re-enrichment, erasures). Not after balances, identity or pending transactions:
 * analysis reads booked rows, accounts and mandates only. Skipping a message changes nothing but when a run
 * happens; a skipped message's data time is picked up by the next run (`refresh` takes the latest). Measured on
 * the pipeline bench (docs/BENCHMARKS.md): analysis after every message was half of reconciliation's CPU, and a
 * heavy user's backfill (31,600 rows in 12-month results of about 1,500 rows, 3 messages each) ran it 3 times as
 * often as needed, each run over the whole history so far; after every result it still ran 21 times, once per
 * 12-month window of its 3 resources, and `moreWindowsFollow` makes that 3 (docs/BENCHMARKS.md). If the last
 * message of a split result is dead-lettered, or a marked window's successor is, its rows are analysed at the
 * user's next run.
 *
 * `analyse` writes `recurring` and `transferPairId` on the transactions whose value changes, and those writes are
 * change-feed changes: each takes the user's next sequence number through `store.reserveSeq` / `store.commitSeq`.
 * Committing those numbers, and `analysis_state`, are correct only under the SINGLE-WRITER-PER-USER rule
 * (data/store.ts): `refresh`, `analyse` and `applyMandates` must be called by the consumer that owns the user's
 * partition, after it applied the user's message, never from a gRPC handler or a timer.
 *
 * Whether a run is needed is a function of the stored data too: a run is skipped when no transaction or account
 * changed since the last run (the store's `analysedInputsSeq`, the highest number of such a change, is not past the
 * last run's `committedSeq`: balances and edits take numbers but analysis reads neither, so a scheduled refresh,
 * whose balances move, makes no run when its transactions are the ones stored), the mandates are the same and the
 * day is. Until 5 December any new number made a run (3 per refresh of a user with two accounts and a card, each
 * over the whole window, writing nothing but `analysis_state`).
 *
 * Cost: `refresh` reads three small documents / lists by id and user index (none while the writer keeps them: "What
 * a run reads besides the rows"), and most messages stop there (nothing the analysis reads changed, same day).
 * `analyse` needs the user's rows booked since the window start (since the
 * previous run's window start, to clear what left it in between), the user's mandates and series (their user
 * indexes), and does O(n log n) work in memory for n rows in the window; writes are proportional to what changed
 * (nothing when nothing did).
 *
 * ## The history cache (the consumer's, `historyCacheUsers` > 0)
 *
 * Without it every message re-reads the user's window (a backfill message of ~80 rows re-reads up to all of the user's
 * rows), so a message's cost grows with the user's history; with 2,500-row users on a fresh stack the difference
 * was within the run-to-run spread (docs/BENCHMARKS.md, "The cache's size"). With the cache on, the first run of a user
 * reads the window per account through `transactions_timeline` as before and keeps the rows (the analysed fields
 * only) in memory. After that the store tells the cache what it writes (`written`, a `TransactionWriteListener`:
 * the whole document of a new row, the fields set on a changed one), so a later run reads nothing back; it reads
 * the rows changed since (`seq` past the cached one, through `transactions_changes`) only when a change was not told
 * (a write that failed part-way drops the cache, `unknown`). Either way it computes on the same rows, in the same
 * order, that a full read would give, so the results and the documents written are the same
 * (test/analysis.int-spec.ts runs a cold instance after a cached one and finds nothing to change, and counts the
 * rows read). Reading back what a batch had just written cost as much as writing it on the local store (about
 * 240 µs a row). This relies on three things:
 * - every write to a transaction field that analysis reads takes a sequence number (applyBatch, applyReEnrichment,
 *   analysis itself; `touch` writes only `lastFetchId` and `missingSince`), so `seq` finds every change;
 * - those writes are the store's (told to the listeners) or analysis' own (applied to the cached rows);
 * - the SINGLE WRITER PER USER: while this consumer owns the user's partition nothing else deletes the user's rows.
 *   The one deletion, an erasure, is applied by this consumer and calls `forget`; when the group rebalances, the
 *   consumer calls `forgetAll`, since another member may have owned the user (and erased it) in between.
 * The cache holds the `historyCacheUsers` users used last, and at most `historyCacheRows` rows of them together
 * (about 750 bytes a row): a user's rows are those booked since its last run's window start (`trimHistory`: a
 * first run reads the whole history, and a backfill writes rows older than the window), and a user whose rows
 * alone are more than the budget is not kept. Before 5 December only users were counted, and every row of the
 * first run and every row written after it stayed (31,647 rows for the simulator's `heavy` user): under the heap
 * limit the images set, the third heavy consent in a row cost reconciliation 45-46 CPU s instead of 9-13, and took
 * 35 s instead of 15-20 (docs/BENCHMARKS.md, consent).
 *
 * ## What a run reads besides the rows (kept while the history cache is on)
 *
 * The last run's `analysis_state`, the user's mandates and a compact form of its series (`StoredSeries`: hashes and
 * what `writeSeries` needs, a few hundred bytes a series) are kept per user (512 users), and the store keeps the
 * user's accounts, `committedSeq` and `analysedInputsSeq` (data/store.ts). Under the SINGLE WRITER PER USER only this
 * consumer writes them: a run keeps what it wrote, `applyMandates` keeps the mandates when it wrote none and drops
 * them when it wrote any, a failed run drops everything of the user, and `forget` (an erasure) and `forgetAll` (a
 * rebalance) drop it as they drop the history. A refresh that finds nothing to do then sends no read at all
 * (test/analysis.int-spec.ts counts them); on the pipeline bench's 100 users of 100 rows this took the refresh's
 * three reads and the recompute's account and series reads off every message that runs `refresh`.
 *
 * ## The stored history (`historySnapshotRows` > 0: ANALYSIS_HISTORY_ROWS)
 *
 * The memory cache holds a few users, so a scheduled refresh (one user's few new rows, hours after its last run)
 * always misses it, and its run read the user's whole window again: most of what a refresh cost reconciliation
 * and the store (docs/BENCHMARKS.md, docs/SCALE.md). So the cache's content is also stored, one document per user in
 * `analysis_history` (`_id` = user id): the analysed fields of every row booked since the run's window start, and
 * the number they are complete up to. A run the memory cache misses reads it and catches it up exactly as the
 * memory cache is caught up (rows with `seq` past it, through `transactions_changes`), so it computes on the same
 * rows; it falls back to the window when the document does not cover the window (an older `from`, or none: a
 * first run, or after an erasure, which deletes it with `analysis_state` before any row) or when more numbers were
 * taken since it than it has rows (or 1,000): catching up would read more than the window. It is written after a run
 * that read the window, or caught it up by more than 64 rows (or a sixteenth of it), so a backfill the memory cache
 * follows writes it once, on its first run, and the first refresh after stores the whole window. The same three
 * things make it correct as the memory cache (every change of an analysed field takes a number, the erasure is
 * the one deletion and drops it first, one writer per user), and it is a function of the stored data like the rest
 * (test/analysis.int-spec.ts runs with it, without it and cold, and compares the documents).
 */
import { inSpan } from '@ais/platform-telemetry';
import { dropIndexIfPresent, type Connection } from '@ais/platform-mongo';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { mongo } from 'mongoose';
import { contentHash, sha256Hex } from '../domain/canonical';
import { canonicalAmount, normaliseDescription } from '../domain/dedupe';
import { applyMandates, detectSeries, type MandateInput, type RecurringTx, type Series } from '../domain/recurring';
import { pairTransfers, type TransferTx } from '../domain/transfers';
import { signedAmount } from '../domain/view';
import { keep, RECON_INDEXES, type ReconciliationStore, type StoredEnrichment, type TransactionDoc, type TransactionWriteListener, type WrittenTx } from './store';

export const ANALYSIS_INDEXES = {
  seriesByUser: 'recurring_series_client',
  mandatesByAccount: 'mandates_account',
} as const;

export interface SeriesDoc extends Series {
  /** `<clientId>/<seriesId>` (before December 2026: `seriesId`). */
  _id: string;
  userId: string;
  /** The API client whose user the series is of (absent on documents written before December 2026). */
  clientId?: string;
  /** False once the series is no longer found in the history (kept, marked inactive). */
  found: boolean;
  contentHash: string;
  createdAt: Date;
  updatedAt: Date;
}

export type MandateKind = 'standing_order' | 'direct_debit';

export interface MandateDoc {
  _id: string;
  userId: string;
  clientId: string;
  connectionId: string;
  accountId: string;
  kind: MandateKind;
  /** Payee (standing order) or collecting merchant (direct debit). */
  name: string;
  reference: string;
  frequency: string;
  status: string;
  /** Signed (money out negative); '' when not given. */
  amount: string;
  currency: string;
  nextPaymentDate: Date | null;
  lastPaymentDate: Date | null;
  firstPaymentDate: Date | null;
  finalPaymentDate: Date | null;
  /** TrueLayer's direct_debit_id of the latest listing (unstable, informational). */
  providerId: string;
  /** False when the latest complete list of its account no longer held it. */
  listed: boolean;
  contentHash: string;
  fetchedAt: Date;
  updatedAt: Date;
}

export interface MandateMeta {
  clientId: string;
  connectionId: string;
  providerAccountId: string;
  fetchedAt: Date;
  /**
   * Whether the items are the account's whole list (default true): only then are stored mandates missing from it
   * marked unlisted. A list split over several messages (more than RAW_EVENT_MAX_ITEMS) passes false.
   */
  complete?: boolean;
}

/** What the last run of a user saw (see the file comment). */
export interface AnalysisStateDoc {
  _id: string;
  /** The user's `committedSeq` after the run (its own changes included). */
  seq: number;
  /** Hash of the user's mandates (ids and content hashes) the run read. */
  mandates: string;
  /** The run's event time (its UTC day decides the window and which series are active). */
  at: Date;
  /** The run's window start: no row booked before it carries derived values. */
  from: Date;
}

type MandateItems = { kind: 'standing_orders'; items: eventsV1.RawStandingOrder[] } | { kind: 'direct_debits'; items: eventsV1.RawDirectDebit[] };

export interface AnalysisResult {
  /** Rows read (the window's cost). */
  rows: number;
  series: number;
  seriesWritten: number;
  pairs: number;
  /** Transactions changed (each took one sequence number). */
  changes: number;
  firstSeq?: number;
  lastSeq?: number;
}

const DAY = 86_400_000;
const FAR_FUTURE_YEAR = 9000;

/** Whether `refresh` runs after a fetch result message of this kind (see "When it runs" above). */
export function refreshesAfter(data: { kind: string; lastOfResult: boolean; moreWindowsFollow: boolean }): boolean {
  switch (data.kind) {
    case 'accounts':
      return true;
    case 'transactions':
      return data.lastOfResult && !data.moreWindowsFollow;
    case 'standing_orders':
    case 'direct_debits':
      return data.lastOfResult;
    default:
      // balance, pending_transactions, identity
      return false;
  }
}

/** 00:00 UTC of `at`'s day. */
function dayOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / DAY) * DAY);
}

function mandatesHash(docs: readonly MandateDoc[]): string {
  return sha256Hex(
    docs
      .map((m) => `${m._id}:${m.contentHash}`)
      .sort()
      .join('\n'),
  );
}

function negative(amount: string): string {
  const c = canonicalAmount(amount);
  if (!/^-?\d/.test(c) || c === '0') return c === '0' ? '0' : '';
  return c.startsWith('-') ? c : `-${c}`;
}

function realDate(d: Date | undefined): Date | null {
  return d && d.getUTCFullYear() < FAR_FUTURE_YEAR ? d : null;
}

const TRACER = 'reconciliation';

/** What `analyse` reads of a stored transaction. */
export type HistoryRow = Pick<TransactionDoc, '_id' | 'accountId' | 'bookedAt' | 'status' | 'removed' | 'amount' | 'transactionType' | 'currency' | 'description' | 'merchantName' | 'transactionCategory' | 'enrichment' | 'recurring' | 'transferPairId'>;

/**
 * The fields `analyse` reads of a stored row (a third of it), read as a projection (`HISTORY_FIELDS`) and picked
 * again in memory (the enrichment's four). Measured 5 December 15:24 on the local store, one user's 2,600-row window
 * through `transactions_timeline`, 15 interleaved reads each: whole documents 149-155 ms (medians), 128-135 ms of the
 * reader's CPU and 69 of the store's; projected 80-90 ms, 51-65 ms and 49-52 (the enrichment whole or its four
 * fields). On 2 December the projection had measured slower on this store (500 rows by `transactions_changes`:
 * 122 ms whole, 184 projected), so analysis read whole documents until then; a MongoDB server sends less either way.
 * It matters when the history cache misses: every scheduled refresh with a new row (docs/BENCHMARKS.md).
 */
const HISTORY_FIELDS = { _id: 1, accountId: 1, bookedAt: 1, status: 1, removed: 1, amount: 1, transactionType: 1, currency: 1, description: 1, merchantName: 1, transactionCategory: 1, enrichment: 1, recurring: 1, transferPairId: 1 } as const;

function historyRow(d: TransactionDoc): HistoryRow {
  const e = d.enrichment;
  return {
    _id: d._id,
    accountId: d.accountId,
    bookedAt: d.bookedAt,
    status: d.status,
    removed: d.removed,
    amount: d.amount,
    transactionType: d.transactionType,
    currency: d.currency,
    description: d.description,
    merchantName: d.merchantName,
    transactionCategory: d.transactionCategory,
    enrichment: e ? ({ merchantKey: e.merchantKey, merchantName: e.merchantName, primary: e.primary, detailed: e.detailed } as StoredEnrichment) : e,
    recurring: d.recurring,
    transferPairId: d.transferPairId,
  };
}

/** A user's analysed rows as of `seq` (see "The history cache" above). */
interface HistoryCache {
  /** The user's committedSeq the rows are complete up to (later changes are read by `seq`). */
  seq: number;
  /** Rows booked before this (ms) are not held (-Infinity: all are). */
  from: number;
  rows: Map<string, HistoryRow>;
}

/** Is a row booked at `bookedAt` one that a read from `fromMs` returns (the index read's `bookedAt >= from`)? */
function bookedSince(bookedAt: Date | null | undefined, fromMs: number): boolean {
  return fromMs === -Infinity || (bookedAt instanceof Date && bookedAt.getTime() >= fromMs);
}

/**
 * Drops the rows booked before `fromMs` from a user's cached history. A run reads from the last run's window start
 * or later, so what is older is never read again while the window does not move back (a run that reads from earlier
 * misses the cache and reads the window). See "The history cache" for what it held without it.
 */
function trimHistory(cached: HistoryCache, fromMs: number): void {
  if (fromMs <= cached.from) return;
  for (const [id, row] of cached.rows) if (!bookedSince(row.bookedAt, fromMs)) cached.rows.delete(id);
  cached.from = fromMs;
}

/**
 * What `writeSeries` needs of a stored series: whether its content changed, and what it becomes when no longer
 * found. Kept per user between runs (see "What a run reads besides the rows"), a few hundred bytes a series.
 */
interface StoredSeries {
  /** A document written before series had a client: its own `_id` (`seriesId`), to be replaced by the client's. */
  legacyId?: string;
  contentHash: string;
  createdAt: Date;
  found: boolean;
  active: boolean;
  /** The content hash of the series marked no longer found (`found` and `active` false). */
  unfoundHash: string;
}

function storedSeries(s: SeriesDoc): StoredSeries {
  const { _id, userId: _u, contentHash: hash, createdAt, updatedAt: _a, ...content } = s;
  return { ...(s.clientId === undefined ? { legacyId: _id } : {}), contentHash: hash, createdAt, found: s.found, active: s.active, unfoundHash: contentHash({ ...content, found: false, active: false }) };
}

/** The `_id` of a client's series. */
export function seriesDocId(clientId: string, seriesId: string): string {
  return `${clientId}/${seriesId}`;
}

/** The series index of earlier releases ({userId, seriesId} unique, before series had a client). */
export const LEGACY_SERIES_INDEX = 'recurring_series_user';

/** A user's analysis inputs other than rows, as the last run read or wrote them (see the file comment). */
interface KnownInputs {
  state: AnalysisStateDoc | null;
  /** Absent once `applyMandates` wrote the user's mandates: read again. */
  mandateDocs?: MandateDoc[];
  series?: Map<string, StoredSeries>;
}

/** Users whose `KnownInputs` are kept (the oldest goes first). */
const KNOWN_USERS = 512;

/** The order of `transactions_timeline` within an account: bookedAt descending, then _id descending. */
function timelineOrder(a: HistoryRow, b: HistoryRow): number {
  const ta = a.bookedAt?.getTime() ?? -Infinity;
  const tb = b.bookedAt?.getTime() ?? -Infinity;
  if (ta !== tb) return tb - ta;
  return a._id < b._id ? 1 : a._id > b._id ? -1 : 0;
}

/**
 * A user's analysed rows as stored in `analysis_history` (see "The stored history"): the history cache's content,
 * complete up to `seq`, every row booked on or after `from`. `rows` is their JSON text as UTF-8 bytes (`bookedAt` as
 * an ISO string; an absent field absent, a null one null, as in the rows read from `transactions`). Decoding a BSON
 * document per row was a quarter of a refresh's CPU in reconciliation (a CPU profile, docs/BENCHMARKS.md); 2,600 rows
 * decode in 24 ms as BSON documents, 11.5 as a BSON string (the driver validates its UTF-8) and parsed, 7.3 as bytes
 * and parsed (one-off script, 40 runs each).
 */
export interface HistorySnapshotDoc {
  _id: string;
  seq: number;
  from: Date;
  /** How many rows `rows` holds. */
  count: number;
  /** `seq` + `count`: with this many numbers taken or fewer, catching it up reads no more rows than it holds. */
  reach: number;
  rows: mongo.Binary;
}

/** A row of `HistorySnapshotDoc.rows` as parsed. */
type StoredRow = Omit<HistoryRow, 'bookedAt'> & { bookedAt?: string | null };

export interface AnalysisOptions {
  /** How far back `analyse` reads: 2 years and a month, so a yearly series can show its 3 occurrences. */
  windowDays?: number;
  /** Users whose history stays in memory between runs; 0 (the default) reads it every run. */
  historyCacheUsers?: number;
  /**
   * At most this many rows in the history cache, all users together (25,000, about 19 MB): the users used longest
   * ago leave first, and a user whose window alone holds more is not kept (its runs read the window or the stored
   * history). So the cache's memory is bounded by rows, not by how heavy its few users are.
   */
  historyCacheRows?: number;
  /**
   * The stored history (see the file comment): kept for users of at most this many rows in the window; 0 (the
   * default) keeps none and reads the window on every run the memory cache misses.
   */
  historySnapshotRows?: number;
  /** A run that caught the stored history up by more rows than this (or a sixteenth of it) stores it again (64). */
  historySnapshotRewriteRows?: number;
}

/**
 * A stored history is used when at most this many numbers were taken since it (or as many as it has rows): its
 * catch-up then reads no more than the window would. Older, the window is read and stored again.
 */
const SNAPSHOT_STALE_NUMBERS = 1_000;
/** A stored history larger than this is not written (half the server's document limit). */
const SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024;

export class Analysis implements TransactionWriteListener {
  readonly series: mongo.Collection<SeriesDoc>;
  readonly mandates: mongo.Collection<MandateDoc>;
  readonly state: mongo.Collection<AnalysisStateDoc>;
  /** The stored history per user (`historySnapshotRows` > 0). */
  readonly snapshots: mongo.Collection<HistorySnapshotDoc>;
  private readonly windowDays: number;
  private readonly cacheUsers: number;
  private readonly cacheRows: number;
  private readonly snapshotRows: number;
  private readonly snapshotRewriteRows: number;
  /** Map order is use order (least recently used first). */
  private readonly cache = new Map<string, HistoryCache>();
  /** Per user, the last run's inputs other than rows (kept when the history cache is on). */
  private readonly known = new Map<string, KnownInputs>();
  /** Transaction rows read from the store for the analysis (the history cache's effect shows here). */
  readonly stats = { historyRowsRead: 0, snapshotsRead: 0, snapshotsWritten: 0 };

  constructor(
    conn: Connection,
    private readonly store: ReconciliationStore,
    options: AnalysisOptions = {},
  ) {
    this.windowDays = options.windowDays ?? 760;
    this.cacheUsers = options.historyCacheUsers ?? 0;
    this.cacheRows = options.historyCacheRows ?? 25_000;
    this.snapshotRows = options.historySnapshotRows ?? 0;
    this.snapshotRewriteRows = options.historySnapshotRewriteRows ?? 64;
    this.series = conn.collection<SeriesDoc>('recurring_series');
    this.mandates = conn.collection<MandateDoc>('mandates');
    this.state = conn.collection<AnalysisStateDoc>('analysis_state');
    this.snapshots = conn.collection<HistorySnapshotDoc>('analysis_history');
    if (this.cacheUsers > 0) store.listen(this);
  }

  /**
   * The store wrote these rows of the user (see "The history cache"): the cached rows follow, and the cache is
   * complete up to `lastSeq`. A changed row the cache does not hold (booked before the window it read) drops the
   * user's cache: only its changed fields are known here.
   */
  written(userId: string, rows: readonly WrittenTx[], lastSeq: number): void {
    const cached = this.cache.get(userId);
    if (!cached) return;
    for (const r of rows) {
      const before = cached.rows.get(r.id);
      if (r.doc) {
        if (bookedSince(r.doc.bookedAt, cached.from)) cached.rows.set(r.id, historyRow(r.doc));
        // booked before the rows the cache holds (an older backfill window): no run reads it
        else cached.rows.delete(r.id);
      }
      // a new object, never the cached one changed: the caller's rows of the last run stay as they were
      else if (before) cached.rows.set(r.id, historyRow({ ...before, ...r.set } as TransactionDoc));
      else {
        // a row the cache does not hold, booked before what it holds: nothing a run reads changed
        const bookedAt = r.set.bookedAt ?? r.bookedAt;
        if (bookedAt instanceof Date && !bookedSince(bookedAt, cached.from)) continue;
        return void this.cache.delete(userId);
      }
    }
    cached.seq = Math.max(cached.seq, lastSeq);
  }

  /** Rows held in the history cache, all users together. */
  get cachedRows(): number {
    let n = 0;
    for (const c of this.cache.values()) n += c.rows.size;
    return n;
  }

  /** Drops the users used longest ago until the cache holds at most `cacheUsers` users and `cacheRows` rows. */
  private evict(): void {
    let rows = this.cachedRows;
    while (this.cache.size > this.cacheUsers || (rows > this.cacheRows && this.cache.size > 0)) {
      const [oldest, c] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      rows -= c.rows.size;
    }
  }

  /** A write of the user's rows failed part-way: the cache is dropped (the next run reads the window again). */
  unknown(userId: string): void {
    this.cache.delete(userId);
  }

  /** Drops the user's cached history (its rows were deleted: an erasure). */
  forget(userId: string): void {
    this.cache.delete(userId);
    this.known.delete(userId);
  }

  /** Drops every cached history (the consumer's partitions were reassigned). */
  forgetAll(): void {
    this.cache.clear();
    this.known.clear();
  }

  /** Records what a run read or wrote of the user's inputs (only while the history cache is on). */
  private remember(userId: string, inputs: KnownInputs): void {
    if (this.cacheUsers > 0) keep(this.known, userId, inputs, KNOWN_USERS);
  }

  /**
   * The transactions read is served by the store's `transactions_timeline` ({userId, accountId, bookedAt, _id}),
   * one query per account, so no new index on `transactions` (test/analysis.int-spec.ts proves it with explain()).
   */
  async ensureIndexes(): Promise<void> {
    await dropIndexIfPresent(this.series, LEGACY_SERIES_INDEX);
    await this.series.createIndex({ userId: 1, clientId: 1, seriesId: 1 }, { name: ANALYSIS_INDEXES.seriesByUser, unique: true });
    await this.mandates.createIndex({ userId: 1, accountId: 1, kind: 1 }, { name: ANALYSIS_INDEXES.mandatesByAccount });
  }

  readonly cursors = {
    /**
     * An account's rows posted since `from` (booked and pending; filtered in memory), all of them for null; only the
     * fields the analysis reads (`historyRow`).
     */
    accountHistory: (userId: string, accountId: string, from: Date | null) =>
      this.store.transactions
        .find(from ? { userId, accountId, bookedAt: { $gte: from } } : { userId, accountId }, { projection: HISTORY_FIELDS })
        .sort({ userId: 1, accountId: 1, bookedAt: -1, _id: -1 })
        .hint(RECON_INDEXES.transactionsTimeline)
        .map(historyRow),
    /** The user's rows changed after `seq` (the history cache's catch-up), the same fields. */
    historyChanges: (userId: string, seq: number) =>
      this.store.transactions
        .find({ userId, seq: { $gt: seq } }, { projection: HISTORY_FIELDS })
        .hint(RECON_INDEXES.transactionsChanges)
        .map(historyRow),
    userSeries: (userId: string) => this.series.find({ userId }).sort({ userId: 1, clientId: 1, seriesId: 1 }),
    userMandates: (userId: string) => this.mandates.find({ userId }).sort({ userId: 1, accountId: 1, kind: 1 }),
    accountMandates: (userId: string, accountId: string, kind: MandateKind) => this.mandates.find({ userId, accountId, kind }),
  };

  /** Series for the read API (ListRecurring). */
  listSeries(userId: string): Promise<SeriesDoc[]> {
    return this.cursors.userSeries(userId).toArray();
  }

  /**
   * Stores the complete standing-order or direct-debit list of one account. Idempotent: an unchanged mandate is
   * not written. Mandates are not part of the change feed (no sequence number). Single writer: see the file comment.
   */
  async applyMandates(userId: string, meta: MandateMeta, kind: 'standing_orders', items: eventsV1.RawStandingOrder[]): Promise<{ written: number; unlisted: number }>;
  async applyMandates(userId: string, meta: MandateMeta, kind: 'direct_debits', items: eventsV1.RawDirectDebit[]): Promise<{ written: number; unlisted: number }>;
  async applyMandates(userId: string, meta: MandateMeta, kind: 'standing_orders' | 'direct_debits', items: eventsV1.RawStandingOrder[] | eventsV1.RawDirectDebit[]): Promise<{ written: number; unlisted: number }> {
    const list = { kind, items } as MandateItems;
    // the user's mandates may change here: unless nothing was written, the next run reads them again
    const known = this.known.get(userId);
    const kept = known?.mandateDocs;
    if (known) delete known.mandateDocs;
    return inSpan(TRACER, 'reconciliation.mandates.apply', {}, async (span) => {
      const res = await this.storeMandates(userId, meta, list, kept);
      if (known && kept && res.written + res.unlisted === 0 && this.known.get(userId) === known) known.mandateDocs = kept;
      span.setAttributes({ 'ais.mandates.kind': list.kind, 'ais.mandates.items': list.items.length, 'ais.mandates.written': res.written, 'ais.mandates.unlisted': res.unlisted });
      return res;
    });
  }

  /** `kept`: the user's mandates as kept (see the file comment), which hold the account's stored list. */
  private async storeMandates(userId: string, meta: MandateMeta, list: MandateItems, kept?: MandateDoc[]): Promise<{ written: number; unlisted: number }> {
    const account = await this.store.internalAccount(userId, meta.clientId, meta.providerAccountId);
    const kind: MandateKind = list.kind === 'standing_orders' ? 'standing_order' : 'direct_debit';
    const docs = new Map<string, Omit<MandateDoc, 'contentHash' | 'updatedAt'>>();
    const base = { userId, clientId: meta.clientId, connectionId: meta.connectionId, accountId: account._id, kind, listed: true, fetchedAt: meta.fetchedAt };
    if (list.kind === 'standing_orders') {
      for (const so of list.items) {
        const name = so.payee.trim();
        const reference = so.reference.trim();
        const first = realDate(so.firstPaymentDate);
        const id = `so_${contentHash([userId, account._id, normaliseDescription(name), normaliseDescription(reference), so.frequency, first])}`;
        docs.set(id, {
          ...base,
          _id: id,
          name,
          reference,
          frequency: so.frequency,
          status: so.status,
          amount: negative(so.nextPaymentAmount || so.firstPaymentAmount),
          currency: so.currency,
          nextPaymentDate: realDate(so.nextPaymentDate),
          lastPaymentDate: null,
          firstPaymentDate: first,
          finalPaymentDate: realDate(so.finalPaymentDate),
          providerId: '',
        });
      }
    } else {
      for (const dd of list.items) {
        const name = dd.name.trim();
        const mandateRef = (dd.meta['provider_mandate_identification'] ?? '').trim();
        const id = `dd_${contentHash([userId, account._id, mandateRef || normaliseDescription(name)])}`;
        docs.set(id, {
          ...base,
          _id: id,
          name,
          reference: mandateRef,
          frequency: '',
          status: dd.status,
          amount: negative(dd.previousPaymentAmount),
          currency: dd.currency,
          nextPaymentDate: null,
          lastPaymentDate: realDate(dd.previousPaymentTimestamp),
          firstPaymentDate: null,
          finalPaymentDate: null,
          providerId: dd.directDebitId,
        });
      }
    }
    const stored = new Map((kept ? kept.filter((d) => d.accountId === account._id && d.kind === kind) : await this.cursors.accountMandates(userId, account._id, kind).toArray()).map((d) => [d._id, d]));
    const ops: mongo.AnyBulkWriteOperation<MandateDoc>[] = [];
    for (const d of docs.values()) {
      // the hash leaves out when and through which request it was fetched, so a re-fetch of the same list is no change
      const { fetchedAt: _f, providerId: _p, connectionId: _c, ...content } = d;
      const hash = contentHash(content);
      if (stored.get(d._id)?.contentHash === hash) continue;
      ops.push({ replaceOne: { filter: { _id: d._id, userId }, replacement: { ...d, contentHash: hash, updatedAt: meta.fetchedAt }, upsert: true } });
    }
    let unlisted = 0;
    for (const s of stored.values()) {
      if (meta.complete === false || docs.has(s._id) || !s.listed) continue;
      unlisted += 1;
      const { _id, contentHash: _h, updatedAt: _u, fetchedAt: _f, providerId: _p, connectionId: _c, ...content } = s;
      ops.push({ updateOne: { filter: { _id, userId }, update: { $set: { listed: false, contentHash: contentHash({ ...content, listed: false }), updatedAt: meta.fetchedAt } } } });
    }
    if (ops.length > 0) await this.mandates.bulkWrite(ops, { ordered: false });
    return { written: ops.length - unlisted, unlisted };
  }

  /**
   * Brings the user's derived data up to date after one applied message (`at`: its data time, absent for edits
   * and re-enrichments): runs `analyse` at the latest event time seen, unless nothing it reads changed since the
   * last run (no transaction or account change past its `committedSeq`, the same mandates) and the day is the same,
   * when a run would write nothing.
   * Returns null when skipped. Single writer: see the file comment.
   */
  async refresh(userId: string, at?: Date): Promise<AnalysisResult | null> {
    const known = this.known.get(userId);
    const [state, inputs, mandateDocs] = await Promise.all([
      known ? known.state : this.state.findOne({ _id: userId }),
      this.store.analysedInputsSeq(userId),
      known?.mandateDocs ?? this.cursors.userMandates(userId).toArray(),
    ]);
    this.remember(userId, { ...known, state, mandateDocs });
    const runAt = state && (!at || state.at > at) ? state.at : at;
    if (!runAt) return null;
    // the last run saw every transaction and account change up to state.seq (the committedSeq of then)
    if (state && inputs <= state.seq && state.mandates === mandatesHash(mandateDocs) && dayOf(runAt).getTime() === dayOf(state.at).getTime()) return null;
    return this.analyse(userId, runAt, { state, committed: await this.store.committedSeq(userId), mandateDocs });
  }

  /**
   * Recomputes the user's series and transfer pairs over the window ending on `at`'s day (`at`: the latest event
   * time, never the wall clock, so replays write the same documents), writes what changed (with `at` as
   * `updatedAt`) and records the run in `analysis_state`. Single writer: see the file comment.
   */
  async analyse(userId: string, at: Date, known?: { state: AnalysisStateDoc | null; committed: number; mandateDocs: MandateDoc[] }): Promise<AnalysisResult> {
    return inSpan(TRACER, 'reconciliation.analyse', {}, async (span) => {
      const res = await this.recompute(userId, at, known).catch((error: unknown) => {
        // what was written before the failure is not known here: the next run reads its inputs again
        this.known.delete(userId);
        throw error;
      });
      span.setAttributes({ 'ais.analysis.series': res.series, 'ais.analysis.series_written': res.seriesWritten, 'ais.analysis.pairs': res.pairs, 'ais.analysis.changes': res.changes, 'ais.analysis.rows': res.rows });
      return res;
    });
  }

  private async recompute(userId: string, at: Date, known?: { state: AnalysisStateDoc | null; committed: number; mandateDocs: MandateDoc[] }): Promise<AnalysisResult> {
    const day = dayOf(at);
    const from = new Date(day.getTime() - this.windowDays * DAY);
    const kept = this.known.get(userId);
    const [state, committed] = known ? [known.state, known.committed] : await Promise.all([kept ? kept.state : this.state.findOne({ _id: userId }), this.store.committedSeq(userId)]);
    // rows that left the window since the last run are read too, to clear them; without a recorded run (a user's
    // first, or data stored before analysis_state existed) every row is read once
    const readFrom = state ? new Date(Math.min(state.from.getTime(), from.getTime())) : null;
    const accounts = await this.store.userAccounts(userId);
    const clientOf = new Map(accounts.map((a) => [a._id, a.clientId]));
    // a legacy series (no client) is its account's client's; one whose account is gone is left as it is
    const keyOf = (d: SeriesDoc): string | undefined => (d.clientId !== undefined ? d._id : clientOf.has(d.accountId) ? seriesDocId(clientOf.get(d.accountId)!, d.seriesId) : undefined);
    const [{ rows: histories, base, persist }, mandateDocs, stored] = await Promise.all([
      this.history(userId, accounts.map((a) => a._id), readFrom, committed, await this.store.analysedInputsSeq(userId)),
      known ? known.mandateDocs : (kept?.mandateDocs ?? this.cursors.userMandates(userId).toArray()),
      kept?.series ??
        this.cursors
          .userSeries(userId)
          .toArray()
          .then((docs) => {
            const byKey = new Map<string, StoredSeries>();
            for (const d of docs) {
              const key = keyOf(d);
              if (key) byKey.set(key, storedSeries(d));
            }
            return byKey;
          }),
    ]);
    const rows = histories.flat();
    const booked = rows.filter((r) => r.status === 'booked' && !r.removed && r.bookedAt >= from);
    const byId = new Map(booked.map((r) => [r._id, r]));

    const recurringRows: RecurringTx[] = booked.map((r) => ({
      id: r._id,
      accountId: r.accountId,
      bookedAt: r.bookedAt,
      amount: signedAmount(r.amount, r.transactionType),
      currency: r.currency,
      description: r.description,
      merchantKey: r.enrichment?.merchantKey ?? '',
      merchantName: r.enrichment?.merchantName || r.merchantName,
      primary: r.enrichment?.primary ?? '',
      detailed: r.enrichment?.detailed ?? '',
    }));
    const mandates: (MandateInput & { clientId: string })[] = mandateDocs.map((m) => ({
      clientId: m.clientId,
      id: m._id,
      kind: m.kind,
      accountId: m.accountId,
      name: m.name,
      reference: m.reference,
      amount: m.amount,
      currency: m.currency,
      frequency: m.frequency,
      active: m.listed && m.status.toLowerCase() !== 'inactive',
      nextPaymentDate: m.nextPaymentDate,
      lastPaymentDate: m.lastPaymentDate,
      firstPaymentDate: m.firstPaymentDate,
    }));
    // Per API client: the same user id under another client is another user, whose rows, mandates and accounts are
    // not this one's (its series are found among its own rows, its transfers pair within its own accounts). A user of
    // one client is one group, as before. Detection sees the day, not the time of day, so the result is the same for
    // every event of one day.
    const perClient = [...new Set(clientOf.values())].sort().map((clientId) => {
      const own = recurringRows.filter((r) => clientOf.get(r.accountId) === clientId);
      const series = applyMandates(userId, detectSeries(userId, own, day), own, mandates.filter((m) => m.clientId === clientId), day);
      const pairs = pairTransfers(
        own.map((r): TransferTx => ({ ...r, transactionCategory: byId.get(r.id)!.transactionCategory })),
        accounts
          .filter((a) => a.clientId === clientId)
          .map((a) => ({ id: a._id, kind: a.kind, displayName: a.displayName, number: a.number, sortCode: a.sortCode, partialCardNumber: a.partialCardNumber, cardNetwork: a.cardNetwork })),
      );
      return { clientId, series, pairs };
    });
    const series = perClient.flatMap((c) => c.series);
    const pairs = perClient.flatMap((c) => c.pairs);

    const seriesWritten = await this.writeSeries(userId, perClient, stored, at);

    // the value each row in the window should carry
    const wantRecurring = new Map<string, { seriesId: string; cadence: string }>();
    for (const s of series) for (const id of s.memberIds) wantRecurring.set(id, { seriesId: s.seriesId, cadence: s.cadence });
    const wantPair = new Map<string, string>();
    for (const p of pairs) {
      wantPair.set(p.outId, p.inId);
      wantPair.set(p.inId, p.outId);
    }
    const changed: { doc: HistoryRow; recurring: { seriesId: string; cadence: string } | null; transferPairId: string | null }[] = [];
    for (const doc of rows) {
      // every row read carries exactly what detection finds now (nothing when outside the window, pending or
      // removed), so the result depends only on the data, never on earlier runs or the order the data came in; a
      // series found on a partial history during a backfill is therefore cleared again once the full history no
      // longer shows it
      const inWindow = byId.has(doc._id);
      const recurring = inWindow ? (wantRecurring.get(doc._id) ?? null) : null;
      const transferPairId = inWindow ? (wantPair.get(doc._id) ?? null) : null;
      const sameRecurring = (doc.recurring?.seriesId ?? null) === (recurring?.seriesId ?? null) && (doc.recurring?.cadence ?? null) === (recurring?.cadence ?? null);
      if (sameRecurring && (doc.transferPairId ?? null) === transferPairId) continue;
      changed.push({ doc, recurring, transferPairId });
    }
    const result: AnalysisResult = { rows: rows.length, series: series.length, seriesWritten, pairs: pairs.length, changes: changed.length };
    const record = async (seq: number) => {
      const doc: AnalysisStateDoc = { _id: userId, seq, mandates: mandatesHash(mandateDocs), at, from };
      await this.state.replaceOne({ _id: userId }, doc, { upsert: true });
      // `stored` is what the series are now (writeSeries brought it up to date)
      this.remember(userId, { state: doc, mandateDocs, series: stored });
      if (persist && base) await this.storeHistory(userId, base, seq, from);
      // the next run reads from this window's start or later ("The history cache": what it holds)
      const held = this.cache.get(userId);
      if (held) trimHistory(held, from.getTime());
    };
    if (changed.length === 0) {
      await record(committed);
      return result;
    }
    changed.sort((a, b) => (a.doc._id < b.doc._id ? -1 : 1));
    // numbers before documents, commit after (store.ts: a crash leaves a gap, never a reused number)
    const first = await this.store.reserveSeq(userId, changed.length);
    // the change feed reads these rows back by number (data/feed-memory.ts): only the analysed fields are held here
    this.store.feed.elsewhere(userId, changed.map((c, i) => ({ id: c.doc._id, seq: first + i })));
    await this.store.transactions.bulkWrite(
      changed.map((c, i) => ({
        updateOne: {
          filter: { _id: c.doc._id, userId },
          update: { $set: { recurring: c.recurring, transferPairId: c.transferPairId, seq: first + i, changeKind: 'modified' as const, changeReason: 'analysis', updatedAt: at } },
        },
      })),
      { ordered: false },
    );
    const last = first + changed.length - 1;
    await this.store.commitSeq(userId, last);
    // the cached rows (and those of the history about to be stored) are the documents just written (same objects),
    // so the cache is complete up to `last`
    const cached = this.cache.get(userId);
    if (base) for (const c of changed) Object.assign(c.doc, { recurring: c.recurring, transferPairId: c.transferPairId });
    if (cached) cached.seq = last;
    // after the commit: a crash before this line makes the next refresh run again, which then finds no change
    await record(last);
    return { ...result, firstSeq: first, lastSeq: last };
  }

  /**
   * The user's rows booked since `from` (all for null), per account in `accountIds` order, each account's in
   * `transactions_timeline` order: read through that index, or from the history cache or the stored history, caught
   * up by `seq` (`committed`: the user's committedSeq now; `inputs`: the highest number of a transaction or account
   * change). See "The history cache" and "The stored history". `base`: every row known (the cache's content), for
   * `storeHistory`; `persist`: whether this run should store it.
   */
  private async history(userId: string, accountIds: string[], from: Date | null, committed: number, inputs: number): Promise<{ rows: HistoryRow[][]; base?: HistoryCache; persist: boolean }> {
    const fromMs = from?.getTime() ?? -Infinity;
    let cached = this.cacheUsers > 0 ? this.cache.get(userId) : undefined;
    let persist = false;
    let stored = false;
    if (!(cached && cached.from <= fromMs && cached.seq <= committed)) {
      cached = this.snapshotRows > 0 ? await this.storedHistory(userId, fromMs, committed, inputs) : undefined;
      stored = cached !== undefined;
      if (!cached) {
        const read = await Promise.all(accountIds.map((a) => this.cursors.accountHistory(userId, a, from).toArray()));
        this.stats.historyRowsRead += read.reduce((n, r) => n + r.length, 0);
        if (this.cacheUsers === 0 && this.snapshotRows === 0) return { rows: read, persist: false };
        cached = { seq: committed, from: fromMs, rows: new Map(read.flat().map((r) => [r._id, r])) };
        persist = this.snapshotRows > 0;
      }
    }
    // rows changed since, unless every change up to `committed` is in already (the store's writes: `written`), or no
    // transaction changed after the known ones (`inputs`: the numbers in between were balances' or edits')
    if (cached.seq < inputs) {
      const changed = await this.cursors.historyChanges(userId, cached.seq).toArray();
      this.stats.historyRowsRead += changed.length;
      for (const row of changed) cached.rows.set(row._id, row);
      // a stored history this far behind is stored again with this run
      if (stored && changed.length > Math.max(this.snapshotRewriteRows, cached.rows.size / 16)) persist = true;
    }
    cached.seq = committed;
    if (this.cacheUsers > 0) {
      this.cache.delete(userId); // re-inserted last: most recently used
      this.cache.set(userId, cached);
      this.evict();
    }
    const byAccount = new Map<string, HistoryRow[]>(accountIds.map((a) => [a, []]));
    for (const row of cached.rows.values()) {
      // what the index read would return: rows of these accounts booked since `from`
      if (from && !(row.bookedAt && row.bookedAt.getTime() >= fromMs)) continue;
      byAccount.get(row.accountId)?.push(row);
    }
    return { rows: accountIds.map((a) => byAccount.get(a)!.sort(timelineOrder)), base: cached, persist };
  }

  /**
   * The user's stored history as a cache entry, when it serves a read from `fromMs` at `committed`: it holds every
   * row booked since then (its `from` is not later), it is not ahead of the user (a number it claims is committed),
   * and few enough numbers were taken since it (`SNAPSHOT_STALE_NUMBERS`) that catching it up reads no more than the
   * window would.
   */
  private async storedHistory(userId: string, fromMs: number, committed: number, inputs: number): Promise<HistoryCache | undefined> {
    // a first run reads every row (no window start yet): no stored history holds them
    if (!Number.isFinite(fromMs)) return undefined;
    // the conditions in the query, so that one that does not serve (a backfill moves past it fast) is not sent
    const doc = await this.snapshots.findOne({
      _id: userId,
      from: { $lte: new Date(fromMs) },
      seq: { $lte: committed },
      $or: [{ seq: { $gte: inputs - SNAPSHOT_STALE_NUMBERS } }, { reach: { $gte: inputs } }],
    });
    if (!doc) return undefined;
    this.stats.snapshotsRead += 1;
    const rows = new Map<string, HistoryRow>();
    for (const r of JSON.parse(doc.rows.toString('utf8')) as StoredRow[]) {
      const row = r as unknown as TransactionDoc;
      if (typeof r.bookedAt === 'string') row.bookedAt = new Date(r.bookedAt);
      rows.set(r._id, historyRow(row));
    }
    return { seq: doc.seq, from: doc.from.getTime(), rows };
  }

  /**
   * Stores the user's rows booked since `from` (the run's window start) as known at `seq` (see "The stored history");
   * a user with more rows than `historySnapshotRows`, or more than `SNAPSHOT_MAX_BYTES` of them, has none (an older one
   * is deleted). Written after the run is recorded: when it fails, the message is retried, its refresh finds nothing
   * to do, and the older stored history stays correct (it is caught up by `seq`).
   */
  private async storeHistory(userId: string, base: HistoryCache, seq: number, from: Date): Promise<void> {
    const rows: HistoryRow[] = [];
    for (const r of base.rows.values()) if (r.bookedAt && r.bookedAt.getTime() >= from.getTime()) rows.push(r);
    // JSON leaves undefined fields out, so the rows read back equal those read from `transactions`
    const json = rows.length > this.snapshotRows ? undefined : Buffer.from(JSON.stringify(rows));
    // never a document the server refuses (16 MiB), which would fail the message on every retry
    if (!json || json.byteLength > SNAPSHOT_MAX_BYTES) {
      await this.snapshots.deleteOne({ _id: userId });
      return;
    }
    // one writer per user (the file comment), so this upsert never races another creating the document
    await this.snapshots.replaceOne({ _id: userId }, { seq, from, count: rows.length, reach: seq + rows.length, rows: new mongo.Binary(json) }, { upsert: true });
    this.stats.snapshotsWritten += 1;
  }

  /** Deletes the user's stored history (an erasure deletes rows, which leaves no number behind: data/erasure.ts). */
  async dropStoredHistory(userId: string): Promise<number> {
    return (await this.snapshots.deleteOne({ _id: userId })).deletedCount;
  }

  /**
   * Writes what changed of the user's series (each client's) and brings `stored` (what is stored, by `_id`, legacy
   * documents under their client's `_id`) up to date with it. A legacy document of a series found again is replaced by
   * its client's; one no longer found is marked so where it is.
   */
  private async writeSeries(userId: string, perClient: { clientId: string; series: Series[] }[], stored: Map<string, StoredSeries>, at: Date): Promise<number> {
    const ops: mongo.AnyBulkWriteOperation<SeriesDoc>[] = [];
    const after = new Map<string, StoredSeries>();
    const found = new Set<string>();
    for (const { clientId, series } of perClient) {
      for (const s of series) {
        const _id = seriesDocId(clientId, s.seriesId);
        found.add(_id);
        const hash = contentHash({ ...s, clientId, found: true });
        const prev = stored.get(_id);
        if (prev?.contentHash === hash && !prev.legacyId) continue;
        const doc: SeriesDoc = { ...s, _id, userId, clientId, found: true, contentHash: hash, createdAt: prev?.createdAt ?? at, updatedAt: at };
        ops.push({ replaceOne: { filter: { _id, userId }, replacement: doc, upsert: true } });
        if (prev?.legacyId) ops.push({ deleteOne: { filter: { _id: prev.legacyId, userId } } });
        after.set(_id, storedSeries(doc));
      }
    }
    for (const [_id, prev] of stored) {
      if (found.has(_id) || (!prev.found && !prev.active)) continue;
      ops.push({ updateOne: { filter: { _id: prev.legacyId ?? _id, userId }, update: { $set: { found: false, active: false, contentHash: prev.unfoundHash, updatedAt: at } } } });
      after.set(_id, { ...prev, found: false, active: false, contentHash: prev.unfoundHash });
    }
    if (ops.length > 0) await this.series.bulkWrite(ops, { ordered: false });
    for (const [id, s] of after) stored.set(id, s);
    return ops.length;
  }
}
