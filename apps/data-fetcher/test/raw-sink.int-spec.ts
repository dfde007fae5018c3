/**
 * A bank's wordy transactions through the real broker (the stack's Kafka, its default message.max.bytes): the raw
 * events data-fetcher makes of them are all taken (kafkaRawSink on EventProducer, as in main.ts), and so are the
 * enriched events made of those. Split by count alone, as before RAW_EVENT_MAX_BYTES, the same rows are refused.
 */
import { bindings, splitRawItems } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { createLogger } from '@ais/platform-logger';
import { createKafka, ensureTopics, EventProducer } from '@ais/platform-kafka';
import type { Kafka } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { kafkaRawSink } from '../src/domain/fetcher';
import { enrichedOf, itemsOf, rawEventsOf, transactionsResult } from './support/verbose-results';

// silent: kafkajs logs the refusal this spec expects as an error; every outcome is asserted
const logger = createLogger({ service: 'raw-sink-int', level: 'silent' });
const prefix = `rs${randomBytes(4).toString('hex')}`;

describe('raw events of wordy transactions on the real broker', () => {
  let kafka: Kafka;
  let producer: EventProducer;

  beforeAll(async () => {
    kafka = createKafka({ brokers: process.env['KAFKA_BROKERS']!.split(','), clientId: `it-${prefix}`, logger });
    await ensureTopics(kafka, [{ topic: bindings.raw(prefix).topic, numPartitions: 3 }, { topic: bindings.enriched(prefix).topic, numPartitions: 3 }]);
    producer = new EventProducer(kafka, { service: 'data-fetcher' });
    await producer.connect();
  });

  afterAll(async () => {
    await producer.disconnect();
  });

  /** Every value on `topic` from the beginning, until `count` are read. */
  async function readBack(topic: string, count: number): Promise<Buffer[]> {
    const consumer = kafka.consumer({ groupId: `rs-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 200 });
    const got: Buffer[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!) });
    const deadline = Date.now() + 60_000;
    while (got.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await consumer.disconnect();
    return got;
  }

  it('publishes every row of a result of 2.5 KB rows, raw and enriched, in order; messages of 500 such rows are refused', async () => {
    const results = transactionsResult(1_500, true);
    const events = rawEventsOf(results, `user-${prefix}`);
    expect(events.length).toBeGreaterThan(2);

    // the same rows split by count alone (500, the old limit, with no byte bound): the broker refuses the record
    const byCount = splitRawItems(events.flatMap(itemsOf), 500).map((chunk, i, all) => ({ ...events[0]!, batch: { index: i, count: all.length, complete: true }, payload: { $case: 'transactions' as const, transactions: { transactions: chunk } } }));
    await expect(producer.publish(bindings.raw(prefix), byCount.slice(0, 1))).rejects.toThrow(/larger than the max message size/);

    await kafkaRawSink(producer, prefix).publish(events);
    const raw = (await readBack(bindings.raw(prefix).topic, events.length)).map((v) => eventsV1.RawDataEvent.decode(v));
    expect(raw).toHaveLength(events.length);
    expect(raw.map((e) => e.batch?.index)).toEqual(events.map((_, i) => i));
    expect(raw.flatMap((e) => itemsOf(e).map((t) => t.transactionId))).toEqual(results.map((t) => t.transaction_id));

    await producer.publish(bindings.enriched(prefix), raw.map(enrichedOf));
    const enriched = (await readBack(bindings.enriched(prefix).topic, raw.length)).map((v) => eventsV1.EnrichedEvent.decode(v));
    expect(enriched.flatMap((e) => (e.payload?.$case === 'batch' && e.payload.batch.raw ? itemsOf(e.payload.batch.raw).map((t) => t.transactionId) : []))).toEqual(results.map((t) => t.transaction_id));
  });
});
