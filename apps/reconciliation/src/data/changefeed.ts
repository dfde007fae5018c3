/**
 * The change-feed publisher: sends a user's stored changes to ais.ledger.v1 (ChangeEvent, key = user id).
 *
 * After the consumer has applied a user's events (kafka/enriched.consumer.ts calls `publishUser`), the changes with
 * seq in (publishedSeq, committedSeq] are read from the four collections through their `*_changes` indexes
 * ({userId, seq}), merged into seq order, mapped with domain/view.ts, produced in batches, and then `publishedSeq`
 * is recorded on user_state (`store.markPublished`). Transactions this process has just written come from the
 * store's feed memory instead (data/feed-memory.ts: the same documents, not read back) when it covers the range, and
 * when they are all of the range the other collections are not read (`coversRange`).
 *
 * ## Delivery guarantee: each change once, resumed exactly after an interruption; stable event ids
 *
 * - A change is produced before its number is recorded as published, so it is never lost. Before a run produces
 *   anything it records `publishingFrom` on user_state (`store.markPublishing`): the user's ledger partition and an
 *   offset at or before where its records will land (`LedgerPosition.endBound`, kept fresh by the produce
 *   acknowledgements); the run's last record clears it. A run that stops in between (its process died, its record
 *   failed, its user's partition moved away) leaves it, and the next run resumes exactly after what is on the ledger:
 *   - in the same process, from what this process produced for the user since it last joined its group (`produced`,
 *     acknowledged requests included when a later one failed);
 *   - in a process that does not know (another instance, or this one after a rebalance: `forgetAll`), by reading the
 *     partition back from that offset for the user's highest seq (kafka/ledger-position.ts), once per user and join.
 *   So no (user, seq) is produced twice, also across a SIGKILL (apps/reconciliation/test/feed-resume.int-spec.ts;
 *   tests/integration/chaos.ts fails a repeated number). What remains at least once: a produce request the broker
 *   stored but could not acknowledge (its restart) is sent again by kafkajs (the producer is not idempotent:
 *   platform-kafka's producer.ts), and two processes publishing one user at once (below) can both send a range.
 * - The event id is a UUID derived from (user id, seq), and `occurred_at` is the document's own `updatedAt`, so a
 *   change sent again is byte-for-byte the same event (when the document has not changed again in between; then it
 *   carries a newer seq and its older seq is never sent again). Consumers dedupe on event id or (user_id, seq), as a
 *   Kafka consumer must anyway (its own restart reads past its last commit again).
 * - Per user, events go out in seq order; a run never starts while another run for the same user is active in
 *   this process (a per-user chain), and only the process that owns the user publishes it: the consumer after each
 *   batch of the user's partition, and the sweep only for users of the partitions this process holds (`owns`, the
 *   consumer's `ownsUser`). Two processes can overlap only when a partition moves while a run is in flight and its
 *   process is still alive (a member that lost its partition mid-page); then a consumer can see a range twice (same
 *   ids), never a gap. A sweep's run checks that it still owns the user before each page.
 * - Nothing stays unpublished after a crash: `commitSeq` sets `publishPending` on user_state, the publisher clears
 *   it once `publishedSeq` reaches `committedSeq`, and `sweep` (run periodically) finds flagged users through the
 *   `user_state_publish_pending` index. The sweep of every instance reads that index, and each publishes its own
 *   users: before, any instance's sweep took any user pending for `CHANGEFEED_SWEEP_MIN_AGE_MS`, so a user whose
 *   backfill outlasted it (its flag stays up until the feed catches up) was published by the owner and by every other
 *   instance at once, the same ranges twice or more, interleaved.
 *
 * Erasures (data/erasure.ts) are in the feed too: the deletion log's documents take a sequence number like any
 * change, and go out as `ChangeEvent.erasure` (kind REMOVED, reason `user_request` or `retention`), the
 * confirmation that every service deleted the data.
 *
 * Kinds: `removed` for a removed document; `added` when the document was created after the run's starting cursor
 * (createdSeq > publishedSeq), else `modified`.
 */
