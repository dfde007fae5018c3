/**
 * enrichment forwards each enriched event as soon as it is made (kafka/forwarder.ts), on the real Kafka broker:
 * the first events of a consumed batch reach ais.enriched.v1 while a later message of the same batch is still being
 * enriched, so reconciliation starts on a heavy backfill before enrichment has finished it. Order per partition and
 * the committed offsets stay as they were: everything arrives once, in order, and a second member of the group
 * finds nothing left to redo.
 */
import { bindings, EVENT_TYPES, HEADERS, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { createKafka, EventProducer } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { provisionTopics } from '@ais/testing';
import type { Consumer, Kafka } from 'kafkajs';
import { randomBytes, randomUUID } from 'node:crypto';
import type { UserRule } from '../src/domain/categorize';
import { RawEnrichmentConsumer } from '../src/kafka/raw.consumer';

jest.setTimeout(120_000);

const logger = createLogger({ service: 'enrichment-forwarding-it', level: 'silent' });
/** How long user B's rules lookup waits for user A's enriched events before it gives up. */
const HOLD_MS = 20_000;

describe('enrichment forwards enriched events as they are made', () => {
  const prefix = `fwd${randomBytes(3).toString('hex')}`;
  const groupId = `enrichment-${prefix}`;
  const raw = bindings.raw(prefix);
  const enrichedTopic = topicName(TOPICS.enriched, prefix);
  const userA = `user-a-${prefix}`;
  const userB = `user-b-${prefix}`;
  let kafka: Kafka;
  let producer: EventProducer;
  let collector: Consumer | undefined;
  const consumers: RawEnrichmentConsumer[] = [];
  const received: Array<{ userId: string; rawEventId: string }> = [];

  const rawEvent = (userId: string, n: number): eventsV1.RawDataEvent =>
    eventsV1.RawDataEvent.fromPartial({
      meta: { eventId: randomUUID(), occurredAt: new Date(), schemaVersion: 1, producer: 'data-fetcher', eventType: EVENT_TYPES.rawTransactions, correlationId: `corr-${userId}` },
      userId,
      clientId: 'client-it',
      connectionId: `conn-${userId}`,
      providerId: 'ob-barclays',
      accountId: 'acc-1',
      fetchId: `fetch-${userId}`,
      batch: { index: 0, count: 1, complete: true },
      payload: {
        $case: 'transactions',
        transactions: {
          transactions: [
            eventsV1.RawTransaction.fromPartial({ transactionId: `${userId}-tx-${n}`, description: 'TESCO STORES 2291', amount: '-12.40', currency: 'GBP', transactionType: 'DEBIT', transactionCategory: 'PURCHASE', timestamp: new Date('2026-11-02T10:00:00Z') }),
          ],
        },
      },
    });

  beforeAll(async () => {
    const brokers = process.env['KAFKA_BROKERS']!;
    await provisionTopics({ brokers, prefix, topics: [TOPICS.raw, TOPICS.enriched, TOPICS.deadLetter] });
    kafka = createKafka({ brokers: brokers.split(','), clientId: `it-forwarding-${prefix}`, logger });
    producer = new EventProducer(kafka, { service: 'enrichment' });
    await producer.connect();
    collector = kafka.consumer({ groupId: `it-collect-${prefix}`, maxWaitTimeInMs: 100 });
    await collector.connect();
    await collector.subscribe({ topics: [enrichedTopic], fromBeginning: true });
    await collector.run({
      eachMessage: async ({ message }) => {
        const e = eventsV1.EnrichedEvent.decode(message.value!);
        const r = e.payload?.$case === 'batch' ? e.payload.batch.raw : undefined;
        received.push({ userId: e.userId, rawEventId: r?.meta?.eventId ?? '' });
      },
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of consumers) await c.stop().catch(() => undefined);
    await collector?.disconnect().catch(() => undefined);
    await producer?.disconnect();
  });

  /** Polls `done` until it holds or `ms` pass; whether it holds. */
  const until = async (done: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return done();
  };
  const seenOf = (userId: string): number => received.filter((r) => r.userId === userId).length;

  const member = (rulesFor: (clientId: string, userId: string) => Promise<readonly UserRule[]>): RawEnrichmentConsumer => {
    const c = new RawEnrichmentConsumer(kafka, {
      groupId,
      prefix,
      producer,
      rules: { rulesFor },
      logger,
      deadLetterTopic: topicName(TOPICS.deadLetter, prefix),
      fromBeginning: true,
      maxWaitTimeMs: 100,
    });
    consumers.push(c);
    return c;
  };

  it("sends a batch's first events before its later messages are enriched, in order, each once", async () => {
    // A's three events and B's one, on one partition in one request: the member's first fetch takes them as one batch
    const events = [rawEvent(userA, 1), rawEvent(userA, 2), rawEvent(userA, 3), rawEvent(userB, 1)];
    await producer.sendRaw(
      raw.topic,
      events.map((e) => ({ partition: 0, key: e.userId, value: Buffer.from(raw.codec.encode(e).finish()), headers: { [HEADERS.eventId]: e.meta!.eventId } })),
    );

    // B's rules lookup (made while B's message is enriched) holds until A's enriched events are on the topic
    let bReleasedBy: 'A on the topic' | 'timeout' | undefined;
    const a = member(async (_clientId, userId) => {
      if (userId !== userB) return [];
      bReleasedBy = (await until(() => seenOf(userA) >= 3, HOLD_MS)) ? 'A on the topic' : 'timeout';
      return [];
    });
    await a.start();
    await until(() => received.length >= events.length, 60_000);

    expect(bReleasedBy).toBe('A on the topic');
    expect(received.map((r) => r.rawEventId)).toEqual(events.map((e) => e.meta!.eventId));

    // the offsets of everything forwarded were committed: a new member of the group has nothing to redo
    await a.stop();
    const b = member(async () => []);
    await b.start();
    const more = [rawEvent(userB, 2)];
    await producer.sendRaw(raw.topic, more.map((e) => ({ partition: 0, key: e.userId, value: Buffer.from(raw.codec.encode(e).finish()) })));
    await until(() => received.length >= events.length + 1, 60_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(received.map((r) => r.rawEventId)).toEqual([...events, ...more].map((e) => e.meta!.eventId));
  });
});
