import { Schema, type Connection as MongoConnection, type Model } from 'mongoose';

/** A TrueLayer connection of one user of one API client. Tokens are added encrypted (issue: connect journey). */
export interface ConnectionDoc {
  _id: string;
  clientId: string;
  userId: string;
  providerId: string;
  status: 'active' | 'reauth_required' | 'expired' | 'revoked';
  consentCreatedAt: Date;
  consentExpiresAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

const schema = new Schema<ConnectionDoc>(
  {
    _id: { type: String, required: true },
    clientId: { type: String, required: true },
    userId: { type: String, required: true },
    providerId: { type: String, required: true },
    status: { type: String, required: true, enum: ['active', 'reauth_required', 'expired', 'revoked'] },
    consentCreatedAt: { type: Date, required: true },
    consentExpiresAt: { type: Date, required: true },
  },
  { timestamps: true, collection: 'connections', versionKey: false },
);
schema.index({ clientId: 1, userId: 1 });

export function connectionModel(conn: MongoConnection): Model<ConnectionDoc> {
  return conn.models['Connection'] ?? conn.model<ConnectionDoc>('Connection', schema);
}

export class ConnectionRepository {
  constructor(private readonly model: Model<ConnectionDoc>) {}

  /** A user's connections; the client id is part of every query so one caller never sees another's users. */
  async listForUser(clientId: string, userId: string): Promise<ConnectionDoc[]> {
    return this.model.find({ clientId, userId }).sort({ createdAt: 1 }).lean<ConnectionDoc[]>().exec();
  }
}
