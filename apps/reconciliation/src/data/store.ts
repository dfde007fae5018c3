/**
 * The canonical store of reconciliation, through the driver collections of the mongoose connection (no mongoose
 * hydration on the hot path, STYLE.md §19):
 *
 * - `accounts`: internal accounts, stable across re-consents (domain/identity.ts); `providerAccountIds` holds every
 *   TrueLayer id an account has had, so a raw event's `account_id` finds its internal account
 *   (`accounts_provider_id`).
 * - `transactions`: booked and pending rows, unique per user on `dedupeKey` (`transactions_dedupe_key`, the row's
 *   key, domain/dedupe.ts says why it is never `transaction_id`); removed pending rows stay as tombstones
 *   (`removed: true`) so that the change feed can say so. See `ensureIndexes` for why that index is on `dedupeKey`
 *   alone.
 * - `balances`: snapshots per account and `asOf`, kept only when they differ from the one before (domain/balance.ts).
 * - `user_edits`: the user's category override, notes, tags and hide flag, per transaction or account. Syncs never
 *   write this collection, so an edit survives every later sync (invariant 8).
 * - `user_state`: per user, the sequence counter (`seq`: highest number handed out; `committedSeq`: highest number
 *   whose writes are all done) and the connection renewals seen (`links`).
 *
 * ## The change feed and the single writer
 *
 * Every stored change (add, modify, remove of an account, transaction, balance snapshot or user edit) carries the
 * user's next sequence number on the document itself (`seq`, `changeKind`, `createdSeq`), no outbox: a publisher
 * reads a user's changes after a sequence number through the `*_changes` indexes ({userId, seq}), up to
 * `committedSeq`, and sends `added` when `createdSeq` is past its cursor, else `modified`/`removed`.
 *
 * The numbers come from an increment of `user_state.seq` (`reserveSeq`, one round trip), so reservations made at once
 * get disjoint ranges (on the local store once the document exists: see `reserveSeq`). What needs ONE WRITER PER
 * USER is the commit: `committedSeq` says that every number up to it has its document written, which holds only
 * when one writer at a time reserves, writes and commits a user's numbers, in that order. Pipeline events are keyed
 * by user id, so one consumer (one partition owner) applies a user's events at a time, in order, and everything that
 * writes a user's data here (`applyBatch`, `applyEdit`, `linkConnection`) is called from that consumer. A user edit
 * therefore travels over the user-keyed pipeline too; a gRPC handler must not call `applyEdit` directly.
 *
 * What the writer keeps between messages, valid only while it owns the user (an erasure drops the user's: `forget`;
 * a rebalance everything: `forgetAll`): the rows of a split result (`resultRows`), the next message reconciled ahead
 * (`prepared`), the user's accounts (`userAccounts`), its `committedSeq` and `analysedInputsSeq`, and each account's
 * latest balance (`applyBalance`). Each is dropped before a write that changes it and set again once the write has
 * answered, so a write that fails part-way leaves it to be read again; each is a bounded map (the oldest user goes
 * first). Reads that may run beside the writer (the read API, the change feed's sweep) never use them.
 *
 * Crash safety without transactions (the local server has none): numbers are reserved (written to `seq`) before
 * the documents are written, so a crash between the two leaves a gap, never a number used twice; `committedSeq` is
 * written after the documents, so a publisher never reads past a number whose document may still be missing.
 * A redelivered batch finds its changes already stored, computes no operation and takes no number.
 *
 * Determinism: every time written comes from the event (`fetchedAt`) and every new id is derived from the data, so
 * replaying the same events into an empty store gives the same documents (`checksum`).
 */
import { AppError } from '@ais/platform-errors';
import { dropIndexIfPresent, isDuplicateKeyError, type Connection } from '@ais/platform-mongo';
import type { mongo } from 'mongoose';
import { balanceAsOf, balanceId, normaliseBalance, sameBalance, type BalanceValues } from '../domain/balance';
import { canonicalJson, contentHash, sha256Hex } from '../domain/canonical';
import { DEFAULT_RULES, reconcileTransactions, type FetchedTransaction, type ReconcileRules, type StoredTx, type TxContent, type TxOp } from '../domain/dedupe';
import { matchAccounts, newAccountId, type AccountKind, type FetchedAccount, type MatchRule } from '../domain/identity';
import { timed } from '../metrics';
import { FeedMemory } from './feed-memory';

export const RECON_INDEXES = {
  accountsByUser: 'accounts_user',
  accountsProviderId: 'accounts_provider_id',
  accountsChanges: 'accounts_changes',
  transactionsDedupe: 'transactions_dedupe_key',
  transactionsChanges: 'transactions_changes',
  transactionsTimeline: 'transactions_timeline',
  transactionsPending: 'transactions_pending',
  balancesHistory: 'balances_history',
  balancesChanges: 'balances_changes',
  editsChanges: 'user_edits_changes',
  statePublishPending: 'user_state_publish_pending',
} as const;

/** The compound unique {userId, dedupeKey} index of earlier releases, replaced by `transactions_dedupe_key`. */
const LEGACY_TRANSACTIONS_DEDUPE = 'transactions_dedupe';

function seqRange(afterSeq: number, upTo?: number): { $gt: number; $lte?: number } {
  return upTo === undefined ? { $gt: afterSeq } : { $gt: afterSeq, $lte: upTo };
}

export type ChangeKind = 'added' | 'modified' | 'removed';

/** What every changed document carries for the change feed. */
export interface ChangeFields {
  userId: string;
  /** The user's sequence number of the latest change of this document. */
  seq: number;
  /** The sequence number of the change that created it. */
  createdSeq: number;
  changeKind: ChangeKind;
  createdAt: Date;
  updatedAt: Date;
}

export interface AccountDoc extends ChangeFields {
  _id: string;
  clientId: string;
  kind: AccountKind;
  providerId: string;
  /** The connection that last listed it, and its TrueLayer id there. */
  connectionId: string;
  providerAccountId: string;
  providerAccountIds: string[];
  displayName: string;
  type: string;
  currency: string;
  number: string;
  sortCode: string;
  iban: string;
  routingNumber: string;
  bsb: string;
  swiftBic: string;
  partialCardNumber: string;
  nameOnCard: string;
  cardNetwork: string;
  validFrom: string;
  validTo: string;
  /** How the last listing was matched to it ('new' when it created the account). */
  matchedBy: MatchRule | 'new';
  /** Known accounts that fitted equally well when it was created (so it was not merged into any). */
  ambiguousWith: string[];
  contentHash: string;
}

export interface TransactionDoc extends ChangeFields, TxContent {
  _id: string;
  clientId: string;
  /** Internal account id. */
  accountId: string;
  dedupeKey: string;
  transactionId: string;
  fingerprint: string;
  contentHash: string;
  removed: boolean;
  missingSince: Date | null;
  lastFetchId: string | null;
  /** Source time of the last fetched or re-enriched write (domain/dedupe.ts, redelivered older messages). */
  sourceAt?: Date;
  /** Set when it settled from a pending row: that row's fingerprint (domain/dedupe.ts). */
  settledFingerprint?: string;
  /** Why the last change happened: content, settled (pending to booked), restored, pending_gone, enrichment, analysis. */
  changeReason: string;
  /**
   * enrichment's result for the row (events/v1 TransactionEnrichment), kept apart from the fetched content so that
   * `contentHash` covers only what the bank sent; `enrichmentHash` tells whether a re-enrichment changed anything.
   * Absent on rows stored from raw (unenriched) data.
   */
  enrichment?: StoredEnrichment | null;
  enrichmentHash?: string;
  /** Derived from the user's history (data/analysis.ts): the recurring series and the other side of an own transfer. */
  recurring?: { seriesId: string; cadence: string } | null;
  transferPairId?: string | null;
}

export interface StoredEnrichment {
  primary: string;
  detailed: string;
  merchantName: string;
  merchantKey: string;
  source: string;
  reason: string;
  confidence: number;
  version: string;
  taxonomy: string;
}

export interface BalanceDoc extends ChangeFields, BalanceValues {
  _id: string;
  /** The account's API client (absent on snapshots stored before December 2026: the account's then). */
  clientId?: string;
  accountId: string;
  asOf: Date;
}

