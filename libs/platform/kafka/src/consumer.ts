/**
 * Typed batch consumer.
 *
 * - `eachBatch` with resolveOffset + heartbeat + isRunning/isStale checks (fast, still per-message correct).
 * - Each message is processed under its producer's trace: the W3C context in its headers becomes the parent of a
 *   CONSUMER span, so database spans of the handler land in the producer's trace.
 * - Idempotent on `event_id` through an optional {@link IdempotencyGuard}.
 * - Errors: retriable ones are retried in place with backoff; when attempts run out the batch stops without
 *   committing (the message is redelivered later: never lost). Non-retriable ones, undecodable messages and
 *   messages without an envelope go to the dead-letter topic with the reason, and the offset moves on.
 */
import { HEADERS } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { dispositionOf, toAppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import { context, propagation, SpanKind, trace, type Span, type TextMapGetter } from '@opentelemetry/api';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { TopicBinding, WithMeta } from './codec';
import type { EventProducer } from './producer';
import { groupSession, keepHeartbeating } from './group-session';
import { KafkaStartupError, withStartupRetry } from './startup';
import { inEndingSpan, tracer } from './tracing';

export interface IdempotencyGuard {
  has(eventId: string): Promise<boolean>;
  remember(eventId: string): Promise<void>;
}

export interface MessageContext<T> {
  event: T;
  meta: eventsV1.EventMeta;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
}

export type EventHandler<T> = (ctx: MessageContext<T>) => Promise<void>;

export interface ConsumerSettings {
  groupId: string;
  logger: Logger;
  /** Needed for dead-lettering. */
  producer: EventProducer;
  deadLetterTopic: string;
  idempotency?: IdempotencyGuard;
  maxAttempts?: number;
  retryBackoffMs?: number;
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
  /** The group drops this consumer after this long without a heartbeat (default 10 s: group-session.ts). */
  sessionTimeoutMs?: number;
  /** Long-poll wait of an empty fetch; also bounds how long a disconnect waits (default 1000 ms). */
  maxWaitTimeMs?: number;
}

export function headersToRecord(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

const recordGetter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * Runs `fn` for one consumed message inside a CONSUMER span whose parent is the producer's trace context (the W3C
 * headers of the message), with the messaging attributes; a thrown error is recorded on the span. Every consumer of
 * the platform (this one and the batch consumers of the pipeline services) processes a message through it.
 */
export async function inConsumerSpan<T>(
  where: { topic: string; partition: number; groupId: string },
  message: KafkaMessage,
  fn: (span: Span, headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  const headers = headersToRecord(message.headers);
  const parent = propagation.extract(context.active(), headers, recordGetter);
  const span = tracer.startSpan(
    `${where.topic} process`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': where.topic,
        'messaging.destination.partition.id': String(where.partition),
        'messaging.kafka.offset': Number(message.offset),
        'messaging.consumer.group.name': where.groupId,
        ...(headers[HEADERS.eventId] ? { 'messaging.message.id': headers[HEADERS.eventId] } : {}),
      },
    },
    parent,
  );
  return inEndingSpan(span, parent, () => fn(span, headers));
}

interface Subscription {
  binding: TopicBinding<WithMeta>;
  handler: EventHandler<WithMeta>;
}

export class EventConsumer {
  private readonly consumer: Consumer;
  private readonly subscriptions = new Map<string, Subscription>();
  private joined = false;
  private crashed = false;
  private running = false;
  private lastCrash: unknown;

  private readonly session: ReturnType<typeof groupSession>;

