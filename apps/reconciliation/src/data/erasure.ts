/**
 * Erasure in reconciliation, the last hop of the chain (proto/ais/erasure/v1/erasure.proto): deletes the stored data
 * an erasure covers and records it in the deletion log, which is also the change feed's source of the confirmation.
 *
 * - `user_request` (DELETE /v1/users/{id}): every account of the user under the client, with its transactions,
 *   balances, edits, recurring series and mandates, and analysis's record of the user (`analysis_state`).
 *   `user_state` keeps only its sequence counters (so the user's change-feed event ids never repeat if the same user
 *   id connects again); its renewal links go. When another API client has a user of the same id (data/store.ts: a
 *   client's accounts are never matched to another's), that user's accounts, transactions, edits and renewal links
 *   stay: only the erasing client's go.
 * - `retention`: the accounts whose current connection is one of the erasure's connections (an account a newer
 *   connection took over, through a renewal or identity matching, is not theirs any more), with their data.
 *
 * `erasures` is the deletion log: one document per erasure (id, user, reason, connection and account ids, each
 * service's step with counts; never bank data), with the user's next sequence number, so that the change-feed
 * publisher sends the confirmation (ChangeEvent.erasure, kind REMOVED) with the at-least-once guarantee of every
 * other change, and GetErasure can answer. `erased_connections` remembers erased connection ids, so that a fetch
 * result published after the erasure (a fetch in flight in another data-fetcher instance) is dropped instead of
 * bringing data back.
 *
 * SINGLE WRITER PER USER: `apply` runs in the consumer that owns the user's ais.enriched.v1 partition (it reserves and
 * commits a sequence number, which only one writer of the user may do: data/store.ts). Idempotent: a redelivered
 * erasure finds its log document and does nothing; a crash before the log is written re-runs the deletes, which find
 * nothing.
 */
import type { erasureV1 } from '@ais/contracts-proto-ts';
import type { Connection } from '@ais/platform-mongo';
import type { mongo } from 'mongoose';
import type { Analysis } from './analysis';
import type { ApplyResult, ChangeFields, ReconciliationStore } from './store';

export const ERASURE_INDEXES = {
  /** The change feed's read of a user's erasures after a sequence number. */
  erasuresChanges: 'erasures_changes',
  /** Erased connection ids are forgotten after this index's TTL (no fetch result is that late). */
  erasedTtl: 'erased_connections_ttl',
} as const;

const ERASED_RETENTION_S = 400 * 86_400;

export interface ErasureDoc extends ChangeFields {
  _id: string;
  clientId: string;
  reason: string;
  connectionIds: string[];
  accountIds: string[];
  requestedAt: Date;
  steps: { service: string; documentsDeleted: number; completedAt: Date; detail: string }[];
}

/** Connections remembered not erased, at most (a bound on memory: past it the memory starts again). */
const NOT_ERASED_MAX = 10_000;

export class Erasures {
  readonly log: mongo.Collection<ErasureDoc>;
  readonly erased: mongo.Collection<{ _id: string; at: Date }>;
  /** `isErased`'s memory: connection id → the user ids it was found not erased for, while this process owns their partitions. */
  private readonly notErased = new Map<string, Set<string>>();

  constructor(
    conn: Connection,
    private readonly store: ReconciliationStore,
    /** Its collections (series, mandates, analysis_state) are deleted through their `{userId, ...}` indexes, and its cached history of the user dropped. */
    private readonly analysis: Pick<Analysis, 'series' | 'mandates' | 'state' | 'forget' | 'dropStoredHistory'>,
  ) {
    this.log = conn.collection<ErasureDoc>('erasures');
    this.erased = conn.collection<{ _id: string; at: Date }>('erased_connections');
  }

  async ensureIndexes(): Promise<void> {
    await this.log.createIndex({ userId: 1, seq: 1 }, { name: ERASURE_INDEXES.erasuresChanges });
    await this.erased.createIndex({ at: 1 }, { name: ERASURE_INDEXES.erasedTtl, expireAfterSeconds: ERASED_RETENTION_S });
  }

  /**
   * Whether data of this user's connection must be dropped (its erasure came first). One `_id` lookup the first time:
   * a connection found not erased is remembered, because under the SINGLE WRITER PER USER (file comment) only `apply`,
   * in the consumer that owns the user's partition, erases one of the user's connections, and it drops what is
   * remembered of them first; the consumer calls `forgetAll` when its partitions may have changed. A heavy user's
   * backfill is about 94 messages of one connection: one lookup instead of 94 (3 ms each on the loaded local store).
   */
  async isErased(userId: string, connectionId: string): Promise<boolean> {
    if (connectionId === '') return false;
    if (this.notErased.get(connectionId)?.has(userId)) return false;
    const erased = (await this.erased.countDocuments({ _id: connectionId }, { limit: 1 })) === 1;
    if (!erased) {
      if (this.notErased.size >= NOT_ERASED_MAX) this.notErased.clear();
      const users = this.notErased.get(connectionId) ?? new Set<string>();
      this.notErased.set(connectionId, users.add(userId));
    }
    return erased;
  }

  /** The consumer's partitions may have changed: no connection is known not to be erased any more. */
  forgetAll(): void {
    this.notErased.clear();
  }

