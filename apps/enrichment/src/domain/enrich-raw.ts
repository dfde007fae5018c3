/**
 * Raw data event -> enriched batch. Pure and deterministic: the same raw event and the same user rules give the
 * same enrichments (no clock, no randomness), so replaying ais.raw.v1 twice yields identical enriched events.
 */
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { createHash } from 'node:crypto';
import { categorize, type Categorization, type UserRule } from './categorize';

/** Decimal string in major units, as raw events carry amounts ("-2.99", "1238.6"). */
export const MAJOR_UNITS = /^[-+]?\d{1,15}(?:\.\d{1,12})?$/;

/** A raw event the enricher cannot handle: dead-lettered with `code` and the message as reason. */
export class PoisonEvent extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PoisonEvent';
  }
}

export function toEnrichment(c: Categorization): eventsV1.TransactionEnrichment {
  return {
    primaryCategory: c.primary,
    detailedCategory: c.detailed,
    merchantName: c.merchant.name,
    merchantKey: c.merchant.key,
    source: c.source,
    reason: c.reason,
    confidence: c.confidence,
    version: c.version,
    taxonomy: c.taxonomy,
  };
}

export function enrichTransaction(tx: eventsV1.RawTransaction, rules: readonly UserRule[]): eventsV1.TransactionEnrichment {
  return toEnrichment(
    categorize(
      {
        description: tx.description,
        amount: tx.amount,
        currency: tx.currency,
        transactionType: tx.transactionType,
        transactionCategory: tx.transactionCategory,
        providerClassification: tx.transactionClassification,
        merchantName: tx.merchantName,
        transactionId: tx.transactionId,
      },
      rules,
    ),
  );
}

/** Whether the event's payload carries transactions (and so needs the user's rules). */
export function carriesTransactions(raw: eventsV1.RawDataEvent): boolean {
  const c = raw.payload?.$case;
  return c === 'transactions' || c === 'pendingTransactions';
}

/**
 * Checks what the enricher relies on and enriches. Transactions and pending transactions: one enrichment per item,
 * in item order. Every other payload passes through with no enrichments. Throws {@link PoisonEvent} otherwise.
 */
export function enrichRaw(raw: eventsV1.RawDataEvent, rules: readonly UserRule[]): eventsV1.TransactionEnrichment[] {
  if (!raw.userId) throw new PoisonEvent('missing_user_id', 'raw event without user_id');
  const p = raw.payload;
  if (!p) throw new PoisonEvent('unknown_payload', `raw event ${raw.meta?.eventType ?? ''} has no known payload`);
  if (p.$case !== 'transactions' && p.$case !== 'pendingTransactions') return [];
  const items = p.$case === 'transactions' ? p.transactions.transactions : p.pendingTransactions.transactions;
  items.forEach((tx, i) => {
    if (!MAJOR_UNITS.test(tx.amount.trim())) throw new PoisonEvent('invalid_amount', `${p.$case}[${i}].amount is not a decimal amount in major units: ${JSON.stringify(tx.amount.slice(0, 40))}`);
    if (tx.description.length > 2000) throw new PoisonEvent('invalid_description', `${p.$case}[${i}].description longer than 2000 characters`);
  });
  return items.map((tx) => enrichTransaction(tx, rules));
}

/**
 * The enriched event's id, derived from the raw event's id: a redelivered raw event gives the same enriched event
 * id, so reconciliation's event-id idempotency also covers enrichment's redelivery. UUID-shaped.
 */
export function enrichedEventId(rawEventId: string): string {
  const h = createHash('sha256').update(`ais.enriched.v1:${rawEventId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