export interface UserEdit {
  categoryOverride?: string | null;
  notes?: string | null;
  tags?: string[] | null;
  hidden?: boolean | null;
}

export interface UserEditDoc extends ChangeFields, UserEdit {
  /** `<target>:<targetId>`. */
  _id: string;
  /** The API client whose user made the edit (absent on edits stored before December 2026: the target's then). */
  clientId?: string;
  target: 'transaction' | 'account';
  targetId: string;
  /**
   * Request ids of the UserEditCommands applied (most recent EDIT_REQUEST_IDS_KEPT): a redelivered command is a
   * no-op, and the gRPC handler polls `{_id, requestIds: <id>}` to learn that its command is applied.
   */
  requestIds?: string[];
}

export interface UserStateDoc {
  _id: string;
  seq: number;
  committedSeq: number;
  links: { connectionId: string; previousConnectionId: string }[];
  /**
   * Change-feed bookkeeping (data/changefeed.ts), not stored data (left out of `checksum`): the highest sequence
   * number published to ais.ledger.v1, and whether committed changes may still be unpublished (set by
   * `commitSeq`, cleared by the publisher once `publishedSeq` reaches `committedSeq`), since when.
   */
  publishedSeq?: number;
  publishPending?: boolean;
  pendingSince?: Date;
  /**
   * Set before a publish run produces anything, cleared when a run has recorded everything it produced: a run may
   * have put changes past `publishedSeq` on the ledger partition `partition` at or after `offset` (data/changefeed.ts,
   * "Delivery guarantee"). Bookkeeping too.
   */
  publishingFrom?: { partition: number; offset: number };
}

/** What applyBatch needs of a raw (or enriched) data event; the Kafka consumer maps RawDataEvent to it. */
export interface BatchMeta {
  /** Envelope event id (for logs; idempotency comes from the data itself). */
  eventId: string;
  clientId: string;
  connectionId: string;
  providerId: string;
  /** From token-vault's authorized event; when unset, the link recorded by `linkConnection` is used. */
  previousConnectionId?: string;
  fetchId: string;
  fetchedAt: Date;
}

export type BatchPayload =
  | { kind: 'accounts'; accounts: FetchedAccount[] }
  | {
      kind: 'transactions' | 'pending_transactions';
      /** TrueLayer's account (or card) id of the event. */
      providerAccountId: string;
      window?: { from: Date; to: Date };
      batch: { index: number; count: number; complete: boolean };
      transactions: FetchedTransaction[];
      /** enrichment's result per transaction (same order), or null/absent when a row comes without one. */
      enrichments?: (StoredEnrichment | null)[];
    }
  | { kind: 'balance'; providerAccountId: string; balance: BalanceValues & { updateTimestamp?: Date | undefined } };

export type Batch = BatchMeta & { payload: BatchPayload };

export interface ApplyResult {
  /** Changes written (each took one sequence number). */
  changes: number;
  /** The sequence numbers taken, when any. */
  firstSeq?: number;
  lastSeq?: number;
  /** Bookkeeping writes without a sequence number (pending rows seen or missing). */
  touched: number;
}

/** What a re-enrichment did: changes written, and items naming no stored (live) transaction of the user. */
export interface ReEnrichResult extends ApplyResult {
  unknown: number;
}

/**
 * A transaction row changed by a completed write: its whole document (a new row) or the fields set on it, with when
 * the row is booked when the write knows it and does not set it (for a listener that holds only the rows booked
 * since some day: data/analysis.ts, "The history cache").
 */
export type WrittenTx = { id: string; doc: TransactionDoc; set?: undefined } | { id: string; doc?: undefined; set: Partial<TransactionDoc>; bookedAt?: Date };

/**
 * Told of every write to `transactions` that takes sequence numbers (`applyBatch`, `applyReEnrichment`), in the
 * writing process, so that a cache of a user's rows can follow them without reading them back (data/analysis.ts,
 * "The history cache"). Analysis' own writes and erasures keep that cache themselves.
 */
export interface TransactionWriteListener {
  /** The changed rows of a completed write; the user's sequence numbers up to `lastSeq` are taken. */
  written(userId: string, rows: readonly WrittenTx[], lastSeq: number): void;
  /** A write failed part-way: which of its rows were stored is unknown. */
  unknown(userId: string): void;
}

/** The hash `enrichmentHash` holds ('' for none). */
export function enrichmentHashOf(e: StoredEnrichment | null | undefined): string {
  return e ? contentHash(e) : '';
}

/** Most recent edit request ids kept on an edit document (idempotency of UserEditCommand). */
export const EDIT_REQUEST_IDS_KEPT = 50;

const DAY = 86_400_000;

/**
 * The rows one message of a transactions result was reconciled against (the account's rows in the read range and
 * its live pending rows), as they are after that message's write: what the result's next message would read.
 */
interface ResultRows {
  accountId: string;
  fetchId: string;
  status: 'booked' | 'pending';
  from: number;
  to: number;
  docs: Map<string, TransactionDoc>;
}

/** Bounds on `resultRows`: rows kept for one user, and users kept (the oldest goes first). */
const RESULT_ROWS_MAX = 10_000;
const RESULT_ROWS_USERS = 16;
/** Users whose accounts `userAccounts` keeps (the oldest goes first); a user has a few. */
const ACCOUNT_USERS = 256;
/** Users whose `committedSeq` `committedSeq` keeps (the oldest goes first): a number each. */
const COMMITTED_USERS = 4096;

/** Adds `key` to a map used as a bounded cache: the oldest entry goes first when it is full. */
export function keep<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/**
 * How many bulk writes one message's transaction operations are split into, sent at the same time on the pool's
 * connections. The server applies an unordered bulk write as independent writes in no promised order, and so it
 * applies the parts: the result is the same, and the parts run on more than one core of the server. Measured on the
 * local store (a one-off script: 20,000 rows of a heavy user inserted in messages of 500 into a collection with the
 * transactions indexes): 5.6-5.9 s as one bulk write a message, 3.7 s as two, 3.7 s as four.
 */
export const WRITE_PARALLELISM = 2;
/** Operations below which a message's write stays one bulk write (a part must be worth a round trip). */
export const WRITE_SPLIT_MIN = 200;

/**
 * The [start, end) ranges of `ops` written as separate bulk writes: at most `parallelism` parts of about equal size,
 * and one part when `ops` is small or names a row twice (two operations on one row keep their relative order only
 * within one bulk write; reconcileTransactions never emits that, but the write does not depend on it).
 */
export function writeChunks(ops: readonly TxOp[], parallelism: number): [number, number][] {
  const n = ops.length;
  const parts = Math.min(parallelism, Math.floor(n / (WRITE_SPLIT_MIN / 2)));
  if (parts <= 1 || new Set(ops.map((o) => o.id)).size !== n) return n > 0 ? [[0, n]] : [];
  const size = Math.ceil(n / parts);
  const out: [number, number][] = [];
  for (let start = 0; start < n; start += size) out.push([start, Math.min(n, start + size)]);
  return out;
}

type TransactionsPayload = Extract<BatchPayload, { kind: 'transactions' | 'pending_transactions' }>;

/**
 * The view `reconcileTransactions` takes of a stored row (its `_id` as `id`), made once per document object. The
 * rows held for a split result (`resultRows`) are never changed in place: a written row is a new object
 * (`resultRowsAfter`), and so is every row read. So each message of a result no longer copies every row its earlier
 * messages stored (thousands of documents of 30-odd fields, a copy each per message).
 */
const storedViews = new WeakMap<TransactionDoc, StoredTx>();

function storedView(d: TransactionDoc): StoredTx {
  let v = storedViews.get(d);
  if (v === undefined) {
    v = { ...d, id: d._id };
    storedViews.set(d, v);
  }
  return v;
}

/** One transactions message reconciled: its operations, and what its write needs besides them. */
interface Reconciled {
  ops: TxOp[];
  enrichments: readonly (StoredEnrichment | null)[];
  enrichmentHashes: string[];
  /** Set when more messages of the result follow: the read its rows are held for. */
  keep: Omit<ResultRows, 'docs'> | undefined;
}

