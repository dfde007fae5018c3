/**
 * data-fetcher's own state in MongoDB, through the driver collections of the mongoose connection:
 *
 * - `fetch_connections`: one document per connection (from `connection.authorized`): what was granted, the
 *   backfill's progress, per account/card how far transactions are synced and when each kind last succeeded, what
 *   the provider does not support, and when the next background refresh is due (index `fetch_connections_due`:
 *   the scheduler's cost is O(due work), never a scan of all connections).
 * - `fetch_tasks`: async tasks started with `async=true`, until their results are read (webhook or polling;
 *   index `fetch_tasks_poll` finds the ones whose webhook is late). Finished tasks expire (`fetch_tasks_ttl`).
 * - `fetch_journal`: every TrueLayer call (index `fetch_journal_connection` for the support report), bounded by
 *   the TTL index `fetch_journal_ttl` (MongoDB's TTL monitor is the purge job; the retention is a setting).
 *
 * - `fetch_erased_connections`: ids of connections erased (erasure.proto), so that an `authorized` event delivered
 *   late never brings one back; only ids and a time, dropped by `fetch_erased_ttl` after 90 days.
 *
 * Writes are single-document. Who may write what: the instance holding the connection's lease (scheduler, user
 * refresh) writes its run's fields; a task's completion is claimed by one conditional update (`claimTask`), so a
 * webhook and the poller racing for one task never both publish it.
 */
import type { Connection } from '@ais/platform-mongo';

export const FETCH_INDEXES = {
  connectionsDue: 'fetch_connections_due',
  /** Post-consent fetches inside their SCA window, earliest deadline first. */
  connectionsDeadline: 'fetch_connections_deadline',
  connectionsCredentials: 'fetch_connections_credentials',
  tasksPoll: 'fetch_tasks_poll',
  tasksTtl: 'fetch_tasks_ttl',
  journalByConnection: 'fetch_journal_connection',
  journalTtl: 'fetch_journal_ttl',
  /** Erasure: a user's connections. */
  connectionsUser: 'fetch_connections_user',
  /** Erasure: a connection's tasks. */
  tasksConnection: 'fetch_tasks_connection',
  erasedTtl: 'fetch_erased_ttl',
} as const;

/** How long erased connection ids are remembered (far longer than any event can be late). */
const ERASED_RETENTION_S = 90 * 86_400;

export type ConnectionStatus = 'active' | 'reauth_required' | 'revoked';
export type BackfillState = 'pending' | 'running' | 'done' | 'partial';

/** The data kinds, as the proto's FetchKind and the support report name them. */
export const KINDS = ['me', 'identity', 'accounts', 'cards', 'transactions', 'pending_transactions', 'balance', 'standing_orders', 'direct_debits'] as const;
export type Kind = (typeof KINDS)[number];

export interface ResourceState {
  id: string;
  isCard: boolean;
  /** Oldest day the backfill has read (it goes back from here); unset before the first window. */
  backfillFrom?: string;
  /** True once the backfill of this resource's history is over (done or stopped at the provider's limit). */
  backfillDone?: boolean;
  /** End of the newest transactions window read successfully. */
  syncedTo?: string;
  lastSuccess?: Partial<Record<Kind, Date>>;
  /** Gone from the last account/card list. */
  gone?: boolean;
}

