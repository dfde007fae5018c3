/**
 * The simulator's own record of what the Data API returns (`/__admin/ledger`): built from the very results the
 * transactions endpoints produce (DataService.accountTransactions / cardTransactions), without budget, SCA window,
 * faults or cache, so a test can compare what a client stored with what the bank "had".
 */
import { DAY } from '../clock';
import type { Json } from './data-service';
import { sha256Hex } from './ids';

export type LedgerKind = 'transactions' | 'pending';

export interface LedgerSummary {
  count: number;
  /** sha256 hex of the sorted ids joined with "\n". */
  checksum: string;
  /** Sorted ascending (code-unit order). */
  ids: string[];
}

/**
 * Identity of a result: `normalised_provider_transaction_id` for booked items; pending items have none, so their
 * `transaction_id` (which changes on every call while the transactionIdInstability switch is on).
 */
export function ledgerId(result: Json, kind: LedgerKind): string {
  const id = kind === 'transactions' ? result['normalised_provider_transaction_id'] : result['transaction_id'];
  if (typeof id !== 'string') throw new Error(`a ${kind} result without its id`);
  return id;
}

export function ledgerSummary(ids: readonly string[]): LedgerSummary {
  const sorted = [...ids].sort();
  return { count: sorted.length, checksum: sha256Hex(sorted.join('\n')), ids: sorted };
}

/** `YYYY-MM-DD` of a UTC instant. */
export function isoDay(t: number): string {
  return new Date(Math.floor(t / DAY) * DAY).toISOString().slice(0, 10);
}