/** A message reconciled ahead (`prepareNext`): valid for that event, against exactly `basis`. */
interface Prepared {
  eventId: string;
  basis: ResultRows;
  reconciled: Reconciled;
}

/** The stored rows a transactions message is reconciled against: its account's rows booked in [from, to], ±2 days. */
function readRangeOf(batch: Batch, p: TransactionsPayload): { status: 'booked' | 'pending'; from: number; to: number } {
  const times = p.transactions.map((t) => (t.timestamp ?? new Date(0)).getTime());
  const lo = Math.min(p.window?.from.getTime() ?? Infinity, ...times, batch.fetchedAt.getTime());
  const hi = Math.max(p.window?.to.getTime() ?? -Infinity, ...times);
  return { status: p.kind === 'transactions' ? 'booked' : 'pending', from: lo - 2 * DAY, to: hi + 2 * DAY };
}

export class ReconciliationStore {
  readonly accounts: mongo.Collection<AccountDoc>;
  readonly transactions: mongo.Collection<TransactionDoc>;
  readonly balances: mongo.Collection<BalanceDoc>;
  readonly edits: mongo.Collection<UserEditDoc>;
  readonly state: mongo.Collection<UserStateDoc>;
  private readonly listeners = new Set<TransactionWriteListener>();
  /** What this process wrote of its users' transactions, for the change feed (data/feed-memory.ts). */
  readonly feed = new FeedMemory();
  /** Per user, the rows the next message of a split result reads (see `applyTransactions`). */
  private readonly resultRows = new Map<string, ResultRows>();
  /** Per user, the next message reconciled while the previous one was written (`prepareNext`). */
  private readonly prepared = new Map<string, Prepared>();
  /** Per user, the accounts as `userAccounts` read them. */
  private readonly accountLists = new Map<string, readonly AccountDoc[]>();
  /** Per user, `committedSeq` as this process read or last committed it (see `committedSeq`). */
  private readonly committed = new Map<string, number>();
  /** Per user, the highest number of a change analysis reads (see `analysedInputsSeq`). */
  private readonly inputs = new Map<string, number>();
  /** Per user and internal account, its latest stored balance as this process read or wrote it (`applyBalance`). */
  private readonly latestBalances = new Map<string, Map<string, BalanceDoc>>();
  /** Messages whose reconciliation done ahead was used, and those for which it was dropped (for tests and metrics). */
  readonly lookahead = { used: 0, discarded: 0 };

  /** Bulk writes of transactions sent at once, each a part of one message's operations (see `writeChunks`). */
  private readonly writeParallelism: number;

  constructor(
    conn: Connection,
    private readonly rules: ReconcileRules = DEFAULT_RULES,
    options: { writeParallelism?: number } = {},
  ) {
    this.writeParallelism = Math.max(1, Math.floor(options.writeParallelism ?? WRITE_PARALLELISM));
    this.accounts = conn.collection<AccountDoc>('accounts');
    this.transactions = conn.collection<TransactionDoc>('transactions');
    this.balances = conn.collection<BalanceDoc>('balances');
    this.edits = conn.collection<UserEditDoc>('user_edits');
    this.state = conn.collection<UserStateDoc>('user_state');
  }

  /**
   * Uniqueness of `dedupeKey` per user is enforced by a unique index on `dedupeKey` alone. That is the same rule as
   * {userId, dedupeKey}: a key always embeds the internal account id (`dedupeKeyFor`), and an account id is a hash
   * over the user id among others (`newAccountId`, 132 bits of SHA-256), so two users never share a key. Every read
   * still filters on `userId`.
   *
   * Why not the compound index: on the local store (DocumentDB) a unique index is an exclusion constraint, and with
   * a compound key its check reads every row that shares the user id, so each insert cost grew with the user's
   * history: 20,000 rows of one user took 33 s to insert with the compound unique index against 3.1 s with a unique
   * index on `dedupeKey` (1.2 s with none; a one-off script, insertMany of 1,000 at a time; docs/BENCHMARKS.md,
   * consent). MongoDB serves both in O(log n). The index of earlier releases (`transactions_dedupe`, compound) is
   * dropped here when a store still has it.
   */
  async ensureIndexes(): Promise<void> {
    await dropIndexIfPresent(this.transactions, LEGACY_TRANSACTIONS_DEDUPE);
    await this.accounts.createIndex({ clientId: 1, userId: 1, _id: 1 }, { name: RECON_INDEXES.accountsByUser });
    await this.accounts.createIndex({ userId: 1, providerAccountIds: 1 }, { name: RECON_INDEXES.accountsProviderId });
    await this.accounts.createIndex({ userId: 1, seq: 1 }, { name: RECON_INDEXES.accountsChanges });
    await this.transactions.createIndex({ dedupeKey: 1 }, { name: RECON_INDEXES.transactionsDedupe, unique: true });
    await this.transactions.createIndex({ userId: 1, seq: 1 }, { name: RECON_INDEXES.transactionsChanges });
    await this.transactions.createIndex({ userId: 1, accountId: 1, bookedAt: -1, _id: -1 }, { name: RECON_INDEXES.transactionsTimeline });
    await this.transactions.createIndex({ userId: 1, accountId: 1, status: 1, removed: 1 }, { name: RECON_INDEXES.transactionsPending });
    await this.balances.createIndex({ userId: 1, accountId: 1, asOf: -1 }, { name: RECON_INDEXES.balancesHistory, unique: true });
    await this.balances.createIndex({ userId: 1, seq: 1 }, { name: RECON_INDEXES.balancesChanges });
    await this.edits.createIndex({ userId: 1, seq: 1 }, { name: RECON_INDEXES.editsChanges });
    await this.state.createIndex({ publishPending: 1, pendingSince: 1 }, { name: RECON_INDEXES.statePublishPending });
  }

  /**
   * Writes a batch's operations (unordered), as the parts `writeChunks` gives, sent at once. An add is an insert: one
   * whose `_id` is stored already (a replay), or whose key is stored under another id, is refused by the primary or
   * the unique `transactions_dedupe_key` index (11000) and changes nothing, as an upsert would: its sequence number
   * stays unused (a gap). Any other refusal, in any part, is an error. Returns the indexes of the adds that inserted
   * a row: every add the server did not refuse.
   */
  private async bulkWriteTransactionOps(ops: TxOp[], writes: mongo.AnyBulkWriteOperation<TransactionDoc>[]): Promise<Set<number>> {
    const inserted = new Set(ops.flatMap((o, i) => (o.op === 'add' ? [i] : [])));
    const parts = await Promise.all(
      writeChunks(ops, this.writeParallelism).map(([start, end]) =>
        this.transactions.bulkWrite(writes.slice(start, end), { ordered: false }).then(
          () => ({ start, err: undefined as unknown }),
          (err: unknown) => ({ start, err }),
        ),
      ),
    );
    // every part has ended (none is left running behind an error); a refused add of any part is a replay
    let failure: unknown;
    for (const { start, err } of parts) {
      if (err === undefined) continue;
      const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
      const list = (Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : []) as { code?: number; index?: number }[];
      const keyTaken = (e: { code?: number; index?: number }) => e.code === 11000 && e.index !== undefined && ops[start + e.index]?.op === 'add';
      if (list.length === 0 || !list.every(keyTaken)) failure ??= err;
      else for (const e of list) inserted.delete(start + e.index!);
    }
    if (failure !== undefined) throw failure;
    return inserted;
  }

  /** Registers a listener of the writes to `transactions` (see `TransactionWriteListener`). */
  listen(listener: TransactionWriteListener): void {
    this.listeners.add(listener);
  }

