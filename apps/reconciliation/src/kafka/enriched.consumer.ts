/**
 * reconciliation's Kafka intake (group "reconciliation"), one kafkajs consumer for both topics (members of one
 * group must subscribe to the same topics):
 *
 * - ais.enriched.v1 (EnrichedEvent, key = user id): enriched fetch results go to `store.applyBatch` (accounts and
 *   cards as accounts, transactions, pending transactions, balances, each with its enrichment); ReEnrichment to
 *   `store.applyReEnrichment`; UserEditCommand to `store.applyEdit` (idempotent on request_id). Identity,
 *   standing orders and direct debits go to `hooks.onOtherPayload`. After each applied message: `hooks.afterEvent`
 *   (before its offset is resolved). After each consumed Kafka batch, once per user it touched: `hooks.afterUser`,
 *   then the change-feed publisher for that user (data/changefeed.ts).
 *   An erasure (erasure.proto) goes to `erasures.apply`; a fetch result of an erased connection is dropped.
 * - ais.connection.v1 (key = connection id): `connection.authorized` with a previous connection id is recorded with
 *   `store.linkConnection` (an `$addToSet` on user_state that takes no sequence number, so it may run beside the
 *   user's writer).
 *
 * SINGLE WRITER PER USER is relied on here: ais.enriched.v1 is keyed by user id, so all of a user's events are on
 * one partition, and this consumer (the partition's owner in the group) is the only code that writes the user's
 * accounts, transactions, balances and edits, one message at a time, in order. The store's commit of a user's
 * sequence numbers (`commitSeq` after the documents) is correct only because of that. Edits arrive as commands on
 * this topic for the same reason; the gRPC handlers never write the store. Partitions may be applied at the same time
 * (`partitionsConsumedConcurrently`, KAFKA_PARTITIONS_CONCURRENTLY): each partition's messages stay in order and a
 * user lives on one partition, so one user's writes never overlap; the in-process state they share (analysis'
 * history cache, the publisher's chains) is kept per user.
 *
 * Errors: undecodable messages, messages without envelope or user, unknown accounts (data before its account
 * list) and other non-retriable AppErrors go to the dead-letter topic with the reason, and consumption moves on.
 * Anything else (MongoDB or Kafka down, a timeout) is transient: the message is retried in place with backoff and
 * never skipped; when the consumer is stopped meanwhile its offset is not committed, so it is redelivered.
 */
