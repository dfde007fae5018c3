/**
 * Every hot query of data-fetcher's state is served by its named index (explain() on the real store), with enough
 * documents that a scan would be the planner's other choice: the scheduler's due connections, late and lapsed
 * tasks, the support report's timeline and errors, and CheckWebhook's "is this connection starting tasks".
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainUsesIndex, type Connection } from '@ais/platform-mongo';
import { randomBytes } from 'node:crypto';
import { Leases } from '@ais/platform-mongo';
import { FETCH_INDEXES, FetchStateStore, type FetchConnectionDoc, type FetchTaskDoc, type JournalDoc } from '../src/data/fetch-state.store';
import { STOP_REASONS, type Fetcher } from '../src/domain/fetcher';
import { Scheduler } from '../src/domain/scheduler';
import { subscribeConnections } from '../src/kafka/fetch.consumers';
import { EVENT_TYPES } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { newMeta, type EventConsumer, type EventHandler } from '@ais/platform-kafka';
import { context, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

const logger = createLogger({ service: 'fetch-state-int', level: 'warn' });
const N = 4_000;
const DAY = 86_400_000;

describe('data-fetcher state: hot queries use their indexes', () => {
  const db = `it_fetch_state_${randomBytes(4).toString('hex')}`;
  let conn: Connection;
  let store: FetchStateStore;
  let leases: Leases;
  const now = new Date('2026-06-01T12:00:00Z');

  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db, logger });
    // the journal's retention (its TTL index) must outlast the fixture's dates, which are fixed around `now` (1 June
    // 2026): with 30 days the store's TTL pass deleted the seeded journal whenever it ran before the timeline case
    store = new FetchStateStore(conn, 20 * 365 * DAY);
    await store.ensureIndexes();
    leases = new Leases(conn);
    await leases.ensureIndexes();
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
      // 1% post-consent fetches, due 30 min ago: a third of them still inside their SCA window
      ...(i % 100 === 3 ? { backfill: 'pending' as const, scaDeadline: new Date(now.getTime() + ((i % 300) - 150) * 1000 + i) } : {}),
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

  it('the scheduler runs post-consent fetches inside their SCA window first, earliest deadline first, then the rest oldest first', async () => {
    expect(explainUsesIndex(await store.cursors.beforeDeadline(now, 50).explain(), FETCH_INDEXES.connectionsDeadline)).toBe(true);
    const urgent = await store.findDueBeforeDeadline(now, 50);
    expect(urgent.length).toBeGreaterThan(3);
    expect(urgent.every((c) => c.status === 'active' && c.scaDeadline! > now && c.nextDueAt <= now)).toBe(true);
    const deadlines = urgent.map((c) => c.scaDeadline!.getTime());
    expect(deadlines).toEqual([...deadlines].sort((a, b) => a - b));
    // the order one instance runs them in, with concurrency 1 (a fetcher that records what it is asked to run)
    const ran: string[] = [];
    const fetcher = { runBackfill: async (id: string) => void ran.push(id), runScheduled: async (id: string) => void ran.push(id), completeTask: async () => 'skipped' } as unknown as Fetcher;
    const scheduler = new Scheduler({ store, fetcher, leases, instance: 'it', clock: { now: () => now }, logger, tickMs: 60_000, batch: 500, leaseMs: 60_000, concurrency: 1 });
    const order = await scheduler.dueInOrder(now);
    expect(order.slice(0, urgent.length).map((c) => c._id)).toEqual(urgent.map((c) => c._id));
    const rest = order.slice(urgent.length);
    expect(rest.length).toBeGreaterThan(0);
    expect(new Set(order.map((c) => c._id)).size).toBe(order.length);
    expect(rest.map((c) => c.nextDueAt.getTime())).toEqual([...rest.map((c) => c.nextDueAt.getTime())].sort((a, b) => a - b));
    // an expired window is due work like any other: among the rest, by due time
    expect(rest.some((c) => c.scaDeadline !== undefined && c.scaDeadline <= now)).toBe(true);
    await scheduler.tick();
    expect(ran).toEqual(order.map((c) => c._id));
  });

  it('a consent that arrives while a tick runs goes ahead of what the tick has not started', async () => {
    // an hour later: no SCA window of the fixture is open, so the first two runs are refreshes
    const clockNow = new Date(now.getTime() + 3_600_000);
    const ran: string[] = [];
    const late = `conn-late-${randomBytes(3).toString('hex')}`;
    const box: { scheduler?: Scheduler } = {};
    const fetcher = {
      runBackfill: async (id: string) => void ran.push(id),
      runScheduled: async (id: string) => {
        ran.push(id);
        if (ran.length === 2) {
          // a new consent while the second connection runs: recorded as fetch.consumers does, then the kick
          await store.connections.insertOne({
            _id: late, userId: 'user-late', clientId: 'client-1', providerId: 'ob-mock', credentialsId: 'cred-late', scopes: ['accounts'], status: 'active',
            authorizedAt: clockNow, backfill: 'pending', scaDeadline: new Date(clockNow.getTime() + 300_000), unsupported: [], resources: {}, lastSuccess: {},
            nextDueAt: clockNow, refreshes: 0, createdAt: now, updatedAt: now,
          });
          box.scheduler!.kick();
        }
      },
      completeTask: async () => 'skipped',
    } as unknown as Fetcher;
    const scheduler = new Scheduler({ store, fetcher, leases, instance: 'it-2', clock: { now: () => clockNow }, logger, tickMs: 60_000, batch: 20, leaseMs: 60_000, concurrency: 1 });
    box.scheduler = scheduler;
    // as if the tick had been started by the timer: a kick during it marks new work instead of starting a tick
    (scheduler as unknown as { running: Promise<void> }).running = Promise.resolve();
    await scheduler.tick();
    await scheduler.stop();
    expect(ran.length).toBe(21);
    expect(ran[2]).toBe(late);
    expect(ran.filter((id) => id === late)).toHaveLength(1);
    await store.connections.deleteOne({ _id: late });
  });

  it('a run that throws is not run again on the next tick: it backs off, doubling, and a completed run clears the count', async () => {
    const id = `conn-failing-${randomBytes(3).toString('hex')}`;
    let t = new Date(now.getTime() + 86_400_000);
    await store.connections.insertOne({
      _id: id, userId: 'user-failing', clientId: 'client-1', providerId: 'ob-mock', credentialsId: 'cred-failing', scopes: ['accounts'], status: 'active',
      authorizedAt: t, backfill: 'pending', scaDeadline: new Date(t.getTime() + 300_000), unsupported: [], resources: {}, lastSuccess: {},
      nextDueAt: t, refreshes: 0, createdAt: now, updatedAt: now,
    });
    let failing = true;
    const runs: string[] = [];
    const fetcher = {
      runBackfill: async (cid: string) => {
        if (cid !== id) return;
        runs.push(cid);
        if (failing) throw new Error('The request included a message larger than the max message size the server will accept');
      },
      runScheduled: async () => undefined,
      completeTask: async () => 'skipped',
    } as unknown as Fetcher;
    const scheduler = new Scheduler({ store, fetcher, leases, instance: 'it-3', clock: { now: () => t }, logger, tickMs: 60_000, batch: 1, leaseMs: 60_000, concurrency: 1 });
    await scheduler.tick();
    let doc = (await store.get(id))!;
    expect(doc).toMatchObject({ runFailures: 1, nextDueAt: new Date(t.getTime() + 30_000) });
    await scheduler.tick(); // not due yet: not run
    expect(runs).toHaveLength(1);
    t = new Date(t.getTime() + 30_000);
    await scheduler.tick();
    doc = (await store.get(id))!;
    expect(doc).toMatchObject({ runFailures: 2, nextDueAt: new Date(t.getTime() + 60_000) });
    failing = false;
    t = new Date(t.getTime() + 60_000);
    await scheduler.tick();
    expect(runs).toHaveLength(3);
    expect((await store.get(id))!.runFailures).toBeUndefined();
    await store.connections.deleteOne({ _id: id });
  });

  it('a running post-consent fetch is told to stop when its lease renewal finds the lease another instance\'s, and when the scheduler stops; a refresh when the scheduler stops', async () => {
    const id = `conn-lease-${randomBytes(3).toString('hex')}`;
    const key = `fetch:${id}`;
    const t = new Date(now.getTime() + 2 * 86_400_000);
    await store.connections.insertOne({
      _id: id, userId: 'user-lease', clientId: 'client-1', providerId: 'ob-mock', credentialsId: 'cred-lease', scopes: ['accounts'], status: 'active',
      authorizedAt: t, backfill: 'pending', scaDeadline: new Date(t.getTime() + 300_000), unsupported: [], resources: {}, lastSuccess: {},
      nextDueAt: t, refreshes: 0, createdAt: now, updatedAt: now,
    });
    // a run that goes on until its signal says stop, and records why
    const reasons: unknown[] = [];
    let started: () => void = () => undefined;
    const untilStopped = async (cid: string, signal: AbortSignal) => {
      if (cid !== id) return;
      started();
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
      reasons.push(signal.reason);
    };
    const fetcher = { runBackfill: untilStopped, runScheduled: untilStopped, completeTask: async () => 'skipped' } as unknown as Fetcher;
    const running = () => new Promise<void>((r) => (started = r));
    try {
      // renewed every second (a third of 3 s): another instance took the lease over (this one's renewals failed for
      // longer than the lease, say); the next renewal finds it and the run is told
      const a = new Scheduler({ store, fetcher, leases, instance: 'it-lease-a', clock: { now: () => t }, logger, tickMs: 60_000, batch: 1, leaseMs: 3_000, concurrency: 1 });
      let run = running();
      const tickA = a.tick();
      await run;
      await conn.collection<{ _id: string; owner: string }>('leases').updateOne({ _id: key }, { $set: { owner: 'it-lease-b' } });
      const t0 = Date.now();
      await tickA;
      expect(reasons).toEqual([STOP_REASONS.leaseLost]);
      expect(Date.now() - t0).toBeLessThan(2_500);
      expect(await leases.holds(key, 'it-lease-b')).toBe(true); // the run's end released nothing of the holder's

      // the holder stops: its run is told so, stop() returns once the run has, and the lease is free
      await leases.release(key, 'it-lease-b');
      const b = new Scheduler({ store, fetcher, leases, instance: 'it-lease-b', clock: { now: () => t }, logger, tickMs: 60_000, batch: 1, leaseMs: 60_000, concurrency: 1 });
      run = running();
      b.start();
      await run;
      await b.stop();
      expect(reasons).toEqual([STOP_REASONS.leaseLost, STOP_REASONS.stopping]);
      expect(await conn.collection<{ _id: string }>('leases').countDocuments({ _id: key })).toBe(0);

      // a background refresh (the post-consent fetch done) is told too when its instance stops (due before the other
      // specs' connections: the scheduler takes the oldest first, one a tick here)
      await store.connections.updateOne({ _id: id }, { $set: { backfill: 'done', nextDueAt: new Date(0) }, $unset: { scaDeadline: '' } });
      const c = new Scheduler({ store, fetcher, leases, instance: 'it-lease-c', clock: { now: () => t }, logger, tickMs: 60_000, batch: 1, leaseMs: 60_000, concurrency: 1 });
      run = running();
      c.start();
      await run;
      await c.stop();
      expect(reasons).toEqual([STOP_REASONS.leaseLost, STOP_REASONS.stopping, STOP_REASONS.stopping]);
    } finally {
      await store.connections.deleteOne({ _id: id });
    }
  });

  it('the post-consent fetch continues the consent\'s trace whichever tick runs it; every other run starts a trace of its own', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
    const tracer = trace.getTracer('it');
    const id = `conn-consent-${randomBytes(3).toString('hex')}`;
    try {
      const box: { scheduler?: Scheduler } = {};
      // where each run found itself: the span that would be its parent (none: it starts a new trace)
      const parents = new Map<string, SpanContext | undefined>();
      const record = async (cid: string) => void parents.set(cid, trace.getSpanContext(context.active()));
      const fetcher = { runBackfill: record, runScheduled: record, completeTask: async () => 'skipped' } as unknown as Fetcher;
      const scheduler = new Scheduler({ store, fetcher, leases, instance: 'it-trace', clock: { now: () => now }, logger, tickMs: 60_000, batch: 20, leaseMs: 60_000, concurrency: 1 });
      box.scheduler = scheduler;
      // the intake as data-fetcher runs it, handed the event inside its consumer span (as platform-kafka does)
      let handle: EventHandler<eventsV1.ConnectionEvent> | undefined;
      subscribeConnections({ on: (_b: unknown, h: EventHandler<eventsV1.ConnectionEvent>) => void (handle = h) } as unknown as EventConsumer, '', {
        store, fetcher, clock: { now: () => now }, logger, kick: () => box.scheduler!.kick(), postConsentWindowMs: 3_600_000,
      });
      // the flaky path: a tick is running when the consent arrives, so the kick only marks new work
      (scheduler as unknown as { running: Promise<void> }).running = Promise.resolve();
      const authorized = { connectionId: id, userId: 'user-consent', clientId: 'client-1', providerId: 'ob-mock', scopes: ['accounts'], previousConnectionId: '', credentialsId: 'cred-consent', psuIp: '', authenticatedAt: now };
      const consent = await tracer.startActiveSpan('ais.connection.v1 process', async (span) => {
        await handle!({ event: { meta: newMeta('token-vault', EVENT_TYPES.connectionAuthorized), payload: { $case: 'authorized', authorized } }, meta: newMeta('token-vault', EVENT_TYPES.connectionAuthorized) } as never);
        span.end();
        return span.spanContext();
      });
      expect((await store.get(id))!.consentTrace).toBe(`00-${consent.traceId}-${consent.spanId}-01`);
      // the next tick, inheriting another request's context (the kick of someone else's consent)
      await tracer.startActiveSpan('another consent', async (other) => {
        await scheduler.tick();
        other.end();
      });
      await scheduler.stop();
      expect(parents.get(id)).toMatchObject({ traceId: consent.traceId, spanId: consent.spanId });
      // the fixture's refreshes and its post-consent fetches recorded without a trace ran in that tick too: on their own
      const others = [...parents].filter(([cid]) => cid !== id);
      expect(others.length).toBeGreaterThan(5);
      expect(others.filter(([, p]) => p !== undefined)).toEqual([]);
    } finally {
      trace.disable();
      context.disable();
      await store.connections.deleteOne({ _id: id });
    }
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
