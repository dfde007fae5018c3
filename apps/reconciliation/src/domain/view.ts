/**
 * From stored documents to what the read API and the change feed show (proto/ais/reconciliation/v1/model.proto).
 * One mapping for both, so a transaction reads the same in `ListTransactions`, `GetChanges` and on ais.ledger.v1.
 *
 * - Amounts are signed by direction: money out is negative on every account and card. TrueLayer's account
 *   endpoints already send money out negative; card endpoints send purchases positive with `DEBIT`, so the sign is
 *   taken from `transaction_type` when it is DEBIT or CREDIT, else the amount is kept as sent.
 * - The effective category is the user's override when there is one (source "user"), else enrichment's.
 * - Account numbers are masked to their last four digits (the full number never leaves reconciliation).
 */
import { isDetailed, primaryOf } from '@ais/contracts-events';
import type { reconciliationV1 } from '@ais/contracts-proto-ts';
import type { AccountDoc, BalanceDoc, StoredEnrichment, TransactionDoc, UserEditDoc } from '../data/store';
import { canonicalAmount } from './dedupe';

export function signedAmount(amount: string, transactionType: string): string {
  const canonical = canonicalAmount(amount);
  const magnitude = canonical.startsWith('-') ? canonical.slice(1) : canonical;
  const type = transactionType.toUpperCase();
  if (type === 'DEBIT') return magnitude === '0' ? '0' : `-${magnitude}`;
  if (type === 'CREDIT') return magnitude;
  return canonical;
}

/** The primary of a stored detailed category ('' for a name that is not in the taxonomy). */
export function primaryOfDetailed(detailed: string): string {
  return isDetailed(detailed) ? primaryOf(detailed) : '';
}

function category(e: StoredEnrichment | null | undefined): reconciliationV1.Category | undefined {
  if (!e) return undefined;
  return { primary: e.primary, detailed: e.detailed, source: e.source, reason: e.reason, confidence: e.confidence, version: e.version };
}

export function userEditView(edit: UserEditDoc | undefined): reconciliationV1.UserEdit | undefined {
  if (!edit) return undefined;
  return {
    categoryOverride: edit.categoryOverride ?? '',
    notes: edit.notes ?? '',
    tags: edit.tags ?? [],
    hidden: edit.hidden ?? false,
    updatedAt: edit.updatedAt,
  };
}

/**
 * The stored fields a transaction's view reads. The read API's pages fetch only these (data/queries.ts): a stored
 * row also carries its dedupe keys, hashes, the bank's meta and change bookkeeping, about 40% of its bytes, and the
 * local store's cost of returning a row grows with its size. `transactionView` takes this shape, so a field it
 * starts to read must be added here or it does not compile.
 */
export const TRANSACTION_VIEW_FIELDS = [
  '_id',
  'accountId',
  'status',
  'bookedAt',
  'amount',
  'currency',
  'description',
  'transactionType',
  'transactionCategory',
  'classification',
  'merchantName',
  'enrichment',
  'recurring',
  'transferPairId',
  'runningBalance',
  'providerTransactionId',
  'normalisedProviderTransactionId',
  'updatedAt',
  'seq',
] as const satisfies readonly (keyof TransactionDoc)[];

export type TransactionViewDoc = Pick<TransactionDoc, (typeof TRANSACTION_VIEW_FIELDS)[number]>;

export function transactionView(doc: TransactionViewDoc, edit: UserEditDoc | undefined): reconciliationV1.Transaction {
  const enriched = category(doc.enrichment);
  const override = edit?.categoryOverride ?? '';
  const effective: reconciliationV1.Category | undefined = override
    ? { primary: primaryOfDetailed(override), detailed: override, source: 'user', reason: 'override', confidence: 1, version: '' }
    : enriched;
  return {
    transactionId: doc._id,
    accountId: doc.accountId,
    status: doc.status,
    bookedAt: doc.bookedAt,
    amount: signedAmount(doc.amount, doc.transactionType),
    currency: doc.currency,
    description: doc.description,
    transactionType: doc.transactionType,
    transactionCategory: doc.transactionCategory,
    providerClassification: doc.classification,
    merchantName: doc.enrichment?.merchantName || doc.merchantName,
    merchantKey: doc.enrichment?.merchantKey ?? '',
    category: effective,
    enrichedCategory: enriched,
    userEdit: userEditView(edit),
    recurring: doc.recurring ? { seriesId: doc.recurring.seriesId, cadence: doc.recurring.cadence } : undefined,
    transferPairId: doc.transferPairId ?? '',
    runningBalance: doc.runningBalance ?? undefined,
    providerTransactionId: doc.providerTransactionId,
    normalisedProviderTransactionId: doc.normalisedProviderTransactionId,
    updatedAt: doc.updatedAt,
    seq: String(doc.seq),
  };
}

export function balanceView(doc: BalanceDoc): reconciliationV1.Balance {
  return {
    accountId: doc.accountId,
    currency: doc.currency,
    current: doc.current,
    available: doc.available,
    overdraft: doc.overdraft,
    creditLimit: doc.creditLimit,
    asOf: doc.asOf,
  };
}

function last4(doc: AccountDoc): string {
  const digits = (doc.kind === 'card' ? doc.partialCardNumber : doc.number || doc.iban).replace(/[^0-9A-Za-z]/g, '');
  return digits.slice(-4);
}

export function accountView(doc: AccountDoc, latest: BalanceDoc | undefined, edit: UserEditDoc | undefined): reconciliationV1.Account {
  return {
    accountId: doc._id,
    userId: doc.userId,
    connectionId: doc.connectionId,
    displayName: doc.displayName,
    accountType: doc.type,
    currency: doc.currency,
    updatedAt: doc.updatedAt,
    kind: doc.kind,
    providerId: doc.providerId,
    providerAccountId: doc.providerAccountId,
    numberLast4: last4(doc),
    sortCode: doc.sortCode,
    cardNetwork: doc.cardNetwork,
    latestBalance: latest ? balanceView(latest) : undefined,
    userEdit: userEditView(edit),
  };
}