import { bindings, derivedUuid, EVENT_TYPES } from '@ais/contracts-events';
import { eventsV1, type reconciliationV1 } from '@ais/contracts-proto-ts';
import type { Logger } from '@ais/platform-logger';
import type { EventProducer } from '@ais/platform-kafka';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { accountView, balanceView, transactionView, userEditView } from '../domain/view';
import { erasureView, type ErasureDoc, type Erasures } from './erasure';
import { timed } from '../metrics';
import type { RememberedChanges } from './feed-memory';
import type { LedgerPosition } from '../kafka/ledger-position';
import type { AccountDoc, BalanceDoc, ChangeFields, ReconciliationStore, TransactionDoc, UserEditDoc } from './store';

const SERVICE = 'reconciliation';
const tracer = trace.getTracer('reconciliation-changefeed');

/** The event id of a change: derived from user id and seq, so the same change always has the same id. */
export function changeEventId(userId: string, seq: number): string {
  return derivedUuid(`ais.ledger.v1\u0000${userId}\u0000${seq}`);
}

/**
 * Changes per page. A page costs a read of each of the other four collections (unless the feed memory holds every
 * number of its range), the edits of its rows and a `markPublished` whatever its size (about 13 ms on the local
 * store); the consumer publishes a user once 2,000 written rows are held (`publishEarlyAt`), so a page of 2,000 takes
 * such a run in one page instead of four.
 */
export const PAGE_SIZE = 2_000;

export interface ChangeFeedOptions {
  store: ReconciliationStore;
  producer: EventProducer;
  logger: Logger;
  topicPrefix?: string;
  /**
   * Documents read per collection per page, events per `EventProducer.publish` (which splits them into requests by
   * size), and the published number recorded once per page (default `PAGE_SIZE`).
   */
  pageSize?: number;
  /** The deletion log, whose documents are the erasure confirmations. */
  erasures?: Erasures;
  /**
   * Whether this process owns the user (holds its ais.enriched.v1 partition: EnrichedConsumer.ownsUser). The sweep
   * publishes only such users. Without it (a single process, tools, tests) the sweep takes every flagged user.
   */
  owns?: (userId: string) => boolean;
  /**
   * Exact resume (see the file comment): where a user's changes land on ais.ledger.v1 and, after an interrupted run,
   * how far it got (kafka/ledger-position.ts). Without it (tests, tools) a run cut short is published again from the
   * recorded number: at least once.
   */
  position?: LedgerPosition;
}

/** Flagged users the sweep reads per round when it must pick its own among them (`owns`): the other instances' too. */
const SWEEP_SCAN = 5_000;

export interface PublishResult {
  published: number;
  fromSeq: number;
  toSeq: number;
}

type Change =
  | { collection: 'accounts'; doc: AccountDoc }
  | { collection: 'transactions'; doc: TransactionDoc }
  | { collection: 'balances'; doc: BalanceDoc }
  | { collection: 'user_edits'; doc: UserEditDoc }
  | { collection: 'erasures'; doc: ErasureDoc };

const none = <T>(): Promise<T[]> => Promise.resolve([]);

/** Whether the remembered transaction changes take every number of (afterSeq, upTo]. */
export function coversRange(remembered: RememberedChanges, afterSeq: number, upTo: number): boolean {
  const seqs = new Set(remembered.fromStore);
  for (const d of remembered.docs) seqs.add(d.seq);
  if (seqs.size !== upTo - afterSeq) return false;
  for (const s of seqs) if (s <= afterSeq || s > upTo) return false;
  return true;
}

