import type { Connection } from '@ais/platform-mongo';

/** A product backend that calls the gateway. */
export interface ApiClientRecord {
  _id: string;
  name: string;
  keyHash: string;
  keyPrefix: string;
  rateLimitPerMinute: number;
  /** Prefixes (scheme://host/path) a connect session's return_url must start with. */
  allowedReturnUrls: string[];
  createdAt: Date;
  disabledAt: Date | null;
}

export interface ApiClientStore {
  get(clientId: string): Promise<ApiClientRecord | null>;
  insert(record: ApiClientRecord): Promise<void>;
}

export class MongoApiClientStore implements ApiClientStore {
  private readonly col;

  constructor(conn: Connection) {
    this.col = conn.collection<ApiClientRecord>('api_clients');
  }

  async get(clientId: string): Promise<ApiClientRecord | null> {
    return this.col.findOne({ _id: clientId });
  }

  async insert(record: ApiClientRecord): Promise<void> {
    await this.col.insertOne(record);
  }
}

/** In-memory store (unit tests, local tools). */
export class MemoryApiClientStore implements ApiClientStore {
  readonly records = new Map<string, ApiClientRecord>();

  async get(clientId: string): Promise<ApiClientRecord | null> {
    return this.records.get(clientId) ?? null;
  }

  async insert(record: ApiClientRecord): Promise<void> {
    if (this.records.has(record._id)) throw Object.assign(new Error('duplicate'), { code: 11000 });
    this.records.set(record._id, { ...record });
  }
}
