/**
 * SIGTERM ends a service within its hard shutdown timeout whatever state it is in: also when the process that
 * started it is gone and its stdout/stderr are closed (issue 7: enrichment, orphaned by a failed `npm start`,
 * ignored SIGTERM until SIGKILL because its logger looped on EPIPE).
 */
import { provisionTopics, startService, type ServiceProcess } from '@ais/testing';
import { MongoClient } from 'mongodb';
import { stackEnv, uniqueSuffix } from './stack-env';

jest.setTimeout(120_000);

const SHUTDOWN_TIMEOUT_MS = 4_000;

async function waitExit(proc: ServiceProcess, ms: number): Promise<number | string | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([proc.exited, new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)))]);
  clearTimeout(timer);
  return outcome;
}

describe('shutdown of an orphaned service', () => {
  const prefix = `sd${uniqueSuffix()}`;
  const infra = stackEnv();
  const env = { ...infra, TOKEN_VAULT_ADDR: '127.0.0.1:1', KAFKA_TOPIC_PREFIX: prefix, OTEL_TRACES_EXPORTER: 'none', SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) };
  const started: ServiceProcess[] = [];

  beforeAll(() => provisionTopics({ brokers: infra['KAFKA_BROKERS']!, prefix }));
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop(1_000)));
  });

  it.each(['enrichment', 'reconciliation', 'data-fetcher'])('%s exits on SIGTERM with its output closed, within the hard timeout', async (name) => {
    const proc = await startService(name, env);
    started.push(proc);
    proc.closeOutput(); // as when `npm start` died: the pipes' reader is gone
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    process.kill(proc.pid, 'SIGTERM');
    const code = await waitExit(proc, SHUTDOWN_TIMEOUT_MS + 3_000);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 3_000);
  });

  /**
   * data-fetcher with one connection due at once (`fields` make it a post-consent fetch or a refresh), stopped while
   * its first call waits for token-vault: nothing listens at TOKEN_VAULT_ADDR, and the ask waits for it
   * (wait-for-ready, up to GRPC_DEADLINE_MS, longer than the shutdown timeout). The shutdown must end that wait and
   * hand the run over (each case checks how), within the timeout, with no `fetch:<id>` lease left.
   */
  async function stoppedDuringTokenWait(fields: Record<string, unknown>): Promise<{ doc: Record<string, unknown> & { nextDueAt: Date }; t0: number }> {
    const db = `sd_df_${uniqueSuffix()}`;
    const client = await MongoClient.connect(infra['MONGODB_URI']!);
    try {
      const connectionId = `conn-${uniqueSuffix()}`;
      const now = new Date();
      // as data-fetcher records connection.authorized (FetchStateStore.upsertAuthorized)
      await client.db(db).collection<{ _id: string; [field: string]: unknown }>('fetch_connections').insertOne({
        _id: connectionId,
        userId: `user-${connectionId}`,
        clientId: 'client-sd',
        providerId: 'mock',
        credentialsId: `cred-${connectionId}`,
        scopes: ['info', 'accounts', 'balance', 'transactions', 'offline_access'],
        status: 'active',
        authorizedAt: now,
        backfill: 'pending',
        nextDueAt: new Date(now.getTime() - 1_000),
        resources: {},
        lastSuccess: {},
        unsupported: [],
        refreshes: 0,
        createdAt: now,
        updatedAt: now,
        ...fields,
      });
      const proc = await startService('data-fetcher', { ...env, MONGODB_DB: db, GRPC_DEADLINE_MS: '60000', SCHEDULER_TICK_MS: '200' });
      started.push(proc);
      // the run has started once it holds the connection's lease
      const leases = client.db(db).collection<{ _id: string }>('leases');
      const until = Date.now() + 30_000;
      while (!(await leases.findOne({ _id: `fetch:${connectionId}` }))) {
        if (Date.now() > until) throw new Error('the run did not start within 30 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 500)); // into the token call's wait
      const t0 = Date.now();
      process.kill(proc.pid, 'SIGTERM');
      const code = await waitExit(proc, SHUTDOWN_TIMEOUT_MS + 3_000);
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
      const doc = await client.db(db).collection<{ _id: string; nextDueAt: Date }>('fetch_connections').findOne({ _id: connectionId });
      expect(await leases.countDocuments({ _id: `fetch:${connectionId}` })).toBe(0);
      // due again at once, for whichever instance runs next (not a minute later, nor held under its lease)
      expect(doc!.nextDueAt.getTime()).toBeGreaterThanOrEqual(t0 - 1_000);
      expect(doc!.nextDueAt.getTime()).toBeLessThanOrEqual(Date.now());
      return { doc: doc!, t0 };
    } finally {
      await client.db(db).dropDatabase().catch(() => undefined);
      await client.close();
    }
  }

  it('data-fetcher exits on SIGTERM within the hard timeout while a post-consent fetch waits for a token-vault it cannot reach, and hands the fetch over', async () => {
    const { doc } = await stoppedDuringTokenWait({});
    expect(doc).toMatchObject({ backfill: 'running', backfillNote: 'handed over: instance_stopping' });
  });

  it('data-fetcher exits on SIGTERM within the hard timeout while a background refresh waits for a token-vault it cannot reach, and leaves the whole refresh to the next run', async () => {
    const plannedAt = new Date(Date.now() - 1_000);
    const resources = { 'a_YWNjLXNk': { id: 'acc-sd', isCard: false, gone: false, lastSuccess: {} } };
    const { doc } = await stoppedDuringTokenWait({ backfill: 'done', plannedAt, nextDueAt: plannedAt, resources });
    // its first unit (the accounts list) did not get a token: every unit is left, the refresh counted once, not ended
    expect(doc).toMatchObject({ refreshLeft: ['accounts', 'transactions|a_YWNjLXNk', 'balance|a_YWNjLXNk', 'pending_transactions|a_YWNjLXNk'], refreshes: 1, plannedAt });
    expect(doc['refreshEnds']).toBeUndefined();
  });
});
