/**
 * data-fetcher on the real stack (simulator, token-vault, data-fetcher, auth-gateway, Kafka, the store):
 *
 * - the `heavy` user's post-consent fetch delivers every transaction exactly once to the raw topic: per account,
 *   the count and a checksum of the ids equal the simulator's own ledger for the window read;
 * - a background refresh runs as async tasks whose webhooks come back through the gateway; a forged or replayed
 *   webhook is refused; with webhooks lost, polling completes the tasks;
 * - a user refresh through the gateway is SYNC with X-PSU-IP (attended: no unattended call is spent);
 * - the support report (JSON and page on the gateway's admin port) shows the calls with TrueLayer's correlation ids.
 */
import { eventsV1 } from '@ais/contracts-proto-ts';
import { connectMockUser, servicesIn, waitForTrace, type ZipkinSpan } from '@ais/testing';
import { REPO_ROOT } from '@ais/testing';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { startFetchStack, waitFor, type FetchStack } from './fetch-harness';

jest.setTimeout(300_000);

interface Ledger {
  count: number;
  checksum: string;
  ids: string[];
}

const checksum = (ids: string[]): string => createHash('sha256').update([...ids].sort().join('\n')).digest('hex');
const day = (d: Date | undefined): string => (d ? d.toISOString().slice(0, 10) : '');

