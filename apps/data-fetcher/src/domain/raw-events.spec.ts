/**
 * How one fetch result becomes raw events: split by count (RAW_EVENT_MAX_ITEMS) and by encoded bytes
 * (RAW_EVENT_MAX_BYTES), so that neither the raw event nor the enriched event made of it goes over the broker's
 * default message.max.bytes (1 MiB), which refuses a record whole and for good. test/raw-sink.int-spec.ts publishes
 * them through the real broker.
 */
import { RAW_EVENT_MAX_BYTES, RAW_EVENT_MAX_ITEMS } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { enrichedOf, itemsOf, KAFKA_MESSAGE_MAX_BYTES, rawEventsOf, transactionsResult } from '../../test/support/verbose-results';

describe('raw events of a transactions result', () => {
  it('a result of ordinary transactions goes in messages of RAW_EVENT_MAX_ITEMS, in order, numbered within the result', () => {
    const results = transactionsResult(2 * RAW_EVENT_MAX_ITEMS + 300, false);
    const events = rawEventsOf(results);
    expect(events.map((e) => itemsOf(e).length)).toEqual([RAW_EVENT_MAX_ITEMS, RAW_EVENT_MAX_ITEMS, 300]);
    expect(events.map((e) => e.batch)).toEqual([0, 1, 2].map((index) => ({ index, count: 3, complete: true })));
    expect(events.flatMap((e) => itemsOf(e).map((t) => t.transactionId))).toEqual(results.map((t) => t.transaction_id));
  });

  it('a bank\'s long descriptions and meta make more, smaller messages: none over RAW_EVENT_MAX_BYTES, none the broker refuses, raw or enriched', () => {
    const results = transactionsResult(1_500, true);
    const events = rawEventsOf(results);
    // counted alone, 1,500 rows would be two messages, the first of about 2.5 MB
    expect(events.length).toBeGreaterThan(2);
    expect(events.flatMap((e) => itemsOf(e).map((t) => t.transactionId))).toEqual(results.map((t) => t.transaction_id));
    expect(events.map((e) => e.batch?.index)).toEqual(events.map((_, i) => i));
    for (const e of events) {
      expect(e.batch?.count).toBe(events.length);
      // the items' bytes are bounded; the envelope adds well under a kilobyte
      expect(eventsV1.RawDataEvent.encode(e).finish().length).toBeLessThan(RAW_EVENT_MAX_BYTES + 1_024);
      // and the enriched event, key and headers aside, stays under the broker's limit
      expect(eventsV1.EnrichedEvent.encode(enrichedOf(e)).finish().length).toBeLessThan(KAFKA_MESSAGE_MAX_BYTES - 4_096);
    }
  });
});
