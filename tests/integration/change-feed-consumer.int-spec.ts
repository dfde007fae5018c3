/**
 * The example consumer (examples/change-feed-consumer) on the real stack: a connect journey of the simulator's
 * mock user and its post-consent fetch go through data-fetcher, enrichment and reconciliation; then the example's
 * CLI, run as its own process as an integrator would, follows the user's change feed:
 *   1. over HTTP (GET /v1/users/{userId}/changes?cursor=), stopped after two pages and started again from its saved
 *      cursor: across both runs each live transaction arrives exactly once (no page read twice, none skipped), and
 *      its copy holds exactly the read API's transactions and accounts;
 *   2. after a user edit, a third run from the saved cursor gets exactly that change (modified) and nothing else;
 *   3. over Kafka (ais.ledger.v1, decoded with the proto contracts): its copy of the user holds the same
 *      transactions and accounts as the read API.
 */
import { connectMockUser, type MockUserConnection } from '@ais/testing';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
// the store's own counters tell when the pipeline has published everything, read as an operator would
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ReconciliationStore } from '../../apps/reconciliation/src/data/store';
import { readApi, startFetchStack, waitForBackfill, waitForStoreSettled, type FetchStack } from './fetch-harness';
import { stackEnv } from './stack-env';

jest.setTimeout(600_000);

type Json = Record<string, unknown>;
const USER = 'user-feed';
const ROOT = resolve(__dirname, '..', '..');
const run = promisify(execFile);

interface Replica {
  cursor: string;
  seq: string;
  transactions: Record<string, Json>;
  accounts: Record<string, Json>;
}

