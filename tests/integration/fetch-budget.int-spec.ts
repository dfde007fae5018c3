/**
 * The unattended budget under load, on a fast clock: three data-fetcher instances, many connections, three
 * simulated days in a few real minutes (the simulator and every data-fetcher run the same scaled clock, so they
 * agree on the time without talking). Proves invariant 3:
 * - the simulator (the bank's side) never answers `provider_request_limit_exceeded` to an unattended call;
 * - no account × endpoint gets more than 4 unattended calls in any rolling 24 h (from data-fetcher's journal);
 * - every account is refreshed as often as the budget allows: from its first background refresh on, about one per
 *   interval ((24 h + 15 min margin) / 4), and any five consecutive refreshes span at most the window + 15%
 *   (the measured rates are printed);
 * - the instances shared the work (leases) and never fetched one connection twice at once;
 * - the instances' metrics account for every ledger decision, and show the budget used up: the calls left at each
 *   decision (`ais_fetch_unattended_budget_left`) are mostly 0 once refreshes run as often as the budget allows.
 */
import { scaledClockSpec } from '@ais/platform-config';
import { connectMockUser, scrapeMetrics } from '@ais/testing';
import { startFetchStack, waitFor, type FetchStack } from './fetch-harness';

jest.setTimeout(600_000);

const RATE = 1440; // one simulated day per real minute
const DAY = 86_400_000;
const HOUR = 3_600_000;
const CONNECTIONS = Number(process.env['FETCH_BUDGET_CONNECTIONS'] ?? 8);
const DAYS = 3;
const INTERVAL = Math.ceil((24 * HOUR + 15 * 60_000) / 4);

interface JournalRow {
  connectionId: string;
  at: Date;
  endpoint: string;
  accountId: string;
  httpStatus: number;
  errorCode: string;
  attended: boolean;
  mode: string;
}