export interface FetchConnectionDoc {
  _id: string;
  userId: string;
  clientId: string;
  providerId: string;
  credentialsId: string;
  scopes: string[];
  status: ConnectionStatus;
  statusReason?: string;
  /** When the user completed the bank's authentication: start of the post-consent window. */
  authorizedAt: Date;
  consentExpiresAt?: Date;
  /** `consent_status` of TrueLayer's `/me`, when read. */
  consentStatus?: string;
  previousConnectionId?: string;
  /**
   * The consent's trace (W3C `traceparent` of the span that processed `connection.authorized`): the post-consent
   * fetch continues it, whichever scheduler tick or instance runs it (domain/scheduler.ts). Not a secret.
   */
  consentTrace?: string;
  /** The consenting user's IP, kept only while the post-consent fetch may use it (then unset). */
  psuIp?: string;
  /**
   * The end of the post-consent (SCA) window while the post-consent fetch has not finished (then unset): after it
   * the bank serves only the last 90 days. The scheduler runs such fetches first, earliest deadline first.
   */
  scaDeadline?: Date;
  backfill: BackfillState;
  backfillNote?: string;
  /** Kinds the provider answered `endpoint_not_supported` to (or that have no scope): never asked again. */
  unsupported: string[];
  /** Accounts and cards by `resourceKey`. */
  resources: Record<string, ResourceState>;
  lastSuccess: Partial<Record<Kind, Date>>;
  /** When data (anything but /me) was first delivered for this connection (set once). */
  firstDataAt?: Date;
  nextDueAt: Date;
  /**
   * When the next background refresh was planned for (the budget rule, or the first one after the post-consent
   * fetch). `nextDueAt` moves without it when a run that threw pauses the connection or a run starts (its
   * provisional due), so a refresh's delay, journaled and measured, counts from the plan (the pauses included).
   */
  plannedAt?: Date;
  /** Consecutive scheduled runs that threw (the scheduler backs off; unset by the next run that completes). */
  runFailures?: number;
  lastRefreshAt?: Date;
  /**
   * Set while this connection's async tasks are being started: TrueLayer may call the webhook before the start's
   * answer is recorded, and CheckWebhook waits for the task only then.
   */
  startingTasksUntil?: Date;
  /**
   * The last background refreshes (at most 4), each by its latest ledger grant (when it took none, when it ended):
   * the next one is planned from them (nextRefreshTime).
   */
  refreshEnds?: Date[];
  /**
   * The units (`unitKey`) a background refresh stopped before finishing, when its instance shut down: the next run
   * asks only these, as the same refresh (Fetcher.runScheduled). Unset by the run that finishes them.
   */
  refreshLeft?: string[];
  /** Background refreshes started (one per due run). */
  refreshes: number;
  lastUserRefresh?: { fetchId: string; startedAt: Date; finishedAt: Date; items: RefreshedItemDoc[] };
  createdAt: Date;
  updatedAt: Date;
}

export interface RefreshedItemDoc {
  kind: Kind;
  accountId: string;
  isCard: boolean;
  outcome: 'ok' | 'not_supported' | 'skipped' | 'failed';
  items: number;
  errorCode: string;
  correlationId: string;
}

/** The key of an account or card inside `resources` (ids are made safe for a field name). */
export function resourceKey(id: string, isCard: boolean): string {
  return `${isCard ? 'c' : 'a'}_${Buffer.from(id).toString('base64url')}`;
}

export type TaskStatus = 'pending' | 'claimed' | 'done' | 'failed';

export interface FetchTaskDoc {
  _id: string;
  connectionId: string;
  userId: string;
  credentialsId: string;
  kind: Kind;
  accountId: string;
  isCard: boolean;
  window?: { from: string; to: string };
  resultsUri: string;
  resource: string;
  status: TaskStatus;
  fetchId: string;
  correlationIds: string[];
  createdAt: Date;
  /** When the poller should read the results if no webhook came first. */
  pollAt: Date;
  claimedBy?: string;
  claimedUntil?: Date;
  pollCount: number;
  /** 1 for the unit's first task; a failed or hung task is replaced by a new one with attempt + 1. */
  attempt?: number;
  /** The task that replaced this one. */
  replacedBy?: string;
  via?: 'webhook' | 'poll';
  finishedAt?: Date;
  /** Set when finished; the TTL index removes the task after it. */
  expiresAt?: Date;
  error?: string;
}

