/**
 * Transaction dedupe and pending→booked reconciliation (ARCHITECTURE.md invariants 5–7). Pure: the store loads the
 * account's stored rows around the batch's window, calls `reconcileTransactions`, and writes the operations.
 *
 * ## Matching an incoming row to a stored row: the key hierarchy
 *
 * Levels, tried in this order, each only when both sides have the key:
 *   1. `transaction_id`: equal ids are the same row. TrueLayer does not promise that the id is stable across
 *      requests (the simulator's `transactionIdInstability` re-randomises it on every call), so a *different* id
 *      proves nothing: this level can only confirm, never separate.
 *   2. `normalised_provider_transaction_id` (TrueLayer's stable "txn-…" id).
 *   3. `provider_transaction_id` (the bank's id).
 *   4. the fingerprint: internal account, posting day (UTC), canonical amount, currency, DEBIT/CREDIT, normalised
 *      description, and the occurrence index of that combination within the day (two identical £2.50 coffees on
 *      one day are occurrence 0 and 1, so both are kept, and a re-fetch of that day matches them 0→0, 1→1).
 * Levels 2 and 3 also separate: when both sides have one and it differs, they are different transactions, and no
 * weaker level may join them.
 *
 * ## The upsert key (`dedupeKey`, unique per user) — decision
 *
 * The key a row is stored under is the most *stable* key it had when first stored, never `transaction_id`:
 * `n:<account>:<normalised id>`, else `p:<account>:<provider id>`, else `f:<account>:<fingerprint>`. With unstable
 * transaction ids a re-fetch (or a re-consent, which changes every TrueLayer id but the normalised one) therefore
 * upserts onto the same document instead of adding one. A stored row keeps its key when it is matched later; the
 * only key change is a pending row settling by the heuristic (below), written by `_id`. The account part is the
 * internal account id (stable across re-consents, see identity.ts).
 *
 * ## Pending to booked
 *
 * A booked row that matches a stored pending row through the hierarchy (the provider kept an id) turns it into the
 * booked row in place. Otherwise a booked row that matched nothing settles the stored pending row of the same
 * account with the same amount and currency, a similar description (`similarDescriptions`), and a posting day from
 * one day before to `settleWindowMs` after the pending one (closest day first). The pending document becomes the
 * booked one (same internal id, so user edits stay attached; the change feed says `modified`); it keeps the pending
 * fingerprint (`settledFingerprint`), so a redelivered pending listing of it still matches it (and never downgrades
 * it), and a pending listing fetched no later than a removed row went missing does not restore it.
 *
 * ## Redelivered older messages
 *
 * Every write from fetched data or a re-enrichment records the time of its source (`sourceAt`: the fetch's
 * `fetchedAt`, the re-enrichment's `occurred_at`). A message whose data was fetched before a row's `sourceAt` is
 * older than what is stored (Kafka redelivers a suffix after a crash; a replay repeats the topic): it changes
 * nothing for that row and does not count as a listing that misses it. Settling a pending row is exempt.
 * Known limit: a fetch that started before a re-enrichment but is delivered after it changes nothing for the rows
 * the re-enrichment wrote, until the next fetch.
 * A pending result never downgrades a booked row. A stored pending row that is absent from a *complete* pending
 * result of its window is marked `missingSince`; after `pendingGraceMs` without reappearing or settling it is
 * removed (a tombstone with `removed: true`, so the change feed can say `removed`). The grace gives the booked
 * counterpart time to arrive and settle it in place rather than as remove + add.
 *
 * ## Enrichment
 *
 * A row's enrichment is not part of its content (`contentHash` covers only what the bank sent). A re-fetch whose
 * content is unchanged but whose enrichment hash differs modifies the row with reason 'enrichment'; the same
 * content and enrichment is no operation. A row that arrives without enrichment keeps the stored one.
 *
 * Known limit: the occurrence index is counted within one message; a day whose id-less identical rows straddle two
 * messages of one result (results are split at 1,000 items or 320 KiB) would number them from 0 again. Rows with a
 * stable id are unaffected.
 */
import { contentHash, sha256Hex } from './canonical';

export type TxStatus = 'booked' | 'pending';

