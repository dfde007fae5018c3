/**
 * The read API (proto/ais/reconciliation/v1/reconciliation_service.proto) over the canonical store. Every call is
 * scoped by client_id and user_id: a user unknown to the calling client is NOT_FOUND, never visible.
 *
 * Edits are not written here: the handler publishes a UserEditCommand on ais.enriched.v1 keyed by the user, and the
 * consumer that owns the user's partition applies it (SINGLE WRITER PER USER: the store's commit of a user's sequence
 * numbers is only correct with one writer; see data/store.ts). The handler then waits for the edit
 * document to carry the request id.
 */
import { bindings, EVENT_TYPES, isDetailed, isPrimary } from '@ais/contracts-events';
import type { eventsV1, reconciliationV1 } from '@ais/contracts-proto-ts';
import { AppError, isOpaqueId, requireIds, type FieldViolation } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import type { Logger } from '@ais/platform-logger';
import { newMeta, type TopicBinding } from '@ais/platform-kafka';
import { trace } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import { erasureView, type Erasures } from '../data/erasure';
import { MAX_WINDOW_MS, MIN_WINDOW_MS, windowHint, type ChangeViewDoc, type ReadQueries, type TxFilter, type TxKey } from '../data/queries';
import type { AccountDoc, BalanceDoc, UserEditDoc } from '../data/store';
import { accountView, balanceView, primaryOfDetailed, signedAmount, transactionView, type TransactionViewDoc } from '../domain/view';
import { DecimalSum, magnitude } from './money';
import { ReadAhead, type ReadAheadOptions } from './read-ahead';

// ---- opaque tokens (base64url JSON, validated field by field: anything else is INVALID_ARGUMENT) ----

function encode(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function decode(token: string, field: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badToken(field);
}

function badToken(field: string): AppError {
  return AppError.invalid(`invalid_${field}`, `${field} is not one this service issued`, [{ field, description: 'malformed' }]);
}

export function encodePageToken(lastId: string): string {
  return encode({ a: lastId });
}

export function decodePageToken(token: string): string | undefined {
  if (token === '') return undefined;
  const { a } = decode(token, 'page_token');
  if (typeof a === 'string' && isOpaqueId(a)) return a;
  throw badToken('page_token');
}

export function encodeTxToken(key: TxKey): string {
  return encode({ b: key.bookedAt.toISOString(), i: key.id, ...(key.windowMs ? { w: key.windowMs } : {}) });
}

/** A token's window hint only changes what the page costs; one outside `windowHint`'s bounds is refused. */
export function decodeTxToken(token: string): TxKey | undefined {
  if (token === '') return undefined;
  const { b, i, w } = decode(token, 'page_token');
  const at = typeof b === 'string' ? new Date(b) : undefined;
  const hinted = w === undefined || (Number.isInteger(w) && (w as number) >= MIN_WINDOW_MS && (w as number) <= MAX_WINDOW_MS);
  if (at && !Number.isNaN(at.getTime()) && at.toISOString() === b && typeof i === 'string' && isOpaqueId(i) && hinted) {
    return { bookedAt: at, id: i, ...(w === undefined ? {} : { windowMs: w as number }) };
  }
  throw badToken('page_token');
}

function decodeTimeToken(token: string): Date | undefined {
  if (token === '') return undefined;
  const { t } = decode(token, 'page_token');
  const at = typeof t === 'string' ? new Date(t) : undefined;
  if (at && !Number.isNaN(at.getTime()) && at.toISOString() === t) return at;
  throw badToken('page_token');
}

export function encodeCursor(seq: number): string {
  return encode({ s: seq });
}

export function decodeCursor(cursor: string): number {
  if (cursor === '') return 0;
  const { s } = decode(cursor, 'cursor');
  if (typeof s === 'number' && Number.isSafeInteger(s) && s >= 0) return s;
  throw badToken('cursor');
}

// ---- validation ----

/** The first window of a change-feed page spans this many times count+1 sequence numbers (see getChanges). */
const CHANGE_WINDOW_FACTOR = 2;

function pageSize(value: number, def: number, max: number, field = 'page_size'): number {
  if (value === 0) return def;
  if (value > max) throw AppError.invalid(`invalid_${field}`, `${field} must be at most ${max}`, [{ field, description: `1..${max}` }]);
  return value;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TAG = /^[^\u0000-\u001f]{1,64}$/;

function monthStart(month: string, field: string): Date {
  const m = MONTH.exec(month);
  if (!m) throw AppError.invalid(`invalid_${field}`, `${field} must be YYYY-MM`, [{ field, description: 'YYYY-MM' }]);
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
}

const addMonths = (d: Date, n: number) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));
const monthOf = (d: Date) => d.toISOString().slice(0, 7);

