/**
 * The read API's queries over the canonical store's collections (data/store.ts writes them; this module only reads).
 * Every query is scoped by `clientId` and `userId`: a user id of another API client finds nothing.
 *
 * Indexes (named; test/read-api.int-spec.ts proves each hot cursor with explain()):
 * - `transactions_user_timeline` {clientId, userId, bookedAt:-1, _id:-1}: a user's transactions across accounts,
 *   newest first (keyset pages, date ranges, residual filters on status/category/text/hidden), the spending summary.
 * - `transactions_user_merchant` {clientId, userId, enrichment.merchantKey, bookedAt:-1, _id:-1}: the merchant filter.
 * - `recurring_series_client` {userId, clientId, seriesId} on `recurring_series` (written by data/analysis.ts, which
 *   defines the index; created here too with the same definition so that the read side does not depend on the order
 *   of start-up).
 * The account filter uses the store's `transactions_timeline`; the change feed the store's `*_changes` indexes.
 */
import type { mongo } from 'mongoose';
import { dropIndexIfPresent, type Connection } from '@ais/platform-mongo';
import { ANALYSIS_INDEXES, LEGACY_SERIES_INDEX, type SeriesDoc } from './analysis';
import { TRANSACTION_VIEW_FIELDS, type TransactionViewDoc } from '../domain/view';
import { RECON_INDEXES, type AccountDoc, type BalanceDoc, type ReconciliationStore, type TransactionDoc, type UserEditDoc } from './store';

export const READ_INDEXES = {
  transactionsUserTimeline: 'transactions_user_timeline',
  transactionsUserMerchant: 'transactions_user_merchant',
  recurringByUser: ANALYSIS_INDEXES.seriesByUser,
} as const;

/** A stored recurring series (data/analysis.ts writes it). */
export type RecurringSeriesDoc = SeriesDoc;

const DAY_MS = 86_400_000;
const VIEW_PROJECTION: mongo.Document = Object.fromEntries(TRANSACTION_VIEW_FIELDS.map((k) => [k, 1]));
/** What GetChanges reads of a changed transaction: the view's fields and what it sorts and splits them by. */
export const CHANGE_VIEW_FIELDS = [...TRANSACTION_VIEW_FIELDS, 'clientId', 'removed', 'createdSeq'] as const satisfies readonly (keyof TransactionDoc)[];
export type ChangeViewDoc = Pick<TransactionDoc, (typeof CHANGE_VIEW_FIELDS)[number]>;
const CHANGE_PROJECTION: mongo.Document = Object.fromEntries(CHANGE_VIEW_FIELDS.map((k) => [k, 1]));
/** The first window of a transactions page, in days (see `transactionPage`). */
export const PAGE_WINDOW_DAYS = 31;
const PAGE_WINDOWS = 6;
/** The default lower ends of a page's bounded windows, below its start: 31 d, then each window 4× the last. */
const WINDOW_ENDS_MS = Array.from({ length: PAGE_WINDOWS - 1 }, (_, i) => (PAGE_WINDOW_DAYS * DAY_MS * (4 ** (i + 1) - 1)) / 3);

/** A bookedAt range: `from` inclusive, `to` exclusive. */
export interface TimeWindow {
  from?: Date;
  to?: Date;
}

function later(a?: Date, b?: Date): Date | undefined {
  return a && b ? (a.getTime() >= b.getTime() ? a : b) : (a ?? b);
}

function earlier(a?: Date, b?: Date): Date | undefined {
  return a && b ? (a.getTime() <= b.getTime() ? a : b) : (a ?? b);
}

/** Keyset position: the last row of the previous page. */
export interface TxKey {
  bookedAt: Date;
  id: string;
  /**
   * The width of the next page's first window, in ms (see `transactionPage`): the time the previous page's rows
   * spanned, a little more. Only what a page costs depends on it, never its rows; bounded by `windowHint`.
   */
  windowMs?: number;
}

/** The narrowest and the widest first window a page token may ask for. */
export const MIN_WINDOW_MS = 3_600_000;
export const MAX_WINDOW_MS = 366 * DAY_MS;

/**
 * The first window for the page after `page` (its rows, newest first, `limit` of them): the time they spanned,
 * a quarter more, so that on an even history the next page is one query; at least an hour, at most a year.
 */
export function windowHint(page: readonly { bookedAt: Date }[]): number {
  const span = page.length > 1 ? page[0]!.bookedAt.getTime() - page[page.length - 1]!.bookedAt.getTime() : 0;
  return Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, Math.round(span * 1.25)));
}