  /** Runs `write` (a bulk write of the user's transactions); on failure the listeners learn that its rows are unknown. */
  private async tellingListeners<T>(userId: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      for (const l of this.listeners) l.unknown(userId);
      this.forget(userId);
      throw err;
    }
  }

  /**
   * The hot queries as cursors, each with the index that serves it (test/store.int-spec.ts checks every one with
   * explain()). Sorts lead with the equality fields so that the server walks the index in order.
   */
  readonly cursors = {
    accountsPage: (clientId: string, userId: string, limit: number, after?: string) =>
      this.accounts.find(after ? { clientId, userId, _id: { $gt: after } } : { clientId, userId }).sort({ clientId: 1, userId: 1, _id: 1 }).limit(limit),
    /** The user's highest transaction and account numbers (`analysedInputsSeq`). */
    highestTransactionSeq: (userId: string) => this.transactions.find({ userId }, { projection: { seq: 1 } }).sort({ userId: 1, seq: -1 }).hint(RECON_INDEXES.transactionsChanges).limit(1),
    highestAccountSeq: (userId: string) => this.accounts.find({ userId }, { projection: { seq: 1 } }).sort({ userId: 1, seq: -1 }).hint(RECON_INDEXES.accountsChanges).limit(1),
    userAccounts: (userId: string) => this.accounts.find({ userId }).hint(RECON_INDEXES.accountsProviderId),
    /** Keyset page of an account's live transactions, newest first; `after` is the last row of the previous page. */
    timeline: (userId: string, accountId: string, limit: number, after?: { bookedAt: Date; id: string }) =>
      this.transactions
        .find({
          userId,
          accountId,
          removed: false,
          ...(after ? { bookedAt: { $lte: after.bookedAt }, $or: [{ bookedAt: { $lt: after.bookedAt } }, { _id: { $lt: after.id } }] } : {}),
        })
        .sort({ userId: 1, accountId: 1, bookedAt: -1, _id: -1 })
        // pinned: with `removed` in the filter a planner may prefer transactions_pending and sort afterwards
        .hint(RECON_INDEXES.transactionsTimeline)
        .limit(limit),
    /** Stored rows of an account in a posting-time range (what a batch is reconciled against). */
    window: (userId: string, accountId: string, from: Date, to: Date) =>
      this.transactions.find({ userId, accountId, bookedAt: { $gte: from, $lte: to } }).sort({ userId: 1, accountId: 1, bookedAt: -1, _id: -1 }),
    /** A row by its key (unique across users, see `ensureIndexes`), served by `transactions_dedupe_key`. */
    byDedupeKey: (dedupeKey: string) => this.transactions.find({ dedupeKey }),
    livePending: (userId: string, accountId: string) => this.transactions.find({ userId, accountId, status: 'pending', removed: false }),
    /** A user's changes after `afterSeq` (and up to `upTo` when given: the store then sorts only that range). */
    transactionChanges: (userId: string, afterSeq: number, limit: number, upTo?: number) => this.transactions.find({ userId, seq: seqRange(afterSeq, upTo) }).sort({ userId: 1, seq: 1 }).limit(limit),
    /** The rows carrying these numbers (the change feed's reads of rows it does not hold, data/feed-memory.ts). */
    transactionsBySeq: (userId: string, seqs: number[]) => this.transactions.find({ userId, seq: { $in: seqs } }).sort({ userId: 1, seq: 1 }),
    accountChanges: (userId: string, afterSeq: number, limit: number, upTo?: number) => this.accounts.find({ userId, seq: seqRange(afterSeq, upTo) }).sort({ userId: 1, seq: 1 }).limit(limit),
    balanceChanges: (userId: string, afterSeq: number, limit: number, upTo?: number) => this.balances.find({ userId, seq: seqRange(afterSeq, upTo) }).sort({ userId: 1, seq: 1 }).limit(limit),
    editChanges: (userId: string, afterSeq: number, limit: number, upTo?: number) => this.edits.find({ userId, seq: seqRange(afterSeq, upTo) }).sort({ userId: 1, seq: 1 }).limit(limit),
    /** Users whose committed changes may be unpublished since `before` or earlier (the publisher's sweep). */
    publishPending: (before: Date, limit: number) =>
      this.state.find({ publishPending: true, pendingSince: { $lte: before } }, { projection: { _id: 1 } }).sort({ publishPending: 1, pendingSince: 1 }).limit(limit),
    balanceHistory: (userId: string, accountId: string, limit: number, before?: Date) =>
      this.balances.find({ userId, accountId, ...(before ? { asOf: { $lte: before } } : {}) }).sort({ userId: 1, accountId: 1, asOf: -1 }).limit(limit),
  };

  // ---- sequence numbers ----

  /**
   * Reserves `n` sequence numbers for `userId` and returns the first: one `$inc` of `seq`, so reservations made at
   * once get disjoint ranges. The user's state document is never created by an upsert (`stateOf`): on the local
   * store, FerretDB 2.7, upserts that create one document at the same time lose increments (measured 5 December;
   * MongoDB has no such gap), and `linkConnection`, which runs beside the writer, creates it too. The reservation is
   * written before the documents that carry the numbers; committing them (`commitSeq`) still needs the single
   * writer (file comment), which the consumer that owns the user's partition is.
   */
  async reserveSeq(userId: string, n: number): Promise<number> {
    // any write that takes numbers may change rows a held result read covers (analysis, re-enrichment): read again
    this.resultRows.delete(userId);
    const state = await this.stateOf(userId, () => this.state.findOneAndUpdate({ _id: userId }, { $inc: { seq: n } }, { returnDocument: 'after', projection: { seq: 1 } }));
    if (!state || typeof state.seq !== 'number') throw new AppError({ code: 'sequence_not_reserved', message: 'user_state returned no sequence number', kind: 'internal', retriable: true });
    const first = state.seq - n + 1;
    this.feed.reserved(userId, first, n);
    return first;
  }

  /**
   * After the documents are written: the publisher may read up to `lastSeq`. `analysed`: whether the numbers are
   * changes of what analysis reads (transactions, accounts) or an erasure; balances and edits pass false.
   */
  async commitSeq(userId: string, lastSeq: number, analysed = true): Promise<void> {
    // publishPending: the change feed's sweep finds users with unpublished changes through an index
    // (wall-clock pendingSince is bookkeeping only, outside `checksum`)
    const kept = this.committed.get(userId);
    const keptInputs = this.inputs.get(userId);
    // unknown until the update answers (it may have been applied even when it failed)
    this.committed.delete(userId);
    if (analysed) this.inputs.delete(userId);
    await this.state.updateOne({ _id: userId }, { $max: { committedSeq: lastSeq }, $set: { publishPending: true }, $min: { pendingSince: new Date() } });
    if (kept !== undefined) keep(this.committed, userId, Math.max(kept, lastSeq), COMMITTED_USERS);
    if (analysed && keptInputs !== undefined) keep(this.inputs, userId, Math.max(keptInputs, lastSeq), COMMITTED_USERS);
  }

  /**
   * The highest sequence number of the user's stored transactions and accounts: what analysis reads (data/analysis.ts
   * runs again only when it rose past its last run's `committedSeq`, so a balance or an edit, which take numbers too,
   * makes no run). A function of the stored data: two reads through the `*_changes` indexes, then kept like
   * `committedSeq`: under the SINGLE WRITER PER USER (file comment) the writer's commits of such changes raise it
   * (`commitSeq`), and a rebalance or an erasure drops it. (An erasure deletes rows, which leaves no number behind:
   * it deletes analysis' state of the user, so the next run reads every row again: data/erasure.ts.)
   */
  async analysedInputsSeq(userId: string): Promise<number> {
    const kept = this.inputs.get(userId);
    if (kept !== undefined) return kept;
    const [tx, acc] = await Promise.all([this.cursors.highestTransactionSeq(userId).toArray(), this.cursors.highestAccountSeq(userId).toArray()]);
    const highest = Math.max(0, tx[0]?.seq ?? 0, acc[0]?.seq ?? 0);
    keep(this.inputs, userId, highest, COMMITTED_USERS);
    return highest;
  }

  /**
   * The user's `committedSeq`, for the user's writer (analysis' refresh asks after every message). Kept once read:
   * under the SINGLE WRITER PER USER (file comment) only this process's `commitSeq` changes it while this process
   * owns the user, and it keeps what it commits; a rebalance drops everything (`forgetAll`). Reads that may run
   * beside the writer (the read API, the change feed's sweep) read `userState` instead.
   */
  async committedSeq(userId: string): Promise<number> {
    const kept = this.committed.get(userId);
    if (kept !== undefined) return kept;
    const state = await this.state.findOne({ _id: userId }, { projection: { committedSeq: 1 } });
    const committed = state?.committedSeq ?? 0;
    keep(this.committed, userId, committed, COMMITTED_USERS);
    return committed;
  }

  /**
   * The publisher sent everything up to `seq`: records it, and clears `publishPending` when nothing committed is
   * left (a commit after the publisher read `committedSeq` keeps the flag set).
   */
  async markPublished(userId: string, seq: number, runDone = false): Promise<void> {
    // runDone: the run recorded everything it produced, so nothing on the ledger is past `publishedSeq`
    // one round trip when nothing was committed past `seq` (the usual case: the consumer publishes what it has just
    // committed); else the flag stays up and only the number is recorded. One document update each, so a commit
    // cannot slip between the check of `committedSeq` and the clearing of the flag.
    const cleared = await this.state.updateOne(
      { _id: userId, committedSeq: { $lte: seq } },
      { $max: { publishedSeq: seq }, $set: { publishPending: false }, $unset: runDone ? { pendingSince: '', publishingFrom: '' } : { pendingSince: '' } },
    );
    if (cleared.matchedCount === 0) await this.state.updateOne({ _id: userId }, runDone ? { $max: { publishedSeq: seq }, $unset: { publishingFrom: '' } } : { $max: { publishedSeq: seq } });
    this.feed.published(userId, seq);
  }

  /** Before a publish run produces: where its changes may land (kept when an earlier run's is still there: it is older). */
  async markPublishing(userId: string, from: { partition: number; offset: number }): Promise<void> {
    await this.state.updateOne({ _id: userId, publishingFrom: { $exists: false } }, { $set: { publishingFrom: from } });
  }

  async userState(userId: string): Promise<UserStateDoc | null> {
    return this.state.findOne({ _id: userId });
  }

  /** Records that `connectionId` renews `previousConnectionId` (token-vault's authorized event); idempotent. */
  async linkConnection(userId: string, connectionId: string, previousConnectionId: string): Promise<void> {
    await this.stateOf(userId, async () => {
      const res = await this.state.updateOne({ _id: userId }, { $addToSet: { links: { connectionId, previousConnectionId } } });
      return res.matchedCount === 1 ? res : null;
    });
  }

  /**
   * Runs `update` on the user's state document (it answers null when there is none) and, when there was none,
   * creates the document with a plain insert (a concurrent creator's duplicate key ignored) and runs it again. Never
   * an upsert: see `reserveSeq`.
   */
  private async stateOf<T>(userId: string, update: () => Promise<T | null>): Promise<T | null> {
    const first = await update();
    if (first !== null) return first;
    try {
      await this.state.insertOne({ _id: userId, seq: 0, committedSeq: 0, links: [] } as UserStateDoc);
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
    return update();
  }

  // ---- applying a batch ----

  /**
   * Applies one message of a fetch result for `userId`: computes the changes against what is stored and writes them
   * with unordered bulk writes through the driver (new rows inserted, changed ones updated by `_id`; `writeChunks`),
   * each change with the user's next sequence number. Idempotent: the same batch again (redelivery, replay) computes
   * no change and takes no number. Single writer: see the file comment.
   *
   * `next`, when the caller knows it: the user's message that will be applied right after this one (called, and so
   * decoded, only when it is needed). A look-ahead only (it is applied by its own call): when it is the next part of
   * the same result, it is reconciled while this message's write is in flight (`prepareNext`).
   */
  async applyBatch(userId: string, batch: Batch, next?: () => Batch | undefined): Promise<ApplyResult> {
    const p = batch.payload;
    switch (p.kind) {
      case 'accounts':
        return this.applyAccounts(userId, batch, p.accounts);
      case 'transactions':
      case 'pending_transactions':
        return this.applyTransactions(userId, batch, p, next);
      case 'balance':
        return this.applyBalance(userId, batch, p.providerAccountId, p.balance);
    }
  }

  private async applyAccounts(userId: string, batch: Batch, fetched: FetchedAccount[]): Promise<ApplyResult> {
    // only this API client's accounts: the same user id under another client is another user, whose accounts must
    // never be matched (and so moved to this client) even when they are the same bank accounts
    const known = (await this.userAccounts(userId)).filter((a) => a.clientId === batch.clientId);
    const previous = batch.previousConnectionId ?? (await this.userState(userId))?.links.find((l) => l.connectionId === batch.connectionId)?.previousConnectionId;
    const results = matchAccounts(
      fetched,
      known.map((k) => ({ ...k, id: k._id })),
      { connectionId: batch.connectionId, ...(previous ? { previousConnectionId: previous } : {}) },
    );
    const byId = new Map(known.map((k) => [k._id, k]));
    const planned: { doc: AccountDoc; existing?: AccountDoc }[] = [];
    for (const r of results) {
      const f = r.fetched;
      const existing = r.matchedId ? byId.get(r.matchedId) : undefined;
      const id = existing?._id ?? newAccountId(userId, batch.connectionId, f);
      const content = {
        clientId: batch.clientId,
        kind: f.kind,
        providerId: f.providerId,
        connectionId: batch.connectionId,
        providerAccountId: f.accountId,
        providerAccountIds: existing?.providerAccountIds.includes(f.accountId) ? existing.providerAccountIds : [...(existing?.providerAccountIds ?? []), f.accountId],
        displayName: f.displayName,
        type: f.type,
        currency: f.currency,
        number: f.number ?? '',
        sortCode: f.sortCode ?? '',
        iban: f.iban ?? '',
        routingNumber: f.routingNumber ?? '',
        bsb: f.bsb ?? '',
        swiftBic: f.swiftBic ?? '',
        partialCardNumber: f.partialCardNumber ?? '',
        nameOnCard: f.nameOnCard ?? '',
        cardNetwork: f.cardNetwork ?? '',
        validFrom: f.validFrom ?? '',
        validTo: f.validTo ?? '',
      };
      const hash = contentHash(content);
      if (existing && existing.contentHash === hash) continue;
      // a listing fetched before the one stored (redelivery, a replay of old events) changes nothing, like
      // transactions' sourceAt guard: accounts' updatedAt is the fetch time of their last listing
      if (existing && existing.updatedAt.getTime() > batch.fetchedAt.getTime()) continue;
      const doc: AccountDoc = {
        _id: id,
        userId,
        ...content,
        matchedBy: r.rule ?? 'new',
        ambiguousWith: existing?.ambiguousWith ?? r.ambiguousWith,
        contentHash: hash,
        seq: 0,
        createdSeq: existing?.createdSeq ?? 0,
        changeKind: existing ? 'modified' : 'added',
        createdAt: existing?.createdAt ?? batch.fetchedAt,
        updatedAt: batch.fetchedAt,
      };
      planned.push(existing ? { doc, existing } : { doc });
    }
    if (planned.length === 0) return { changes: 0, touched: 0 };
    // the kept list is read again after this write (a write that fails part-way leaves what it leaves)
    this.accountLists.delete(userId);
    const first = await this.reserveSeq(userId, planned.length);
    const ops: mongo.AnyBulkWriteOperation<AccountDoc>[] = planned.map(({ doc, existing }, i) => {
      doc.seq = first + i;
      if (!existing) {
        doc.createdSeq = doc.seq;
        return { updateOne: { filter: { _id: doc._id }, update: { $setOnInsert: doc }, upsert: true } };
      }
      const { _id, createdSeq: _c, createdAt: _a, ...set } = doc;
      return { updateOne: { filter: { _id, userId }, update: { $set: set } } };
    });
    await this.accounts.bulkWrite(ops, { ordered: false });
    const last = first + planned.length - 1;
    await this.commitSeq(userId, last);
    return { changes: planned.length, firstSeq: first, lastSeq: last, touched: 0 };
  }

  /**
   * The user's accounts (and cards), in the order of `cursors.userAccounts`. Kept once read: every message of the
   * user's data asks (`internalAccount`), and so does every analysis run; under the SINGLE WRITER PER USER (file
   * comment) only `applyAccounts` (which drops what is kept of the user before it writes) and an erasure (`forget`)
   * change a user's accounts while this process owns the user, and a rebalance drops everything (`forgetAll`). The
   * list is shared: callers must not change it.
   */
  async userAccounts(userId: string): Promise<readonly AccountDoc[]> {
    const kept = this.accountLists.get(userId);
    if (kept) return kept;
    const read = await this.cursors.userAccounts(userId).toArray();
    keep(this.accountLists, userId, read, ACCOUNT_USERS);
    return read;
  }

  /**
   * The internal account of a TrueLayer account or card id, among the accounts of API client `clientId`; an
   * `unknown_account` / `ambiguous_account` error otherwise.
   */
  async internalAccount(userId: string, clientId: string, providerAccountId: string): Promise<AccountDoc> {
    const found = (await this.userAccounts(userId)).filter((a) => a.clientId === clientId && a.providerAccountIds.includes(providerAccountId));
    if (found.length !== 1) {
      // The accounts (or cards) list of a connection precedes its data on the user's partition; data for an unknown
      // account is a poison message (dead-lettered, replayable once the list is stored).
      throw new AppError({
        code: found.length === 0 ? 'unknown_account' : 'ambiguous_account',
        message: `no single internal account for this provider account id (${found.length} found)`,
        kind: 'failed_precondition',
        retriable: false,
      });
    }
    return found[0]!;
  }

  private async applyTransactions(userId: string, batch: Batch, p: TransactionsPayload, next?: () => Batch | undefined): Promise<ApplyResult> {
    const account = await this.internalAccount(userId, batch.clientId, p.providerAccountId);
    const { status, from, to } = readRangeOf(batch, p);
    // A result of more than 1,000 rows (or 320 KiB) arrives as several messages, one after another on the user's
    // partition, each reconciled against the same rows: the previous message's rows, brought up to date with its
    // write, are what a read would return now, because nothing else wrote the user's transactions in between. That
    // holds under the SINGLE WRITER PER USER (file comment): every other write of them takes numbers (`reserveSeq`
    // drops the held rows) or is an erasure or a failed write (`forget`), and a rebalance drops them all
    // (`forgetAll`).
    const held = this.resultRows.get(userId);
    this.resultRows.delete(userId);
    const prepared = this.prepared.get(userId);
    this.prepared.delete(userId);
    let docs: Map<string, TransactionDoc>;
    if (held && held.accountId === account._id && held.fetchId === batch.fetchId && held.status === status && held.from === from && held.to === to) {
      docs = held.docs;
    } else {
      const [inWindow, pending] = await Promise.all([
        // an empty range (a pending list that is empty: no window, no rows) has no rows to read
        from <= to ? this.cursors.window(userId, account._id, new Date(from), new Date(to)).toArray() : [],
        this.cursors.livePending(userId, account._id).toArray(),
      ]);
      docs = new Map([...inWindow, ...pending].map((d) => [d._id, d]));
    }
    // reconciled beside the previous message's write (`prepareNext`): the same function of the same rows, used only
    // when those rows are the very ones that write left held (nothing else wrote in between)
    let r: Reconciled;
    if (prepared && prepared.eventId === batch.eventId && held !== undefined && prepared.basis === held && docs === held.docs) {
      r = prepared.reconciled;
      this.lookahead.used += 1;
    } else {
      if (prepared) this.lookahead.discarded += 1;
      r = this.reconcileMessage(userId, batch, p, account._id, docs, { status, from, to });
    }
    return this.writeTransactionOps(userId, batch, account, r.ops, r.enrichments, r.enrichmentHashes, docs, r.keep, next);
  }

  /** One transactions message reconciled against `docs` (the stored rows its read covers). */
  private reconcileMessage(
    userId: string,
    batch: Batch,
    p: TransactionsPayload,
    accountId: string,
    docs: ReadonlyMap<string, TransactionDoc>,
    { status, from, to }: ReturnType<typeof readRangeOf>,
  ): Reconciled {
    const stored: StoredTx[] = [];
    for (const d of docs.values()) stored.push(storedView(d));
    const enrichments = p.enrichments ?? [];
    if (enrichments.length > 0 && enrichments.length !== p.transactions.length) {
      throw new AppError({
        code: 'enrichment_mismatch',
        message: `${enrichments.length} enrichments for ${p.transactions.length} transactions`,
        kind: 'invalid_argument',
        retriable: false,
      });
    }
    const enrichmentHashes = enrichments.map(enrichmentHashOf);
    const ops = reconcileTransactions({
      enrichmentHashes,
      userId,
      accountId,
      status,
      rows: p.transactions,
      stored,
      fetchId: batch.fetchId,
      fetchedAt: batch.fetchedAt,
      window: p.window,
      completeResult: p.batch.complete && p.batch.index === p.batch.count - 1,
      rules: this.rules,
    });
    const more = p.batch.index < p.batch.count - 1;
    return { ops, enrichments, enrichmentHashes, keep: more ? { accountId, fetchId: batch.fetchId, status, from, to } : undefined };
  }

  /**
   * Reconciles `next`, the message after the one being written, against `basis`: the rows that message's write leaves
   * held if every add of it inserts. Pure CPU, run while the store applies the write; `applyTransactions` uses the
   * result only when `next` is the very next message applied and `basis` is still what is held then. Anything that
   * does not fit (another account or fetch, another read range, a malformed message) is left to the normal path.
   */
  private prepareNext(userId: string, accountId: string, basis: ResultRows, nextOf: () => Batch | undefined): void {
    try {
      const next = nextOf();
      const p = next?.payload;
      if (!next || !p || (p.kind !== 'transactions' && p.kind !== 'pending_transactions')) return;
      const range = readRangeOf(next, p);
      if (basis.accountId !== accountId || basis.fetchId !== next.fetchId || basis.status !== range.status || basis.from !== range.from || basis.to !== range.to) return;
      this.prepared.set(userId, { eventId: next.eventId, basis, reconciled: this.reconcileMessage(userId, next, p, accountId, basis.docs, range) });
    } catch {
      // nothing prepared: the message itself is applied, or refused with its reason, in its own turn
    }
  }

  /**
   * The rows of `docs` after a write (`changed`: id → the document now stored, a new object), limited to what the
   * read covers. Held rows are replaced, never changed in place (`storedView` depends on it).
   */
  private resultRowsAfter(keep: Omit<ResultRows, 'docs'>, docs: ReadonlyMap<string, TransactionDoc>, changed: ReadonlyMap<string, TransactionDoc>): ResultRows | undefined {
    const next = new Map(docs);
    for (const [id, doc] of changed) next.set(id, doc);
    // what the two reads return: rows booked in the range, and the account's live pending rows
    for (const [id, d] of next) {
      const t = d.bookedAt.getTime();
      if (!((t >= keep.from && t <= keep.to) || (d.status === 'pending' && !d.removed))) next.delete(id);
    }
    return next.size > RESULT_ROWS_MAX ? undefined : { ...keep, docs: next };
  }

  private holdResultRows(userId: string, rows: ResultRows | undefined): void {
    if (!rows) return;
    if (this.resultRows.size >= RESULT_ROWS_USERS) this.resultRows.delete(this.resultRows.keys().next().value!);
    this.resultRows.set(userId, rows);
  }

  /** Drops what this process holds of a user's rows (an erasure, a write that failed part-way). */
  forget(userId: string): void {
    this.resultRows.delete(userId);
    this.prepared.delete(userId);
    this.accountLists.delete(userId);
    this.committed.delete(userId);
    this.inputs.delete(userId);
    this.latestBalances.delete(userId);
    this.feed.forget(userId);
  }

  /** Drops what this process holds of every user's rows (the consumer group rebalanced). */
  forgetAll(): void {
    this.resultRows.clear();
    this.prepared.clear();
    this.accountLists.clear();
    this.committed.clear();
    this.inputs.clear();
    this.latestBalances.clear();
    this.feed.forgetAll();
  }

  /**
   * `docs`: the stored documents the ops were computed from (by id; what a modify, remove or touch changes). `next`:
   * the message applied after this one, reconciled while this write is in flight when this one's rows are held for it.
   */
  private async writeTransactionOps(
    userId: string,
    batch: Batch,
    account: AccountDoc,
    ops: TxOp[],
    enrichments: readonly (StoredEnrichment | null)[],
    enrichmentHashes: readonly string[],
    docs: ReadonlyMap<string, TransactionDoc>,
    keep?: Omit<ResultRows, 'docs'>,
    next?: () => Batch | undefined,
  ): Promise<ApplyResult> {
    if (ops.length === 0) {
      if (keep) this.holdResultRows(userId, this.resultRowsAfter(keep, docs, new Map()));
      return { changes: 0, touched: 0 };
    }
    const changes = ops.filter((o) => o.op !== 'touch').length;
    let seq = changes > 0 ? await this.reserveSeq(userId, changes) : 0;
    const first = seq;
    const at = batch.fetchedAt;
    // a row that comes without enrichment keeps the stored one (no field written)
    const enrichmentOf = (row: number): Pick<TransactionDoc, 'enrichment' | 'enrichmentHash'> => {
      const e = enrichments[row];
      return e ? { enrichment: e, enrichmentHash: enrichmentHashes[row]! } : {};
    };
    // what each op with a sequence number writes, for the listeners (index = the op's)
    const written: (WrittenTx | undefined)[] = [];
    const writes: mongo.AnyBulkWriteOperation<TransactionDoc>[] = ops.map((o, i) => {
      switch (o.op) {
        case 'add': {
          const doc: TransactionDoc = {
            _id: o.id,
            userId,
            clientId: account.clientId,
            accountId: account._id,
            dedupeKey: o.dedupeKey,
            transactionId: o.transactionId,
            fingerprint: o.fingerprint,
            contentHash: o.contentHash,
            ...o.content,
            ...enrichmentOf(o.row),
            sourceAt: at,
            removed: false,
            missingSince: null,
            lastFetchId: o.lastFetchId,
            seq,
            createdSeq: seq,
            changeKind: 'added',
            changeReason: 'content',
            createdAt: at,
            updatedAt: at,
          };
          seq += 1;
          written[i] = { id: o.id, doc };
          // An insert under the id derived from the key: a replay's row is refused by `_id`, a row stored under this
          // key with another id (a pending row that settled to it, outside the window read) by the unique key, and
          // either is left as it is (`bulkWriteTransactionOps`). An insert costs 220 us a row on the local store
          // against 340-390 for an upsert by `_id` (20,000 rows of one user in bulks of 500, six indexes). Never an
          // upsert on the key: the local store ignores `hint` on updates and planned {userId, dedupeKey} through
          // `transactions_pending` (every row of the user read per upsert: 500 upserts 200 ms at 0 rows, 824 ms at
          // 5,000) and {dedupeKey} on a fresh collection as scans of the primary key (4,640 index rows per upsert).
          return { insertOne: { document: doc } };
        }
        case 'modify': {
          const set = {
            ...o.content,
            ...enrichmentOf(o.row),
            ...(o.settledFingerprint ? { settledFingerprint: o.settledFingerprint } : {}),
            sourceAt: at,
            dedupeKey: o.dedupeKey,
            fingerprint: o.fingerprint,
            contentHash: o.contentHash,
            removed: false,
            missingSince: null,
            lastFetchId: o.lastFetchId,
            seq,
            changeKind: 'modified' as const,
            changeReason: o.reason,
            updatedAt: at,
          };
          seq += 1;
          written[i] = { id: o.id, set };
          return { updateOne: { filter: { _id: o.id, userId }, update: { $set: set } } };
        }
        case 'remove': {
          const set = { removed: true, missingSince: o.missingSince, seq, changeKind: 'removed' as const, changeReason: 'pending_gone', updatedAt: at };
          seq += 1;
          const bookedAt = docs.get(o.id)?.bookedAt;
          written[i] = bookedAt ? { id: o.id, set, bookedAt } : { id: o.id, set };
          return { updateOne: { filter: { _id: o.id, userId }, update: { $set: set } } };
        }
        case 'touch':
          written[i] = { id: o.id, set: { lastFetchId: o.lastFetchId, missingSince: o.missingSince } };
          return { updateOne: { filter: { _id: o.id, userId }, update: { $set: written[i].set } } };
      }
    });
    // held for the result's next message only when every changed row is known: not after a refused add (the row
    // stored under its key or id was outside the read) nor a change of a row that was not read
    const keepable = keep !== undefined && ops.every((o) => o.op === 'add' || docs.has(o.id));
    // what the result's next message reads if every add inserts (each row as this write stores it): built once, after
    // the write is sent, by the look-ahead or after the write
    let basis: { rows: ResultRows | undefined } | undefined;
    const basisOf = (k: Omit<ResultRows, 'docs'>): ResultRows | undefined => {
      if (basis) return basis.rows;
      const changed = new Map<string, TransactionDoc>();
      for (const [i, o] of ops.entries()) changed.set(o.id, written[i]!.doc ?? { ...docs.get(o.id)!, ...written[i]!.set });
      basis = { rows: this.resultRowsAfter(k, docs, changed) };
      return basis.rows;
    };
    const writing = timed('store_write', () => this.tellingListeners(userId, () => this.bulkWriteTransactionOps(ops, writes)));
    // the next message is reconciled while the store applies this write: the driver has sent it by the next turn of
    // the event loop, and reconciling is CPU only (`prepareNext`)
    const preparing =
      keepable && next
        ? new Promise<void>((resolve) =>
            setImmediate(() => {
              try {
                const rows = basisOf(keep);
                if (rows) this.prepareNext(userId, account._id, rows, next);
              } finally {
                resolve();
              }
            }),
          )
        : undefined;
    const inserted = await writing
      .finally(() => preparing)
      .catch((err: unknown) => {
        this.prepared.delete(userId);
        throw err;
      });
    // the rows changed: an add that inserted its row (one that did not leaves a gap), every modify and remove (rows
    // read just before: single writer); touches take no number
    const rows = written.filter((w, i): w is WrittenTx => w !== undefined && ops[i]!.op !== 'touch' && (ops[i]!.op !== 'add' || inserted.has(i)));
    const keeping = keepable && ops.every((o, i) => o.op !== 'add' || inserted.has(i));
    for (const [i, o] of ops.entries()) if (o.op === 'touch') this.feed.touched(userId, o.id, written[i]!.set!);
    for (const r of rows) {
      const before = docs.get(r.id);
      const now = r.doc ?? (before ? { ...before, ...r.set } : undefined);
      if (now) this.feed.wrote(userId, now.seq, now);
      else this.feed.elsewhere(userId, [{ id: r.id, seq: r.set!.seq! }]);
    }
    if (changes > 0) {
      for (const l of this.listeners) l.written(userId, rows, seq - 1);
      await this.commitSeq(userId, seq - 1);
    }
    // the very rows `prepareNext` reconciled the next message against, when it ran
    if (keeping) this.holdResultRows(userId, basisOf(keep));
    else this.prepared.delete(userId);
    return changes > 0 ? { changes, firstSeq: first, lastSeq: seq - 1, touched: ops.length - changes } : { changes: 0, touched: ops.length };
  }

  private async applyBalance(userId: string, batch: Batch, providerAccountId: string, raw: BalanceValues & { updateTimestamp?: Date | undefined }): Promise<ApplyResult> {
    const account = await this.internalAccount(userId, batch.clientId, providerAccountId);
    const values = normaliseBalance(raw);
    const asOf = balanceAsOf(raw.updateTimestamp, batch.fetchedAt);
    // the latest stored balance, when it is not after asOf, is the one a read would find (SINGLE WRITER PER USER:
    // only this method writes balances, and an erasure or a rebalance drops what is kept)
    const latest = this.latestBalances.get(userId)?.get(account._id);
    const [before] = latest && latest.asOf.getTime() <= asOf.getTime() ? [latest] : await this.cursors.balanceHistory(userId, account._id, 1, asOf).toArray();
    if (before && sameBalance(before, values)) return { changes: 0, touched: 0 };
    const seq = await this.reserveSeq(userId, 1);
    const id = balanceId(userId, account._id, asOf);
    // unknown while written (a write that fails part-way leaves what it leaves)
    this.latestBalances.get(userId)?.delete(account._id);
    const doc: BalanceDoc = { _id: id, userId, clientId: account.clientId, accountId: account._id, asOf, ...values, seq, createdSeq: seq, changeKind: 'added', createdAt: batch.fetchedAt, updatedAt: batch.fetchedAt };
    if (before && before.asOf.getTime() === asOf.getTime()) {
      // the same instant with other values: the later delivery wins
      const { _id, createdSeq: _c, createdAt: _a, ...set } = doc;
      await this.balances.bulkWrite([{ updateOne: { filter: { _id, userId }, update: { $set: { ...set, changeKind: 'modified' } } } }], { ordered: false });
    } else {
      await this.balances.bulkWrite([{ updateOne: { filter: { _id: id }, update: { $setOnInsert: doc }, upsert: true } }], { ordered: false });
    }
    await this.commitSeq(userId, seq, false);
    // kept as the account's latest when nothing later was known to be stored (this one did not arrive late); the
    // values are what a read finds, whichever of the two writes above ran
    if (!latest || latest.asOf.getTime() <= asOf.getTime()) {
      const byAccount = this.latestBalances.get(userId) ?? new Map<string, BalanceDoc>();
      byAccount.set(account._id, doc);
      keep(this.latestBalances, userId, byAccount, ACCOUNT_USERS);
    }
    return { changes: 1, firstSeq: seq, lastSeq: seq, touched: 0 };
  }

  // ---- re-enrichment ----

  /**
   * New enrichment for stored transactions (ReEnrichment on ais.enriched.v1): writes only the rows whose
   * enrichment hash changes, each with the user's next sequence number (modified, reason 'enrichment'). Ids that
   * name no live transaction of the user (unknown, another user's, or removed) are ignored and counted. Reads by
   * `_id`. Single writer: called by the consumer that owns the user (see the file comment).
   */
  async applyReEnrichment(userId: string, items: { transactionId: string; enrichment: StoredEnrichment }[], at: Date): Promise<ReEnrichResult> {
    const wanted = new Map<string, StoredEnrichment>();
    for (const it of items) wanted.set(it.transactionId, it.enrichment); // the last one of an id wins
    const ids = [...wanted.keys()].sort();
    const stored =
      ids.length > 0
        ? await this.transactions
            .find({ _id: { $in: ids }, userId })
            .project<Pick<TransactionDoc, '_id' | 'enrichmentHash' | 'removed' | 'sourceAt' | 'bookedAt'>>({ _id: 1, enrichmentHash: 1, removed: 1, sourceAt: 1, bookedAt: 1 })
            .toArray()
        : [];
    const byId = new Map(stored.filter((d) => !d.removed).map((d) => [d._id, d]));
    // a re-enrichment older than the row's last source write (a redelivery) changes nothing
    const changed = ids.filter((id) => {
      const d = byId.get(id);
      return d && !(d.sourceAt && at.getTime() < d.sourceAt.getTime()) && (d.enrichmentHash ?? '') !== enrichmentHashOf(wanted.get(id));
    });
    const unknown = ids.length - byId.size;
    if (changed.length === 0) return { changes: 0, touched: 0, unknown };
    const first = await this.reserveSeq(userId, changed.length);
    const sets = changed.map((id, i) => {
      const enrichment = wanted.get(id)!;
      const set = { enrichment, enrichmentHash: enrichmentHashOf(enrichment), sourceAt: at, seq: first + i, changeKind: 'modified' as const, changeReason: 'enrichment', updatedAt: at };
      const bookedAt = byId.get(id)!.bookedAt;
      return bookedAt ? { id, set, bookedAt } : { id, set };
    });
    this.feed.elsewhere(userId, sets.map(({ id, set }) => ({ id, seq: set.seq })));
    await this.tellingListeners(userId, () => this.transactions.bulkWrite(sets.map(({ id, set }) => ({ updateOne: { filter: { _id: id, userId }, update: { $set: set } } })), { ordered: false }));
    const last = first + changed.length - 1;
    for (const l of this.listeners) l.written(userId, sets, last);
    await this.commitSeq(userId, last);
    return { changes: changed.length, firstSeq: first, lastSeq: last, touched: 0, unknown };
  }

  // ---- user edits ----

  /**
   * Sets the user's edit of a transaction or account (a `null` field clears it). Stored apart from fetched data:
   * no sync writes `user_edits`. Single writer: called by the consumer that owns the user (see the file comment).
   * `clientId`: the API client of the command (the read API checked that the target is that client's).
   */
  async applyEdit(userId: string, target: 'transaction' | 'account', targetId: string, edit: UserEdit, at: Date, requestId?: string, clientId?: string): Promise<ApplyResult> {
    const _id = `${target}:${targetId}`;
    const existing = await this.edits.findOne({ _id, userId });
    // idempotency on the request id: a redelivered command does nothing
    if (requestId && existing?.requestIds?.includes(requestId)) return { changes: 0, touched: 0 };
    const pushRequest = requestId ? { $push: { requestIds: { $each: [requestId], $slice: -EDIT_REQUEST_IDS_KEPT } } } : {};
    const merged: UserEdit = {
      categoryOverride: existing?.categoryOverride ?? null,
      notes: existing?.notes ?? null,
      tags: existing?.tags ?? null,
      hidden: existing?.hidden ?? null,
    };
    for (const k of ['categoryOverride', 'notes', 'tags', 'hidden'] as const) if (edit[k] !== undefined) (merged as Record<string, unknown>)[k] = edit[k];
    if (existing && canonicalJson(merged) === canonicalJson({ categoryOverride: existing.categoryOverride, notes: existing.notes, tags: existing.tags, hidden: existing.hidden })) {
      // nothing changes, but the request is recorded so that its sender sees it applied
      if (!requestId) return { changes: 0, touched: 0 };
      await this.edits.updateOne({ _id, userId }, pushRequest);
      return { changes: 0, touched: 1 };
    }
    const seq = await this.reserveSeq(userId, 1);
    await this.edits.bulkWrite(
      [
        {
          updateOne: {
            filter: { _id },
            update: {
              $set: { ...merged, userId, ...(clientId ? { clientId } : {}), target, targetId, seq, changeKind: existing ? 'modified' : 'added', updatedAt: at },
              $setOnInsert: { createdSeq: seq, createdAt: at },
              ...pushRequest,
            },
            upsert: true,
          },
        },
      ],
      { ordered: false },
    );
    await this.commitSeq(userId, seq, false);
    return { changes: 1, firstSeq: seq, lastSeq: seq, touched: 0 };
  }

  async editsOf(userId: string, target: 'transaction' | 'account', targetIds: string[]): Promise<UserEditDoc[]> {
    return this.edits.find({ _id: { $in: targetIds.map((id) => `${target}:${id}`) }, userId }).toArray();
  }

  // ---- reads ----

  accountsPage(clientId: string, userId: string, limit: number, after?: string): Promise<AccountDoc[]> {
    return this.cursors.accountsPage(clientId, userId, limit, after).toArray();
  }

  timeline(userId: string, accountId: string, limit: number, after?: { bookedAt: Date; id: string }): Promise<TransactionDoc[]> {
    return this.cursors.timeline(userId, accountId, limit, after).toArray();
  }

  /**
   * A canonical checksum of everything stored for a user (every document of the five collections, sorted by id,
   * as canonical JSON): replaying the same events twice, or into a fresh store, must give the same value.
   */
  async checksum(userId: string): Promise<string> {
    const parts: string[] = [];
    const collections: [string, mongo.Collection<mongo.Document>][] = [
      ['accounts', this.accounts as unknown as mongo.Collection<mongo.Document>],
      ['transactions', this.transactions as unknown as mongo.Collection<mongo.Document>],
      ['balances', this.balances as unknown as mongo.Collection<mongo.Document>],
      ['user_edits', this.edits as unknown as mongo.Collection<mongo.Document>],
    ];
    for (const [name, c] of collections) {
      const docs = await c.find({ userId }).sort({ _id: 1 }).toArray();
      parts.push(name, ...docs.map((d) => canonicalJson(d)));
    }
    const found = await this.state.findOne({ _id: userId });
    // the change feed's bookkeeping (how far publishing got) is not stored data
    const { publishedSeq: _p, publishPending: _f, pendingSince: _s, publishingFrom: _i, ...state } = found ?? ({} as UserStateDoc);
    parts.push('user_state', canonicalJson(found ? { ...state, links: [...state.links].sort((a, b) => canonicalJson(a).localeCompare(canonicalJson(b))) } : null));
    return sha256Hex(parts.join('\n'));
  }
}
