/**
 * Transactions results for the raw-event split (RAW_EVENT_MAX_ITEMS, RAW_EVENT_MAX_BYTES): ordinary rows from
 * TrueLayer's OpenAPI example, or wordy ones (a bank that writes a long description and long meta values), the raw
 * events data-fetcher makes of them, and the enriched event enrichment makes of a raw one at its largest.
 */
import { eventsV1 } from '@ais/contracts-proto-ts';
import { DATA_SCHEMAS, type DataItem } from '@ais/truelayer-client';
import type { FetchConnectionDoc } from '../../src/data/fetch-state.store';
import type { CallBudget } from '../../src/domain/call-budget';
import { Fetcher, type FetcherDeps, type FetcherSettings, type Unit } from '../../src/domain/fetcher';
import { dataApiExample } from './openapi';

/** The broker's default message.max.bytes (the stack's Kafka runs with it). */
export const KAFKA_MESSAGE_MAX_BYTES = 1024 * 1024;

const example = (DATA_SCHEMAS.transactions.parse(dataApiExample('GetAccountTransactions200Response')).results as DataItem<'transactions'>[])[0]!;

/** `n` transactions; wordy ones encode to about 2.5 KB each. */
export function transactionsResult(n: number, wordy: boolean): DataItem<'transactions'>[] {
  return Array.from({ length: n }, (_, i) => ({
    ...example,
    transaction_id: `tx-${i}`,
    ...(wordy ? { description: `CARD PAYMENT ${i} `.padEnd(1_000, 'X'), meta: { ...example.meta, provider_reference: 'R'.repeat(600), counter_party_preferred_name: 'N'.repeat(600) } } : {}),
  }));
}

/** The raw events data-fetcher publishes for one transactions result (`Fetcher.rawEvents`; nothing else is used). */
export function rawEventsOf(results: DataItem<'transactions'>[], userId = 'user-1'): eventsV1.RawDataEvent[] {
  const deps = { clock: { now: () => new Date('2026-12-05T00:00:00Z') }, budget: { windowMs: 86_400_000 } as CallBudget, settings: { refreshesPerWindow: 4 } as FetcherSettings };
  const fetcher = new Fetcher(deps as FetcherDeps);
  const conn = { _id: 'conn-1', userId, clientId: 'client-1', providerId: 'ob-bank', credentialsId: 'cred-1' } as FetchConnectionDoc;
  const unit: Unit = { kind: 'transactions', accountId: 'acc-1', isCard: false, window: { from: '2025-01-01', to: '2026-01-01' } };
  return fetcher.rawEvents(conn, unit, 'backfill', 'fetch-1', results, ['corr-1']);
}

export const itemsOf = (e: eventsV1.RawDataEvent): eventsV1.RawTransaction[] => (e.payload?.$case === 'transactions' ? e.payload.transactions.transactions : []);

/** The enriched event enrichment makes of a raw one, at its largest: a merchant name as long as the description. */
export function enrichedOf(raw: eventsV1.RawDataEvent): eventsV1.EnrichedEvent {
  const enrichments = itemsOf(raw).map((t) => ({
    primaryCategory: 'GENERAL_MERCHANDISE',
    detailedCategory: 'GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE',
    merchantName: t.description,
    merchantKey: t.description.toLowerCase(),
    source: 'fallback',
    reason: `description:${t.description}`.slice(0, 200),
    confidence: 0.4,
    version: '1.4.0',
    taxonomy: 'plaid-pfc-v1',
  }));
  return { meta: raw.meta, userId: raw.userId, clientId: raw.clientId, payload: { $case: 'batch', batch: { raw, enrichments } } };
}
