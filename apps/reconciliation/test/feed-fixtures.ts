/**
 * Fixtures of the change-feed publishing tests (sweep-owner.int-spec.ts, feed-resume.int-spec.ts): a user's booked
 * rows and a user whose changes are committed in the store and not yet published.
 */
import { EVENT_TYPES } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { newMeta } from '@ais/platform-kafka';
import type { ReconciliationStore, Batch } from '../src/data/store';
import type { FetchedTransaction } from '../src/domain/dedupe';

export const T = new Date('2026-03-25T12:00:00Z');

/** Polls `check` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
export const DAY = 86_400_000;

/** A booked row as TrueLayer sends it: ids `tl-<id>`, `txn-<id>`. */
export function bankRow(id: string, at: Date, amount: string, type: 'DEBIT' | 'CREDIT', description: string, category = 'PURCHASE'): FetchedTransaction {
  return {
    transactionId: `tl-${id}`,
    normalisedProviderTransactionId: `txn-${id}`,
    providerTransactionId: '',
    timestamp: at,
    description,
    amount,
    currency: 'GBP',
    transactionType: type,
    transactionCategory: category,
    transactionClassification: [],
    merchantName: '',
    meta: {},
  };
}

/** `n` booked debits of the days before T, ids derived from `tag` and the index (the generated RawTransaction's shape). */
export function shopRows(n: number, tag: string): FetchedTransaction[] {
  return Array.from({ length: n }, (_, i) => ({
    transactionId: `tl-${tag}-${i}`,
    normalisedProviderTransactionId: `txn-${tag}-${i}`,
    providerTransactionId: '',
    timestamp: new Date(T.getTime() - (i + 1) * DAY),
    description: `SHOP ${i}`,
    amount: `-${i + 1}.00`,
    currency: 'GBP',
    transactionType: 'DEBIT',
    transactionCategory: 'PURCHASE',
    transactionClassification: [],
    merchantName: '',
    meta: {},
  }));
}

/** Applies a user's account and `rows` booked transactions through the store: `rows` + 1 committed changes, none published. */
export async function committedUser(store: ReconciliationStore, userId: string, rows: number): Promise<void> {
  const batch = (payload: Batch['payload']): Batch => ({ eventId: `ev-${userId}-${payload.kind}`, clientId: 'client-1', connectionId: `conn-${userId}`, providerId: 'ob-lloyds', fetchId: `fetch-${userId}`, fetchedAt: T, payload });
  const account = `tl-${userId}`;
  await store.applyBatch(userId, batch({ kind: 'accounts', accounts: [{ kind: 'account', accountId: account, providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' }] }));
  await store.applyBatch(userId, batch({ kind: 'transactions', providerAccountId: account, window: { from: new Date(T.getTime() - 30 * DAY), to: T }, batch: { index: 0, count: 1, complete: true }, transactions: shopRows(rows, userId), enrichments: [] }));
  expect((await store.userState(userId))?.committedSeq).toBe(rows + 1);
}

/** An enriched fetch result as enrichment publishes it (one message, complete). */
export function enrichedEvent(o: {
  userId: string;
  accountId: string;
  payload: NonNullable<eventsV1.RawDataEvent['payload']>;
  fetchedAt: Date;
  fetchId: string;
  window: { from: Date; to: Date };
  enrichments?: eventsV1.TransactionEnrichment[];
}): eventsV1.EnrichedEvent {
  const raw: eventsV1.RawDataEvent = {
    meta: newMeta('data-fetcher', EVENT_TYPES.rawTransactions),
    userId: o.userId,
    clientId: 'client-1',
    connectionId: `conn-${o.userId}`,
    providerId: 'ob-lloyds',
    credentialsId: 'cred',
    accountId: o.accountId,
    isCard: false,
    fetchId: o.fetchId,
    mode: eventsV1.FetchMode.FETCH_MODE_UNSPECIFIED,
    window: o.window,
    batch: { index: 0, count: 1, complete: true },
    correlationIds: [],
    fetchedAt: o.fetchedAt,
    moreWindowsFollow: false,
    payload: o.payload,
  };
  return { meta: newMeta('enrichment', EVENT_TYPES.enrichedBatch), userId: o.userId, clientId: 'client-1', payload: { $case: 'batch', batch: { raw, enrichments: o.enrichments ?? [] } } };
}
