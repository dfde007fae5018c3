/**
 * ais.raw.v1 -> ais.enriched.v1, one consumed batch at a time.
 *
 * Order: both topics are keyed by user id and a partition's messages are enriched and produced in offset order,
 * each output sent on as soon as it is made with one request in flight per partition (forwarder.ts), so each user's
 * enriched events keep the order of their raw events, and reconciliation starts on a batch before all of it is
 * enriched. The consumer group owns a user's partition alone (single writer per user), which is what reconciliation
 * relies on downstream; enrichment itself keeps no per-user state besides the user rules, which it only reads here.
 *
 * Delivery: a message's offset is resolved, and committed, only after its enriched event or dead letter is
 * acknowledged (acks=all); a failure (Kafka, MongoDB) throws, and kafkajs redelivers from the last committed offset.
 * Enriched event ids are derived from the raw event ids, so a redelivered message produces the same id and
 * reconciliation skips it.
 *
 * Erasure (erasure.proto): a raw `erasure` event for a user request deletes the user's rules, and goes on to
 * ais.enriched.v1 in its place in the user's order, with enrichment's step added.
 *
 * Poison messages (undecodable, no envelope, no user, no known payload, amounts that are not decimals) go to the
 * dead-letter topic with the reason, and the partition moves on.
 *
 * Tracing: each raw message gets a CONSUMER span under the producer's trace (W3C headers); its enriched event's
 * headers carry that span's context.
 */
import { bindings, EVENT_TYPES, HEADERS, PROTOBUF_CONTENT_TYPE } from '@ais/contracts-events';
import { encodeMessage, eventsV1, type erasureV1 } from '@ais/contracts-proto-ts';
import type { Logger } from '@ais/platform-logger';
import { groupSession, headersFor, inConsumerSpan, KafkaStartupError, keepHeartbeating, withStartupRetry, type EventProducer } from '@ais/platform-kafka';
import { context, propagation } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Message } from 'kafkajs';
import type { UserRule, UserRuleSource } from '../domain/categorize';
import { carriesTransactions, enrichedEventId, enrichRaw, PoisonEvent } from '../domain/enrich-raw';
import { Forwarder, idle } from './forwarder';

export const ENRICHED_SCHEMA_VERSION = 1;
/**
 * Bytes of encoded messages per producer request (at least one message). The broker's message.max.bytes (1 MB by
 * default) bounds each partition's record batch in a request, so one request stays below it whatever the partitioning.
 */
const MAX_SEND_BYTES = 768 * 1024;

export interface RawConsumerSettings {
  groupId: string;
  prefix: string;
  producer: EventProducer;
  rules: UserRuleSource & { deleteUser?(clientId: string, userId: string): Promise<number> };
  logger: Logger;
  fromBeginning?: boolean;
  /** The group drops this consumer after this long without a heartbeat (default 10 s: @ais/platform-kafka group-session.ts). */
  sessionTimeoutMs?: number;
  maxWaitTimeMs?: number;
  partitionsConsumedConcurrently?: number;
  /** Called after each batch is produced and committed (metrics, tests). */
  onBatch?: (stats: { enriched: number; deadLettered: number; transactions: number }) => void;
}

/** The envelope of the enriched event made from a raw one: its id derived from the raw event's (see the file comment). */
function enrichedMeta(raw: eventsV1.EventMeta, eventType: string, occurredAt: Date): eventsV1.EventMeta {
  return { eventId: enrichedEventId(raw.eventId), occurredAt, schemaVersion: ENRICHED_SCHEMA_VERSION, producer: 'enrichment', eventType, correlationId: raw.correlationId };
}

/** Replaces the carrier's W3C headers with the active context (this message's CONSUMER span). */
function withTraceContext(carrier: Record<string, string>): Record<string, string> {
  const out = { ...carrier };
  delete out[HEADERS.traceparent];
  delete out[HEADERS.tracestate];
  propagation.inject(context.active(), out);
  return out;
}

/** What one raw message became. */
type Outcome = { kind: 'enriched'; message: Message; transactions: number } | { kind: 'dead'; message: Message };

export class RawEnrichmentConsumer {
  private readonly consumer: Consumer;
  private readonly session: ReturnType<typeof groupSession>;
  private readonly enrichedTopic: string;
  private readonly rawBinding;
  private readonly deadLetterTopic: string;
  private joined = false;
  private crashed = false;
  private running = false;
  private lastCrash: unknown;

