import { Schema, type Connection as MongoConnection, type Model } from 'mongoose';

export type ConnectionStatus = 'active' | 'reauth_required' | 'expired' | 'revoked';

/** Token material, encrypted by Vault Transit; plaintext never reaches MongoDB. */
export interface EncryptedTokens {
  accessCt: string;
  refreshCt: string | null;
  accessExpiresAt: Date;
}

/** A TrueLayer connection of one user of one API client. */
export interface ConnectionDoc {
  _id: string;
  clientId: string;
  userId: string;
  providerId: string;
  credentialsId: string;
  scopes: string[];
  status: ConnectionStatus;
  statusReason: string;
  consentCreatedAt: Date;
  consentExpiresAt: Date;
  previousConnectionId: string;
  tokens: EncryptedTokens | null;
  /** Bumped on every token change; readers use it to see that a refresh happened while they waited. */
  tokenVersion: number;
  lastRefreshAt: Date;
  /** Next time the background jobs look at this connection. */
  jobDueAt: Date;
  /**
   * Set when the consent ended (revoked by the user or client, or expired) and the retention setting says delete:
   * when the stored bank data of this connection is to be erased. Unset once the erasure is started.
   */
  retentionDueAt?: Date | null;
  /** When the retention erasure of this connection's data was started. */
  dataErasedAt?: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const tokens = new Schema<EncryptedTokens>(
  { accessCt: { type: String, required: true }, refreshCt: { type: String, default: null }, accessExpiresAt: { type: Date, required: true } },
  { _id: false },
);

const schema = new Schema<ConnectionDoc>(
  {
    _id: { type: String, required: true },
    clientId: { type: String, required: true },
    userId: { type: String, required: true },
    providerId: { type: String, required: true },
    credentialsId: { type: String, default: '' },
    scopes: { type: [String], default: [] },
    status: { type: String, required: true, enum: ['active', 'reauth_required', 'expired', 'revoked'] },
    statusReason: { type: String, default: '' },
    consentCreatedAt: { type: Date, required: true },
    consentExpiresAt: { type: Date, required: true },
    previousConnectionId: { type: String, default: '' },
    tokens: { type: tokens, default: null },
    tokenVersion: { type: Number, default: 0 },
    lastRefreshAt: { type: Date, required: true },
    jobDueAt: { type: Date, required: true },
    retentionDueAt: { type: Date, default: null },
    dataErasedAt: { type: Date, default: null },
  },
  { timestamps: true, collection: 'connections', versionKey: false },
);
schema.index({ clientId: 1, userId: 1 });
schema.index({ status: 1, jobDueAt: 1 });
// the retention job's query: connections whose data is due for erasure (null for every other connection)
schema.index({ retentionDueAt: 1 }, { name: 'connections_retention_due' });

export function connectionModel(conn: MongoConnection): Model<ConnectionDoc> {
  return conn.models['Connection'] ?? conn.model<ConnectionDoc>('Connection', schema);
}

/** All MongoDB access for connections. Every user-facing read filters by client id AND user id. */
export class ConnectionRepository {
  constructor(readonly model: Model<ConnectionDoc>) {}

  async listForUser(clientId: string, userId: string): Promise<ConnectionDoc[]> {
    return this.model.find({ clientId, userId }).sort({ createdAt: 1 }).lean<ConnectionDoc[]>().exec();
  }

  async getForUser(clientId: string, userId: string, id: string): Promise<ConnectionDoc | null> {
    return this.model.findOne({ _id: id, clientId, userId }).lean<ConnectionDoc>().exec();
  }

  async get(id: string): Promise<ConnectionDoc | null> {
    return this.model.findById(id).lean<ConnectionDoc>().exec();
  }

  async insert(doc: Omit<ConnectionDoc, 'createdAt' | 'updatedAt'>): Promise<void> {
    await this.model.create(doc);
  }

  /** Stores new tokens (the caller holds the connection's refresh lease) and bumps the version. */
  async storeTokens(id: string, tokens: EncryptedTokens, now: Date): Promise<void> {
    await this.model.updateOne({ _id: id }, { $set: { tokens, lastRefreshAt: now }, $inc: { tokenVersion: 1 } });
  }