/** A user's write version: `seq` and `committedSeq` of `user_state` (both 0 for a user with no state yet). */
export interface UserVersion {
  seq: number;
  committedSeq: number;
}

export interface TxFilter {
  accountId?: string;
  merchantKey?: string;
  from?: Date;
  to?: Date;
  status?: string;
  /** Case-insensitive substring of description or merchant name (matched literally). */
  text?: string;
  /** Effective category (primary or detailed): see `categoryClause`. */
  category?: string;
  /** Transaction ids whose effective category is `category` through a user override. */
  overriddenTo?: string[];
  /** Transaction ids with any user override (their enrichment category no longer counts). */
  overridden?: string[];
  /** Hidden transaction ids to leave out. */
  hidden?: string[];
}

export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

export class ReadQueries {
  readonly accounts: mongo.Collection<AccountDoc>;
  readonly transactions: mongo.Collection<TransactionDoc>;
  readonly balances: mongo.Collection<BalanceDoc>;
  readonly edits: mongo.Collection<UserEditDoc>;
  readonly recurring: mongo.Collection<RecurringSeriesDoc>;

  constructor(
    readonly store: ReconciliationStore,
    conn: Connection,
  ) {
    this.accounts = store.accounts;
    this.transactions = store.transactions;
    this.balances = store.balances;
    this.edits = store.edits;
    this.recurring = conn.collection<RecurringSeriesDoc>('recurring_series');
  }

  async ensureIndexes(): Promise<void> {
    await this.transactions.createIndex({ clientId: 1, userId: 1, bookedAt: -1, _id: -1 }, { name: READ_INDEXES.transactionsUserTimeline });
    await this.transactions.createIndex({ clientId: 1, userId: 1, 'enrichment.merchantKey': 1, bookedAt: -1, _id: -1 }, { name: READ_INDEXES.transactionsUserMerchant });
    await dropIndexIfPresent(this.recurring, LEGACY_SERIES_INDEX);
    await this.recurring.createIndex({ userId: 1, clientId: 1, seriesId: 1 }, { name: READ_INDEXES.recurringByUser, unique: true });
  }

