import { Schema, type Connection, type Model } from 'mongoose';

/** Canonical account: internal id stable across re-consents. */
export interface AccountDoc {
  _id: string;
  clientId: string;
  userId: string;
  connectionId: string;
  displayName: string;
  accountType: string;
  currency: string;
  updatedAt: Date;
}

const schema = new Schema<AccountDoc>(
  {
    _id: { type: String, required: true },
    clientId: { type: String, required: true },
    userId: { type: String, required: true },
    connectionId: { type: String, required: true },
    displayName: { type: String, required: true },
    accountType: { type: String, required: true },
    currency: { type: String, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'accounts', versionKey: false },
);
schema.index({ clientId: 1, userId: 1, _id: 1 });

export class AccountRepository {
  readonly model: Model<AccountDoc>;

  constructor(conn: Connection) {
    this.model = conn.models['Account'] ?? conn.model<AccountDoc>('Account', schema);
  }

  /** Keyset page of a user's accounts ordered by id; `after` is the last id of the previous page. */
  async page(clientId: string, userId: string, limit: number, after?: string): Promise<AccountDoc[]> {
    const filter = after ? { clientId, userId, _id: { $gt: after } } : { clientId, userId };
    return this.model.find(filter).sort({ _id: 1 }).limit(limit).lean<AccountDoc[]>().exec();
  }
}