describe('unattended budget: 3 data-fetcher instances, fast clock, 3 simulated days', () => {
  let stack: FetchStack;
  const clock = scaledClockSpec(Date.now(), RATE);
  const simNow = (): number => Number(clock.split(':')[2]) + (Date.now() - Number(clock.split(':')[1])) * RATE;

  beforeAll(async () => {
    stack = await startFetchStack({
      fetchers: 3,
      sandboxEnv: { SANDBOX_CLOCK: clock },
      fetcherEnv: {
        CLOCK: clock,
        BACKFILL_MAX_MONTHS: '3',
        // the post-consent window in simulated time; the simulator's SCA window is set to match below
        POST_CONSENT_WINDOW_MS: String(6 * HOUR),
        TASK_POLL_AFTER_MS: String(2 * HOUR),
        TASK_POLL_INTERVAL_MS: String(30 * 60_000),
        TASK_CLAIM_MS: String(2 * HOUR),
        SCHEDULER_TICK_MS: '100',
        SCHEDULER_CONCURRENCY: '4',
        RETRY_BASE_DELAY_MS: '20',
      },
      // token-vault stamps the consent time (authenticated_at) on the same clock
      tokenVaultEnv: { CLOCK: clock },
    });
    // Tokens, codes and async results outlive the run: a token refresh every 1.25 real seconds per connection, or a
    // code that lapses between the redirect and the exchange, would test the machine's speed, not the budget.
    await stack.sandbox.admin('PATCH', '/switches', { accessTokenTtlSeconds: 30 * 86_400, authCodeTtlSeconds: 86_400, scaWindowSeconds: 6 * 3600, cacheTtlSeconds: 0, asyncResultTtlSeconds: 86_400 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('never overruns the bank, and refreshes every account as often as the budget allows', async () => {
    const users: { connectionId: string; credentialsId: string }[] = [];
    for (let i = 1; i <= CONNECTIONS; i += 1) {
      users.push(await connectMockUser({ gatewayUrl: stack.base, apiKey: stack.apiKey, simulatorUrl: stack.sandbox.url, userId: `user-${i}`, username: `john${i}`, password: `doe${i}` }));
    }
    const connectedAt = simNow();
    const connections = stack.fetcherDb.collection('fetch_connections');
    await waitFor('every post-consent fetch', async () => ((await connections.countDocuments({ backfill: { $in: ['done', 'partial'] } })) === CONNECTIONS ? true : undefined), 120_000);
    const until = connectedAt + DAYS * DAY;
    await waitFor('three simulated days', async () => (simNow() >= until ? true : undefined), (DAYS * DAY) / RATE + 60_000, 1_000);
    const endedAt = simNow();

    // the bank's side: no unattended call was ever refused, none over 4 in any rolling 24 h
    const counters = await stack.sandbox.admin<{ per_connection: Record<string, { calls: { attended: number; unattended: number; rejected: number } }> }>('GET', '/counters');
    for (const u of users) expect(counters.per_connection[u.credentialsId]?.calls.rejected ?? -1).toBe(0);
    const journal = (await stack.fetcherDb.collection('fetch_journal').find({}).toArray()) as unknown as JournalRow[];
    expect(journal.filter((j) => j.errorCode === 'provider_request_limit_exceeded')).toEqual([]);
    // calls that reached the bank without the user (reading an async task's results does not)
    const unattended = journal.filter((j) => !j.attended && j.httpStatus > 0 && j.mode !== 'user' && !j.endpoint.startsWith('GET /data/v1/results/'));
    const byKey = new Map<string, number[]>();
    for (const j of unattended) {
      const key = `${j.connectionId}|${j.accountId}|${j.endpoint}`;
      byKey.set(key, [...(byKey.get(key) ?? []), j.at.getTime()]);
    }
    for (const [key, times] of byKey) {
      times.sort((a, b) => a - b);
      for (let i = 4; i < times.length; i += 1) {
        if (times[i]! - times[i - 4]! < DAY) throw new Error(`${key}: 5 unattended calls within 24 h (${new Date(times[i - 4]!).toISOString()} … ${new Date(times[i]!).toISOString()})`);
      }
    }

    // every account refreshed as often as the budget allows
    const scheduledTxn = unattended.filter((j) => j.mode === 'scheduled' && j.endpoint.endsWith('/transactions') && j.httpStatus === 202);
    const perAccount = new Map<string, number>();
    const times = new Map<string, number[]>();
    for (const j of scheduledTxn) {
      const k = `${j.connectionId}|${j.accountId}`;
      perAccount.set(k, (perAccount.get(k) ?? 0) + 1);
      times.set(k, [...(times.get(k) ?? []), j.at.getTime()]);
    }
    // steady state: refreshes per day between an account's first and last background refresh
    const steady = [...times.values()].filter((t) => t.length > 1).map((t) => ((t.length - 1) * DAY) / (Math.max(...t) - Math.min(...t)));
    const docs = await connections.find({}).toArray();
    const accounts = docs.flatMap((d) => Object.values((d['resources'] ?? {}) as Record<string, { id: string }>).map((r) => `${String(d['_id'])}|${r.id}`));
    expect(accounts.length).toBeGreaterThanOrEqual(CONNECTIONS);
    const elapsedDays = (endedAt - connectedAt) / DAY;
    const rates: number[] = [];
    const spans: number[] = [];
    for (const account of accounts) {
      const t = [...(times.get(account) ?? [])].sort((a, b) => a - b);
      expect(t.length).toBeGreaterThan(0);
      // From its first background refresh on, about one refresh per interval. Scheduling latency, which the fast
      // clock magnifies 1440 times (100 real ms = 2.4 simulated minutes), may cost one or two by the end of the run.
      expect(t.length).toBeGreaterThanOrEqual(Math.floor((endedAt - t[0]!) / INTERVAL) - 1);
      // The budget is used as fully as it allows: any five consecutive refreshes span the budget window (never
      // less, see above) plus at most 15% (the latency again).
      for (let i = 0; i + 4 < t.length; i += 1) spans.push(t[i + 4]! - t[i]!);
      rates.push(t.length / elapsedDays);
    }
    const window = 24 * HOUR + 15 * 60_000;
    spans.sort((a, b) => a - b);
    const pct = (p: number): string => (spans[Math.min(spans.length - 1, Math.floor(p * spans.length))]! / HOUR).toFixed(2);
    process.stdout.write(`fetch-budget: spans of 5 consecutive refreshes p50 ${pct(0.5)} h, p90 ${pct(0.9)} h, max ${pct(1)} h\n`);
    expect(spans.at(-1)!).toBeLessThanOrEqual(window * 1.15);
    // the instances shared the work
    const instances = await stack.fetcherDb.collection('call_budget').distinct('instance');
    expect(instances.length).toBeGreaterThanOrEqual(2);
    // every ledger decision is in the instances' metrics, and the calls left at each one show the budget used up
    const samples = (await Promise.all(stack.fetchers.map(async (f) => (await scrapeMetrics(Number(f.ready['metricsPort']))).samples))).flat();
    const total = (name: string, labels: Record<string, string> = {}) =>
      samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((n, x) => n + x.value, 0);
    const decisions = total('ais_fetch_unattended_calls_total');
    const granted = total('ais_fetch_unattended_calls_total', { outcome: 'granted' });
    expect(granted).toBeGreaterThanOrEqual(scheduledTxn.length);
    expect(total('ais_fetch_unattended_budget_left_count')).toBe(decisions);
    expect(total('ais_fetch_unattended_budget_left_bucket', { le: '3' })).toBe(decisions); // never more than 3 left after a call
    const spent = total('ais_fetch_unattended_budget_left_bucket', { le: '0' });
    process.stdout.write(`fetch-budget: ${decisions} ledger decisions (${granted} granted); ${spent} left the window with no call to spare\n`);
    expect(spent / decisions).toBeGreaterThan(0.5);
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    process.stdout.write(
      `fetch-budget: ${accounts.length} accounts/cards on ${CONNECTIONS} connections, ${elapsedDays.toFixed(2)} simulated days, ` +
        `${scheduledTxn.length} scheduled transaction refreshes: mean ${mean.toFixed(2)} per account per day over the run incl. the first wait (min ${Math.min(...rates).toFixed(2)}, max ${Math.max(...rates).toFixed(2)}), ` +
        `steady state ${Math.min(...steady).toFixed(2)}–${Math.max(...steady).toFixed(2)} per day (budget allows ${(DAY / INTERVAL).toFixed(2)}), ` +
        `5 consecutive refreshes span ${(Math.min(...spans) / HOUR).toFixed(2)}–${(Math.max(...spans) / HOUR).toFixed(2)} h (window ${(window / HOUR).toFixed(2)} h), ` +
        `${unattended.length} unattended calls, 0 refused; instances used: ${instances.length}\n`,
    );
  });
});