  /** The hot read queries as cursors with the index that serves each (hinted where a planner could pick another). */
  readonly cursors = {
    /** Is this user known to this client (any account)? */
    userProbe: (clientId: string, userId: string) => this.accounts.find({ clientId, userId }).sort({ clientId: 1, userId: 1, _id: 1 }).limit(1),
    account: (clientId: string, userId: string, accountId: string) => this.accounts.find({ _id: accountId, clientId, userId }).limit(1),
    transaction: (clientId: string, userId: string, id: string) => this.transactions.find({ _id: id, clientId, userId, removed: false }).limit(1),
    latestBalance: (userId: string, accountId: string) => this.balances.find({ userId, accountId }).sort({ userId: 1, accountId: 1, asOf: -1 }).limit(1),
    balancePage: (userId: string, accountId: string, limit: number, before?: Date) =>
      this.balances
        .find({ userId, accountId, ...(before ? { asOf: { $lt: before } } : {}) })
        .sort({ userId: 1, accountId: 1, asOf: -1 })
        .hint(RECON_INDEXES.balancesHistory)
        .limit(limit),
    /** Keyset page of live transactions, newest first, with the filters; the index depends on the filter. */
    transactions: (clientId: string, userId: string, f: TxFilter, limit: number, after?: TxKey, window?: TimeWindow) => {
      const and: mongo.Filter<TransactionDoc>[] = [];
      if (after) and.push({ $or: [{ bookedAt: { $lt: after.bookedAt } }, { bookedAt: after.bookedAt, _id: { $lt: after.id } }] });
      if (f.text) {
        const re = { $regex: escapeRegex(f.text), $options: 'i' };
        and.push({ $or: [{ description: re }, { merchantName: re }, { 'enrichment.merchantName': re }] });
      }
      if (f.category) and.push(categoryClause(f.category, f.overriddenTo ?? [], f.overridden ?? []));
      const range: Record<string, Date> = {};
      const from = later(f.from, window?.from);
      const to = earlier(f.to, window?.to);
      if (from) range['$gte'] = from;
      // The keyset clause implies bookedAt <= the previous page's last row; said as a bound on the index's range, or
      // the local store scans every newer row of the user for each page (each later page of a history cost more).
      if (after && (!to || to.getTime() > after.bookedAt.getTime())) range['$lte'] = after.bookedAt;
      else if (to) range['$lt'] = to;
      const filter: mongo.Filter<TransactionDoc> = {
        clientId,
        userId,
        removed: false,
        ...(f.accountId ? { accountId: f.accountId } : {}),
        ...(f.merchantKey ? { 'enrichment.merchantKey': f.merchantKey } : {}),
        ...(f.status ? { status: f.status as TransactionDoc['status'] } : {}),
        ...(f.hidden && f.hidden.length > 0 ? { _id: { $nin: f.hidden } } : {}),
        ...(Object.keys(range).length > 0 ? { bookedAt: range } : {}),
        ...(and.length > 0 ? { $and: and } : {}),
      };
      // only the fields the view shows, in one batch (without batchSize the store answers 101 rows, then the rest)
      const find = (sort: mongo.Sort, index: string) => this.transactions.find(filter).sort(sort).hint(index).limit(limit).batchSize(limit).project<TransactionViewDoc>(VIEW_PROJECTION);
      if (f.accountId) return find({ userId: 1, accountId: 1, bookedAt: -1, _id: -1 }, RECON_INDEXES.transactionsTimeline);
      if (f.merchantKey) return find({ clientId: 1, userId: 1, 'enrichment.merchantKey': 1, bookedAt: -1, _id: -1 }, READ_INDEXES.transactionsUserMerchant);
      return find({ clientId: 1, userId: 1, bookedAt: -1, _id: -1 }, READ_INDEXES.transactionsUserTimeline);
    },
    /**
     * A user's transaction changes after `afterSeq` as GetChanges shows them (`transactions_changes`): only the fields
     * it reads, as the transactions page reads only the view's. A stored row is about 1.4 KB, 40% of it dedupe keys,
     * hashes, the bank's meta and change bookkeeping, and the local store's cost of returning a row grows with its size.
     */
    transactionChangeViews: (userId: string, afterSeq: number, limit: number, upTo?: number) =>
      this.store.cursors.transactionChanges(userId, afterSeq, limit, upTo).project<ChangeViewDoc>(CHANGE_PROJECTION),
    /** The live rows of these ids of this client's user, with the fields GetChanges shows (the rows a change of an edit names). */
    liveChangeViews: (clientId: string, userId: string, ids: string[]) =>
      this.transactions.find({ _id: { $in: ids }, clientId, userId, removed: false }).project<ChangeViewDoc>(CHANGE_PROJECTION),
    /** Booked live transactions in a time range (spending summary). */
    bookedInRange: (clientId: string, userId: string, from: Date, to: Date, accountId?: string) =>
      this.transactions
        .find({ clientId, userId, bookedAt: { $gte: from, $lt: to }, removed: false, status: 'booked', ...(accountId ? { accountId } : {}) })
        .sort({ clientId: 1, userId: 1, bookedAt: -1, _id: -1 })
        .hint(READ_INDEXES.transactionsUserTimeline),
    latestTransaction: (clientId: string, userId: string) =>
      this.transactions.find({ clientId, userId, removed: false }).sort({ clientId: 1, userId: 1, bookedAt: -1, _id: -1 }).hint(READ_INDEXES.transactionsUserTimeline).limit(1),
    /** The user's transaction edits that change what a list shows (override or hidden). */
    transactionEdits: (userId: string) =>
      this.edits.find({ userId, target: 'transaction', $or: [{ hidden: true }, { categoryOverride: { $nin: [null, ''] } }] }).hint(RECON_INDEXES.editsChanges),
    // series carry no client id: the handler first checks that the user is this client's (requireUser)
    /** A client's series of the user, and the legacy ones (no client: filtered by their account). */
    recurring: (clientId: string, userId: string) =>
      this.recurring
        .find({ userId, clientId: { $in: [clientId, null] } } as mongo.Filter<RecurringSeriesDoc>)
        .sort({ userId: 1, clientId: 1, seriesId: 1 })
        .limit(1000),
  };

