/**
 * Typed, batched, traced event producer. One long-lived instance per process.
 * Each message carries the envelope fields as headers too (so a dead-letter or a tool can read them without
 * decoding) and the W3C trace context of its publish.
 *
 * Tracing: one PRODUCER span per `publish` (and per `sendRaw`), `send <topic>`, with the number of messages and of
 * produce requests; every message of the publish carries that span's context, so each consumer's CONSUMER span
 * (consumer.ts `inConsumerSpan`) is its child. Not a span per message: the change feed publishes a row per message,
 * 31,800 of them for a heavy user's consent, and OpenTelemetry's kafkajs instrumentation (a span and a context
 * injection per message, no longer loaded: @ais/platform-telemetry sdk.ts) made reconciliation use half as much CPU
 * again with tracing on (11.0 CPU s a heavy consent against 7.5 off, on the images' bundles), and took down the local
 * trace UI (docs/BENCHMARKS.md, consent, "Tracing on").
 */
// before kafkajs: its producer must find the linear grouping in the module cache when it loads (group-messages.ts)
import './group-messages';
import { consecutiveRuns, HEADERS, PROTOBUF_CONTENT_TYPE } from '@ais/contracts-events';
import { encodeMessage, type eventsV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { context, propagation, SpanKind, type Attributes, type Span } from '@opentelemetry/api';
import { CompressionTypes, Partitioners, type ICustomPartitioner, type Kafka, type Producer, type IHeaders, type Message, type PartitionMetadata } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import type { TopicBinding, WithMeta } from './codec';
import { countDeadLetters } from './metrics';
import { inEndingSpan, tracer } from './tracing';

export interface ProducerSettings {
  /** Producing service, written into every envelope. */
  service: string;
  compression?: boolean;
  /**
   * Most bytes (keys, values, headers) one produce request carries; a `publish` of more is sent as several
   * requests, one after another, in order (default {@link DEFAULT_MAX_REQUEST_BYTES}).
   */
  maxRequestBytes?: number;
}

/**
 * Under the broker's `message.max.bytes` (1 MiB by default): the messages of one partition in one request form one
 * record batch, and a batch over that limit is refused whole (MESSAGE_TOO_LARGE, not retriable).
 */
export const DEFAULT_MAX_REQUEST_BYTES = 768 * 1024;

/** What a message adds to a request, near enough (key, value, header names and values, per-record overhead). */
function messageBytes(m: Message): number {
  let n = 64 + (m.value ? (m.value as Buffer).length : 0) + (m.key ? Buffer.byteLength(m.key as string | Buffer) : 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + (typeof v === 'string' ? Buffer.byteLength(v) : Buffer.isBuffer(v) ? v.length : 0);
  return n;
}

/** Consecutive runs of messages of at most `max` bytes each (a larger message alone in its run). */
export function requestChunks(messages: Message[], max: number): Message[][] {
  return consecutiveRuns(messages, messageBytes, max);
}

export function newMeta(service: string, eventType: string, schemaVersion = 1, correlationId = ''): eventsV1.EventMeta {
  return { eventId: randomUUID(), occurredAt: new Date(), schemaVersion, producer: service, eventType, correlationId };
}

export function headersFor(meta: eventsV1.EventMeta): IHeaders {
  const headers: Record<string, string> = {
    [HEADERS.eventId]: meta.eventId,
    [HEADERS.eventType]: meta.eventType,
    [HEADERS.schemaVersion]: String(meta.schemaVersion),
    [HEADERS.producer]: meta.producer,
    [HEADERS.contentType]: PROTOBUF_CONTENT_TYPE,
  };
  propagation.inject(context.active(), headers);
  return headers;
}

/**
 * kafkajs's default partitioner (murmur2 of the key modulo the topic's partition count, as the Java client does, so
 * every producer of a topic puts a key in the same partition) that remembers its last keyed answer. kafkajs calls the
 * partitioner once per message, and a publish is mostly one key's messages (the change feed: a user's changes, one
 * message each), which the default hashes again each time (and copies the partition list for). A message with the
 * same topic, string key and partition count as the one before it gets the partition computed for that one: the
 * default's answer depends on nothing else for a keyed message. Anything else goes to the default.
 */
export const rememberingPartitioner: ICustomPartitioner = () => {
  const partitioner = Partitioners.DefaultPartitioner();
  let topic: string | undefined;
  let key: string | undefined;
  let count = -1;
  let partition = 0;
  return (args) => {
    const k = args.message.key;
    const keyed = typeof k === 'string' && (args.message.partition === undefined || args.message.partition === null);
    if (keyed && k === key && args.topic === topic && args.partitionMetadata.length === count) return partition;
    const p = partitioner(args);
    if (keyed) {
      topic = args.topic;
      key = k;
      count = args.partitionMetadata.length;
      partition = p;
    }
    return p;
  };
};

const keyPartitioner = Partitioners.DefaultPartitioner();
const partitionLists = new Map<number, PartitionMetadata[]>();

/**
 * The partition of `count` that EventProducer (`rememberingPartitioner`: murmur2 of the key, as the Java client) puts a
 * message keyed `key` on: on a topic keyed by user id, the partition that holds the user's events, and so the consumer
 * that owns the user.
 */
export function partitionOfKey(key: string, count: number): number {
  let list = partitionLists.get(count);
  if (!list) {
    list = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    partitionLists.set(count, list);
  }
  return keyPartitioner({ topic: '', partitionMetadata: list, message: { key, value: null } });
}

/** Produce requests a publish took (it splits by `maxRequestBytes`), and messages the broker acknowledged. */
const ATTR_REQUESTS = 'ais.kafka.produce_requests';
const ATTR_ACKED = 'ais.kafka.acknowledged_messages';

/** Runs `fn` in a PRODUCER span for `count` messages to `topic` (OpenTelemetry's messaging conventions); errors are recorded. */
async function inProducerSpan<T>(topic: string, count: number, fn: (span: Span) => Promise<T>): Promise<T> {
  const attributes: Attributes = {
    'messaging.system': 'kafka',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'send',
    'messaging.destination.name': topic,
    'messaging.batch.message_count': count,
  };
  const span = tracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER, attributes });
  return inEndingSpan(span, context.active(), () => fn(span));
}

