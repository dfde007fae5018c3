/**
 * Typed, batched, traced event producer. One long-lived instance per process.
 * Each message carries the envelope fields as headers too (so a dead-letter or a tool can read them without
 * decoding) and the W3C trace context of the caller.
 */
import { HEADERS, PROTOBUF_CONTENT_TYPE } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { context, propagation } from '@opentelemetry/api';
import { CompressionTypes, Partitioners, type Kafka, type Producer, type IHeaders, type Message } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import type { TopicBinding, WithMeta } from './codec';
import { countDeadLetters } from './metrics';

export interface ProducerSettings {
  /** Producing service, written into every envelope. */
  service: string;
  compression?: boolean;
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

export class EventProducer {
  private readonly producer: Producer;
  private connected = false;

  constructor(
    kafka: Kafka,
    private readonly settings: ProducerSettings,
  ) {
    this.producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
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

  /** Publishes events of one topic in one request (acks=all). Every event must carry `meta`. */
  async publish<T extends WithMeta>(binding: TopicBinding<T>, events: T[]): Promise<void> {
    if (!this.connected) throw AppError.unavailable('kafka_not_connected', 'producer is not connected');
    if (events.length === 0) return;
    const messages: Message[] = events.map((event) => {
      if (!event.meta?.eventId) throw AppError.invalid('event_without_meta', `event for ${binding.topic} has no envelope`);
      return {
        key: binding.keyOf(event),
        value: Buffer.from(binding.codec.encode(event).finish()),
        headers: headersFor(event.meta),
      };
    });
    await this.producer.send({
      topic: binding.topic,
      acks: -1,
      messages,
      ...(this.settings.compression ? { compression: CompressionTypes.GZIP } : {}),
    });
  }

  /** Sends raw messages (dead-letter, replay). */
  async sendRaw(topic: string, messages: Message[]): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages });
    countDeadLetters(messages);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}