  async setStatus(id: string, status: ConnectionStatus, reason: string, purgeTokens: boolean): Promise<ConnectionDoc | null> {
    const set: Record<string, unknown> = { status, statusReason: reason };
    if (purgeTokens) set['tokens'] = null;
    return this.model
      .findOneAndUpdate({ _id: id }, { $set: set, ...(purgeTokens ? { $inc: { tokenVersion: 1 } } : {}) }, { returnDocument: 'after' })
      .lean<ConnectionDoc>()
      .exec();
  }

  /** Re-consent of the same bank consent: new tokens and consent dates, same connection id. */
  async renew(
    id: string,
    p: { tokens: EncryptedTokens; scopes: string[]; consentCreatedAt: Date; consentExpiresAt: Date; now: Date },
  ): Promise<ConnectionDoc> {
    const doc = await this.model
      .findOneAndUpdate(
        { _id: id },
        {
          $set: {
            tokens: p.tokens,
            scopes: p.scopes,
            consentCreatedAt: p.consentCreatedAt,
            consentExpiresAt: p.consentExpiresAt,
            status: 'active',
            statusReason: '',
            lastRefreshAt: p.now,
            jobDueAt: p.now,
          },
          $inc: { tokenVersion: 1 },
        },
        { returnDocument: 'after' },
      )
      .lean<ConnectionDoc>()
      .exec();
    if (!doc) throw new Error(`connection ${id} vanished during renewal`);
    return doc;
  }

  async extendConsent(id: string, consentExpiresAt: Date, tokens: EncryptedTokens | null, now: Date): Promise<ConnectionDoc | null> {
    const set: Record<string, unknown> = { consentExpiresAt, status: 'active', statusReason: '' };
    if (tokens) Object.assign(set, { tokens, lastRefreshAt: now });
    return this.model.findOneAndUpdate({ _id: id }, { $set: set, $inc: { tokenVersion: 1 } }, { returnDocument: 'after' }).lean<ConnectionDoc>().exec();
  }

  /** Connections holding tokens, in id order after `afterId` (for the rewrap job). */
  async withTokens(afterId: string, limit: number): Promise<ConnectionDoc[]> {
    return this.model
      .find({ tokens: { $ne: null }, ...(afterId ? { _id: { $gt: afterId } } : {}) })
      .sort({ _id: 1 })
      .limit(limit)
      .lean<ConnectionDoc[]>()
      .exec();
  }

  /** Replaces ciphertexts only if the tokens did not change since they were read (version guard). */
  async replaceCiphertexts(id: string, version: number, tokens: EncryptedTokens): Promise<void> {
    await this.model.updateOne({ _id: id, tokenVersion: version }, { $set: { tokens } });
  }

  /** Connections whose background-job time has come (the caller leases each before working on it). */
  async due(now: Date, limit: number): Promise<ConnectionDoc[]> {
    return this.model
      .find({ status: { $in: ['active', 'reauth_required'] }, jobDueAt: { $lte: now } })
      .sort({ jobDueAt: 1 })
      .limit(limit)
      .lean<ConnectionDoc[]>()
      .exec();
  }

  async setJobDue(id: string, at: Date): Promise<void> {
    await this.model.updateOne({ _id: id }, { $set: { jobDueAt: at } });
  }

  /** Schedules the erasure of the connection's stored data (the consent ended; retention setting `delete`). */
  async scheduleRetention(id: string, at: Date): Promise<void> {
    await this.model.updateOne({ _id: id, dataErasedAt: null }, { $set: { retentionDueAt: at } });
  }

  /** Ended connections whose data is due for erasure, oldest first (`connections_retention_due`). */
  async retentionDue(now: Date, limit: number): Promise<ConnectionDoc[]> {
    return this.model.find({ retentionDueAt: { $lte: now } }).sort({ retentionDueAt: 1 }).limit(limit).lean<ConnectionDoc[]>().exec();
  }

  async retentionStarted(id: string, at: Date): Promise<void> {
    await this.model.updateOne({ _id: id }, { $set: { retentionDueAt: null, dataErasedAt: at } });
  }

  /** Erasure: deletes every connection record of the user (tokens included). Returns how many. */
  async deleteForUser(clientId: string, userId: string): Promise<number> {
    return (await this.model.deleteMany({ clientId, userId }).exec()).deletedCount;
  }

  /** Moves a past-consent connection to expired and purges its tokens. */
  async expire(id: string): Promise<void> {
    await this.model.updateOne(
      { _id: id },
      { $set: { status: 'expired', statusReason: 'consent_expired', tokens: null }, $inc: { tokenVersion: 1 } },
    );
  }
}
