/**
 * Transfers between one user's own accounts (current → savings, current → own credit card), paired so that they
 * count as neither spending nor income. Pure: data/analysis.ts passes the user's booked rows and accounts.
 * Lives in reconciliation because only it sees all of a user's accounts, deduplicated, with stable internal ids.
 *
 * Two rows pair when they are on two different internal accounts, have opposite signed amounts (view.ts
 * `signedAmount`: card purchases negative, a card repayment positive on the card) of equal magnitude in the same
 * currency, were posted 0-3 days apart, and at least one of them carries evidence of a transfer:
 * - enrichment's primary category TRANSFER_IN / TRANSFER_OUT (or LOAN_PAYMENTS_CREDIT_CARD_PAYMENT when the other
 *   side is a card),
 * - TrueLayer's transaction_category TRANSFER or STANDING_ORDER,
 * - the description names the other account: its number's last 4 digits, its sort code, its display name, or (for a
 *   card) its last 4 digits / "CREDIT CARD" / the card network,
 * - words like "TO SAVINGS", "FROM CURRENT", "OWN ACCOUNT".
 *
 * One-to-one and deterministic: every candidate pair is ranked by day distance, then evidence strength, then ids;
 * pairs are taken greedily in that order, skipping rows already taken. So a row is never paired while a better
 * match for it (closer in days, or as close with stronger evidence) was available.
 */
import { canonicalAmount, normaliseDescription } from './dedupe';

export interface TransferTx {
  id: string;
  accountId: string;
  bookedAt: Date;
  /** Signed: negative = money out. */
  amount: string;
  currency: string;
  description: string;
  transactionCategory: string;
  primary: string;
  detailed: string;
}

export interface OwnAccount {
  id: string;
  kind: 'account' | 'card';
  displayName: string;
  number: string;
  sortCode: string;
  partialCardNumber: string;
  cardNetwork: string;
}

export interface TransferPair {
  outId: string;
  inId: string;
  days: number;
  evidence: number;
}

const DAY = 86_400_000;
export const TRANSFER_MAX_DAYS = 3;

const GENERIC = /\b(?:TO|FROM)\s+(?:MY\s+)?(?:SAVINGS?|SAVER|CURRENT|ISA|RESERVE|POT|OWN\s+ACCOUNT)\b|\bOWN\s+ACCOUNT\b|\bINTERNAL\s+TRANSFER\b/;

function utcDay(d: Date): number {
  return Math.floor(d.getTime() / DAY);
}

/** How strongly `row` says it moves money to or from `other` (0: no evidence). */
function evidenceOf(row: TransferTx, other: OwnAccount): number {
  const text = ` ${normaliseDescription(row.description)} `;
  // digit groups split by spaces ("30 94 57") joined, so a sort code or number reads as one run
  const compact = text.replace(/(\d) (?=\d)/g, '$1');
  let score = 0;
  const last4 = (other.kind === 'card' ? other.partialCardNumber : other.number).replace(/[^0-9]/g, '').slice(-4);
  const sort = other.sortCode.replace(/[^0-9]/g, '');
  if (last4.length === 4 && new RegExp(`${last4}(?!\\d)`).test(compact)) score += 3;
  if (sort.length === 6 && new RegExp(`(?:^|\\D)${sort}`).test(compact)) score += 3;
  const name = normaliseDescription(other.displayName);
  if (name.length >= 4 && text.includes(` ${name} `)) score += 2;
  if (row.primary === 'TRANSFER_IN' || row.primary === 'TRANSFER_OUT') score += 2;
  if (other.kind === 'card' && row.detailed === 'LOAN_PAYMENTS_CREDIT_CARD_PAYMENT') score += 2;
  if (other.kind === 'card' && (/\bCREDIT CARD\b/.test(text) || (other.cardNetwork && text.includes(` ${other.cardNetwork.toUpperCase()} `)))) score += 1;
  const category = row.transactionCategory.toUpperCase();
  if (category === 'TRANSFER' || category === 'STANDING_ORDER') score += 1;
  if (GENERIC.test(text)) score += 1;
  return score;
}

/** Pairs own-account transfers among `rows` (booked, any order). */
export function pairTransfers(rows: readonly TransferTx[], accounts: readonly OwnAccount[]): TransferPair[] {
  const account = new Map(accounts.map((a) => [a.id, a]));
  const outs = new Map<string, TransferTx[]>();
  const ins: TransferTx[] = [];
  for (const r of rows) {
    const c = canonicalAmount(r.amount);
    if (!account.has(r.accountId) || c === '0' || !/^-?\d/.test(c)) continue;
    if (c.startsWith('-')) {
      const key = `${c.slice(1)}\u0000${r.currency}`;
      const list = outs.get(key);
      if (list) list.push(r);
      else outs.set(key, [r]);
    } else ins.push(r);
  }
  const candidates: { out: TransferTx; in: TransferTx; days: number; evidence: number }[] = [];
  for (const i of ins) {
    for (const o of outs.get(`${canonicalAmount(i.amount)}\u0000${i.currency}`) ?? []) {
      if (o.accountId === i.accountId) continue;
      const days = Math.abs(utcDay(o.bookedAt) - utcDay(i.bookedAt));
      if (days > TRANSFER_MAX_DAYS) continue;
      const evidence = evidenceOf(o, account.get(i.accountId)!) + evidenceOf(i, account.get(o.accountId)!);
      if (evidence > 0) candidates.push({ out: o, in: i, days, evidence });
    }
  }
  candidates.sort((a, b) => a.days - b.days || b.evidence - a.evidence || (a.out.id < b.out.id ? -1 : a.out.id > b.out.id ? 1 : 0) || (a.in.id < b.in.id ? -1 : a.in.id > b.in.id ? 1 : 0));
  const taken = new Set<string>();
  const pairs: TransferPair[] = [];
  for (const c of candidates) {
    if (taken.has(c.out.id) || taken.has(c.in.id)) continue;
    taken.add(c.out.id);
    taken.add(c.in.id);
    pairs.push({ outId: c.out.id, inId: c.in.id, days: c.days, evidence: c.evidence });
  }
  return pairs.sort((a, b) => (a.outId < b.outId ? -1 : 1));
}