  constructor(
    kafka: Kafka,
    private readonly settings: ConsumerSettings,
  ) {
    this.session = groupSession(settings.sessionTimeoutMs);
    this.consumer = kafka.consumer({
      groupId: settings.groupId,
      ...this.session,
      maxWaitTimeInMs: settings.maxWaitTimeMs ?? 1_000,
      allowAutoTopicCreation: false,
      // the client's retry (KAFKA_RETRY: at most 2 s apart) for about a minute before the consumer crashes and restarts
      retry: { retries: 30 },
    });
    const { GROUP_JOIN, CRASH, STOP } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, () => {
      this.joined = true;
    });
    this.consumer.on(STOP, () => {
      this.joined = false;
    });
    this.consumer.on(CRASH, (event) => {
      const restart = Boolean((event.payload as { restart?: boolean }).restart);
      this.settings.logger.error({ err: event.payload.error, groupId: event.payload.groupId, restart }, 'consumer crashed');
      this.lastCrash = event.payload.error;
      if (!restart) this.crashed = true;
    });
  }

  /** The topics subscribed so far. */
  get topics(): string[] {
    return [...this.subscriptions.keys()];
  }

  on<T extends WithMeta>(binding: TopicBinding<T>, handler: EventHandler<T>): this {
    this.subscriptions.set(binding.topic, {
      binding: binding as unknown as TopicBinding<WithMeta>,
      handler: handler as unknown as EventHandler<WithMeta>,
    });
    return this;
  }

  /** True once the consumer has joined its group and has not crashed for good. */
  get ready(): boolean {
    return this.running && this.joined && !this.crashed;
  }

  get healthy(): boolean {
    return !this.crashed;
  }

  /**
   * Connects, subscribes and runs, then waits until the group is joined: right after a broker starts, the
   * subscription's metadata and the group's first join (coordinator loading) fail for a while; those errors are
   * retried within `startup.budgetMs` (default 30 s), after which start() rejects with a {@link KafkaStartupError}.
   */
  async start(startup: { budgetMs?: number; brokers?: readonly string[] } = {}): Promise<void> {
    const budgetMs = startup.budgetMs ?? 30_000;
    const brokers = startup.brokers ?? [];
    const { groupId } = this.settings;
    await withStartupRetry(
      async () => {
        await this.consumer.connect();
        await this.consumer.subscribe({ topics: [...this.subscriptions.keys()], fromBeginning: this.settings.fromBeginning ?? false });
      },
      {
        step: `subscription of group ${groupId}`,
        brokers,
        budgetMs,
        onRetry: ({ attempt, delayMs, error }) => this.settings.logger.warn({ attempt, delayMs, err: error, groupId }, 'kafka not ready for the subscription yet; retrying'),
      },
    );
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.settings.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    this.running = true;
    // kafkajs retries (and restarts after) the join's retriable errors by itself; wait for it, within the budget.
    const deadline = Date.now() + budgetMs;
    while (!this.joined) {
      if (this.crashed) throw new KafkaStartupError(`first join of group ${groupId}`, brokers, budgetMs, this.lastCrash, false);
      if (Date.now() > deadline) throw new KafkaStartupError(`first join of group ${groupId}`, brokers, budgetMs, this.lastCrash, true);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until the group is joined (for tests and readiness gates). */
  async waitUntilReady(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.ready) {
      if (Date.now() > until) throw new Error(`consumer ${this.settings.groupId} did not join its group in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Leaves the group after the current batch (offsets of processed messages are committed). */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
    const sub = this.subscriptions.get(batch.topic);
    if (!sub) return;
    const stopHeartbeats = keepHeartbeating(heartbeat, this.session.heartbeatInterval);
    try {
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        await this.processOne(sub, batch.topic, batch.partition, message);
        resolveOffset(message.offset);
        await heartbeat();
      }
      await commitOffsetsIfNecessary();
    } finally {
      stopHeartbeats();
    }
  }

  private async processOne(sub: Subscription, topic: string, partition: number, message: KafkaMessage): Promise<void> {
    await inConsumerSpan({ topic, partition, groupId: this.settings.groupId }, message, (_span, headers) => this.handle(sub, topic, partition, message, headers));
  }

  private async handle(
    sub: Subscription,
    topic: string,
    partition: number,
    message: KafkaMessage,
    headers: Record<string, string>,
  ): Promise<void> {
    const log = this.settings.logger;
    let event: WithMeta;
    try {
      if (!message.value) throw new Error('empty message value');
      event = sub.binding.codec.decode(message.value);
    } catch (error) {
      await this.deadLetter(topic, partition, message, headers, 'decode_failed', String((error as Error).message), 1);
      return;
    }
    const meta = event.meta;
    if (!meta?.eventId) {
      await this.deadLetter(topic, partition, message, headers, 'missing_envelope', 'event has no meta.event_id', 1);
      return;
    }
    const guard = this.settings.idempotency;
    if (guard && (await guard.has(meta.eventId))) {
      trace.getActiveSpan()?.setAttribute('ais.duplicate', true);
      log.debug({ eventId: meta.eventId, topic }, 'duplicate event skipped');
      return;
    }
    const maxAttempts = this.settings.maxAttempts ?? 5;
    const backoff = this.settings.retryBackoffMs ?? 200;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await sub.handler({ event, meta, topic, partition, offset: message.offset, key: message.key?.toString('utf8') ?? null, headers });
        if (guard) await guard.remember(meta.eventId);
        return;
      } catch (error) {
        const app = toAppError(error);
        if (dispositionOf(app) === 'dead-letter') {
          log.warn({ err: error, eventId: meta.eventId, topic, code: app.code }, 'event dead-lettered');
          await this.deadLetter(topic, partition, message, headers, app.code, app.message, attempt);
          return;
        }
        if (attempt >= maxAttempts) {
          log.error({ err: error, eventId: meta.eventId, topic, attempt }, 'retriable failure persisted; leaving offset uncommitted');
          throw error;
        }
        const delay = Math.min(30_000, backoff * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
        log.warn({ eventId: meta.eventId, topic, attempt, delayMs: Math.round(delay), code: app.code }, 'retrying event');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    headers: Record<string, string>,
    code: string,
    reason: string,
    attempts: number,
  ): Promise<void> {
    const record: eventsV1.DeadLetter = {
      sourceTopic: topic,
      sourcePartition: partition,
      sourceOffset: message.offset,
      consumerGroup: this.settings.groupId,
      errorCode: code,
      errorMessage: reason.slice(0, 2000),
      failedAt: new Date(),
      attempts,
      originalKey: message.key ? Buffer.from(message.key) : Buffer.alloc(0),
      originalValue: message.value ? Buffer.from(message.value) : Buffer.alloc(0),
      originalHeaders: headers,
      eventId: headers[HEADERS.eventId] ?? '',
    };
    const dlqHeaders: Record<string, string> = { ...headers, [HEADERS.deadLetterCode]: code, [HEADERS.deadLetterReason]: reason.slice(0, 500) };
    await this.settings.producer.sendRaw(this.settings.deadLetterTopic, [
      { key: message.key, value: Buffer.from(eventsV1.DeadLetter.encode(record).finish()), headers: dlqHeaders },
    ]);
  }
}

/** Puts a dead-lettered message back on its source topic, byte for byte, with its original headers. */
export async function replayDeadLetter(producer: EventProducer, record: eventsV1.DeadLetter): Promise<void> {
  await producer.sendRaw(record.sourceTopic, [
    {
      key: record.originalKey.length > 0 ? Buffer.from(record.originalKey) : null,
      value: Buffer.from(record.originalValue),
      headers: { ...record.originalHeaders },
    },
  ]);
}