function validateFields(f: reconciliationV1.EditFields | undefined, target: 'transaction' | 'account'): reconciliationV1.EditFields {
  const v: FieldViolation[] = [];
  if (!f || !(f.setCategoryOverride || f.setNotes || f.setTags || f.setHidden)) {
    throw AppError.invalid('no_fields', 'set at least one field to change', [{ field: 'fields', description: 'no set_* flag is true' }]);
  }
  if (f.setCategoryOverride) {
    if (target === 'account') v.push({ field: 'fields.category_override', description: 'accounts have no category' });
    else if (f.categoryOverride !== '' && !isDetailed(f.categoryOverride)) v.push({ field: 'fields.category_override', description: 'not a detailed PFC category' });
  }
  if (f.setNotes && f.notes.length > 2000) v.push({ field: 'fields.notes', description: 'at most 2000 characters' });
  if (f.setTags) {
    if (f.tags.length > 20) v.push({ field: 'fields.tags', description: 'at most 20 tags' });
    if (f.tags.some((t) => !TAG.test(t))) v.push({ field: 'fields.tags', description: 'each tag 1-64 printable characters' });
  }
  if (v.length > 0) throw AppError.invalid('invalid_fields', v.map((x) => `${x.field}: ${x.description}`).join('; '), v);
  return f;
}

function requestIdOf(value: string): string {
  if (value === '') return randomUUID();
  if (!REQUEST_ID.test(value)) throw AppError.invalid('invalid_request_id', 'request_id must be 1-128 characters of [A-Za-z0-9._:-]', [{ field: 'request_id', description: 'pattern' }]);
  return value;
}

// ---- handlers ----

export interface EditSink {
  publish(binding: TopicBinding<eventsV1.EnrichedEvent>, events: eventsV1.EnrichedEvent[]): Promise<void>;
}

export interface ReadApiDeps {
  queries: ReadQueries;
  /** The producer of user edit commands (ais.enriched.v1); edits answer FAILED_PRECONDITION without it. */
  producer?: EditSink;
  topicPrefix?: string;
  /** How long an edit call waits for the consumer to apply it (default 5 s). */
  editWaitMs?: number;
  editPollMs?: number;
  /** Makes a user rule (merchant → category) and re-enriches; apply_to_merchant is refused without it. */
  userRules?: (clientId: string, userId: string, merchantKey: string, detailedCategory: string) => Promise<void>;
  /** Edit hops are logged (ids and outcome only, never the user's notes or tags). */
  logger?: Logger;
  /** The deletion log (GetErasure answers UNAVAILABLE without it). */
  erasures?: Erasures;
  /** Read-ahead of the next transactions page for a paging client (grpc/read-ahead.ts); default DEFAULT_READ_AHEAD. */
  readAhead?: ReadAheadOptions;
}

/** A transactions page as served: its views, and the key of the next page when there is one. */
interface BuiltPage {
  transactions: reconciliationV1.Transaction[];
  next: TxKey | undefined;
}

