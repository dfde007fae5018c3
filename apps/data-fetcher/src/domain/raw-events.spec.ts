/**
 * How one fetch result becomes raw events: split by count (RAW_EVENT_MAX_ITEMS) and by encoded bytes
 * (RAW_EVENT_MAX_BYTES), so that neither the raw event nor the enriched event made of it goes over the broker's
 * default message.max.bytes (1 MiB), which refuses a record whole and for good.
 */
import { RAW_EVENT_MAX_BYTES, RAW_EVENT_MAX_ITEMS } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { DATA_SCHEMAS, type DataItem } from '@ais/truelayer-client';
import { dataApiExample } from '../../test/support/openapi';
import type { FetchConnectionDoc } from '../data/fetch-state.store';
import type { CallBudget } from './call-budget';
import { Fetcher, type FetcherDeps, type FetcherSettings, type Unit } from './fetcher';

/** The broker's default message.max.bytes. */
const KAFKA_MESSAGE_MAX_BYTES = 1024 * 1024;

const example = (DATA_SCHEMAS.transactions.parse(dataApiExample('GetAccountTransactions200Response')).results as DataItem<'transactions'>[])[0]!;

function transactions(n: number, wordy: boolean): DataItem<'transactions'>[] {
  return Array.from({ length: n }, (_, i) => ({
    ...example,
    transaction_id: `tx-${i}`,
    // a bank that writes a lot: a long description and long meta values
    ...(wordy ? { description: `CARD PAYMENT ${i} `.padEnd(1_000, 'X'), meta: { ...example.meta, provider_reference: 'R'.repeat(600), counter_party_preferred_name: 'N'.repeat(600) } } : {}),
  }));
}

function rawEventsOf(results: DataItem<'transactions'>[]): eventsV1.RawDataEvent[] {
  const deps = { clock: { now: () => new Date('2026-12-05T00:00:00Z') }, budget: { windowMs: 86_400_000 } as CallBudget, settings: { refreshesPerWindow: 4 } as FetcherSettings };
  const fetcher = new Fetcher(deps as FetcherDeps);
  const conn = { _id: 'conn-1', userId: 'user-1', clientId: 'client-1', providerId: 'ob-bank', credentialsId: 'cred-1' } as FetchConnectionDoc;
  const unit: Unit = { kind: 'transactions', accountId: 'acc-1', isCard: false, window: { from: '2025-01-01', to: '2026-01-01' } };
  return fetcher.rawEvents(conn, unit, 'backfill', 'fetch-1', results, ['corr-1']);
}

const itemsOf = (e: eventsV1.RawDataEvent) => (e.payload?.$case === 'transactions' ? e.payload.transactions.transactions : []);

/** The enriched event enrichment makes of a raw one, at its largest: a merchant name as long as the description. */
function enrichedOf(raw: eventsV1.RawDataEvent): eventsV1.EnrichedEvent {
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

describe('raw events of a transactions result', () => {
  it('a result of ordinary transactions goes in messages of RAW_EVENT_MAX_ITEMS, in order, numbered within the result', () => {
    const events = rawEventsOf(transactions(2 * RAW_EVENT_MAX_ITEMS + 300, false));
    expect(events.map((e) => itemsOf(e).length)).toEqual([RAW_EVENT_MAX_ITEMS, RAW_EVENT_MAX_ITEMS, 300]);
    expect(events.map((e) => e.batch)).toEqual([0, 1, 2].map((index) => ({ index, count: 3, complete: true })));
    expect(events.flatMap((e) => itemsOf(e).map((t) => t.transactionId))).toEqual(transactions(2 * RAW_EVENT_MAX_ITEMS + 300, false).map((t) => t.transaction_id));
  });

  it('a bank\'s long descriptions and meta make more, smaller messages: none over RAW_EVENT_MAX_BYTES, none the broker refuses, raw or enriched', () => {
    const results = transactions(1_500, true);
    const events = rawEventsOf(results);
    // counted alone, 1,500 rows would be two messages, the first of about 2.5 MB
    expect(events.length).toBeGreaterThan(2);
    expect(events.flatMap((e) => itemsOf(e).map((t) => t.transactionId))).toEqual(results.map((t) => t.transaction_id));
    expect(events.map((e) => e.batch?.index)).toEqual(events.map((_, i) => i));
    for (const e of events) {
      expect(e.batch?.count).toBe(events.length);
      const rawBytes = eventsV1.RawDataEvent.encode(e).finish().length;
      // the items' bytes are bounded; the envelope adds well under a kilobyte
      expect(rawBytes).toBeLessThan(RAW_EVENT_MAX_BYTES + 1_024);
      // and the enriched event, key and headers aside, stays under the broker's limit
      expect(eventsV1.EnrichedEvent.encode(enrichedOf(e)).finish().length).toBeLessThan(KAFKA_MESSAGE_MAX_BYTES - 4_096);
    }
  });
});