  /** The user's erasures after `afterSeq`, in seq order (`erasures_changes`). */
  changes(userId: string, afterSeq: number, limit: number) {
    return this.log.find({ userId, seq: { $gt: afterSeq } }).sort({ userId: 1, seq: 1 }).limit(limit);
  }

  /** One erasure of this client, when it reached reconciliation. */
  async get(clientId: string, erasureId: string): Promise<ErasureDoc | null> {
    return this.log.findOne({ _id: erasureId, clientId });
  }

  /** Deletes what the erasure covers and logs it (see the file comment). `at` is the event's time. */
  async apply(userId: string, e: erasureV1.UserErasure, at: Date): Promise<ApplyResult & { accountIds: string[] }> {
    if (await this.log.findOne({ _id: e.erasureId }, { projection: { _id: 1 } })) return { changes: 0, touched: 0, accountIds: [] };
    if (e.connectionIds.length > 0) {
      // before the write: from here on, data of these connections is looked up again (and found erased)
      for (const id of e.connectionIds) this.notErased.delete(id);
      await this.erased.bulkWrite(
        e.connectionIds.map((_id) => ({ updateOne: { filter: { _id }, update: { $setOnInsert: { at } }, upsert: true } })),
        { ordered: false },
      );
    }
    const whole = e.reason === 'user_request';
    const owned = await this.store.cursors.userAccounts(userId).toArray();
    const accounts = owned.filter((a) => a.clientId === e.clientId && (whole || e.connectionIds.includes(a.connectionId)));
    const accountIds = accounts.map((a) => a._id);
    // the same user id under another API client is another user: its data stays, whatever the reason
    const wholeUser = whole && owned.every((a) => a.clientId === e.clientId);
    let deleted = 0;
    if (accountIds.length > 0 || whole) {
      const inAccounts = { userId, accountId: { $in: accountIds } };
      // edits name their target: account ids, or the ids of the transactions about to go
      const txIds = wholeUser ? [] : (await this.store.transactions.find(inAccounts, { projection: { _id: 1 } }).toArray()).map((t) => t._id);
      // the only deletion of transactions: nothing held in memory may keep them (analysis' cached history, what the
      // change feed remembers of the user's writes), dropped before the deletes so that a failure part-way keeps none
      this.analysis.forget(userId);
      this.store.forget(userId);
      // analysis' stored history holds copies of the rows (descriptions, amounts): it goes first, for the same reason
      deleted += await this.analysis.dropStoredHistory(userId);
      const results = await Promise.all([
        this.store.transactions.deleteMany(inAccounts),
        this.store.balances.deleteMany(inAccounts),
        this.analysis.series.deleteMany(inAccounts),
        this.analysis.mandates.deleteMany(inAccounts),
        this.store.edits.deleteMany(wholeUser ? { userId } : { userId, targetId: { $in: [...accountIds, ...txIds] } }),
      ]);
      deleted += results.reduce((n, r) => n + r.deletedCount, 0);
      deleted += (await this.store.accounts.deleteMany({ userId, _id: { $in: accountIds } })).deletedCount;
    }
    if (wholeUser) await this.store.state.updateOne({ _id: userId }, { $set: { links: [] } });
    else if (whole) {
      const connections = [...new Set([...e.connectionIds, ...accounts.map((a) => a.connectionId)])];
      await this.store.state.updateOne({ _id: userId }, { $pull: { links: { connectionId: { $in: connections } } } });
    }
    // what analysis last saw of the user: the deletions above leave no sequence number on the rows analysis reads, so
    // without its state the refresh after this message runs and reads every remaining row (data/analysis.ts); what
    // analysis keeps of the user goes with it (also when nothing above matched; its stored history, deleted above with
    // the rows it copies, is never read without this state)
    this.analysis.forget(userId);
    deleted += (await this.analysis.state.deleteOne({ _id: userId })).deletedCount;
    // the confirmation takes the user's next number: published like any change, after everything before it
    const seq = await this.store.reserveSeq(userId, 1);
    const steps = [
      ...e.steps.map((s) => ({ service: s.service, documentsDeleted: Number(s.documentsDeleted), completedAt: s.completedAt ?? at, detail: s.detail })),
      { service: 'reconciliation', documentsDeleted: deleted, completedAt: new Date(), detail: `${accountIds.length} accounts with their transactions and balances` },
    ];
    await this.log.insertOne({
      _id: e.erasureId,
      userId,
      clientId: e.clientId,
      reason: e.reason,
      connectionIds: [...e.connectionIds],
      accountIds,
      requestedAt: e.requestedAt ?? at,
      steps,
      seq,
      createdSeq: seq,
      changeKind: 'removed',
      createdAt: at,
      updatedAt: at,
    });
    await this.store.commitSeq(userId, seq);
    return { changes: 1, firstSeq: seq, lastSeq: seq, touched: deleted, accountIds };
  }
}

/** The log document as the proto message (ledger confirmation, GetErasure). */
export function erasureView(d: ErasureDoc): erasureV1.UserErasure {
  return {
    erasureId: d._id,
    userId: d.userId,
    clientId: d.clientId,
    reason: d.reason,
    connectionIds: d.connectionIds,
    requestedAt: d.requestedAt,
    steps: d.steps.map((s) => ({ service: s.service, documentsDeleted: String(s.documentsDeleted), completedAt: s.completedAt, detail: s.detail })),
    accountIds: d.accountIds,
  };
}
