/**
 * The unattended-call ledger in MongoDB (collection `call_budget`), through the driver collection of the
 * mongoose connection, like @ais/platform-mongo's `Leases`. Every write that grants or refunds is one
 * single-document write (a unique-`_id` insert or one conditional update), so no transaction is needed and
 * several data-fetcher instances cannot overrun the budget (the proof is in ../domain/call-budget.ts).
 */
import { isDuplicateKeyError, type Connection } from '@ais/platform-mongo';
import type { SlotDoc, SlotStore } from '../domain/call-budget';

export const CALL_BUDGET_COLLECTION = 'call_budget';

/** Slots are kept 30 days after their last use: far past the 24 h window, so deleting one never frees a counted call. */
export const CALL_BUDGET_RETENTION_S = 30 * 24 * 3600;

/** The indexes the ledger needs, by name (besides `_id`, which serves tryConsume, remaining and refund). */
export const CALL_BUDGET_INDEXES = {
  /** usage(connectionId): every slot of one connection. */
  byConnection: 'call_budget_connection',
  /** Drops slots of keys unused for {@link CALL_BUDGET_RETENTION_S} (gone accounts, ended connections). */
  ttl: 'call_budget_ttl',
} as const;

export class MongoCallBudgetStore implements SlotStore {
  private readonly collection;

  constructor(conn: Connection, collectionName = CALL_BUDGET_COLLECTION) {
    this.collection = conn.collection<SlotDoc>(collectionName);
  }

  /** Creates the named indexes (idempotent; call once at start). */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ connectionId: 1, resourceId: 1, endpoint: 1 }, { name: CALL_BUDGET_INDEXES.byConnection });
    await this.collection.createIndex({ usedAt: 1 }, { name: CALL_BUDGET_INDEXES.ttl, expireAfterSeconds: CALL_BUDGET_RETENTION_S });
  }

  async insert(doc: SlotDoc): Promise<boolean> {
    try {
      await this.collection.insertOne(doc);
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async takeLapsed(id: string, seen: Date, lapsedBy: Date, set: Omit<SlotDoc, '_id' | 'connectionId' | 'resourceId' | 'endpoint' | 'slot'>): Promise<boolean> {
    const res = await this.collection.updateOne(
      { _id: id, usedAt: { $eq: seen, $lte: lapsedBy } },
      { $set: set, $unset: { refundedAt: '', refundReason: '' } },
    );
    return res.modifiedCount === 1;
  }

  async refund(id: string, grantId: string, at: Date, reason: string): Promise<boolean> {
    if (!grantId) return false;
    // `previousUsedAt` is written with the grant and never changes while the slot holds that grant, so reading it
    // first and making the update conditional on the grant id is as safe as a single update.
    const doc = await this.collection.findOne({ _id: id, grantId });
    if (!doc) return false;
    const res = await this.collection.updateOne(
      { _id: id, grantId },
      { $set: { usedAt: doc.previousUsedAt, grantId: '', refundedAt: at, refundReason: reason } },
    );
    return res.modifiedCount === 1;
  }

  async slotsOf(ids: readonly string[]): Promise<SlotDoc[]> {
    return this.collection.find({ _id: { $in: [...ids] } }).toArray() as Promise<SlotDoc[]>;
  }

  /** Erasure: the slots of these connections (`call_budget_connection`). */
  async deleteConnections(connectionIds: readonly string[]): Promise<number> {
    if (connectionIds.length === 0) return 0;
    return (await this.collection.deleteMany({ connectionId: { $in: [...connectionIds] } })).deletedCount;
  }

  async slotsOfConnection(connectionId: string): Promise<SlotDoc[]> {
    return this.collection.find({ connectionId }).toArray() as Promise<SlotDoc[]>;
  }
}
