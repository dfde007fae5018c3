/**
 * kafkajs against the real Kafka 4.1 broker, through the platform wrapper: admin, produce, consumer group,
 * trace context in headers, idempotency on event_id, retry of retriable failures, dead letters and replay.
 */
import { HEADERS } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { createLogger } from '@ais/platform-logger';
import { context, propagation, SpanKind, SpanStatusCode, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import {
  createKafka,
  ensureTopics,
  EventConsumer,
  EventProducer,
  kafkajsRequestQueue,
  newMeta,
  produceEncodings,
  replayDeadLetter,
  type IdempotencyGuard,
  type MessageContext,
  type TopicBinding,
} from '../src';

const logger = createLogger({ service: 'kafka-int', level: 'warn' });
const ns = randomBytes(4).toString('hex');
const TOPIC = `it.${ns}.diagnostics`;
const DLQ = `it.${ns}.dlq`;

const binding: TopicBinding<eventsV1.DiagnosticsEvent> = {
  topic: TOPIC,
  codec: eventsV1.DiagnosticsEvent,
  keyOf: (e) => (e.payload?.$case === 'probeRequested' ? e.payload.probeRequested.probeId : ''),
};

function probe(probeId: string, origin = 'test'): eventsV1.DiagnosticsEvent {
  const meta = newMeta('kafka-int', 'diagnostics.probe_requested');
  return { meta, payload: { $case: 'probeRequested', probeRequested: { probeId, origin, requestedAt: meta.occurredAt } } };
}

class MemoryGuard implements IdempotencyGuard {
  readonly ids = new Set<string>();
  async has(id: string) {
    return this.ids.has(id);
  }
  async remember(id: string) {
    this.ids.add(id);
  }
}

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('platform-kafka on a real broker', () => {
  let kafka: Kafka;
  let producer: EventProducer;
  const consumers: EventConsumer[] = [];

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    kafka = createKafka({ brokers: process.env['KAFKA_BROKERS']!.split(','), clientId: `it-${ns}`, logger });
    const created = await ensureTopics(kafka, [{ topic: TOPIC, numPartitions: 3 }, { topic: DLQ, numPartitions: 1 }]);
    expect(created.sort()).toEqual([DLQ, TOPIC].sort());
    expect(await ensureTopics(kafka, [{ topic: TOPIC }])).toEqual([]); // idempotent
    producer = new EventProducer(kafka, { service: 'kafka-int' });
    await producer.connect();
  });

  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    await producer.disconnect();
    context.disable();
    propagation.disable();
  });

  async function startConsumer(group: string, handler: (m: MessageContext<eventsV1.DiagnosticsEvent>) => Promise<void>, guard?: IdempotencyGuard) {
    const consumer = new EventConsumer(kafka, {
      groupId: `${group}-${ns}`,
      logger,
      producer,
      deadLetterTopic: DLQ,
      fromBeginning: true,
      retryBackoffMs: 20,
      maxAttempts: 3,
      ...(guard ? { idempotency: guard } : {}),
    }).on(binding, handler);
    consumers.push(consumer);
    await consumer.start();
    await consumer.waitUntilReady();
    return consumer;
  }

  it('describes the cluster through admin', async () => {
    const admin = kafka.admin();
    await admin.connect();
    const cluster = await admin.describeCluster();
    const meta = await admin.fetchTopicMetadata({ topics: [TOPIC] });
    await admin.disconnect();
    expect(cluster.brokers.length).toBeGreaterThan(0);
    expect(meta.topics[0]?.partitions).toHaveLength(3);
  });

  it('leaves idle connections without a timer loop (kafkajs request queue, src/request-queue.ts), and still delivers', async () => {
    // a topic of its own: the other cases read theirs from the beginning
    const idle: TopicBinding<eventsV1.DiagnosticsEvent> = { ...binding, topic: `${TOPIC}.idle` };
    await ensureTopics(kafka, [{ topic: idle.topic, numPartitions: 1 }]);
    const got: string[] = [];
    const consumer = new EventConsumer(kafka, { groupId: `idle-${ns}`, logger, producer, deadLetterTopic: DLQ, fromBeginning: true }).on(idle, async (m) => {
      got.push(m.event.payload?.$case === 'probeRequested' ? m.event.payload.probeRequested.origin : '');
    });
    consumers.push(consumer);
    await consumer.start();
    await consumer.waitUntilReady();
    const checks = jest.spyOn(kafkajsRequestQueue().prototype, 'checkPendingRequests');
    try {
      // a producer and a consumer group connected, nothing to send or read for 2 s: the consumer's fetches (1 s
      // broker wait) and heartbeats each check once; unpatched kafkajs 2.2.4 checks about 1,000 times a second per
      // connection
      await new Promise((r) => setTimeout(r, 2_000));
      expect(checks.mock.calls.length).toBeLessThan(100);
      await producer.publish(idle, [probe('idle-key', 'after-idle')]);
      await until(() => got.includes('after-idle'));
    } finally {
      checks.mockRestore();
    }
  });

  it('delivers a batch in order per key to a consumer group, with envelope headers and the trace context', async () => {
    const got: MessageContext<eventsV1.DiagnosticsEvent>[] = [];
    const parent: SpanContext = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: 1 };
    const events = Array.from({ length: 20 }, (_, i) => probe(`key-${i % 2}`, `n${i}`));
    const encoded = { ...produceEncodings };
    await context.with(trace.setSpan(context.active(), trace.wrapSpanContext(parent)), () => producer.publish(binding, events));
    const seenTrace: string[] = [];
    await startConsumer('order', async (m) => {
      got.push(m);
      seenTrace.push(trace.getActiveSpan()?.spanContext().traceId ?? '');
    });
    await until(() => got.length >= 20);
    for (const key of ['key-0', 'key-1']) {
      const origins = got.filter((m) => m.key === key).map((m) => (m.event.payload?.$case === 'probeRequested' ? m.event.payload.probeRequested.origin : ''));
      const expected = events.filter((e) => binding.keyOf(e) === key).map((e) => (e.payload?.$case === 'probeRequested' ? e.payload.probeRequested.origin : ''));
      expect(origins).toEqual(expected);
    }
    expect(got[0]!.headers[HEADERS.eventId]).toBe(got[0]!.meta.eventId);
    expect(got[0]!.headers[HEADERS.eventType]).toBe('diagnostics.probe_requested');
    expect(got[0]!.headers['traceparent']).toContain(parent.traceId);
    // the broker took them as this library writes produce requests (src/produce-encoding.ts), not kafkajs' encoder
    expect(produceEncodings.fast).toBeGreaterThan(encoded.fast);
    expect(produceEncodings.kafkajs).toBe(encoded.kafkajs);
    // the handler ran inside the producer's trace
    expect(new Set(seenTrace)).toEqual(new Set([parent.traceId]));
  });

  it('publishes more than the broker takes in one request as several requests, in order (a window of thousands of transactions)', async () => {
    // 12 events of ~200 KB with one key: 2.4 MB, one partition, over the broker's 1 MiB record-batch limit
    const big = (i: number) => probe('big-key', `${String(i).padStart(3, '0')}:${randomBytes(100_000).toString('hex')}`);
    const events = Array.from({ length: 12 }, (_, i) => big(i));
    // the same events in one request are refused whole: what publish used to do
    const unbounded = new EventProducer(kafka, { service: 'kafka-int', maxRequestBytes: 64 * 1024 * 1024 });
    await unbounded.connect();
    await expect(unbounded.publish(binding, events)).rejects.toThrow(/larger than the max message size/);
    await unbounded.disconnect();
    const got: string[] = [];
    await startConsumer('big', async (m) => {
      if (m.key === 'big-key' && m.event.payload?.$case === 'probeRequested') got.push(m.event.payload.probeRequested.origin.slice(0, 3));
    });
    await producer.publish(binding, events);
    await until(() => got.length >= 12, 60_000);
    expect(got).toEqual(events.map((_, i) => String(i).padStart(3, '0')));
  });

  it('skips a redelivered event_id, retries retriable failures, dead-letters poison with the reason, and replays it', async () => {
    const guard = new MemoryGuard();
    const handled: string[] = [];
    let flaky = 2;
    await startConsumer(
      'errors',
      async (m) => {
        const origin = m.event.payload?.$case === 'probeRequested' ? m.event.payload.probeRequested.origin : '';
        if (origin === 'poison' && !handled.includes('poison-allowed')) throw AppError.invalid('bad_origin', 'origin poison is not accepted');
        if (origin === 'flaky' && flaky-- > 0) throw AppError.unavailable('db_down', 'temporarily down');
        handled.push(`${origin}:${m.meta.eventId}`);
      },
      guard,
    );
    const dup = probe('d', 'dup');
    await producer.publish(binding, [dup, dup, probe('f', 'flaky'), probe('p', 'poison')]);
    // an undecodable message goes to the DLQ too
    await producer.sendRaw(TOPIC, [{ key: 'junk', value: Buffer.from([0xff, 0xff, 0xff]) }]);

    const dlq = kafka.consumer({ groupId: `dlq-${ns}` });
    const dead: eventsV1.DeadLetter[] = [];
    await dlq.connect();
    await dlq.subscribe({ topic: DLQ, fromBeginning: true });
    await dlq.run({ eachMessage: async ({ message }) => void dead.push(eventsV1.DeadLetter.decode(message.value!)) });

    // wait for each expected record, not a count: a batch retried for the flaky event may dead-letter the junk
    // message again (at-least-once), which must not end the wait before the poison event is dead-lettered
    await until(() => handled.some((h) => h.startsWith('flaky:')) && dead.some((d) => d.errorCode === 'bad_origin') && dead.some((d) => d.errorCode === 'decode_failed'));
    expect(handled.filter((h) => h.startsWith('dup:'))).toHaveLength(1);
    expect(flaky).toBe(-1); // two retriable failures, then the third attempt succeeded
    const poison = dead.find((d) => d.errorCode === 'bad_origin');
    expect(poison).toMatchObject({ sourceTopic: TOPIC, consumerGroup: `errors-${ns}`, errorMessage: 'origin poison is not accepted' });
    expect(dead.find((d) => d.errorCode === 'decode_failed')).toMatchObject({ sourceTopic: TOPIC, originalKey: Buffer.from('junk') });

    // the poison event, once the handler accepts it, can be replayed byte for byte
    handled.push('poison-allowed');
    await replayDeadLetter(producer, poison!);
    await until(() => handled.some((h) => h.startsWith('poison:')));
    expect(handled.find((h) => h.startsWith('poison:'))).toBe(`poison:${poison!.eventId}`);
    await dlq.disconnect();
  });

  it('a message that takes longer than the session: the consumer keeps its partition, heartbeating meanwhile, and the message is handled once', async () => {
    const slowTopic = `it.${ns}.slow`;
    await ensureTopics(kafka, [{ topic: slowTopic, numPartitions: 1 }]);
    const slowBinding: TopicBinding<eventsV1.DiagnosticsEvent> = { ...binding, topic: slowTopic };
    const SESSION_MS = 6_000; // the broker's minimum
    const handled: { by: string; origin: string }[] = [];
    let slowDone = false;
    const member = async (name: string) => {
      const consumer = new EventConsumer(kafka, { groupId: `slow-${ns}`, logger, producer, deadLetterTopic: DLQ, fromBeginning: true, sessionTimeoutMs: SESSION_MS }).on(slowBinding, async (m) => {
        const origin = m.event.payload?.$case === 'probeRequested' ? m.event.payload.probeRequested.origin : '';
        if (origin === 'slow' && handled.length === 0) await new Promise((r) => setTimeout(r, SESSION_MS * 1.6)); // a store outage being retried
        handled.push({ by: name, origin });
        if (origin === 'slow') slowDone = true;
      });
      consumers.push(consumer);
      await consumer.start();
      await consumer.waitUntilReady();
    };
    // two members: the one without the partition would take it over if the busy one were dropped
    await Promise.all([member('a'), member('b')]);
    await producer.publish(slowBinding, [probe('k', 'slow'), probe('k', 'next')]);
    await until(() => slowDone && handled.some((h) => h.origin === 'next'), 60_000);
    // long enough for a dropped member's partition to move and its message to be handled again
    await new Promise((r) => setTimeout(r, SESSION_MS));
    expect(handled.map((h) => h.origin)).toEqual(['slow', 'next']);
    expect(new Set(handled.map((h) => h.by)).size).toBe(1);
  });

  // last in the file: it registers a tracer provider, and the cases above rely on there being none
  it('traces a publish as one PRODUCER span whatever its size, and every consumed message as a CONSUMER span under it', async () => {
    const spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
    try {
      const traced: TopicBinding<eventsV1.DiagnosticsEvent> = { ...binding, topic: `${TOPIC}.traced` };
      await ensureTopics(kafka, [{ topic: traced.topic, numPartitions: 2 }]);
      // 300 events of two keys in one publish, sent as several requests for the size limit (each over 1 KB with its
      // headers: at most about 80 a request)
      const small = new EventProducer(kafka, { service: 'kafka-int', maxRequestBytes: 110 * 1024 });
      await small.connect();
      const events = Array.from({ length: 300 }, (_, i) => probe(`traced-${i % 2}`, `${i}:${'x'.repeat(900)}`));
      const root = trace.getTracer('it').startSpan('caller');
      await context.with(trace.setSpan(context.active(), root), () => small.publish(traced, events));
      root.end();
      await small.disconnect();
      const got: { parent: string; traceparent: string }[] = [];
      const consumer = new EventConsumer(kafka, { groupId: `traced-${ns}`, logger, producer, deadLetterTopic: DLQ, fromBeginning: true }).on(traced, async (m) => {
        const span = trace.getActiveSpan() as unknown as { parentSpanContext?: SpanContext } | undefined;
        got.push({ parent: span?.parentSpanContext?.spanId ?? '', traceparent: m.headers['traceparent'] ?? '' });
      });
      consumers.push(consumer);
      await consumer.start();
      await consumer.waitUntilReady();
      await until(() => got.length >= 300);

      const finished = spans.getFinishedSpans();
      const sends = finished.filter((s) => s.name === `send ${traced.topic}`);
      // one span for the publish, not one per message (OpenTelemetry's kafkajs instrumentation made 300 here)
      expect(sends).toHaveLength(1);
      const send = sends[0]!;
      expect(send.kind).toBe(SpanKind.PRODUCER);
      expect(send.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
      expect(send.attributes).toMatchObject({
        'messaging.system': 'kafka',
        'messaging.destination.name': traced.topic,
        'messaging.batch.message_count': 300,
        'ais.kafka.acknowledged_messages': 300,
      });
      expect(send.attributes['ais.kafka.produce_requests']).toBeGreaterThanOrEqual(4);
      // each message carries the publish span's context, and its consumer's span is that span's child
      const sendId = send.spanContext().spanId;
      expect(new Set(got.map((g) => g.traceparent))).toEqual(new Set([`00-${root.spanContext().traceId}-${sendId}-01`]));
      expect(new Set(got.map((g) => g.parent))).toEqual(new Set([sendId]));
      const processed = finished.filter((s) => s.name === `${traced.topic} process`);
      expect(processed.length).toBeGreaterThanOrEqual(300);
      expect(processed.every((s) => s.kind === SpanKind.CONSUMER && s.spanContext().traceId === root.spanContext().traceId)).toBe(true);

      // a publish the producer refuses before sending (not connected) makes no span; one the broker refuses is one
      // span with the error
      const unconnected = new EventProducer(kafka, { service: 'kafka-int' });
      await expect(unconnected.publish(traced, [probe('traced-0', 'never')])).rejects.toThrow(/not connected/);
      const oversized = new EventProducer(kafka, { service: 'kafka-int', maxRequestBytes: 64 * 1024 * 1024 });
      await oversized.connect();
      const huge = Array.from({ length: 3 }, (_, i) => probe('traced-0', `${i}:${randomBytes(400_000).toString('hex')}`));
      await expect(oversized.publish(traced, huge)).rejects.toThrow(/larger than the max message size/);
      await oversized.disconnect();
      const failed = spans.getFinishedSpans().filter((s) => s.name === `send ${traced.topic}` && s.status.code === SpanStatusCode.ERROR);
      expect(failed).toHaveLength(1);
      expect(failed[0]!.attributes).toMatchObject({ 'messaging.batch.message_count': 3, 'ais.kafka.produce_requests': 1, 'ais.kafka.acknowledged_messages': 0 });
      expect(failed[0]!.events.some((e) => e.name === 'exception')).toBe(true);
    } finally {
      trace.disable();
    }
  });
});
