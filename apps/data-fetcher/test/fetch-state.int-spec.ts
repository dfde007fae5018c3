/**
 * Every hot query of data-fetcher's state is served by its named index (explain() on the real store), with enough
 * documents that a scan would be the planner's other choice: the scheduler's due connections, late and lapsed
 * tasks, the support report's timeline and errors, and CheckWebhook's "is this connection starting tasks".
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainUsesIndex, type Connection } from '@ais/platform-mongo';
import { randomBytes } from 'node:crypto';
import { FETCH_INDEXES, FetchStateStore, type FetchConnectionDoc, type FetchTaskDoc, type JournalDoc } from '../src/data/fetch-state.store';

const logger = createLogger({ service: 'fetch-state-int', level: 'warn' });
const N = 4_000;
const DAY = 86_400_000;

describe('data-fetcher state: hot queries use their indexes', () => {
  const db = `it_fetch_state_${randomBytes(4).toString('hex')}`;
  let conn: Connection;
  let store: FetchStateStore;
  const now = new Date('2026-06-01T12:00:00Z');

  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db, logger });
    store = new FetchStateStore(conn, 30 * DAY);
    await store.ensureIndexes();
    const connection = (i: number): FetchConnectionDoc => ({
      _id: `conn-${i}`,
      userId: `user-${i}`,
      clientId: 'client-1',
      providerId: 'ob-mock',
      credentialsId: `cred-${i}`,
      scopes: ['accounts', 'transactions'],
      status: i % 10 === 0 ? 'reauth_required' : 'active',
      authorizedAt: new Date(now.getTime() - DAY),
      backfill: 'done',
      unsupported: [],
      resources: {},
      lastSuccess: {},
      // 5% due now, the rest later in the day
      nextDueAt: new Date(now.getTime() + ((i % 100) - 5) * 15 * 60_000 + (i % 7) * 1000),
      refreshes: 0,
      createdAt: now,
      updatedAt: now,
      ...(i % 500 === 0 ? { startingTasksUntil: new Date(now.getTime() + 60_000) } : {}),
    });
    await store.connections.insertMany(Array.from({ length: N }, (_, i) => connection(i)));
    const task = (i: number): FetchTaskDoc => ({
      _id: `task-${i}`,
      connectionId: `conn-${i % N}`,
      userId: `user-${i % N}`,
      credentialsId: `cred-${i % N}`,
      kind: 'balance',
      accountId: `acc-${i}`,
      isCard: false,
      resultsUri: `https://api.example.test/data/v1/results/task-${i}`,
      resource: 'balance',
      status: i % 20 === 0 ? 'pending' : i % 20 === 1 ? 'claimed' : 'done',
      fetchId: `f-${i}`,
      correlationIds: [],
      createdAt: now,
      pollAt: new Date(now.getTime() + ((i % 600) - 30) * 60_000),
      pollCount: 0,
    });
    await store.tasks.insertMany(Array.from({ length: N }, (_, i) => task(i)));
    const entry = (i: number): JournalDoc => ({
      connectionId: `conn-${i % 200}`,
      at: new Date(now.getTime() - i * 60_000),
      endpoint: 'GET /data/v1/accounts/{account_id}/balance',
      accountId: `acc-${i}`,
      httpStatus: i % 50 === 0 ? 503 : 200,
      errorCode: i % 50 === 0 ? 'provider_error' : '',
      errorDescription: '',
      correlationId: `corr-${i}`,
      durationMs: 10,
      attended: false,
      traceId: '',
      mode: 'scheduled',
      taskId: '',
      items: 1,
      action: i % 50 === 0 ? 'retry' : '',
    });
    await store.journal.insertMany(Array.from({ length: N * 2 }, (_, i) => entry(i)));
  });
  afterAll(async () => {
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
  });

  it('the scheduler finds due connections through fetch_connections_due, oldest first', async () => {
    expect(explainUsesIndex(await store.cursors.due(now, 50).explain(), FETCH_INDEXES.connectionsDue)).toBe(true);
    const due = await store.findDue(now, 50);
    expect(due.length).toBeGreaterThan(0);
    expect(due.every((d) => d.status === 'active' && d.nextDueAt <= now)).toBe(true);
    expect(due.map((d) => d.nextDueAt.getTime())).toEqual([...due.map((d) => d.nextDueAt.getTime())].sort((a, b) => a - b));
  });

  it('late and lapsed tasks are found through fetch_tasks_poll', async () => {
    expect(explainUsesIndex(await store.cursors.pollDue(now, 50).explain(), FETCH_INDEXES.tasksPoll)).toBe(true);
    expect(explainUsesIndex(await store.cursors.lapsedClaims(now, 50).explain(), FETCH_INDEXES.tasksPoll)).toBe(true);
    const late = await store.findPollDue(now, 1000);
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((t) => t.status === 'pending' && t.pollAt <= now)).toBe(true);
  });

  it('the support report reads a connection\'s journal through fetch_journal_connection, newest first', async () => {
    expect(explainUsesIndex(await store.cursors.timeline('conn-7', 200).explain(), FETCH_INDEXES.journalByConnection)).toBe(true);
    expect(explainUsesIndex(await store.cursors.errors('conn-0', 200).explain(), FETCH_INDEXES.journalByConnection)).toBe(true);
    const timeline = await store.timeline('conn-7', 200);
    expect(timeline).toHaveLength(N * 2 / 200);
    expect(timeline[0]!.at.getTime()).toBeGreaterThan(timeline.at(-1)!.at.getTime());
    expect((await store.errors('conn-0', 200)).every((e) => e.errorCode === 'provider_error')).toBe(true);
  });

  it('CheckWebhook finds a connection that is starting tasks through fetch_connections_credentials', async () => {
    expect(explainUsesIndex(await store.cursors.startingTasks('cred-500', now).explain(), FETCH_INDEXES.connectionsCredentials)).toBe(true);
    expect((await store.startingTasks('cred-500', now))?._id).toBe('conn-500');
    expect(await store.startingTasks('cred-501', now)).toBeNull();
  });
});