export class EventProducer {
  private readonly producer: Producer;
  private connected = false;

  constructor(
    kafka: Kafka,
    private readonly settings: ProducerSettings,
  ) {
    this.producer = kafka.producer({
      createPartitioner: rememberingPartitioner,
      // Order per key needs one in-flight request per broker. Not `idempotent`: kafkajs then wants unbounded
      // retries; consumers are idempotent on event_id instead, so a retried send never duplicates data.
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  get service(): string {
    return this.settings.service;
  }

  /**
   * Publishes events of one topic (acks=all): in one request, or in several in order when they exceed
   * `maxRequestBytes` (a fetch window of thousands of transactions does). Every event must carry `meta`. If a later
   * request fails, the earlier ones stay published: consumers are idempotent (event ids, dedupe keys). `onAcked`, when
   * given, hears after each acknowledged request how many of `events` are published so far and where that request
   * landed (the first offset of its records in each partition), so a caller knows how far a failed publish got.
   */
  async publish<T extends WithMeta>(binding: TopicBinding<T>, events: T[], onAcked?: (published: number, landed: { partition: number; baseOffset: number }[]) => void): Promise<void> {
    if (!this.connected) throw AppError.unavailable('kafka_not_connected', 'producer is not connected');
    if (events.length === 0) return;
    await inProducerSpan(binding.topic, events.length, async (span) => {
      // inside the span: headersFor injects its context into every message
      const messages: Message[] = events.map((event) => {
        if (!event.meta?.eventId) throw AppError.invalid('event_without_meta', `event for ${binding.topic} has no envelope`);
        return {
          key: binding.keyOf(event),
          value: encodeMessage(binding.codec, event),
          headers: headersFor(event.meta),
        };
      });
      let published = 0;
      let requests = 0;
      try {
        for (const chunk of requestChunks(messages, this.settings.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES)) {
          requests += 1;
          const metadata = await this.producer.send({
            topic: binding.topic,
            acks: -1,
            messages: chunk,
            ...(this.settings.compression ? { compression: CompressionTypes.GZIP } : {}),
          });
          published += chunk.length;
          onAcked?.(published, metadata.flatMap((m) => (m.baseOffset === undefined ? [] : [{ partition: m.partition, baseOffset: Number(m.baseOffset) }])));
        }
      } finally {
        span.setAttributes({ [ATTR_REQUESTS]: requests, [ATTR_ACKED]: published });
      }
    });
  }

  /**
   * Sends raw messages (dead-letter, replay) as they are: their headers keep the trace context they came with (a dead
   * letter stays in the trace of the event that failed); the send is one PRODUCER span of the caller's trace.
   */
  async sendRaw(topic: string, messages: Message[]): Promise<void> {
    await inProducerSpan(topic, messages.length, async (span) => {
      let requests = 0;
      for (const chunk of requestChunks(messages, this.settings.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES)) {
        requests += 1;
        await this.producer.send({ topic, acks: -1, messages: chunk });
      }
      span.setAttribute(ATTR_REQUESTS, requests);
    });
    countDeadLetters(messages);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}