/** A transaction as fetched (fields named as the generated `RawTransaction`). */
export interface FetchedTransaction {
  transactionId: string;
  normalisedProviderTransactionId: string;
  providerTransactionId: string;
  timestamp?: Date | undefined;
  description: string;
  amount: string;
  currency: string;
  transactionType: string;
  transactionCategory: string;
  transactionClassification: string[];
  merchantName: string;
  runningBalance?: { amount: string; currency: string } | undefined;
  meta: Record<string, string>;
}

/** The fetched data of a stored transaction (what `contentHash` covers; `transaction_id` is deliberately not in it). */
export interface TxContent {
  status: TxStatus;
  bookedAt: Date;
  amount: string;
  currency: string;
  description: string;
  transactionType: string;
  transactionCategory: string;
  classification: string[];
  merchantName: string;
  runningBalance: { amount: string; currency: string } | null;
  meta: Record<string, string>;
  normalisedProviderTransactionId: string;
  providerTransactionId: string;
}

/** What reconciliation needs of a stored transaction. */
export interface StoredTx extends TxContent {
  id: string;
  dedupeKey: string;
  /** The first `transaction_id` seen (level 1 of the hierarchy; never updated: a new unstable id is no change). */
  transactionId: string;
  fingerprint: string;
  contentHash: string;
  /** Hash of the stored enrichment ('' or absent when the row was stored without one). */
  enrichmentHash?: string | undefined;
  removed: boolean;
  missingSince?: Date | null;
  /** Time of the source data of the row's last fetched or re-enriched write (the stale-message guard). */
  sourceAt?: Date | null | undefined;
  /** On a row that settled from pending: the pending row's fingerprint (a late pending listing still matches). */
  settledFingerprint?: string | undefined;
  /** Pending rows: the last fetch whose pending result held this row. */
  lastFetchId?: string | null;
}

export interface TxWrite {
  id: string;
  dedupeKey: string;
  transactionId: string;
  fingerprint: string;
  content: TxContent;
  contentHash: string;
  lastFetchId: string | null;
  /** Index of the incoming row the write comes from (its enrichment is `enrichmentHashes[row]`). */
  row: number;
  /** Set when a pending row settles: its pending fingerprint. */
  settledFingerprint?: string;
}

export type TxOp =
  | ({ op: 'add' } & TxWrite)
  | ({ op: 'modify'; reason: 'content' | 'settled' | 'restored' | 'enrichment'; previousKey: string } & TxWrite)
  | { op: 'remove'; id: string; missingSince: Date }
  /** Bookkeeping only (no change of the transaction's data, so no sequence number). */
  | { op: 'touch'; id: string; lastFetchId: string | null; missingSince: Date | null };

export interface ReconcileRules {
  /** How long a pending row may be missing from complete pending results before it is removed. */
  pendingGraceMs: number;
  /** How long after a pending row's day its booked counterpart may be posted. */
  settleWindowMs: number;
}

export const DEFAULT_RULES: ReconcileRules = { pendingGraceMs: 3 * 86_400_000, settleWindowMs: 10 * 86_400_000 };

export interface ReconcileInput {
  userId: string;
  /** Internal account id. */
  accountId: string;
  status: TxStatus;
  rows: readonly FetchedTransaction[];
  /** The account's stored rows around the window, and every stored pending row of the account. */
  stored: readonly StoredTx[];
  fetchId: string;
  /** The fetch's time (from the event, never the wall clock: replays give the same store). */
  fetchedAt: Date;
  window?: { from: Date; to: Date } | undefined;
  /** True on the last message of a result whose messages together are complete (BatchPosition). */
  completeResult: boolean;
  /**
   * Hash of each row's enrichment ('' when the row comes without one). A matched row whose content is the same
   * but whose enrichment hash differs is modified with reason 'enrichment'; a row without one never clears the
   * stored enrichment.
   */
  enrichmentHashes?: readonly string[] | undefined;
  rules?: ReconcileRules;
}

const DAY = 86_400_000;

/** Decimal string in canonical form: no "+", no leading zeros, no trailing fractional zeros, "-0" is "0". */
export function canonicalAmount(amount: string): string {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$/.exec(amount);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return amount.trim();
  const int = (m[2] ?? '').replace(/^0+(?=\d)/, '') || '0';
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return m[1] === '-' && body !== '0' ? `-${body}` : body;
}