  constructor(
    kafka: Kafka,
    private readonly settings: RawConsumerSettings & { deadLetterTopic: string },
  ) {
    this.rawBinding = bindings.raw(settings.prefix);
    this.enrichedTopic = bindings.enriched(settings.prefix).topic;
    this.deadLetterTopic = settings.deadLetterTopic;
    this.session = groupSession(settings.sessionTimeoutMs);
    this.consumer = kafka.consumer({
      groupId: settings.groupId,
      ...this.session,
      maxWaitTimeInMs: settings.maxWaitTimeMs ?? 1_000,
      allowAutoTopicCreation: false,
      retry: { retries: 10 },
    });
    const { GROUP_JOIN, CRASH, STOP } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, () => (this.joined = true));
    this.consumer.on(STOP, () => (this.joined = false));
    this.consumer.on(CRASH, (event) => {
      const restart = Boolean((event.payload as { restart?: boolean }).restart);
      settings.logger.error({ err: event.payload.error, groupId: event.payload.groupId, restart }, 'enrichment consumer crashed');
      this.lastCrash = event.payload.error;
      if (!restart) this.crashed = true;
    });
  }

  get ready(): boolean {
    return this.running && this.joined && !this.crashed;
  }

  get healthy(): boolean {
    return !this.crashed;
  }

  async start(startup: { budgetMs?: number; brokers?: readonly string[] } = {}): Promise<void> {
    const budgetMs = startup.budgetMs ?? 30_000;
    const brokers = startup.brokers ?? [];
    const { groupId, logger } = this.settings;
    await withStartupRetry(
      async () => {
        await this.consumer.connect();
        await this.consumer.subscribe({ topics: [this.rawBinding.topic], fromBeginning: this.settings.fromBeginning ?? true });
      },
      { step: `subscription of group ${groupId}`, brokers, budgetMs, onRetry: ({ attempt, delayMs, error }) => logger.warn({ attempt, delayMs, err: error, groupId }, 'kafka not ready for the subscription yet; retrying') },
    );
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.settings.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    this.running = true;
    const deadline = Date.now() + budgetMs;
    while (!this.joined) {
      if (this.crashed) throw new KafkaStartupError(`first join of group ${groupId}`, brokers, budgetMs, this.lastCrash, false);
      if (Date.now() > deadline) throw new KafkaStartupError(`first join of group ${groupId}`, brokers, budgetMs, this.lastCrash, true);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Leaves the group after the current batch (its offsets are committed once its output is acknowledged). */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
    if (batch.topic !== this.rawBinding.topic) return;
    const rules = new Map<string, Promise<readonly UserRule[]>>();
    const stats = { enriched: 0, deadLettered: 0, transactions: 0 };
    // each message's output goes on as soon as it is made (one request in flight, forwarder.ts): reconciliation
    // starts on the batch's first event while the rest is enriched; an offset is resolved once its output is acked
    const out = new Forwarder<Outcome>(
      (outcomes) => this.sendOutcomes(outcomes),
      async (offset) => {
        resolveOffset(offset);
        await heartbeat();
      },
      MAX_SEND_BYTES,
    );
    // heartbeats go on meanwhile (group-session.ts)
    const stopHeartbeats = keepHeartbeating(heartbeat, this.session.heartbeatInterval);
    try {
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        const outcome = await this.processOne(batch.topic, batch.partition, message, rules);
        if (outcome.kind === 'enriched') {
          stats.enriched += 1;
          stats.transactions += outcome.transactions;
        } else stats.deadLettered += 1;
        out.push({ offset: message.offset, out: outcome, bytes: (outcome.message.value as Buffer).length });
        if (out.busy) await idle();
      }
    } finally {
      // what was enriched is sent and its offsets resolved even when a later message failed (that one is redelivered)
      await out.drain().catch(() => undefined);
      stopHeartbeats();
    }
    await out.drain();
    await commitOffsetsIfNecessary();
    if (stats.enriched + stats.deadLettered > 0) this.settings.onBatch?.(stats);
  }

  /** One request's outcomes: dead letters first, then the enriched events, each in offset order. */
  private async sendOutcomes(outcomes: Outcome[]): Promise<void> {
    await this.send(this.deadLetterTopic, outcomes.flatMap((o) => (o.kind === 'dead' ? [o.message] : [])));
    await this.send(this.enrichedTopic, outcomes.flatMap((o) => (o.kind === 'enriched' ? [o.message] : [])));
  }

  /**
   * The kafkajs instrumentation would stamp every message of a request with the one context active at send time;
   * tracing is suppressed for the request so each message keeps the traceparent of its own raw message's CONSUMER
   * span (set in enrichOne / dead).
   */
  private async send(topic: string, messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    await context.with(suppressTracing(context.active()), () => this.settings.producer.sendRaw(topic, messages));
  }

  private async processOne(topic: string, partition: number, message: KafkaMessage, rules: Map<string, Promise<readonly UserRule[]>>): Promise<Outcome> {
    return inConsumerSpan({ topic, partition, groupId: this.settings.groupId }, message, async (span, headers) => {
      const outcome = await this.enrichOne(topic, partition, message, headers, rules);
      if (outcome.kind === 'dead') span.setAttribute('ais.dead_lettered', true);
      return outcome;
    });
  }

  private async enrichOne(
    topic: string,
    partition: number,
    message: KafkaMessage,
    headers: Record<string, string>,
    rules: Map<string, Promise<readonly UserRule[]>>,
  ): Promise<Outcome> {
    const log = this.settings.logger;
    let raw: eventsV1.RawDataEvent;
    try {
      if (!message.value) throw new Error('empty message value');
      raw = this.rawBinding.codec.decode(message.value);
    } catch (error) {
      return this.dead(topic, partition, message, headers, 'decode_failed', (error as Error).message);
    }
    if (!raw.meta?.eventId) return this.dead(topic, partition, message, headers, 'missing_envelope', 'event has no meta.event_id');
    if (raw.payload?.$case === 'erasure') return this.erase(raw, raw.payload.erasure, rules);
    let enrichments: eventsV1.TransactionEnrichment[];
    try {
      let userRules: readonly UserRule[] = [];
      if (carriesTransactions(raw) && raw.userId) {
        const key = JSON.stringify([raw.clientId, raw.userId]);
        if (!rules.has(key)) rules.set(key, this.settings.rules.rulesFor(raw.clientId, raw.userId));
        userRules = await rules.get(key)!;
      }
      enrichments = enrichRaw(raw, userRules);
    } catch (error) {
      if (error instanceof PoisonEvent) return this.dead(topic, partition, message, headers, error.code, error.message, raw.meta.eventId);
      throw error;
    }
    const event: eventsV1.EnrichedEvent = {
      meta: enrichedMeta(raw.meta, EVENT_TYPES.enrichedBatch, new Date()),
      userId: raw.userId,
      clientId: raw.clientId,
      payload: { $case: 'batch', batch: { raw, enrichments } },
    };
    log.debug({ eventId: event.meta!.eventId, rawEventId: raw.meta.eventId, kind: raw.payload?.$case, items: enrichments.length }, 'raw event enriched');
    return {
      kind: 'enriched',
      transactions: enrichments.length,
      // headersFor injects the active context: this message's CONSUMER span.
      message: { key: raw.userId, value: encodeMessage(eventsV1.EnrichedEvent, event), headers: headersFor(event.meta!) },
    };
  }

  /** Deletes the user's rules (a user request; retention is about connections' data) and passes the erasure on. */
  private async erase(raw: eventsV1.RawDataEvent, e: erasureV1.UserErasure, rules: Map<string, Promise<readonly UserRule[]>>): Promise<Outcome> {
    let deleted = 0;
    if (e.reason === 'user_request' && raw.clientId && raw.userId && this.settings.rules.deleteUser) {
      deleted = await this.settings.rules.deleteUser(raw.clientId, raw.userId);
      rules.delete(JSON.stringify([raw.clientId, raw.userId]));
    }
    const event: eventsV1.EnrichedEvent = {
      meta: enrichedMeta(raw.meta!, EVENT_TYPES.enrichedErasure, raw.meta!.occurredAt ?? new Date()),
      userId: raw.userId,
      clientId: raw.clientId,
      payload: { $case: 'erasure', erasure: { ...e, steps: [...e.steps, { service: 'enrichment', documentsDeleted: String(deleted), completedAt: new Date(), detail: `${deleted} user rules` }] } },
    };
    this.settings.logger.info({ erasureId: e.erasureId, reason: e.reason, rulesDeleted: deleted }, 'erasure: user rules deleted; passed on to ais.enriched.v1');
    return { kind: 'enriched', transactions: 0, message: { key: raw.userId, value: encodeMessage(eventsV1.EnrichedEvent, event), headers: headersFor(event.meta!) } };
  }

  private dead(topic: string, partition: number, message: KafkaMessage, headers: Record<string, string>, code: string, reason: string, eventId = ''): Outcome {
    this.settings.logger.warn({ topic, partition, offset: message.offset, eventId: eventId || headers[HEADERS.eventId], code, reason }, 'raw event dead-lettered');
    const record: eventsV1.DeadLetter = {
      sourceTopic: topic,
      sourcePartition: partition,
      sourceOffset: message.offset,
      consumerGroup: this.settings.groupId,
      errorCode: code,
      errorMessage: reason.slice(0, 2000),
      failedAt: new Date(),
      attempts: 1,
      originalKey: message.key ? Buffer.from(message.key) : Buffer.alloc(0),
      originalValue: message.value ? Buffer.from(message.value) : Buffer.alloc(0),
      originalHeaders: headers,
      eventId: eventId || headers[HEADERS.eventId] || '',
    };
    return {
      kind: 'dead',
      message: {
        key: message.key,
        value: Buffer.from(eventsV1.DeadLetter.encode(record).finish()),
        headers: withTraceContext({ ...headers, [HEADERS.deadLetterCode]: code, [HEADERS.deadLetterReason]: reason.slice(0, 500), [HEADERS.contentType]: PROTOBUF_CONTENT_TYPE }),
      },
    };
  }
}
