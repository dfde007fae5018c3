/**
 * Erasures this gateway accepted (DELETE /v1/users/{id}), so that their status can say "in progress" until the
 * last service (reconciliation) has logged them. Holds the erasure id, the client and a hash of the user id (never
 * the id itself); each record expires after 30 days (`erasure_requests_ttl`).
 */
import type { Connection } from '@ais/platform-mongo';
import { createHash } from 'node:crypto';

export interface ErasureRequestRecord {
  _id: string;
  clientId: string;
  userHash: string;
  requestedAt: Date;
}

export interface ErasureRequestStore {
  record(erasureId: string, clientId: string, userId: string, at: Date): Promise<void>;
  /** Whether this client accepted this erasure for this user (within the last 30 days). */
  accepted(erasureId: string, clientId: string, userId: string): Promise<boolean>;
}

const RETENTION_S = 30 * 86_400;
export const userHash = (clientId: string, userId: string): string => createHash('sha256').update(`${clientId}\u0000${userId}`).digest('hex');

export class MongoErasureRequestStore implements ErasureRequestStore {
  private readonly col;

  constructor(conn: Connection) {
    this.col = conn.collection<ErasureRequestRecord>('erasure_requests');
  }

  async ensureIndexes(): Promise<void> {
    await this.col.createIndex({ requestedAt: 1 }, { name: 'erasure_requests_ttl', expireAfterSeconds: RETENTION_S });
  }

  async record(erasureId: string, clientId: string, userId: string, at: Date): Promise<void> {
    await this.col.updateOne({ _id: erasureId }, { $setOnInsert: { clientId, userHash: userHash(clientId, userId), requestedAt: at } }, { upsert: true });
  }

  async accepted(erasureId: string, clientId: string, userId: string): Promise<boolean> {
    return (await this.col.countDocuments({ _id: erasureId, clientId, userHash: userHash(clientId, userId) }, { limit: 1 })) === 1;
  }
}

export class MemoryErasureRequestStore implements ErasureRequestStore {
  readonly records = new Map<string, ErasureRequestRecord>();

  async record(erasureId: string, clientId: string, userId: string, at: Date): Promise<void> {
    if (!this.records.has(erasureId)) this.records.set(erasureId, { _id: erasureId, clientId, userHash: userHash(clientId, userId), requestedAt: at });
  }

  async accepted(erasureId: string, clientId: string, userId: string): Promise<boolean> {
    const r = this.records.get(erasureId);
    return Boolean(r && r.clientId === clientId && r.userHash === userHash(clientId, userId));
  }
}