export class ChangeFeedPublisher {
  private readonly store: ReconciliationStore;
  private readonly pageSize: number;
  private readonly binding: ReturnType<typeof bindings.ledger>;
  /** Per-user chain: runs for one user never overlap in this process. */
  private readonly running = new Map<string, Promise<unknown>>();
  /** Per user, the highest seq this process has produced since it last joined its group (acknowledged by Kafka). */
  private readonly produced = new Map<string, number>();
  /** Users whose position on the ledger this process knows since it last joined (it read it back, or no run was open). */
  private readonly known = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ChangeFeedOptions) {
    this.store = options.store;
    this.pageSize = options.pageSize ?? PAGE_SIZE;
    this.binding = bindings.ledger(options.topicPrefix ?? '');
  }

  /**
   * Publishes the user's committed, unpublished changes (serialised per user). `owned`, when given, is asked before
   * each page is produced, and a false answer ends the run there (the rest stays flagged for the user's new owner):
   * the sweep's runs pass it, since a rebalance may move the user away meanwhile. The consumer's runs do not: they run
   * inside the batch of the user's partition, and kafkajs rejoins the group only after that batch.
   */
  publishUser(userId: string, owned?: () => boolean): Promise<PublishResult> {
    const previous = this.running.get(userId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.publishNow(userId, owned));
    this.running.set(userId, run);
    void run.finally(() => {
      if (this.running.get(userId) === run) this.running.delete(userId);
    }).catch(() => undefined);
    return run;
  }

  private async publishNow(userId: string, owned?: () => boolean): Promise<PublishResult> {
    return tracer.startActiveSpan('ledger publish', { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': this.binding.topic } }, async (span) => {
      try {
        const result = await timed('change_feed', () => this.publishPages(userId, owned));
        span.setAttributes({ 'ais.ledger.published': result.published, 'ais.ledger.to_seq': result.toSeq });
        if (result.published > 0) this.options.logger.debug({ userId, ...result }, 'change feed published');
        return result;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  private async publishPages(userId: string, owned?: () => boolean): Promise<PublishResult> {
    const state = await this.store.userState(userId);
    const recorded = state?.publishedSeq ?? 0;
    // what this process produced itself since it owns the user, recorded or not (a failed record, a failed request)
    let start = Math.max(recorded, this.produced.get(userId) ?? 0);
    const position = this.options.position;
    if (position && state?.publishingFrom && !this.known.has(userId)) {
      // a run this process does not know of (another process, or this one before a rebalance) may have produced past
      // the recorded number and stopped before recording it: what is on the ledger is not produced again
      const found = await position.highestSeq(userId, state.publishingFrom.partition, state.publishingFrom.offset);
      if (found > start) {
        this.options.logger.warn({ userId, recorded, found }, 'change feed: an interrupted run had published past the recorded sequence; going on after it');
        start = found;
      }
    }
    this.known.add(userId);
    const upto = state?.committedSeq ?? 0;
    if (!state || upto <= start) {
      if (state?.publishPending || state?.publishingFrom || start > recorded) await this.store.markPublished(userId, start, true);
      return { published: 0, fromSeq: start, toSeq: start };
    }
    if (position && !state.publishingFrom) {
      const partition = await position.partitionOf(userId);
      await this.store.markPublishing(userId, { partition, offset: await position.endBound(partition) });
    }
    let cursor = start;
    let published = 0;
    while (cursor < upto) {
      const L = this.pageSize;
      const c = this.store.cursors;
      const remembered = this.store.feed.changes(userId, cursor, upto);
      // When every number of the range is a transaction change the memory holds, no other collection has a change in
      // it (a number belongs to one document of one collection), so their reads are left out: a heavy user's backfill
      // publishes 28 such runs, each four reads fewer. A number the memory does not account for (another
      // collection's change, a gap, a row written twice) and the four reads run as before.
      const others = !remembered || !coversRange(remembered, cursor, upto);
      const [accounts, transactions, balances, edits, erasures] = await Promise.all([
        others ? c.accountChanges(userId, cursor, L).toArray() : none<AccountDoc>(),
        remembered ? this.rememberedTransactions(userId, remembered, L) : c.transactionChanges(userId, cursor, L).toArray(),
        others ? c.balanceChanges(userId, cursor, L).toArray() : none<BalanceDoc>(),
        others ? c.editChanges(userId, cursor, L).toArray() : none<UserEditDoc>(),
        others && this.options.erasures ? this.options.erasures.changes(userId, cursor, L).toArray() : none<ErasureDoc>(),
      ]);
      // a full page may have more after its last seq: nothing beyond the smallest such bound is known yet
      let bound = upto;
      for (const page of [accounts, transactions, balances, edits, erasures]) if (page.length === L) bound = Math.min(bound, page[page.length - 1]!.seq);
      const changes: Change[] = [
        ...accounts.map((doc) => ({ collection: 'accounts' as const, doc })),
        ...transactions.map((doc) => ({ collection: 'transactions' as const, doc })),
        ...balances.map((doc) => ({ collection: 'balances' as const, doc })),
        ...edits.map((doc) => ({ collection: 'user_edits' as const, doc })),
        ...erasures.map((doc) => ({ collection: 'erasures' as const, doc })),
      ]
        .filter((ch) => ch.doc.seq <= bound)
        .sort((a, b) => a.doc.seq - b.doc.seq);
      const events = await this.toEvents(userId, changes, start);
      // a sweep's run stops where the user stopped being this process's (a rebalance): its new owner goes on from here
      if (owned && !owned()) break;
      for (let i = 0; i < events.length; i += L) {
        const part = events.slice(i, i + L);
        await this.options.producer.publish(this.binding, part, (n, landed) => {
          this.produced.set(userId, Number(part[n - 1]!.seq));
          for (const l of landed) position?.landed(l.partition, l.baseOffset);
        });
        if (part.length > 0) this.produced.set(userId, Number(part[part.length - 1]!.seq));
      }
      // recorded after the produce: a run that stops in between leaves `publishingFrom`, and whoever publishes the user
      // next reads the ledger back from there (or knows it: `produced`)
      await this.store.markPublished(userId, bound, bound >= upto);
      published += events.length;
      cursor = bound;
    }
    return { published, fromSeq: start, toSeq: cursor };
  }

  /**
   * The transaction changes of a range the store's feed memory covers (data/feed-memory.ts): the documents as this
   * process wrote them, and those of analysis and re-enrichment read by number; the first `limit` in seq order, as
   * `transactionChanges` would give them.
   */
  private async rememberedTransactions(userId: string, remembered: RememberedChanges, limit: number): Promise<TransactionDoc[]> {
    const read = remembered.fromStore.length > 0 ? await this.store.cursors.transactionsBySeq(userId, remembered.fromStore).toArray() : [];
    return [...remembered.docs, ...read].sort((a, b) => a.seq - b.seq).slice(0, limit);
  }

  private async toEvents(userId: string, changes: Change[], start: number): Promise<eventsV1.ChangeEvent[]> {
    const txIds = changes.filter((c) => c.collection === 'transactions').map((c) => c.doc._id);
    const accountIds = changes.filter((c) => c.collection === 'accounts').map((c) => c.doc._id);
    const [txEdits, accountEdits, latest] = await Promise.all([
      txIds.length ? this.store.editsOf(userId, 'transaction', txIds) : Promise.resolve([]),
      accountIds.length ? this.store.editsOf(userId, 'account', accountIds) : Promise.resolve([]),
      Promise.all(accountIds.map(async (id) => [id, (await this.store.cursors.balanceHistory(userId, id, 1).toArray())[0]] as const)),
    ]);
    const editOf = new Map([...txEdits, ...accountEdits].map((e) => [e._id, e]));
    const latestOf = new Map(latest);
    const legacyClients = await this.legacyClients(userId, changes);
    return changes.map((ch) => {
      const d: ChangeFields & { clientId?: string } = ch.doc;
      const kind = d.changeKind === 'removed' ? eventsV1.ChangeKind.CHANGE_KIND_REMOVED : d.createdSeq > start ? eventsV1.ChangeKind.CHANGE_KIND_ADDED : eventsV1.ChangeKind.CHANGE_KIND_MODIFIED;
      let entity: eventsV1.ChangeEvent['entity'];
      let reason = 'content';
      let clientId = '';
      switch (ch.collection) {
        case 'accounts':
          clientId = ch.doc.clientId;
          entity = { $case: 'account', account: accountView(ch.doc, latestOf.get(ch.doc._id), editOf.get(`account:${ch.doc._id}`)) };
          break;
        case 'transactions':
          clientId = ch.doc.clientId;
          reason = ch.doc.changeReason;
          entity = { $case: 'transaction', transaction: transactionView(ch.doc, editOf.get(`transaction:${ch.doc._id}`)) };
          break;
        case 'balances':
          clientId = ch.doc.clientId ?? legacyClients.get(ch.doc.accountId) ?? '';
          entity = { $case: 'balance', balance: balanceView(ch.doc) };
          break;
        case 'user_edits':
          clientId = ch.doc.clientId ?? legacyClients.get(ch.doc.targetId) ?? '';
          reason = 'user_edit';
          entity = { $case: 'userEdit', userEdit: { target: ch.doc.target, targetId: ch.doc.targetId, edit: userEditView(ch.doc) as reconciliationV1.UserEdit } };
          break;
        case 'erasures':
          clientId = ch.doc.clientId;
          reason = ch.doc.reason;
          entity = { $case: 'erasure', erasure: erasureView(ch.doc) };
          break;
      }
      return {
        meta: { eventId: changeEventId(userId, d.seq), occurredAt: d.updatedAt, schemaVersion: 1, producer: SERVICE, eventType: ch.collection === 'erasures' ? EVENT_TYPES.ledgerErasure : EVENT_TYPES.ledgerChange, correlationId: '' },
        userId,
        clientId,
        seq: String(d.seq),
        kind,
        entity,
        reason,
      };
    });
  }

  /**
   * The API client of balance snapshots and user edits stored before they carried one (December 2026): their
   * account's, or their target's. Read only when such a document is in the page.
   */
  private async legacyClients(userId: string, changes: Change[]): Promise<Map<string, string>> {
    const accounts = new Set<string>();
    const txs = new Set<string>();
    for (const ch of changes) {
      if (ch.collection === 'balances' && ch.doc.clientId === undefined) accounts.add(ch.doc.accountId);
      if (ch.collection === 'user_edits' && ch.doc.clientId === undefined) (ch.doc.target === 'account' ? accounts : txs).add(ch.doc.targetId);
    }
    const out = new Map<string, string>();
    if (accounts.size > 0) for (const a of await this.store.accounts.find({ _id: { $in: [...accounts] }, userId }, { projection: { clientId: 1 } }).toArray()) out.set(a._id, a.clientId);
    if (txs.size > 0) for (const t of await this.store.transactions.find({ _id: { $in: [...txs] }, userId }, { projection: { clientId: 1 } }).toArray()) out.set(t._id, t.clientId);
    return out;
  }

  /**
   * Publishes up to `limit` users flagged `publishPending` since `minAgeMs` or longer (index-served), of those this
   * process owns when `owns` is set (asked right before each user's run); returns how many users it published.
   */
  async sweep(minAgeMs: number, limit = 100): Promise<number> {
    const owns = this.options.owns;
    const users = await this.store.cursors.publishPending(new Date(Date.now() - minAgeMs), owns ? SWEEP_SCAN : limit).toArray();
    let swept = 0;
    for (const u of users) {
      if (swept >= limit) break;
      if (owns && !owns(u._id)) continue;
      swept += 1;
      try {
        await this.publishUser(u._id, owns ? () => owns(u._id) : undefined);
      } catch (error) {
        this.options.logger.warn({ err: error, userId: u._id }, 'change feed sweep: publish failed; retried on the next sweep');
      }
    }
    return swept;
  }

  /** Runs `sweep` every `intervalMs` (users pending for at least `minAgeMs`, so live publishing is not raced). */
  startSweep(intervalMs: number, minAgeMs: number): void {
    const tick = (): void => {
      this.sweeping = this.sweep(minAgeMs)
        .catch((error) => this.options.logger.warn({ err: error }, 'change feed sweep failed'))
        .finally(() => {
          if (this.sweepTimer) this.sweepTimer = setTimeout(tick, intervalMs);
        });
    };
    this.sweepTimer = setTimeout(tick, intervalMs);
  }

  /**
   * Forgets what this process knows of its users' positions on the ledger: the group rebalanced, and a user that
   * comes back may have been published by another process meanwhile.
   */
  forgetAll(): void {
    this.produced.clear();
    this.known.clear();
  }

  /** Stops the sweep and waits for runs in progress. */
  async stop(): Promise<void> {
    const t = this.sweepTimer;
    this.sweepTimer = undefined;
    if (t) clearTimeout(t);
    await this.sweeping;
    await Promise.allSettled([...this.running.values()]);
  }
}