describe('data-fetcher end to end', () => {
  let stack: FetchStack;
  let heavy: { connectionId: string; userId: string; credentialsId: string };

  beforeAll(async () => {
    // a task is polled when its webhook is 15 s late (long enough for every webhook of a refresh to be consumed first)
    stack = await startFetchStack({ tracing: true, fetcherEnv: { TASK_POLL_AFTER_MS: '15000', TASK_POLL_INTERVAL_MS: '500' } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const report = async (connectionId: string): Promise<Record<string, unknown>> => {
    const res = await fetch(`${stack.admin}/admin/connections/${encodeURIComponent(connectionId)}/support-report`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };
  const names = (spans: ZipkinSpan[]): string[] => spans.map((x) => `${x.localEndpoint?.serviceName}:${x.kind ?? ''}:${x.name}`);
  const traceOf = (traceId: string, ready: (spans: ZipkinSpan[]) => boolean) => waitForTrace(process.env['ZIPKIN_URL']!, traceId, ready, 30_000);
  const txnEvents = (connectionId: string, mode: eventsV1.FetchMode) =>
    stack.raw.events.filter((e) => e.connectionId === connectionId && e.mode === mode && e.payload?.$case === 'transactions');

  it('the heavy user\'s post-consent fetch delivers every transaction exactly once', async () => {
    heavy = await connectMockUser({ gatewayUrl: stack.base, apiKey: stack.apiKey, simulatorUrl: stack.sandbox.url, userId: 'user-heavy', username: 'heavy', password: 'heavy' });
    const done = await waitFor(
      'the post-consent fetch',
      async () => {
        const r = await report(heavy.connectionId).catch(() => undefined);
        return r && (r['backfill'] === 'done' || r['backfill'] === 'partial') ? r : undefined;
      },
      240_000,
      1_000,
    );
    const accounts = (await stack.sandbox.admin<{ accounts: { account_id: string; is_card?: boolean }[] }>('GET', `/ledger/accounts?credentials_id=${encodeURIComponent(heavy.credentialsId)}`)).accounts;
    expect(accounts.length).toBeGreaterThan(0);
    let total = 0;
    for (const account of accounts) {
      const events = txnEvents(heavy.connectionId, eventsV1.FetchMode.FETCH_MODE_BACKFILL).filter((e) => e.accountId === account.account_id);
      expect(events.length).toBeGreaterThan(0);
      const ids = events.flatMap((e) => (e.payload?.$case === 'transactions' ? e.payload.transactions.transactions.map((t) => t.normalisedProviderTransactionId) : []));
      const from = events.map((e) => day(e.window?.from)).sort()[0]!;
      const to = events.map((e) => day(e.window?.to)).sort().at(-1)!;
      const ledger = await stack.sandbox.admin<Ledger>('GET', `/ledger?credentials_id=${encodeURIComponent(heavy.credentialsId)}&account_id=${encodeURIComponent(account.account_id)}&from=${from}&to=${to}`);
      expect(new Set(ids).size).toBe(ids.length); // no transaction twice
      expect(ids.length).toBe(ledger.count);
      expect(checksum(ids)).toBe(ledger.checksum);
      // every message of a window knows it is part of a complete result
      for (const e of events) expect(e.batch?.complete).toBe(true);
      total += ids.length;
    }
    expect(total).toBeGreaterThan(20_000);
    // the post-consent calls were attended (the user had just consented): no unattended call was spent
    const counters = await stack.sandbox.admin<{ per_connection: Record<string, { calls: { attended: number; unattended: number } }> }>('GET', '/counters');
    expect(counters.per_connection[heavy.credentialsId]!.calls.unattended).toBe(0);
    expect(done['status']).toBe('active');
  });

  it('a background refresh runs as async tasks completed by webhooks through the gateway', async () => {
    const before = stack.raw.events.length;
    await stack.fetcherDb.collection('fetch_connections').updateOne({ _id: heavy.connectionId as never }, { $set: { nextDueAt: new Date() } });
    const tasks = stack.fetcherDb.collection('fetch_tasks');
    const finished = await waitFor(
      'the refresh tasks',
      async () => {
        const all = await tasks.find({ connectionId: heavy.connectionId }).toArray();
        return all.length > 0 && all.every((t) => t['status'] === 'done') ? all : undefined;
      },
      60_000,
    );
    expect(finished.every((t) => t['via'] === 'webhook')).toBe(true);
    const webhooks = await stack.sandbox.admin<{ task_id: string; outcome: string; body: Record<string, unknown> }[]>('GET', '/webhooks');
    expect(webhooks.filter((w) => w.outcome === 'delivered').length).toBeGreaterThanOrEqual(finished.length);
    // one trace per webhook: the gateway's webhook request → Kafka → data-fetcher reading the results → raw event
    const read = await stack.fetcherDb.collection('fetch_journal').findOne({ connectionId: heavy.connectionId, endpoint: 'GET /data/v1/results/{task_id}', traceId: { $ne: '' } });
    const webhookTrace = await traceOf(String(read!['traceId']), (s) => servicesIn(s).has('auth-gateway') && names(s).some((n) => n.startsWith('data-fetcher:PRODUCER')));
    // data-fetcher asks token-vault for the token inside the same trace
    expect(servicesIn(webhookTrace)).toEqual(new Set(['auth-gateway', 'data-fetcher', 'token-vault']));
    expect(names(webhookTrace)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^auth-gateway:SERVER:post/i),
        expect.stringMatching(/^auth-gateway:PRODUCER:/),
        expect.stringMatching(/^data-fetcher:CONSUMER:.*process/),
        'data-fetcher::fetch.task_results',
        expect.stringMatching(/^data-fetcher:CLIENT:truelayer get \/data\/v1\/results/i),
        expect.stringMatching(/^data-fetcher:PRODUCER:/),
      ]),
    );
    const scheduled = stack.raw.events.slice(before).filter((e) => e.mode === eventsV1.FetchMode.FETCH_MODE_SCHEDULED);
    expect(scheduled.some((e) => e.payload?.$case === 'transactions')).toBe(true);
    expect(scheduled.some((e) => e.payload?.$case === 'balance')).toBe(true);
    // the unattended calls were counted: one per account × endpoint
    const r = await report(heavy.connectionId);
    const budget = r['budget'] as { endpoint: string; used: number; left: number }[];
    expect(budget.length).toBeGreaterThan(0);
    for (const line of budget) expect(line.used + line.left).toBe(4);

    // a replayed webhook (same body again) is refused and changes nothing
    const delivered = webhooks.find((w) => w.outcome === 'delivered')!;
    const replay = await fetch(`${stack.base}/v1/webhooks/truelayer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(delivered.body) });
    expect(replay.status).toBe(409);
    // a forged one (unknown task) too
    const forged = await fetch(`${stack.base}/v1/webhooks/truelayer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...delivered.body, task_id: '00000000-0000-4000-8000-000000000000' }),
    });
    expect(forged.status).toBe(404);
  });

  it('when webhooks are lost, polling completes the tasks', async () => {
    await stack.sandbox.admin('PATCH', '/switches', { dropWebhooks: true });
    try {
      const small = await connectMockUser({ gatewayUrl: stack.base, apiKey: stack.apiKey, simulatorUrl: stack.sandbox.url, userId: 'user-small', username: 'small', password: 'small' });
      await waitFor('the small user\'s post-consent fetch', async () => ((await report(small.connectionId).catch(() => undefined))?.['backfill'] === 'done' ? true : undefined), 60_000);
      await stack.fetcherDb.collection('fetch_connections').updateOne({ _id: small.connectionId as never }, { $set: { nextDueAt: new Date() } });
      const tasks = stack.fetcherDb.collection('fetch_tasks');
      const finished = await waitFor(
        'the polled tasks',
        async () => {
          const all = await tasks.find({ connectionId: small.connectionId }).toArray();
          return all.length > 0 && all.every((t) => t['status'] === 'done') ? all : undefined;
        },
        60_000,
      );
      expect(finished.every((t) => t['via'] === 'poll')).toBe(true);
    } finally {
      await stack.sandbox.admin('PATCH', '/switches', { dropWebhooks: false });
    }
  });

  it('a user refresh is SYNC with the user\'s IP, spends no unattended call, and is coalesced', async () => {
    const countersOf = async () =>
      (await stack.sandbox.admin<{ per_connection: Record<string, { calls: { attended: number; unattended: number } }> }>('GET', '/counters')).per_connection[heavy.credentialsId]!.calls;
    const before = await countersOf();
    const path = `/v1/users/user-heavy/connections/${encodeURIComponent(heavy.connectionId)}/refresh`;
    const missing = await stack.api('POST', path);
    expect(missing.status).toBe(400);
    const [a, b] = await Promise.all([stack.api('POST', path, undefined, { 'x-psu-ip': '203.0.113.7' }), stack.api('POST', path, { user_ip: '203.0.113.7' })]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.json['fetch_id']).toBe(b.json['fetch_id']);
    expect([a.json['coalesced'], b.json['coalesced']].filter(Boolean)).toHaveLength(1);
    const items = a.json['items'] as { kind: string; outcome: string }[];
    expect(items.some((i) => i.kind === 'transactions' && i.outcome === 'ok')).toBe(true);
    const after = await countersOf();
    expect(after.unattended).toBe(before.unattended);
    expect(after.attended).toBeGreaterThan(before.attended);
    expect(stack.raw.events.some((e) => e.fetchId === a.json['fetch_id'] && e.mode === eventsV1.FetchMode.FETCH_MODE_USER)).toBe(true);
    // one trace: the product's request → gateway → gRPC → data-fetcher → TrueLayer calls, each with the circuit state
    const call = await stack.fetcherDb.collection('fetch_journal').findOne({ connectionId: heavy.connectionId, mode: 'user', traceId: { $ne: '' } }, { sort: { at: -1 } });
    const spans = await traceOf(String(call!['traceId']), (s) => names(s).some((n) => n === 'data-fetcher::fetch.user') && servicesIn(s).has('auth-gateway'));
    expect(names(spans)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^auth-gateway:SERVER:post/i), expect.stringMatching(/^auth-gateway:CLIENT:.*RefreshConnection/i), expect.stringMatching(/^data-fetcher:SERVER:.*RefreshConnection/i), 'data-fetcher::fetch.user', 'data-fetcher::fetch.unit']),
    );
    const unit = spans.find((x) => x.name === 'fetch.unit')!;
    expect(unit.tags).toMatchObject({ 'ais.fetch.mode': 'user', 'ais.fetch.attended': 'true', 'ais.circuit.state': 'closed' });
  });

  it('the support report shows errors with TrueLayer\'s correlation ids, as JSON and as a page', async () => {
    // TrueLayer answers an identical GET from its cache for an hour; turn that off so the call reaches the fault
    await stack.sandbox.admin('PATCH', '/switches', { cacheTtlSeconds: 0 });
    await stack.sandbox.admin('POST', '/faults', { endpoint: 'account.balance', error: 'provider_error', count: 1 });
    const res = await stack.api('POST', `/v1/users/user-heavy/connections/${encodeURIComponent(heavy.connectionId)}/refresh`, { user_ip: '203.0.113.7' });
    expect(res.status).toBe(200);
    const r = await report(heavy.connectionId);
    const errors = r['errors'] as { error_code: string; correlation_id: string; action: string }[];
    const err = errors.find((e) => e.error_code === 'provider_error');
    expect(err).toBeDefined();
    expect(err!.correlation_id).toMatch(/\S{8,}/);
    expect(err!.action).toBe('retry');
    const page = await fetch(`${stack.admin}/admin/connections/${encodeURIComponent(heavy.connectionId)}/support-report?format=html`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(err!.correlation_id);
    expect(html).toContain('provider_error');
  });

  it('work that failed for good is dead-lettered with the reason, and the operator command replays it', async () => {
    const path = `/v1/users/user-heavy/connections/${encodeURIComponent(heavy.connectionId)}/refresh`;
    await stack.sandbox.admin('POST', '/faults', { endpoint: 'account.transactions.pending', error: 'account_not_found', count: 1 });
    const res = await stack.api('POST', path, { user_ip: '203.0.113.7' });
    expect(res.status).toBe(200);
    const failed = (res.json['items'] as { kind: string; account_id: string; outcome: string; error_code: string }[]).find((i) => i.outcome === 'failed');
    expect(failed).toMatchObject({ kind: 'pending_transactions', error_code: 'account_not_found' });
    const dlq = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--require', 'tsx/cjs', 'tools/scripts/replay-dead-letters.ts', '--prefix', stack.prefix, '--code', 'account_not_found', ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, KAFKA_BROKERS: process.env['KAFKA_BROKERS'] },
        timeout: 60_000,
      });
    const listed = await waitFor('the dead letter', async () => {
      const out = (await dlq()).stdout;
      return out.includes('code=account_not_found') ? out : undefined;
    }, 30_000, 1_000);
    expect(listed).toMatch(/ais\.fetch\.v1 event=\S+ code=account_not_found reason="failed: account_not_found"/);
    const before = stack.raw.events.length;
    const replayed = (await dlq('--replay')).stdout;
    expect(replayed).toMatch(/1 replayed/);
    // data-fetcher reads the replayed fetch_requested and runs the unit again: the pending transactions arrive
    const event = await waitFor(
      'the replayed unit\'s data',
      async () => stack.raw.events.slice(before).find((e) => e.payload?.$case === 'pendingTransactions' && e.accountId === failed!.account_id),
      30_000,
    );
    expect(event.connectionId).toBe(heavy.connectionId);
  });
});
