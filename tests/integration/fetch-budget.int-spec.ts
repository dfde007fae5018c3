/**
 * The unattended budget under load, on a fast clock: three data-fetcher instances, many connections, three
 * simulated days in a few real minutes (the simulator and every data-fetcher run the same scaled clock, so they
 * agree on the time without talking). Proves invariant 3:
 * - the simulator (the bank's side) never answers `provider_request_limit_exceeded` to an unattended call;
 * - no account × endpoint gets more than 4 unattended calls in any rolling 24 h (from data-fetcher's journal);
 * - every account is refreshed as often as the budget allows: from its first background refresh on, one per
 *   interval, the interval being (24 h + 15 min margin) / 4 (the measured rates are printed);
 * - the instances shared the work (leases) and never fetched one connection twice at once.
 */
import { scaledClockSpec } from '@ais/platform-config';
import { connectMockUser } from '@ais/testing';
import { startFetchStack, waitFor, type FetchStack } from './fetch-harness';

jest.setTimeout(600_000);

const RATE = 2880; // one simulated day per 30 real seconds
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
    for (const account of accounts) {
      const t = times.get(account) ?? [];
      expect(t.length).toBeGreaterThan(0);
      // from its first background refresh to the end of the run, an account gets one refresh per interval (at most
      // one fewer: scheduling latency, which the fast clock magnifies 2880 times, can push the last one past the end)
      expect(t.length).toBeGreaterThanOrEqual(Math.floor((endedAt - Math.min(...t)) / INTERVAL));
      rates.push(t.length / elapsedDays);
    }
    // the instances shared the work
    const instances = await stack.fetcherDb.collection('call_budget').distinct('instance');
    expect(instances.length).toBeGreaterThanOrEqual(2);
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    process.stdout.write(
      `fetch-budget: ${accounts.length} accounts/cards on ${CONNECTIONS} connections, ${elapsedDays.toFixed(2)} simulated days, ` +
        `${scheduledTxn.length} scheduled transaction refreshes: mean ${mean.toFixed(2)} per account per day over the run incl. the first wait (min ${Math.min(...rates).toFixed(2)}, max ${Math.max(...rates).toFixed(2)}), ` +
        `steady state ${Math.min(...steady).toFixed(2)}–${Math.max(...steady).toFixed(2)} per day (budget allows ${(DAY / INTERVAL).toFixed(2)}), ` +
        `${unattended.length} unattended calls, 0 refused; instances used: ${instances.length}\n`,
    );
  });
});