/** Upper case, anything but letters and digits as one space. */
export function normaliseDescription(description: string): string {
  return description.toUpperCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

function words(description: string): Set<string> {
  return new Set(normaliseDescription(description).split(' ').filter((w) => w.length >= 2 && !/\d/.test(w)));
}

/**
 * Whether a pending and a booked description name the same payment: banks add or drop a town, a card suffix,
 * a reference number. Words with digits are ignored; similar when one word set contains the other or they share
 * at least 60% of their words.
 */
export function similarDescriptions(a: string, b: string): boolean {
  const x = words(a);
  const y = words(b);
  if (x.size === 0 || y.size === 0) return normaliseDescription(a) === normaliseDescription(b);
  const common = [...x].filter((w) => y.has(w)).length;
  if (common === Math.min(x.size, y.size)) return true;
  return common / (x.size + y.size - common) >= 0.6;
}

export function utcDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function timeOf(row: FetchedTransaction): Date {
  return row.timestamp ?? new Date(0);
}

/** The fingerprint of each row, with the occurrence index of its (day, amount, description) within the batch. */
export function fingerprints(accountId: string, rows: readonly FetchedTransaction[]): string[] {
  const bases = rows.map((r) => [utcDay(timeOf(r)), canonicalAmount(r.amount), r.currency.toUpperCase(), r.transactionType.toUpperCase(), normaliseDescription(r.description)].join('|'));
  const order = rows.map((_, i) => i).sort((i, j) => timeOf(rows[i]!).getTime() - timeOf(rows[j]!).getTime() || i - j);
  const seen = new Map<string, number>();
  const out: string[] = new Array<string>(rows.length);
  for (const i of order) {
    const occurrence = seen.get(bases[i]!) ?? 0;
    seen.set(bases[i]!, occurrence + 1);
    out[i] = sha256Hex(`${accountId}|${bases[i]}|${occurrence}`).slice(0, 32);
  }
  return out;
}

/** The upsert key a new row is stored under (see the file comment: never `transaction_id`). */
export function dedupeKeyFor(accountId: string, row: Pick<FetchedTransaction, 'normalisedProviderTransactionId' | 'providerTransactionId'>, fingerprint: string): string {
  if (row.normalisedProviderTransactionId) return `n:${accountId}:${row.normalisedProviderTransactionId}`;
  if (row.providerTransactionId) return `p:${accountId}:${row.providerTransactionId}`;
  return `f:${accountId}:${fingerprint}`;
}

/** Deterministic internal id of a new transaction (replays into an empty store give the same ids). */
export function newTransactionId(userId: string, dedupeKey: string): string {
  return `txn_${Buffer.from(sha256Hex(`${userId}\u0000${dedupeKey}`).slice(0, 32), 'hex').toString('base64url')}`;
}

export function toContent(row: FetchedTransaction, status: TxStatus): TxContent {
  return {
    status,
    bookedAt: timeOf(row),
    amount: canonicalAmount(row.amount),
    currency: row.currency.toUpperCase(),
    description: row.description,
    transactionType: row.transactionType,
    transactionCategory: row.transactionCategory,
    classification: [...row.transactionClassification],
    merchantName: row.merchantName,
    runningBalance: row.runningBalance ? { amount: canonicalAmount(row.runningBalance.amount), currency: row.runningBalance.currency } : null,
    meta: { ...row.meta },
    normalisedProviderTransactionId: row.normalisedProviderTransactionId,
    providerTransactionId: row.providerTransactionId,
  };
}

const differ = (a: string, b: string): boolean => a !== '' && b !== '' && a !== b;

export type MatchLevel = 'transaction_id' | 'normalised_provider_transaction_id' | 'provider_transaction_id' | 'fingerprint';

/** The level at which a stored row is the incoming one, or undefined. */
export function matchLevel(stored: StoredTx, row: FetchedTransaction, fingerprint: string): MatchLevel | undefined {
  const n = row.normalisedProviderTransactionId;
  const p = row.providerTransactionId;
  if (differ(stored.normalisedProviderTransactionId, n)) return undefined;
  if (row.transactionId !== '' && stored.transactionId === row.transactionId) return 'transaction_id';
  if (n !== '' && stored.normalisedProviderTransactionId === n) return 'normalised_provider_transaction_id';
  if (differ(stored.providerTransactionId, p)) return undefined;
  if (p !== '' && stored.providerTransactionId === p) return 'provider_transaction_id';
  if (stored.fingerprint === fingerprint || stored.settledFingerprint === fingerprint) return 'fingerprint';
  return undefined;
}

/** Whether a booked row may be the settlement of a stored pending row (no shared id). */
export function settles(pending: Pick<TxContent, 'bookedAt' | 'amount' | 'currency' | 'description'>, booked: FetchedTransaction, settleWindowMs: number): boolean {
  const pendingDay = Date.parse(utcDay(pending.bookedAt));
  const bookedDay = Date.parse(utcDay(timeOf(booked)));
  return (
    canonicalAmount(booked.amount) === pending.amount &&
    booked.currency.toUpperCase() === pending.currency &&
    bookedDay >= pendingDay - DAY &&
    bookedDay <= pendingDay + settleWindowMs &&
    similarDescriptions(pending.description, booked.description)
  );
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The operations that bring the account's stored rows in line with one message of a fetch result. Deterministic
 * (the order of operations is the order sequence numbers are given in); applying the same input to the store it
 * produced yields no operation.
 */
export function reconcileTransactions(input: ReconcileInput): TxOp[] {
  const rules = input.rules ?? DEFAULT_RULES;
  const { accountId, status, rows, fetchId } = input;
  const stored = input.stored;
  const fps = fingerprints(accountId, rows);
  const claimed = new Set<string>();
  const ops: TxOp[] = [];
  const unmatched: number[] = [];
  const pendingFetch = status === 'pending' ? fetchId : null;

  // stored rows by each key of the hierarchy, one map per level (a row is looked up by key, never by scanning the
  // account), each list in id order: the order candidates are tried in. Only lists of more than one row are sorted,
  // and the rows are not copied or sorted as a whole: a message of a split result is reconciled against every row
  // the result's earlier messages stored (thousands), and most keys name one row.
  const byT = new Map<string, StoredTx[]>();
  const byN = new Map<string, StoredTx[]>();
  const byP = new Map<string, StoredTx[]>();
  const byF = new Map<string, StoredTx[]>();
  const put = (m: Map<string, StoredTx[]>, k: string, s: StoredTx): void => {
    const list = m.get(k);
    if (list) list.push(s);
    else m.set(k, [s]);
  };
  for (const s of stored) {
    if (s.transactionId) put(byT, s.transactionId, s);
    if (s.normalisedProviderTransactionId) put(byN, s.normalisedProviderTransactionId, s);
    if (s.providerTransactionId) put(byP, s.providerTransactionId, s);
    put(byF, s.fingerprint, s);
    if (s.settledFingerprint) put(byF, s.settledFingerprint, s);
  }
  for (const m of [byT, byN, byP, byF]) for (const list of m.values()) if (list.length > 1) list.sort(byId);
  const LEVELS: [MatchLevel, Map<string, StoredTx[]>, (r: FetchedTransaction, fp: string) => string][] = [
    ['transaction_id', byT, (r) => r.transactionId],
    ['normalised_provider_transaction_id', byN, (r) => r.normalisedProviderTransactionId],
    ['provider_transaction_id', byP, (r) => r.providerTransactionId],
    ['fingerprint', byF, (_r, fp) => fp],
  ];
  rows.forEach((row, i) => {
    let match: StoredTx | undefined;
    for (const [level, byKey, keyOf] of LEVELS) {
      const k = keyOf(row, fps[i]!);
      match = k ? byKey.get(k)?.find((s) => !claimed.has(s.id) && matchLevel(s, row, fps[i]!) === level) : undefined;
      if (match) break;
    }
    if (!match) {
      unmatched.push(i);
      return;
    }
    claimed.add(match.id);
    if (status === 'pending' && match.status === 'booked') return; // never downgrade a booked row
    // a pending listing fetched no later than the row went missing is old news (a redelivery): no restore
    if (status === 'pending' && match.removed && match.missingSince && input.fetchedAt.getTime() <= match.missingSince.getTime()) return;
    // data fetched before the row's last source write (a redelivered older message) changes nothing; a booked
    // row settling a pending one always applies
    const settling = match.status === 'pending' && status === 'booked';
    if (!settling && match.sourceAt && input.fetchedAt.getTime() < match.sourceAt.getTime()) return;
    const content = toContent(row, status);
    const hash = contentHash(content);
    const enrichment = input.enrichmentHashes?.[i] ?? '';
    const enrichmentChanged = enrichment !== '' && enrichment !== (match.enrichmentHash ?? '');
    if (hash !== match.contentHash || match.removed || enrichmentChanged) {
      const reason = match.removed ? 'restored' : match.status === 'pending' && status === 'booked' ? 'settled' : hash !== match.contentHash ? 'content' : 'enrichment';
      const settled = reason === 'settled' ? { settledFingerprint: match.fingerprint } : {};
      ops.push({ op: 'modify', reason, previousKey: match.dedupeKey, id: match.id, dedupeKey: match.dedupeKey, transactionId: match.transactionId, fingerprint: fps[i]!, content, contentHash: hash, lastFetchId: pendingFetch, row: i, ...settled });
    } else if (status === 'pending' && (match.lastFetchId !== fetchId || match.missingSince)) {
      ops.push({ op: 'touch', id: match.id, lastFetchId: fetchId, missingSince: null });
    }
  });

  const batchKeys = new Set<string>();
  // the rows a booked one may settle, found once: filtering every stored row for each new row cost a first sync
  // (every row new, thousands stored around the window) a fifth of reconciliation's CPU
  // (in id order: the order of the missing-pending operations below)
  const livePending = stored.filter((s) => s.status === 'pending' && !s.removed).sort(byId);
  for (const i of unmatched) {
    const row = rows[i]!;
    const content = toContent(row, status);
    const key = dedupeKeyFor(accountId, row, fps[i]!);
    if (batchKeys.has(key)) continue; // the provider listed one stable id twice in one result
    batchKeys.add(key);
    // (a first sync has no live pending row: no day to compute for each new row)
    if (status === 'booked' && livePending.length > 0) {
      const day = Date.parse(utcDay(timeOf(row)));
      const pending = livePending
        .filter((s) => !claimed.has(s.id) && settles(s, row, rules.settleWindowMs))
        .sort((a, b) => Math.abs(Date.parse(utcDay(a.bookedAt)) - day) - Math.abs(Date.parse(utcDay(b.bookedAt)) - day) || (a.id < b.id ? -1 : 1))[0];
      if (pending) {
        claimed.add(pending.id);
        ops.push({ op: 'modify', reason: 'settled', previousKey: pending.dedupeKey, id: pending.id, dedupeKey: key, transactionId: row.transactionId, fingerprint: fps[i]!, content, contentHash: contentHash(content), lastFetchId: null, row: i, settledFingerprint: pending.fingerprint });
        continue;
      }
    }
    ops.push({ op: 'add', id: newTransactionId(input.userId, key), dedupeKey: key, transactionId: row.transactionId, fingerprint: fps[i]!, content, contentHash: contentHash(content), lastFetchId: pendingFetch, row: i });
  }

  // Pending rows gone from a complete pending result are marked missing; after the grace period they are removed.
  const now = input.fetchedAt.getTime();
  const window = input.window;
  for (const s of livePending) {
    if (claimed.has(s.id)) continue;
    let missingSince = s.missingSince ?? null;
    const inWindow = !window || (s.bookedAt >= window.from && s.bookedAt <= window.to);
    // rows seen by an earlier message of this same fetch carry its id
    const older = s.sourceAt ? input.fetchedAt.getTime() < s.sourceAt.getTime() : false; // stored after this fetch
    if (status === 'pending' && input.completeResult && inWindow && s.lastFetchId !== fetchId && !missingSince && !older) missingSince = input.fetchedAt;
    if (!missingSince) continue;
    if (now - missingSince.getTime() >= rules.pendingGraceMs) ops.push({ op: 'remove', id: s.id, missingSince });
    else if (!s.missingSince) ops.push({ op: 'touch', id: s.id, lastFetchId: s.lastFetchId ?? null, missingSince });
  }
  return ops;
}