export interface JournalDoc {
  connectionId: string;
  at: Date;
  endpoint: string;
  accountId: string;
  windowFrom?: Date;
  windowTo?: Date;
  httpStatus: number;
  errorCode: string;
  errorDescription: string;
  correlationId: string;
  durationMs: number;
  attended: boolean;
  traceId: string;
  mode: string;
  taskId: string;
  items: number;
  action: string;
  /** A background refresh's calls: when that refresh was planned for (its delay is `at` minus this). */
  dueAt?: Date;
}

export class FetchStateStore {
  readonly connections;
  readonly tasks;
  readonly journal;
  readonly erased;

  constructor(
    conn: Connection,
    private readonly journalRetentionMs: number,
  ) {
    this.connections = conn.collection<FetchConnectionDoc>('fetch_connections');
    this.tasks = conn.collection<FetchTaskDoc>('fetch_tasks');
    this.journal = conn.collection<JournalDoc>('fetch_journal');
    this.erased = conn.collection<{ _id: string; at: Date }>('fetch_erased_connections');
  }

  /**
   * The hot queries as cursors, each with the index that serves it (test/fetch-state.int-spec.ts checks every one
   * with explain()). Sorts lead with the equality field so that MongoDB walks the index in order.
   */
  readonly cursors = {
    due: (now: Date, limit: number) => this.connections.find({ status: 'active', nextDueAt: { $lte: now } }).sort({ status: 1, nextDueAt: 1 }).limit(limit),
    /** Post-consent fetches whose SCA window is still open (due or not: the caller keeps the due ones). */
    beforeDeadline: (now: Date, limit: number) => this.connections.find({ status: 'active', scaDeadline: { $gt: now } }).sort({ status: 1, scaDeadline: 1 }).limit(limit),
    pollDue: (now: Date, limit: number) => this.tasks.find({ status: 'pending', pollAt: { $lte: now } }).sort({ status: 1, pollAt: 1 }).limit(limit),
    lapsedClaims: (now: Date, limit: number) => this.tasks.find({ status: 'claimed', pollAt: { $lte: now } }).sort({ status: 1, pollAt: 1 }).limit(limit),
    timeline: (connectionId: string, limit: number) => this.journal.find({ connectionId }).sort({ connectionId: 1, at: -1 }).limit(limit),
    errors: (connectionId: string, limit: number) => this.journal.find({ connectionId, errorCode: { $ne: '' } }).sort({ connectionId: 1, at: -1 }).limit(limit),
    startingTasks: (credentialsId: string, now: Date) => this.connections.find({ credentialsId, startingTasksUntil: { $gt: now } }).limit(1),
  };

  async ensureIndexes(): Promise<void> {
    await this.connections.createIndex({ status: 1, nextDueAt: 1 }, { name: FETCH_INDEXES.connectionsDue });
    await this.connections.createIndex({ status: 1, scaDeadline: 1 }, { name: FETCH_INDEXES.connectionsDeadline });
    await this.connections.createIndex({ credentialsId: 1 }, { name: FETCH_INDEXES.connectionsCredentials });
    await this.tasks.createIndex({ status: 1, pollAt: 1 }, { name: FETCH_INDEXES.tasksPoll });
    await this.tasks.createIndex({ expiresAt: 1 }, { name: FETCH_INDEXES.tasksTtl, expireAfterSeconds: 0 });
    await this.journal.createIndex({ connectionId: 1, at: -1 }, { name: FETCH_INDEXES.journalByConnection });
    await this.journal.createIndex({ at: 1 }, { name: FETCH_INDEXES.journalTtl, expireAfterSeconds: Math.ceil(this.journalRetentionMs / 1000) });
    await this.connections.createIndex({ clientId: 1, userId: 1 }, { name: FETCH_INDEXES.connectionsUser });
    await this.tasks.createIndex({ connectionId: 1 }, { name: FETCH_INDEXES.tasksConnection });
    await this.erased.createIndex({ at: 1 }, { name: FETCH_INDEXES.erasedTtl, expireAfterSeconds: ERASED_RETENTION_S });
  }