import { bindings, HEADERS, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { AppError, isAppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import { groupSession, inConsumerSpan, KafkaStartupError, keepHeartbeating, partitionOfKey, withStartupRetry, type EventProducer } from '@ais/platform-kafka';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { ChangeFeedPublisher } from '../data/changefeed';
import type { Erasures } from '../data/erasure';
import type { ApplyResult, Batch, BatchPayload, ReconciliationStore, StoredEnrichment, UserEdit } from '../data/store';
import { fromRawAccount, fromRawBalance, fromRawCard, fromRawTransaction } from '../domain/raw';
import { timed } from '../metrics';

/** What the consumer applied for one user within one Kafka batch. */
export interface UserBatchResult {
  /** Messages of the user applied (dead-lettered ones not counted). */
  events: number;
  changes: number;
  firstSeq?: number;
  lastSeq?: number;
  /** The data time of the latest applied event (a fetch's `fetched_at`, else the envelope's `occurred_at`). */
  lastAt?: Date;
}

/**
 * What a fetch result message carried: its payload kind, whether it is the last message of its result (a result is
 * split into messages of at most 1,000 items; see BatchPosition), and whether data-fetcher had read the next backfill
 * window of the same resource when it published it (RawDataEvent.more_windows_follow). Content, not Kafka batching:
 * a replay of the same events gives the same values.
 */
export interface AppliedData {
  kind: BatchPayload['kind'] | 'standing_orders' | 'direct_debits' | 'identity';
  lastOfResult: boolean;
  moreWindowsFollow: boolean;
}

export interface EnrichedConsumerHooks {
  /** Identity, standing-order and direct-debit payloads (stored by analysis). Same retry rules as the store. */
  onOtherPayload?: (userId: string, event: eventsV1.EnrichedEvent) => Promise<void>;
  /**
   * After each applied message, before its offset is resolved, with its data time. Writes that must not depend on
   * how Kafka batched the partition (a replay batches differently) go here, not in `afterUser`.
   */
  afterEvent?: (userId: string, applied: { result: ApplyResult; at?: Date; data?: AppliedData }) => Promise<void>;
  /**
   * Once per user after each consumed Kafka batch that touched the user, before the batch's last publish of the user
   * (a user with many unpublished changes held in memory is published earlier too: `publishEarlyAt`).
   */
  afterUser?: (userId: string, result: UserBatchResult) => Promise<void>;
  /** Each time the consumer (re)joins its group: its partitions, so the users it writes, may have changed. */
  onGroupJoin?: () => void;
}

export interface EnrichedConsumerOptions {
  kafka: Kafka;
  store: ReconciliationStore;
  producer: EventProducer;
  logger: Logger;
  publisher?: ChangeFeedPublisher;
  /** Erasures (data/erasure.ts); without it an erasure event is dead-lettered as unsupported. */
  erasures?: Erasures;
  hooks?: EnrichedConsumerHooks;
  groupId?: string;
  topicPrefix?: string;
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
  retryBackoffMs?: number;
  maxWaitTimeMs?: number;
  /** The group drops this consumer after this long without a heartbeat (default 10 s: @ais/platform-kafka group-session.ts). */
  sessionTimeoutMs?: number;
  /**
   * A user whose unpublished changes held in memory (the store's feed memory, data/feed-memory.ts) reach this many
   * documents is published right after the message, not at the end of the Kafka batch: a batch of large messages
   * (a heavy user's backfill, up to 1,000 rows each) would otherwise hold them all (default 2,000, about 5 MB).
   */
  publishEarlyAt?: number;
}


/** Errors that say the message itself is bad: dead-lettered. Everything else is retried. */
function isPoison(error: unknown): error is AppError {
  return isAppError(error) && !error.retriable;
}

function storedEnrichment(e: eventsV1.TransactionEnrichment | undefined): StoredEnrichment | null {
  if (!e || (!e.primaryCategory && !e.detailedCategory)) return null;
  return {
    primary: e.primaryCategory,
    detailed: e.detailedCategory,
    merchantName: e.merchantName,
    merchantKey: e.merchantKey,
    source: e.source,
    reason: e.reason,
    confidence: e.confidence,
    version: e.version,
    taxonomy: e.taxonomy,
  };
}

const invalid = (code: string, message: string): AppError => new AppError({ code, message, kind: 'invalid_argument', retriable: false });

/** The store payload of an enriched fetch result, or null for payloads that go to `onOtherPayload`. */
export function toBatchPayload(raw: eventsV1.RawDataEvent, enrichments: eventsV1.TransactionEnrichment[]): BatchPayload | null {
  const p = raw.payload;
  if (!p) throw invalid('unknown_payload', 'raw event without a known payload');
  const position = { index: raw.batch?.index ?? 0, count: raw.batch?.count ?? 1, complete: raw.batch?.complete ?? false };
  const window = raw.window?.from && raw.window.to ? { from: raw.window.from, to: raw.window.to } : undefined;
  switch (p.$case) {
    case 'accounts':
      return { kind: 'accounts', accounts: p.accounts.accounts.map(fromRawAccount) };
    case 'cards':
      return { kind: 'accounts', accounts: p.cards.cards.map(fromRawCard) };
    case 'transactions':
    case 'pendingTransactions': {
      if (!raw.accountId) throw invalid('missing_account_id', 'transactions without account_id');
      const rows = p.$case === 'transactions' ? p.transactions.transactions : p.pendingTransactions.transactions;
      return {
        kind: p.$case === 'transactions' ? 'transactions' : 'pending_transactions',
        providerAccountId: raw.accountId,
        ...(window ? { window } : {}),
        batch: position,
        transactions: rows.map(fromRawTransaction),
        enrichments: enrichments.map(storedEnrichment),
      };
    }
    case 'balance':
      if (!raw.accountId) throw invalid('missing_account_id', 'balance without account_id');
      return { kind: 'balance', providerAccountId: raw.accountId, balance: fromRawBalance(p.balance) };
    case 'standingOrders':
    case 'directDebits':
    case 'identity':
      return null;
    case 'erasure':
      throw invalid('misplaced_erasure', 'an erasure travels as EnrichedEvent.erasure, not inside a batch');
  }
}

/**
 * The kind of a fetch result message, whether it is its result's last message and whether more windows follow (a
 * known payload is assumed).
 */
export function appliedDataOf(raw: eventsV1.RawDataEvent): AppliedData {
  const lastOfResult = (raw.batch?.index ?? 0) + 1 >= (raw.batch?.count ?? 1);
  const kinds: Record<NonNullable<eventsV1.RawDataEvent['payload']>['$case'], AppliedData['kind'] | undefined> = {
    accounts: 'accounts',
    cards: 'accounts',
    transactions: 'transactions',
    pendingTransactions: 'pending_transactions',
    balance: 'balance',
    standingOrders: 'standing_orders',
    directDebits: 'direct_debits',
    identity: 'identity',
    erasure: undefined,
  };
  const kind = raw.payload ? kinds[raw.payload.$case] : undefined;
  if (!kind) throw invalid('unknown_payload', 'raw event without a known fetch result payload');
  return { kind, lastOfResult, moreWindowsFollow: raw.moreWindowsFollow };
}

export function toUserEdit(c: eventsV1.UserEditCommand): UserEdit {
  const edit: UserEdit = {};
  if (c.setCategoryOverride) edit.categoryOverride = c.categoryOverride || null;
  if (c.setNotes) edit.notes = c.notes || null;
  if (c.setTags) edit.tags = c.tags.length ? [...c.tags] : null;
  if (c.setHidden) edit.hidden = c.hidden;
  return edit;
}

type Applied = { userId: string; result: ApplyResult; at?: Date; data?: AppliedData };

/** The store's batch of an enriched fetch result, or null when it has no time (neither fetched_at nor occurred_at). */
function fetchBatchOf(event: eventsV1.EnrichedEvent, raw: eventsV1.RawDataEvent, payload: BatchPayload): Batch | null {
  const fetchedAt = raw.fetchedAt ?? event.meta?.occurredAt;
  if (!fetchedAt) return null;
  return { eventId: event.meta?.eventId ?? '', clientId: event.clientId || raw.clientId, connectionId: raw.connectionId, providerId: raw.providerId, fetchId: raw.fetchId, fetchedAt, payload };
}

export class EnrichedConsumer {
  private readonly consumer: Consumer;
  private readonly session: ReturnType<typeof groupSession>;
  private readonly enrichedTopic: string;
  private readonly connectionTopic: string;
  private readonly deadLetterTopic: string;
  private readonly groupId: string;
  private joined = false;
  private crashed = false;
  /**
   * The partitions of ais.enriched.v1 this member holds since its last join, and the topic's partition count: which
   * users it owns (`ownsUser`). Undefined from the start of a rebalance until the count is known after the join.
   */
  private owned: { partitions: ReadonlySet<number>; count: number } | undefined;
  /** Counts joins and rebalances: an ownership worked out for an earlier join is dropped. */
  private generation = 0;
  /** Messages decoded as a look-ahead (`lookaheadOf`), for their own turn (partitions are applied at the same time). */
  private readonly decodedAhead = new WeakMap<KafkaMessage, eventsV1.EnrichedEvent>();

  constructor(private readonly o: EnrichedConsumerOptions) {
    this.groupId = o.groupId ?? 'reconciliation';
    const prefix = o.topicPrefix ?? '';
    this.enrichedTopic = bindings.enriched(prefix).topic;
    this.connectionTopic = bindings.connection(prefix).topic;
    this.deadLetterTopic = topicName(TOPICS.deadLetter, prefix);
    this.session = groupSession(o.sessionTimeoutMs);
    this.consumer = o.kafka.consumer({
      groupId: this.groupId,
      ...this.session,
      maxWaitTimeInMs: o.maxWaitTimeMs ?? 1_000,
      allowAutoTopicCreation: false,
      retry: { retries: 10 },
    });
    const { GROUP_JOIN, CRASH, STOP, REBALANCING } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (event) => {
      o.hooks?.onGroupJoin?.();
      this.joined = true;
      void this.learnOwnership(event.payload.memberAssignment[this.enrichedTopic] ?? []);
    });
    this.consumer.on(REBALANCING, () => this.disown());
    this.consumer.on(STOP, () => {
      this.joined = false;
      this.disown();
    });
    this.consumer.on(CRASH, (event) => {
      const restart = Boolean((event.payload as { restart?: boolean }).restart);
      o.logger.error({ err: event.payload.error, groupId: this.groupId, restart }, 'reconciliation consumer crashed');
      if (!restart) this.crashed = true;
    });
  }

  get healthy(): boolean {
    return !this.crashed;
  }

  /**
   * Whether this member owns the user (holds the ais.enriched.v1 partition the user's events go to), so is the only
   * one that writes and publishes the user. False while the group rebalances and before the first join. The change
   * feed's sweep asks it before it publishes a user (data/changefeed.ts).
   */
  ownsUser(userId: string): boolean {
    const o = this.owned;
    return o !== undefined && o.partitions.has(partitionOfKey(userId, o.count));
  }

  private disown(): void {
    this.generation += 1;
    this.owned = undefined;
  }

  /** After a join: the enriched topic's partition count (an admin metadata read, retried), then the ownership. */
  private async learnOwnership(partitions: number[]): Promise<void> {
    const generation = (this.generation += 1);
    this.owned = undefined;
    for (let attempt = 1; generation === this.generation; attempt += 1) {
      const admin = this.o.kafka.admin();
      try {
        await admin.connect();
        const { topics } = await admin.fetchTopicMetadata({ topics: [this.enrichedTopic] });
        const count = topics[0]?.partitions.length ?? 0;
        if (count === 0) throw new Error(`no partitions listed for ${this.enrichedTopic}`);
        if (generation === this.generation) this.owned = { partitions: new Set(partitions), count };
        return;
      } catch (error) {
        this.o.logger.warn({ err: error, attempt, groupId: this.groupId }, 'partition count of the enriched topic not read; the change feed sweep waits for it');
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * attempt)));
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }
  }

  get ready(): boolean {
    return this.joined && !this.crashed;
  }

  async start(startup: { budgetMs?: number; brokers?: readonly string[] } = {}): Promise<void> {
    const budgetMs = startup.budgetMs ?? 30_000;
    const brokers = startup.brokers ?? [];
    await withStartupRetry(
      async () => {
        await this.consumer.connect();
        await this.consumer.subscribe({ topics: [this.enrichedTopic, this.connectionTopic], fromBeginning: this.o.fromBeginning ?? false });
      },
      { step: `subscription of group ${this.groupId}`, brokers, budgetMs },
    );
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.o.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    const deadline = Date.now() + budgetMs;
    while (!this.joined) {
      if (this.crashed || Date.now() > deadline) throw new KafkaStartupError(`first join of group ${this.groupId}`, brokers, budgetMs, undefined, !this.crashed);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Leaves the group after the current batch (its processed offsets are committed). */
  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { heartbeat } = payload;
    // one message may take longer than the session (retries through a store outage, a change-feed run, a ledger
    // read-back): heartbeats go on meanwhile (@ais/platform-kafka group-session.ts)
    const stopHeartbeats = keepHeartbeating(heartbeat, this.session.heartbeatInterval);
    try {
      await this.consumeBatch(payload);
    } finally {
      stopHeartbeats();
    }
  }

  private async consumeBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
    const touched = new Map<string, UserBatchResult>();
    for (const [i, message] of batch.messages.entries()) {
      if (!isRunning() || isStale()) break;
      const applied = await timed('message', () => this.processOne(batch.topic, batch.partition, message, isRunning, batch.messages[i + 1]));
      const afterEvent = this.o.hooks?.afterEvent;
      if (applied && afterEvent) {
        const { result, at, data } = applied;
        await timed('analysis', () => this.hook('afterEvent', applied.userId, isRunning, () => afterEvent(applied.userId, { result, ...(at ? { at } : {}), ...(data ? { data } : {}) })));
      }
      if (applied && this.o.publisher && this.o.store.feed.held(applied.userId) >= (this.o.publishEarlyAt ?? 2_000)) await this.publish(applied.userId);
      if (applied) {
        const r = touched.get(applied.userId) ?? { events: 0, changes: 0 };
        r.events += 1;
        r.changes += applied.result.changes;
        if (applied.result.firstSeq !== undefined) r.firstSeq = r.firstSeq ?? applied.result.firstSeq;
        if (applied.result.lastSeq !== undefined) r.lastSeq = applied.result.lastSeq;
        if (applied.at && (!r.lastAt || applied.at > r.lastAt)) r.lastAt = applied.at;
        touched.set(applied.userId, r);
      }
      resolveOffset(message.offset);
      await heartbeat();
    }
    for (const [userId, result] of touched) {
      const after = this.o.hooks?.afterUser;
      if (after) await this.hook('afterUser', userId, isRunning, () => after(userId, result));
      await this.publish(userId);
    }
    await commitOffsetsIfNecessary();
  }

  /** Publishes the user's committed changes; a failure is not retried here: the user stays flagged publishPending and the sweep sends it. */
  private async publish(userId: string): Promise<void> {
    if (this.o.publisher) await this.o.publisher.publishUser(userId).catch((error) => this.o.logger.warn({ err: error, userId }, 'change feed publish failed; the sweep retries'));
  }

  /**
   * Transient failures are retried; a non-retriable one is logged and consumption goes on (derived data: the next
   * message or batch of the user runs the hook again), so that one user cannot stop the partition.
   */
  private async hook(what: string, userId: string, isRunning: () => boolean, fn: () => Promise<void>): Promise<void> {
    await this.retrying(what, { userId }, isRunning, fn).catch((error: unknown) => {
      if (!isPoison(error)) throw error;
      this.o.logger.error({ err: error, userId, code: error.code }, `${what} hook failed; continuing`);
    });
  }

  /** Runs `fn` until it succeeds or fails with a poison error; transient failures are retried while running. */
  private async retrying<T>(what: string, fields: Record<string, unknown>, isRunning: () => boolean, fn: () => Promise<T>): Promise<T> {
    const backoff = this.o.retryBackoffMs ?? 200;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await fn();
      } catch (error) {
        if (isPoison(error)) throw error;
        if (!isRunning()) throw error; // stopping: leave the offset uncommitted (redelivered), never skip
        const delay = Math.min(30_000, backoff * 2 ** Math.min(attempt - 1, 10)) * (0.5 + Math.random() / 2);
        this.o.logger.warn({ ...fields, err: error, attempt, delayMs: Math.round(delay) }, `${what}: transient failure; retrying`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** `next`: the message after this one in the batch (a look-ahead for the store, see `lookaheadOf`). */
  private async processOne(topic: string, partition: number, message: KafkaMessage, isRunning: () => boolean, next?: KafkaMessage): Promise<Applied | null> {
    return inConsumerSpan({ topic, partition, groupId: this.groupId }, message, async (span, headers) => {
      try {
        return await this.retrying('apply', { topic, offset: message.offset, eventId: headers[HEADERS.eventId] }, isRunning, () =>
          topic === this.connectionTopic ? this.handleConnection(message).then(() => null) : this.handleEnriched(message, next),
        );
      } catch (error) {
        if (!isPoison(error)) throw error;
        span.setAttribute('ais.dead_lettered', error.code);
        this.o.logger.warn({ err: error, code: error.code, topic, offset: message.offset, eventId: headers[HEADERS.eventId] }, 'event dead-lettered');
        await this.deadLetter(topic, partition, message, headers, error.code, error.message, isRunning);
        return null;
      }
    });
  }

  private decode<T>(message: KafkaMessage, codec: { decode(b: Uint8Array): T }): T {
    try {
      if (!message.value || message.value.length === 0) throw new Error('empty message value');
      return codec.decode(message.value);
    } catch (error) {
      throw invalid('decode_failed', (error as Error).message);
    }
  }

  private async handleConnection(message: KafkaMessage): Promise<void> {
    const event = this.decode(message, eventsV1.ConnectionEvent);
    const p = event.payload;
    if (p?.$case !== 'authorized') return;
    const a = p.authorized;
    if (!a.previousConnectionId) return;
    if (!a.userId || !a.connectionId) throw invalid('missing_ids', 'connection.authorized without user_id or connection_id');
    await this.o.store.linkConnection(a.userId, a.connectionId, a.previousConnectionId);
    this.o.logger.info({ connectionId: a.connectionId, previousConnectionId: a.previousConnectionId }, 'connection renewal recorded');
  }

  /**
   * The next message as the store's look-ahead (`ReconciliationStore.applyBatch`): the same user's fetch result of
   * transactions, as its own apply will see it. Anything else, or a message that does not decode, is none (it is
   * then applied, or dead-lettered, by its own turn). The decoded event is kept for that turn.
   */
  private lookaheadOf(message: KafkaMessage, userId: string): Batch | undefined {
    let event: eventsV1.EnrichedEvent;
    try {
      event = this.decode(message, eventsV1.EnrichedEvent);
    } catch {
      return undefined;
    }
    this.decodedAhead.set(message, event);
    const p = event.payload;
    if (event.userId !== userId || p?.$case !== 'batch' || !p.batch.raw || !event.meta?.eventId) return undefined;
    try {
      const payload = toBatchPayload(p.batch.raw, p.batch.enrichments);
      return payload && (payload.kind === 'transactions' || payload.kind === 'pending_transactions') ? (fetchBatchOf(event, p.batch.raw, payload) ?? undefined) : undefined;
    } catch {
      return undefined;
    }
  }

  /** `at` and `data` are set for fetched data only (what derived data is computed from): its `fetched_at` and kind. */
  private async handleEnriched(message: KafkaMessage, next?: KafkaMessage): Promise<Applied> {
    const event = this.decodedAhead.get(message) ?? this.decode(message, eventsV1.EnrichedEvent);
    this.decodedAhead.delete(message);
    const meta = event.meta;
    if (!meta?.eventId) throw invalid('missing_envelope', 'event has no meta.event_id');
    const userId = event.userId;
    if (!userId) throw invalid('missing_user_id', 'enriched event without user_id');
    // the key chose the partition, so the one writer of the user: an event keyed otherwise may be another writer's
    if (!message.key || message.key.toString() !== userId) throw invalid('key_mismatch', 'enriched event whose Kafka key is not its user_id');
    const at = meta.occurredAt ?? null;
    const p = event.payload;
    if (!p) throw invalid('unknown_payload', `enriched event ${meta.eventType} has no known payload`);
    const store = this.o.store;
    switch (p.$case) {
      case 'batch': {
        const raw = p.batch.raw;
        if (!raw) throw invalid('missing_raw', 'enriched batch without raw event');
        if (this.o.erasures && (await this.o.erasures.isErased(userId, raw.connectionId))) {
          this.o.logger.info({ connectionId: raw.connectionId, eventId: meta.eventId }, 'fetch result of an erased connection; dropped');
          return { userId, result: { changes: 0, touched: 0 } };
        }
        const payload = toBatchPayload(raw, p.batch.enrichments);
        const data = appliedDataOf(raw);
        if (!payload) {
          if (this.o.hooks?.onOtherPayload) await this.o.hooks.onOtherPayload(userId, event);
          const when = raw.fetchedAt ?? at;
          return when ? { userId, result: { changes: 0, touched: 0 }, at: when, data } : { userId, result: { changes: 0, touched: 0 }, data };
        }
        const fetched = fetchBatchOf(event, raw, payload);
        if (!fetched) throw invalid('missing_time', 'raw event without fetched_at or occurred_at');
        const result = await store.applyBatch(userId, fetched, next ? () => this.lookaheadOf(next, userId) : undefined);
        return { userId, result, at: fetched.fetchedAt, data };
      }
      case 'reEnrichment': {
        if (!at) throw invalid('missing_time', 're-enrichment without occurred_at');
        const items = p.reEnrichment.items.flatMap((i) => {
          const e = storedEnrichment(i.enrichment);
          return i.transactionId && e ? [{ transactionId: i.transactionId, enrichment: e }] : [];
        });
        const result = await store.applyReEnrichment(userId, items, at);
        if (result.unknown > 0) this.o.logger.info({ unknown: result.unknown, reason: p.reEnrichment.reason }, 're-enrichment named transactions that are not stored; ignored');
        return { userId, result };
      }
      case 'userEdit': {
        const c = p.userEdit;
        if (c.target !== 'transaction' && c.target !== 'account') throw invalid('invalid_target', `edit target must be transaction or account, not ${JSON.stringify(c.target.slice(0, 40))}`);
        if (!c.targetId || !c.requestId) throw invalid('missing_ids', 'user edit without target_id or request_id');
        const when = c.requestedAt ?? at;
        if (!when) throw invalid('missing_time', 'user edit without requested_at or occurred_at');
        // a target that does not exist is still stored: the gRPC handler validated it before publishing
        const result = await store.applyEdit(userId, c.target, c.targetId, toUserEdit(c), when, c.requestId, event.clientId || undefined);
        return { userId, result };
      }
      case 'erasure': {
        const e = p.erasure;
        if (!this.o.erasures) throw invalid('erasure_unsupported', 'this consumer has no erasure store');
        if (!e.erasureId || e.userId !== userId || !e.clientId) throw invalid('invalid_erasure', 'erasure without erasure_id or client_id, or for another user than its key');
        const result = await this.o.erasures.apply(userId, e, at ?? new Date());
        this.o.logger.info({ erasureId: e.erasureId, reason: e.reason, accounts: result.accountIds.length, documents: result.touched, seq: result.firstSeq }, 'erasure applied; confirmation queued on the change feed');
        return { userId, result };
      }
    }
  }

  private async deadLetter(topic: string, partition: number, message: KafkaMessage, headers: Record<string, string>, code: string, reason: string, isRunning: () => boolean): Promise<void> {
    const record: eventsV1.DeadLetter = {
      sourceTopic: topic,
      sourcePartition: partition,
      sourceOffset: message.offset,
      consumerGroup: this.groupId,
      errorCode: code,
      errorMessage: reason.slice(0, 2000),
      failedAt: new Date(),
      attempts: 1,
      originalKey: message.key ? Buffer.from(message.key) : Buffer.alloc(0),
      originalValue: message.value ? Buffer.from(message.value) : Buffer.alloc(0),
      originalHeaders: headers,
      eventId: headers[HEADERS.eventId] ?? '',
    };
    const dlqHeaders = { ...headers, [HEADERS.deadLetterCode]: code, [HEADERS.deadLetterReason]: reason.slice(0, 500) };
    // the dead letter itself must not be lost: Kafka errors here are retried like any transient failure
    await this.retrying('dead-letter', { topic, offset: message.offset }, isRunning, () =>
      this.o.producer.sendRaw(this.deadLetterTopic, [{ key: message.key, value: Buffer.from(eventsV1.DeadLetter.encode(record).finish()), headers: dlqHeaders }]),
    );
  }
}