/** 16 pages of at most 500 transaction views (a few MB at most), each served within 10 s of its read. */
export const DEFAULT_READ_AHEAD: ReadAheadOptions = { maxEntries: 16, ttlMs: 10_000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function reconciliationHandlers(deps: ReadApiDeps): ServiceHandlers<typeof reconciliationV1.ReconciliationServiceService> {
  const q = deps.queries;
  const readAhead = new ReadAhead<BuiltPage>(deps.readAhead ?? DEFAULT_READ_AHEAD);

  async function requireUser(clientId: string, userId: string): Promise<void> {
    requireIds({ client_id: clientId, user_id: userId });
    knownOrThrow(await q.userKnown(clientId, userId));
  }

  function knownOrThrow(known: boolean): void {
    if (!known) throw AppError.notFound('user_not_found', 'no data for this user under this client');
  }

  /**
   * The user probe beside the reads a handler needs anyway: one round trip to the store instead of two. The
   * reads are only the user's own rows (keyed by user id), and nothing of them is returned unless the probe
   * found the user under this client, so an unknown user still gets `user_not_found` and learns nothing. The
   * reads have started when this runs: the caller checks the ids first.
   */
  async function withUser<T extends unknown[]>(clientId: string, userId: string, reads: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
    const [known, ...rest] = await Promise.all([q.userKnown(clientId, userId), ...reads]);
    knownOrThrow(known as boolean);
    return rest as T;
  }

  async function requireAccount(clientId: string, userId: string, accountId: string): Promise<AccountDoc> {
    requireIds({ client_id: clientId, user_id: userId, account_id: accountId });
    return accountOrThrow(await q.account(clientId, userId, accountId));
  }

  function accountOrThrow(account: AccountDoc | undefined): AccountDoc {
    if (!account) throw AppError.notFound('account_not_found', 'no such account for this user');
    return account;
  }

  async function transactionViews(userId: string, docs: TransactionViewDoc[]): Promise<reconciliationV1.Transaction[]> {
    const edits = await q.editsByTarget(userId, 'transaction', docs.map((d) => d._id));
    return docs.map((d) => transactionView(d, edits.get(d._id)));
  }

  async function accountViews(userId: string, docs: AccountDoc[]): Promise<reconciliationV1.Account[]> {
    const ids = docs.map((d) => d._id);
    const [balances, edits] = await Promise.all([q.latestBalances(userId, ids), q.editsByTarget(userId, 'account', ids)]);
    return docs.map((d) => accountView(d, balances.get(d._id), edits.get(d._id)));
  }

  /**
   * Sends the edit to the user's partition owner and waits until the edit document carries `requestId`. An edit
   * already applied under this request id is answered without sending it again.
   */
  async function sendEdit(
    clientId: string,
    userId: string,
    target: 'transaction' | 'account',
    targetId: string,
    f: reconciliationV1.EditFields,
    requestId: string,
  ): Promise<boolean> {
    const appliedDoc = () => q.edits.findOne({ _id: `${target}:${targetId}`, userId, requestIds: requestId } as unknown as Parameters<typeof q.edits.findOne>[0]);
    if (await appliedDoc()) return true;
    if (!deps.producer) throw new AppError({ code: 'edits_unavailable', message: 'this reconciliation instance takes no edits (no producer)', kind: 'failed_precondition' });
    const event: eventsV1.EnrichedEvent = {
      meta: newMeta('reconciliation', EVENT_TYPES.userEdit, 1, requestId),
      userId,
      clientId,
      payload: {
        $case: 'userEdit',
        userEdit: {
          requestId,
          target,
          targetId,
          setCategoryOverride: f.setCategoryOverride,
          categoryOverride: f.categoryOverride,
          setNotes: f.setNotes,
          notes: f.notes,
          setTags: f.setTags,
          tags: f.tags,
          setHidden: f.setHidden,
          hidden: f.hidden,
          requestedAt: new Date(),
        },
      },
    };
    trace.getActiveSpan()?.setAttributes({ 'ais.edit.target': target, 'ais.edit.request_id': requestId });
    await deps.producer.publish(bindings.enriched(deps.topicPrefix ?? ''), [event]);
    const started = Date.now();
    const until = started + (deps.editWaitMs ?? 5_000);
    let applied = false;
    while (!applied && Date.now() < until) {
      await sleep(deps.editPollMs ?? 50);
      applied = (await appliedDoc()) !== null;
    }
    trace.getActiveSpan()?.setAttribute('ais.edit.applied', applied);
    deps.logger?.info({ userId, target, targetId, requestId, applied, waitedMs: Date.now() - started }, applied ? 'user edit applied' : 'user edit queued (not applied within the wait)');
    return applied;
  }

  return {
    async listAccounts(req) {
      await requireUser(req.clientId, req.userId);
      const size = pageSize(req.pageSize, 100, 500);
      const after = decodePageToken(req.pageToken);
      const docs = await q.store.accountsPage(req.clientId, req.userId, size + 1, after);
      const page = docs.slice(0, size);
      const last = page[page.length - 1];
      return { accounts: await accountViews(req.userId, page), nextPageToken: docs.length > size && last ? encodePageToken(last._id) : '' };
    },

    async getBalanceHistory(req) {
      await requireAccount(req.clientId, req.userId, req.accountId);
      const size = pageSize(req.pageSize, 100, 500);
      const before = decodeTimeToken(req.pageToken);
      const docs = await q.cursors.balancePage(req.userId, req.accountId, size + 1, before).toArray();
      const page = docs.slice(0, size);
      const last = page[page.length - 1];
      return { balances: page.map(balanceView), nextPageToken: docs.length > size && last ? encode({ t: last.asOf.toISOString() }) : '' };
    },

    async listTransactions(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId });
      const [edits, account, version] = await withUser(req.clientId, req.userId, [
        q.transactionEditSets(req.userId),
        req.accountId ? q.account(req.clientId, req.userId, req.accountId) : Promise.resolve(undefined),
        // read-ahead only concerns a client already paging (a page token): a first page costs no extra read
        req.pageToken ? q.userVersion(req.userId) : Promise.resolve(undefined),
      ] as const);
      const size = pageSize(req.pageSize, 50, 500);
      const after = decodeTxToken(req.pageToken);
      const v: FieldViolation[] = [];
      if (req.status !== '' && req.status !== 'booked' && req.status !== 'pending') v.push({ field: 'status', description: 'booked or pending' });
      if (req.category !== '' && !isDetailed(req.category) && !isPrimary(req.category)) v.push({ field: 'category', description: 'not a PFC primary or detailed category' });
      if (req.from && req.to && req.from.getTime() >= req.to.getTime()) v.push({ field: 'from', description: 'must be before to' });
      if (req.text.length > 100) v.push({ field: 'text', description: 'at most 100 characters' });
      if (req.merchantKey.length > 200) v.push({ field: 'merchant_key', description: 'at most 200 characters' });
      if (v.length > 0) throw AppError.invalid('invalid_filter', v.map((x) => `${x.field}: ${x.description}`).join('; '), v);
      if (req.accountId) {
        requireIds({ account_id: req.accountId });
        accountOrThrow(account);
      }
      const filter: TxFilter = {
        ...(req.accountId ? { accountId: req.accountId } : {}),
        ...(req.merchantKey ? { merchantKey: req.merchantKey } : {}),
        ...(req.from ? { from: req.from } : {}),
        ...(req.to ? { to: req.to } : {}),
        ...(req.status ? { status: req.status } : {}),
        ...(req.text ? { text: req.text } : {}),
        ...(req.includeHidden ? {} : { hidden: edits.hidden }),
      };
      if (req.category) {
        filter.category = req.category;
        filter.overridden = [...edits.overrides.keys()];
        filter.overriddenTo = [...edits.overrides].filter(([, c]) => c === req.category || primaryOfDetailed(c) === req.category).map(([id]) => id);
      }
      // read-ahead keys, for a paging request only; the edit sets come in no particular order: sorted, the same edits give the same key
      const sorted = (ids?: string[]) => (ids ? [...ids].sort() : undefined);
      const paging = after && version ? { version, filterKey: JSON.stringify({ ...filter, hidden: sorted(filter.hidden), overridden: sorted(filter.overridden), overriddenTo: sorted(filter.overriddenTo) }) } : undefined;
      const pageKey = (token: string) => JSON.stringify([req.clientId, req.userId, size, token]);
      // a page: its rows (one more read, so that a next page is known), their views with the user's edits, the next key
      const build = async (from: TxKey | undefined): Promise<BuiltPage> => {
        const docs = await q.transactionPage(req.clientId, req.userId, filter, size + 1, from);
        const rows = docs.slice(0, size);
        const last = rows[rows.length - 1];
        const next = docs.length > size && last ? { bookedAt: last.bookedAt, id: last._id, windowMs: windowHint(rows) } : undefined;
        return { transactions: await transactionViews(req.userId, rows), next };
      };
      const page = (paging && (await readAhead.take(pageKey(req.pageToken), paging.version, paging.filterKey))) || (await build(after));
      const next = page.next;
      const nextPageToken = next ? encodeTxToken(next) : '';
      // a client already paging (this page came with a token) asks for the next one next: build it while this one travels
      if (paging && next) readAhead.start(pageKey(nextPageToken), paging.version, paging.filterKey, () => build(next));
      return { transactions: page.transactions, nextPageToken };
    },

    async getChanges(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId });
      // an unknown user is told so before a malformed cursor or count
      let count: number;
      let since: number;
      try {
        count = pageSize(req.count, 100, 500, 'count');
        since = decodeCursor(req.cursor);
      } catch (e) {
        await requireUser(req.clientId, req.userId);
        throw e;
      }
      // The changes are read in windows of sequence numbers, because the local store sorts every row a query
      // matches (see ReadQueries.transactionPage): a heavy user's feed read from the beginning would sort the whole
      // history for each page. In a window, each source's first count+1 changes hold the first count+1 of all of
      // them (merged by seq); a source that fills its limit is known only up to its last seq (`bound`), and the next
      // window starts there. The first window is read beside the user probe and the user's state (one round trip):
      // rows past the committed sequence are dropped, and a cursor ahead of the state is refused before anything is
      // used.
      const c = q.store.cursors;
      const L = count + 1;
      const readWindow = (after: number, upTo: number) =>
        [
          q.cursors.transactionChangeViews(req.userId, after, L, upTo).toArray(),
          c.accountChanges(req.userId, after, L, upTo).toArray(),
          c.balanceChanges(req.userId, after, L, upTo).toArray(),
          c.editChanges(req.userId, after, L, upTo).toArray(),
        ] as const;
      let span = CHANGE_WINDOW_FACTOR * L;
      const [state, ...first] = await withUser(req.clientId, req.userId, [q.store.userState(req.userId), ...readWindow(since, since + span)] as const);
      const committed = state?.committedSeq ?? 0;
      if (since > (state?.seq ?? 0)) throw AppError.invalid('invalid_cursor', 'cursor is ahead of this user’s changes', [{ field: 'cursor', description: 'unknown position' }]);
      type Item = { seq: number; kind: 'tx'; doc: ChangeViewDoc } | { seq: number; kind: 'account'; id: string } | { seq: number; kind: 'edit'; doc: UserEditDoc };
      const items: Item[] = [];
      let after = since;
      let window: [ChangeViewDoc[], AccountDoc[], BalanceDoc[], UserEditDoc[]] = first;
      for (;;) {
        const upTo = after + span;
        const [txs, accounts, balances, edits] = window;
        let bound = Math.min(upTo, committed);
        for (const page of [txs, accounts, balances, edits]) if (page.length === L) bound = Math.min(bound, page[page.length - 1]!.seq);
        items.push(
          ...[
            ...txs.filter((d) => d.clientId === req.clientId).map((doc) => ({ seq: doc.seq, kind: 'tx' as const, doc })),
            ...accounts.filter((d) => d.clientId === req.clientId).map((d) => ({ seq: d.seq, kind: 'account' as const, id: d._id })),
            ...balances.map((d) => ({ seq: d.seq, kind: 'account' as const, id: d.accountId })),
            ...edits.map((doc) => ({ seq: doc.seq, kind: 'edit' as const, doc })),
          ]
            .filter((i) => i.seq <= bound)
            .sort((a, b) => a.seq - b.seq),
        );
        if (items.length > count || bound >= committed) break;
        // a full source: the rest of this window next; a complete window: the next one, four times as wide
        if (bound === upTo) span *= 4;
        after = bound;
        window = await Promise.all(readWindow(after, after + span));
      }
      const taken = items.slice(0, count);
      const hasMore = items.length > count;
      const nextSeq = hasMore ? taken[taken.length - 1]!.seq : Math.max(since, committed);

      const added: ChangeViewDoc[] = [];
      const modified = new Map<string, ChangeViewDoc | undefined>();
      const removed: ChangeViewDoc[] = [];
      const accountIds = new Set<string>();
      const seen = new Set<string>();
      for (const i of taken) {
        if (i.kind === 'tx') {
          seen.add(i.doc._id);
          modified.delete(i.doc._id);
          if (i.doc.removed) removed.push(i.doc);
          else if (i.doc.createdSeq > since) added.push(i.doc);
          else modified.set(i.doc._id, i.doc);
        } else if (i.kind === 'account') accountIds.add(i.id);
        else if (i.doc.target === 'account') accountIds.add(i.doc.targetId);
        else if (!seen.has(i.doc.targetId)) modified.set(i.doc.targetId, undefined);
      }
      // an edit names its transaction: read the row (it must be live and this client's)
      const editedIds = [...modified].filter(([, d]) => d === undefined).map(([id]) => id);
      const [rows, accountDocs] = await Promise.all([
        editedIds.length > 0 ? q.cursors.liveChangeViews(req.clientId, req.userId, editedIds).toArray() : [],
        accountIds.size > 0 ? q.accounts.find({ _id: { $in: [...accountIds] }, clientId: req.clientId, userId: req.userId }).toArray() : [],
      ]);
      if (editedIds.length > 0) {
        const byId = new Map(rows.map((r) => [r._id, r]));
        for (const id of editedIds) {
          const row = byId.get(id);
          if (row) modified.set(id, row);
          else modified.delete(id);
        }
      }
      const modifiedDocs = [...modified.values()].filter((d): d is ChangeViewDoc => d !== undefined);
      const [addedViews, modifiedViews, accountViewsOut] = await Promise.all([transactionViews(req.userId, added), transactionViews(req.userId, modifiedDocs), accountViews(req.userId, accountDocs)]);
      return {
        added: addedViews,
        modified: modifiedViews,
        removed: removed.map((d) => transactionView(d, undefined)),
        accounts: accountViewsOut,
        nextCursor: encodeCursor(nextSeq),
        hasMore,
      };
    },

    async editTransaction(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId, transaction_id: req.transactionId });
      const fields = validateFields(req.fields, 'transaction');
      const requestId = requestIdOf(req.requestId);
      const tx = await q.transaction(req.clientId, req.userId, req.transactionId);
      if (!tx) throw AppError.notFound('transaction_not_found', 'no such transaction for this user');
      if (req.applyToMerchant) {
        if (!fields.setCategoryOverride || fields.categoryOverride === '') {
          throw AppError.invalid('invalid_apply_to_merchant', 'apply_to_merchant needs a category_override', [{ field: 'apply_to_merchant', description: 'needs fields.category_override' }]);
        }
        const merchantKey = tx.enrichment?.merchantKey ?? '';
        if (!merchantKey) throw new AppError({ code: 'no_merchant', message: 'this transaction has no recognised merchant to make a rule for', kind: 'failed_precondition' });
        if (!deps.userRules) throw new AppError({ code: 'user_rules_unavailable', message: 'merchant rules are not available on this deployment (apply_to_merchant)', kind: 'failed_precondition' });
        await deps.userRules(req.clientId, req.userId, merchantKey, fields.categoryOverride);
      }
      const applied = await sendEdit(req.clientId, req.userId, 'transaction', req.transactionId, fields, requestId);
      const row = applied ? await q.transaction(req.clientId, req.userId, req.transactionId) : undefined;
      return { applied, requestId, transaction: row ? (await transactionViews(req.userId, [row]))[0] : undefined };
    },

    async editAccount(req) {
      await requireAccount(req.clientId, req.userId, req.accountId);
      const fields = validateFields(req.fields, 'account');
      const requestId = requestIdOf(req.requestId);
      const applied = await sendEdit(req.clientId, req.userId, 'account', req.accountId, fields, requestId);
      const account = applied ? await q.account(req.clientId, req.userId, req.accountId) : undefined;
      return { applied, requestId, account: account ? (await accountViews(req.userId, [account]))[0] : undefined };
    },

    async getSpendingSummary(req) {
      await requireUser(req.clientId, req.userId);
      if (req.accountId) await requireAccount(req.clientId, req.userId, req.accountId);
      let to = req.toMonth ? addMonths(monthStart(req.toMonth, 'to_month'), 1) : undefined;
      let from = req.fromMonth ? monthStart(req.fromMonth, 'from_month') : undefined;
      if (!to) {
        const [latest] = await q.cursors.latestTransaction(req.clientId, req.userId).toArray();
        to = addMonths(latest ? new Date(Date.UTC(latest.bookedAt.getUTCFullYear(), latest.bookedAt.getUTCMonth(), 1)) : new Date(), 1);
      }
      from ??= addMonths(to, -6);
      if (from.getTime() >= to.getTime()) throw AppError.invalid('invalid_range', 'from_month must not be after to_month', [{ field: 'from_month', description: 'after to_month' }]);
      if (to.getTime() > addMonths(from, 120).getTime()) throw AppError.invalid('invalid_range', 'at most 120 months', [{ field: 'from_month', description: 'range over 120 months' }]);
      const edits = await q.transactionEditSets(req.userId);
      const hidden = new Set(edits.hidden);
      type Total = { primary: string; detailed: string; currency: string; sum: DecimalSum; count: number };
      const months = new Map<string, { spending: Map<string, Total>; income: Map<string, Total>; ownTransfers: number }>();
      for (let m = from; m < to; m = addMonths(m, 1)) months.set(monthOf(m), { spending: new Map(), income: new Map(), ownTransfers: 0 });
      for await (const d of q.cursors.bookedInRange(req.clientId, req.userId, from, to, req.accountId || undefined)) {
        if (hidden.has(d._id)) continue;
        const month = months.get(monthOf(d.bookedAt));
        if (!month) continue;
        if (d.transferPairId) {
          month.ownTransfers += 1;
          continue;
        }
        const amount = signedAmount(d.amount, d.transactionType);
        if (!/^-?\d+(\.\d+)?$/.test(amount) || /^-?0+(\.0+)?$/.test(amount)) continue;
        const override = edits.overrides.get(d._id);
        const detailed = override ?? d.enrichment?.detailed ?? '';
        const primary = override ? primaryOfDetailed(override) : (d.enrichment?.primary ?? '');
        const bucket = amount.startsWith('-') ? month.spending : month.income;
        const key = `${primary}\u0000${detailed}\u0000${d.currency}`;
        let t = bucket.get(key);
        if (!t) bucket.set(key, (t = { primary, detailed, currency: d.currency, sum: new DecimalSum(), count: 0 }));
        t.sum.add(magnitude(amount));
        t.count += 1;
      }
      const out = (m: Map<string, Total>): reconciliationV1.CategoryTotal[] =>
        [...m.values()]
          .sort((a, b) => (a.primary + a.detailed + a.currency < b.primary + b.detailed + b.currency ? -1 : 1))
          .map((t) => ({ primary: t.primary, detailed: t.detailed, currency: t.currency, total: t.sum.toString(), count: t.count }));
      return { months: [...months].map(([month, v]) => ({ month, spending: out(v.spending), income: out(v.income), ownTransfers: v.ownTransfers })) };
    },

    async getErasure(req) {
      requireIds({ client_id: req.clientId, erasure_id: req.erasureId });
      if (!deps.erasures) throw AppError.unavailable('erasure_log_unavailable', 'this instance has no deletion log');
      const doc = await deps.erasures.get(req.clientId, req.erasureId);
      if (!doc) throw AppError.notFound('erasure_not_found', 'no completed erasure with this id for this client (it may still be on its way)');
      return { erasure: erasureView(doc) };
    },

    async listRecurring(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId });
      const [own, all] = await Promise.all([q.store.accountsPage(req.clientId, req.userId, 1000), q.cursors.recurring(req.clientId, req.userId).toArray()]);
      knownOrThrow(own.length > 0);
      // the client's series; a legacy one (written before series had a client) when its account is this client's
      const ids = new Set(own.map((a) => a._id));
      const docs = all.filter((d) => d.clientId === req.clientId || (d.clientId == null && ids.has(d.accountId)));
      return {
        series: docs.map((d) => ({
          seriesId: d.seriesId || d._id,
          merchantName: d.merchantName ?? '',
          merchantKey: d.merchantKey ?? '',
          accountId: d.accountId ?? '',
          cadence: d.cadence ?? '',
          amount: d.amount ?? '',
          currency: d.currency ?? '',
          lastDate: d.lastDate ?? undefined,
          nextExpectedDate: d.nextExpectedDate ?? undefined,
          occurrences: d.occurrences ?? 0,
          direction: d.direction ?? '',
          primaryCategory: d.primary ?? '',
          detailedCategory: d.detailed ?? '',
          source: d.source ?? '',
          active: (d.active ?? false) && d.found !== false,
        })),
      };
    },
  };
}