  /**
   * One keyset page of `cursors.transactions`, read window by window. The local store does not walk an index in
   * order: it sorts every row the filter matches before it takes the page (infra/README.md, "sorts are not walked
   * from the index"), so a page over a user's whole history costs that whole history, and paging through a heavy
   * user's 31,607 rows cost n²/page rows. Here each query is also bounded to a time window below the page's start
   * (its cursor, `to`, or now), and the store sorts only that window: first `PAGE_WINDOW_DAYS`, each next window
   * below the last and four times as wide, the last one open downwards (31 d, 124 d, 1.4 y, 5.4 y, 22 y, then
   * open). After the first page the first window is the token's `windowMs` instead (the previous page's span, a
   * quarter more: `windowHint`), so a page of an even history is one query. The rows and their order are those of
   * the unbounded query whatever the windows (read-api.int-spec compares the two across sparse and dense histories
   * and hints); on MongoDB, which walks the index, an unfilled window costs one more round trip.
   */
  async transactionPage(clientId: string, userId: string, f: TxFilter, limit: number, after?: TxKey): Promise<TransactionViewDoc[]> {
    const out: TransactionViewDoc[] = [];
    // rows after `now` (a bank's future-dated booking) are inside the first window, which is open upwards
    const start = (after?.bookedAt ?? f.to ?? new Date()).getTime();
    // the lower ends of the bounded windows, below `start`: the hint's, then the default series' past it
    const ends = after?.windowMs ? [after.windowMs, ...WINDOW_ENDS_MS.filter((e) => e > after.windowMs!)] : WINDOW_ENDS_MS;
    let to: Date | undefined;
    for (let i = 0; i <= ends.length; i += 1) {
      const from = i < ends.length ? new Date(start - ends[i]!) : undefined;
      const rows = await this.cursors.transactions(clientId, userId, f, limit - out.length, after, { ...(from ? { from } : {}), ...(to ? { to } : {}) }).toArray();
      out.push(...rows);
      if (out.length >= limit || !from || (f.from && from.getTime() <= f.from.getTime())) break;
      to = from;
    }
    return out;
  }

  /** The user's write version (grpc/read-ahead.ts): `user_state`'s sequence numbers, 0 before the first change. */
  async userVersion(userId: string): Promise<UserVersion> {
    const st = await this.store.userState(userId);
    return { seq: st?.seq ?? 0, committedSeq: st?.committedSeq ?? 0 };
  }

  async userKnown(clientId: string, userId: string): Promise<boolean> {
    return (await this.cursors.userProbe(clientId, userId).toArray()).length > 0;
  }

  async account(clientId: string, userId: string, accountId: string): Promise<AccountDoc | undefined> {
    return (await this.cursors.account(clientId, userId, accountId).toArray())[0];
  }

  async transaction(clientId: string, userId: string, id: string): Promise<TransactionDoc | undefined> {
    return (await this.cursors.transaction(clientId, userId, id).toArray())[0];
  }

  async latestBalances(userId: string, accountIds: string[]): Promise<Map<string, BalanceDoc>> {
    const found = await Promise.all(accountIds.map(async (id) => (await this.cursors.latestBalance(userId, id).toArray())[0]));
    return new Map(found.filter((b): b is BalanceDoc => b !== undefined).map((b) => [b.accountId, b]));
  }

  async editsByTarget(userId: string, target: 'transaction' | 'account', ids: string[]): Promise<Map<string, UserEditDoc>> {
    if (ids.length === 0) return new Map();
    const docs = await this.store.editsOf(userId, target, ids);
    return new Map(docs.map((d) => [d.targetId, d]));
  }

  /** Hidden ids and override targets of a user's transactions (user edits are few per user). */
  async transactionEditSets(userId: string): Promise<{ hidden: string[]; overrides: Map<string, string> }> {
    const docs = await this.cursors.transactionEdits(userId).toArray();
    return {
      hidden: docs.filter((d) => d.hidden === true).map((d) => d.targetId),
      overrides: new Map(docs.filter((d) => d.categoryOverride).map((d) => [d.targetId, d.categoryOverride!])),
    };
  }
}

/**
 * Effective category = the user's override when there is one, else enrichment's detailed/primary. So: a row
 * overridden to `category`, or a row not overridden whose enrichment matches.
 */
function categoryClause(category: string, overriddenTo: string[], overridden: string[]): mongo.Filter<TransactionDoc> {
  const enriched: mongo.Filter<TransactionDoc> = {
    $or: [{ 'enrichment.detailed': category }, { 'enrichment.primary': category }],
    ...(overridden.length > 0 ? { _id: { $nin: overridden } } : {}),
  };
  return overriddenTo.length > 0 ? { $or: [{ _id: { $in: overriddenTo } }, enriched] } : enriched;
}