  // ---- erasure ----

  /**
   * Deletes what this service holds of the given connections, and with `wholeUser` of every connection of the
   * user: connection state, tasks and journal (each through its index), and remembers the ids as erased first.
   * Returns the documents deleted and every connection id covered. Idempotent.
   */
  async erase(clientId: string, userId: string, connectionIds: readonly string[], wholeUser: boolean): Promise<{ documents: number; connectionIds: string[] }> {
    const ids = new Set(connectionIds);
    if (wholeUser) for (const c of await this.connections.find({ clientId, userId }, { projection: { _id: 1 } }).toArray()) ids.add(c._id);
    const all = [...ids];
    if (all.length === 0) return { documents: 0, connectionIds: [] };
    const at = new Date();
    await this.erased.bulkWrite(all.map((_id) => ({ updateOne: { filter: { _id }, update: { $setOnInsert: { at } }, upsert: true } })), { ordered: false });
    const [c, t, j] = await Promise.all([
      this.connections.deleteMany({ _id: { $in: all } }),
      this.tasks.deleteMany({ connectionId: { $in: all } }),
      this.journal.deleteMany({ connectionId: { $in: all } }),
    ]);
    return { documents: c.deletedCount + t.deletedCount + j.deletedCount, connectionIds: all };
  }

  async isErased(connectionId: string): Promise<boolean> {
    return (await this.erased.countDocuments({ _id: connectionId }, { limit: 1 })) === 1;
  }

  // ---- connections ----

  get(connectionId: string): Promise<FetchConnectionDoc | null> {
    return this.connections.findOne({ _id: connectionId });
  }

  /** Records an authorized connection; a renewal (same id, or `previousConnectionId`) keeps what was synced. */
  async upsertAuthorized(doc: Omit<FetchConnectionDoc, 'resources' | 'lastSuccess' | 'unsupported' | 'refreshes' | 'createdAt' | 'updatedAt'>, inherited?: FetchConnectionDoc | null): Promise<void> {
    const now = new Date();
    await this.connections.updateOne(
      { _id: doc._id },
      {
        $set: { ...doc, updatedAt: now },
        $setOnInsert: {
          resources: inherited?.resources ?? {},
          lastSuccess: inherited?.lastSuccess ?? {},
          unsupported: inherited?.unsupported ?? [],
          refreshes: 0,
          createdAt: now,
        },
      },
      { upsert: true },
    );
  }

  async setStatus(connectionId: string, status: ConnectionStatus, reason: string): Promise<void> {
    await this.connections.updateOne({ _id: connectionId }, { $set: { status, statusReason: reason, updatedAt: new Date() }, $unset: { psuIp: '', scaDeadline: '' } });
  }

  /** Sets firstDataAt unless it is set; true for the one call that set it (across instances). */
  async markFirstData(connectionId: string, at: Date): Promise<boolean> {
    const res = await this.connections.updateOne({ _id: connectionId, firstDataAt: { $exists: false } }, { $set: { firstDataAt: at } });
    return res.modifiedCount === 1;
  }

  async update(connectionId: string, set: Record<string, unknown>, unset: string[] = []): Promise<void> {
    const update: Record<string, unknown> = { $set: { ...set, updatedAt: new Date() } };
    if (unset.length > 0) update['$unset'] = Object.fromEntries(unset.map((k) => [k, '']));
    await this.connections.updateOne({ _id: connectionId }, update);
  }

  async addUnsupported(connectionId: string, what: string): Promise<void> {
    await this.connections.updateOne({ _id: connectionId }, { $addToSet: { unsupported: what }, $set: { updatedAt: new Date() } });
  }

  /** The connection with this TrueLayer credentials id that is starting tasks now, if any. */
  async startingTasks(credentialsId: string, now: Date): Promise<FetchConnectionDoc | null> {
    return (await this.cursors.startingTasks(credentialsId, now).toArray())[0] ?? null;
  }