describe('the example change-feed consumer follows a journey', () => {
  let s: FetchStack;
  let conn: MockUserConnection;
  let store: ReconciliationStore;
  let stateDir: string;
  const { get, allTransactions } = readApi({ api: (...a) => s.api(...a) }, USER);

  /** Runs the example's CLI; returns its JSON output lines. */
  const consumer = async (mode: 'http' | 'kafka', extra: string[]): Promise<Json[]> => {
    const common = mode === 'http' ? ['--gateway', s.base, '--user', USER, '--state-dir', join(stateDir, 'http')] : ['--state-dir', join(stateDir, 'kafka'), '--user', USER];
    const { stdout } = await run(process.execPath, ['--require', 'tsx/cjs', 'examples/change-feed-consumer/src/main.ts', mode, ...common, ...extra], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', CHANGE_FEED_API_KEY: s.apiKey },
      timeout: 120_000,
    });
    return stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);
  };
  const replicaOf = (mode: 'http' | 'kafka'): Replica => JSON.parse(readFileSync(join(stateDir, mode, `${USER}.json`), 'utf8')) as Replica;
  const pages = (lines: Json[]) => lines.filter((l) => l['source'] === 'http');
  const sum = (lines: Json[], key: string) => pages(lines).reduce((n, l) => n + Number(l[key]), 0);

  const settled = (what: string): Promise<void> => waitForStoreSettled(store, USER, () => s.raw.events.length, what, 240_000);

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'change-feed-'));
    s = await startFetchStack({ pipeline: true, reconciliationEnv: { CHANGEFEED_SWEEP_MS: '1000', CHANGEFEED_SWEEP_MIN_AGE_MS: '1000' } });
    store = new ReconciliationStore(s.reconDb!);
    conn = await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId: USER, username: 'john', password: 'doe' });
    await waitForBackfill(s, conn.connectionId, 240_000);
    await settled('the pipeline after the post-consent fetch');
  }, 480_000);

  afterAll(async () => {
    await s?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('1. over HTTP, stopped after two pages and resumed from its cursor: every transaction once, the copy equals the read API', async () => {
    const live = await allTransactions();
    const accounts = (await get(`/v1/users/${USER}/accounts`))['accounts'] as Json[];
    expect(live.length).toBeGreaterThan(100); // the mock user's two-year history: several pages of 50
    expect(accounts.length).toBeGreaterThan(0);

    const first = await consumer('http', ['--page-size', '50', '--max-pages', '2']);
    expect(pages(first)).toHaveLength(2);
    expect(pages(first).every((p) => p['has_more'] === true)).toBe(true);
    const afterFirst = replicaOf('http');
    expect(afterFirst.cursor).not.toBe('');
    const firstIds = new Set(Object.keys(afterFirst.transactions));

    const second = await consumer('http', ['--page-size', '50']);
    expect(pages(second).length).toBeGreaterThanOrEqual(1);
    expect(pages(second).at(-1)!['has_more']).toBe(false);
    const replica = replicaOf('http');
    const secondIds = Object.keys(replica.transactions).filter((id) => !firstIds.has(id));

    // no duplicates: every change applied across the two runs is a distinct transaction; no gaps: all of them
    const applied = sum(first, 'added') + sum(first, 'modified') + sum(second, 'added') + sum(second, 'modified');
    expect(sum(first, 'removed') + sum(second, 'removed')).toBe(0);
    expect(applied).toBe(live.length);
    expect(firstIds.size + secondIds.length).toBe(live.length);
    expect(Object.keys(replica.transactions).sort()).toEqual(live.map((t) => String(t['transaction_id'])).sort());
    expect(Object.keys(replica.accounts).sort()).toEqual(accounts.map((a) => String(a['account_id'])).sort());
    // the copy holds what the read API shows
    for (const t of live.slice(0, 20)) expect(replica.transactions[String(t['transaction_id'])]).toMatchObject({ amount: t['amount'], status: t['status'], description: t['description'] });
  });

  it('2. a user edit arrives as exactly one modified change on the next run from the saved cursor', async () => {
    const [t] = await allTransactions('&status=booked');
    const id = String(t!['transaction_id']);
    const patched = await s.api('PATCH', `/v1/users/${USER}/transactions/${id}`, { notes: 'checked by the feed consumer' }, { 'idempotency-key': `feed-${id}` });
    expect([200, 202]).toContain(patched.status);
    await settled('the edit');

    const third = await consumer('http', ['--page-size', '50']);
    expect({ added: sum(third, 'added'), modified: sum(third, 'modified'), removed: sum(third, 'removed') }).toEqual({ added: 0, modified: 1, removed: 0 });
    const replica = replicaOf('http');
    expect((replica.transactions[id]!['user_edit'] as Json)['notes']).toBe('checked by the feed consumer');
    // and nothing more after that
    const fourth = await consumer('http', ['--page-size', '50']);
    expect(sum(fourth, 'added') + sum(fourth, 'modified') + sum(fourth, 'removed')).toBe(0);
  });

  it('3. over Kafka (ais.ledger.v1): the copy of the user holds the read API\'s transactions and accounts', async () => {
    const infra = stackEnv();
    const out = await consumer('kafka', ['--brokers', infra['KAFKA_BROKERS']!, '--prefix', s.prefix, '--group', `feed-example-${s.ns}`, '--idle-exit-ms', '8000']);
    const summary = out.at(-1)!;
    expect(summary['done']).toBe(true);
    const replica = replicaOf('kafka');
    const live = await allTransactions();
    const accounts = (await get(`/v1/users/${USER}/accounts`))['accounts'] as Json[];
    expect(Object.keys(replica.transactions).sort()).toEqual(live.map((t) => String(t['transaction_id'])).sort());
    expect(Object.keys(replica.accounts).sort()).toEqual(accounts.map((a) => String(a['account_id'])).sort());
    const edited = Object.values(replica.transactions).find((t) => (t['userEdit'] as Json | undefined)?.['notes'] === 'checked by the feed consumer');
    expect(edited).toBeDefined();
    expect(BigInt(replica.seq)).toBeGreaterThan(0n);
  });
});
