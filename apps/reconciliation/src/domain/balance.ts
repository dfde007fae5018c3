/**
 * Balance history: one snapshot per account and `asOf` (the bank's `update_timestamp`, else the fetch time), kept
 * only when it differs from the snapshot before it, so that the history is a list of changes and a redelivered or
 * repeated balance adds nothing. Pure.
 */
import { canonicalAmount } from './dedupe';
import { sha256Hex } from './canonical';

/** Decimal strings as in `RawBalance`; empty when the provider did not send the field. */
export interface BalanceValues {
  currency: string;
  current: string;
  available: string;
  overdraft: string;
  creditLimit: string;
}

export function normaliseBalance(b: BalanceValues): BalanceValues {
  const amount = (v: string): string => (v === '' ? '' : canonicalAmount(v));
  return { currency: b.currency.toUpperCase(), current: amount(b.current), available: amount(b.available), overdraft: amount(b.overdraft), creditLimit: amount(b.creditLimit) };
}

export function sameBalance(a: BalanceValues, b: BalanceValues): boolean {
  const x = normaliseBalance(a);
  const y = normaliseBalance(b);
  return x.currency === y.currency && x.current === y.current && x.available === y.available && x.overdraft === y.overdraft && x.creditLimit === y.creditLimit;
}

/** The snapshot's time: the bank's update time when sent, else when it was fetched. */
export function balanceAsOf(updateTimestamp: Date | undefined, fetchedAt: Date): Date {
  return updateTimestamp ?? fetchedAt;
}

export function balanceId(userId: string, accountId: string, asOf: Date): string {
  return `bal_${Buffer.from(sha256Hex(`${userId}\u0000${accountId}\u0000${asOf.toISOString()}`).slice(0, 32), 'hex').toString('base64url')}`;
}