  /** Active connections whose refresh is due, oldest first (served by `fetch_connections_due`). */
  findDue(now: Date, limit: number): Promise<FetchConnectionDoc[]> {
    return this.cursors.due(now, limit).toArray();
  }

  /** Due post-consent fetches whose SCA window is open, the earliest deadline first. */
  async findDueBeforeDeadline(now: Date, limit: number): Promise<FetchConnectionDoc[]> {
    return (await this.cursors.beforeDeadline(now, limit).toArray()).filter((c) => c.nextDueAt.getTime() <= now.getTime());
  }

  // ---- tasks ----

  async addTask(task: FetchTaskDoc): Promise<void> {
    await this.tasks.insertOne(task);
  }

  getTask(taskId: string): Promise<FetchTaskDoc | null> {
    return this.tasks.findOne({ _id: taskId });
  }

  /**
   * Takes a task for reading its results: pending, or claimed by someone whose claim lapsed. One conditional
   * update: exactly one of a racing webhook consumer and poller wins.
   */
  async claimTask(taskId: string, owner: string, now: Date, claimMs: number, via: 'webhook' | 'poll'): Promise<FetchTaskDoc | null> {
    const res = await this.tasks.findOneAndUpdate(
      { _id: taskId, $or: [{ status: 'pending' }, { status: 'claimed', claimedUntil: { $lte: now } }] },
      // pollAt follows the claim, so a claim whose holder died is found again by the poll index
      { $set: { status: 'claimed', claimedBy: owner, claimedUntil: new Date(now.getTime() + claimMs), pollAt: new Date(now.getTime() + claimMs), via } },
      { returnDocument: 'after' },
    );
    return res ?? null;
  }

  /** Gives a claimed task back (results not ready yet): polled again at `pollAt`. */
  async releaseTask(taskId: string, owner: string, pollAt: Date): Promise<void> {
    await this.tasks.updateOne({ _id: taskId, claimedBy: owner, status: 'claimed' }, { $set: { status: 'pending', pollAt }, $inc: { pollCount: 1 }, $unset: { claimedBy: '', claimedUntil: '' } });
  }

  async finishTask(taskId: string, status: 'done' | 'failed', now: Date, retentionMs: number, error?: string, correlationIds: string[] = [], replacedBy?: string): Promise<void> {
    await this.tasks.updateOne(
      { _id: taskId },
      {
        $set: { status, finishedAt: now, expiresAt: new Date(now.getTime() + retentionMs), ...(error ? { error } : {}), ...(replacedBy ? { replacedBy } : {}) },
        $addToSet: { correlationIds: { $each: correlationIds } },
        $unset: { claimedUntil: '' },
      },
    );
  }

  /** Tasks whose webhook is late (served by `fetch_tasks_poll`). */
  findPollDue(now: Date, limit: number): Promise<FetchTaskDoc[]> {
    return this.cursors.pollDue(now, limit).toArray();
  }

  /** Claimed tasks whose claimant died (claim lapsed: `pollAt` is the claim's end); same index. */
  findLapsedClaims(now: Date, limit: number): Promise<FetchTaskDoc[]> {
    return this.cursors.lapsedClaims(now, limit).toArray();
  }

  countOpenTasks(connectionId: string): Promise<number> {
    return this.tasks.countDocuments({ connectionId, status: { $in: ['pending', 'claimed'] } });
  }

  // ---- journal ----

  async record(entry: JournalDoc): Promise<void> {
    await this.journal.insertOne(entry);
  }

  timeline(connectionId: string, limit: number): Promise<JournalDoc[]> {
    return this.cursors.timeline(connectionId, limit).toArray();
  }

  errors(connectionId: string, limit: number): Promise<JournalDoc[]> {
    return this.cursors.errors(connectionId, limit).toArray();
  }
}
