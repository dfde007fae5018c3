/**
 * TrueLayer's parsed Data API items → the raw-event payloads of proto/ais/events/v1/raw_events.proto. Pure.
 *
 * Amounts become decimal strings (`toDecimalString`), timestamps `Date`s (unparseable ones are left unset, as the
 * proto says), open `meta` maps string → string (non-strings JSON-encoded), absent strings empty.
 */
import { toDecimalString } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { toDate, type Account, type AccountBalance, type Card, type CardBalance, type DirectDebit, type Info, type StandingOrder, type Transaction } from '@ais/truelayer-client';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const amount = (v: unknown): string => (typeof v === 'number' || typeof v === 'string' ? toDecimalString(v) : '');
const time = (v: unknown): Date | undefined => (typeof v === 'string' ? toDate(v) : undefined);

/** An open object as string → string: strings kept, anything else JSON-encoded, null/undefined dropped. */
export function metaMap(meta: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof meta !== 'object' || meta === null) return out;
  for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out;
}

export function rawTransaction(t: Transaction): eventsV1.RawTransaction {
  const rb = t.running_balance;
  return {
    transactionId: t.transaction_id,
    normalisedProviderTransactionId: str(t.normalised_provider_transaction_id),
    providerTransactionId: str(t.provider_transaction_id),
    timestamp: time(t.timestamp),
    description: t.description,
    amount: amount(t.amount),
    currency: str(t.currency),
    transactionType: str(t.transaction_type),
    transactionCategory: str(t.transaction_category),
    transactionClassification: [...(t.transaction_classification ?? [])],
    merchantName: str(t.merchant_name),
    runningBalance: rb && rb.amount !== undefined ? { amount: amount(rb.amount), currency: str(rb.currency) } : undefined,
    meta: metaMap(t.meta),
  };
}

export function rawBalance(b: AccountBalance | CardBalance): eventsV1.RawBalance {
  const card = b as Partial<CardBalance>;
  const acc = b as Partial<AccountBalance>;
  return {
    currency: str(b.currency),
    current: amount(b.current),
    available: amount(b.available),
    overdraft: amount(acc.overdraft),
    creditLimit: amount(card.credit_limit),
    lastStatementBalance: amount(card.last_statement_balance),
    lastStatementDate: time(card.last_statement_date),
    paymentDue: amount(card.payment_due),
    paymentDueDate: time(card.payment_due_date),
    updateTimestamp: time(b.update_timestamp),
  };
}

export function rawAccount(a: Account): eventsV1.RawAccount {
  const n = a.account_number ?? {};
  return {
    accountId: str(a.account_id),
    accountType: str(a.account_type),
    displayName: str(a.display_name),
    currency: str(a.currency),
    accountNumber: { number: str(n.number), sortCode: str(n.sort_code), swiftBic: str(n.swift_bic), iban: str(n.iban), routingNumber: str(n.routing_number), bsb: str(n.bsb) },
    providerId: str(a.provider?.provider_id),
    updateTimestamp: time(a.update_timestamp),
  };
}

export function rawCard(c: Card): eventsV1.RawCard {
  return {
    accountId: str(c.account_id),
    cardNetwork: str(c.card_network),
    cardType: str(c.card_type),
    currency: str(c.currency),
    displayName: str(c.display_name),
    partialCardNumber: str(c.partial_card_number),
    nameOnCard: str(c.name_on_card),
    validFrom: str(c.valid_from),
    validTo: str(c.valid_to),
    providerId: str(c.provider?.provider_id),
    updateTimestamp: time(c.update_timestamp),
  };
}

export function rawStandingOrder(s: StandingOrder): eventsV1.RawStandingOrder {
  return {
    frequency: s.frequency,
    status: str(s.status),
    timestamp: time(s.timestamp),
    currency: str(s.currency),
    nextPaymentDate: time(s.next_payment_date),
    nextPaymentAmount: amount(s.next_payment_amount),
    firstPaymentDate: time(s.first_payment_date),
    firstPaymentAmount: amount(s.first_payment_amount),
    finalPaymentDate: time(s.final_payment_date),
    finalPaymentAmount: amount(s.final_payment_amount),
    payee: str(s.payee),
    reference: str(s.reference),
    meta: metaMap(s.meta),
  };
}

export function rawDirectDebit(d: DirectDebit): eventsV1.RawDirectDebit {
  return {
    directDebitId: d.direct_debit_id,
    timestamp: time(d.timestamp),
    name: d.name,
    status: str(d.status),
    previousPaymentTimestamp: time(d.previous_payment_timestamp),
    previousPaymentAmount: amount(d.previous_payment_amount),
    currency: str(d.currency),
    meta: metaMap(d.meta),
  };
}

export function rawIdentity(i: Info): eventsV1.RawIdentity {
  const addresses = Array.isArray(i.addresses) ? i.addresses : [];
  return {
    fullName: str(i.full_name),
    branchId: str(i.branch_id),
    emails: (i.emails ?? []).filter((e): e is string => typeof e === 'string'),
    phones: (i.phones ?? []).filter((p): p is string => typeof p === 'string'),
    dateOfBirth: time(i.date_of_birth),
    addresses: addresses.map((a) => ({ address: str(a.address), city: str(a.city), state: str(a.state), zip: str(a.zip), country: str(a.country) })),
    updateTimestamp: time(i.update_timestamp),
  };
}
