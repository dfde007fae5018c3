/**
 * data-fetcher under a misbehaving bank: about 10% of TrueLayer calls fail (5xx, timeouts, 429 with Retry-After),
 * on the real stack. Every transaction of the post-consent fetch still arrives exactly once (count and checksum
 * equal the simulator's ledger per account), a background refresh still completes every task, nothing is
 * dead-lettered, and the journal shows the faults that were met and retried.
 */
import { eventsV1 } from '@ais/contracts-proto-ts';
import { connectMockUser } from '@ais/testing';
import { createHash } from 'node:crypto';
import { startFetchStack, waitFor, type FetchStack } from './fetch-harness';

jest.setTimeout(420_000);

const checksum = (ids: string[]): string => createHash('sha256').update([...ids].sort().join('\n')).digest('hex');
const day = (d: Date | undefined): string => (d ? d.toISOString().slice(0, 10) : '');

describe('data-fetcher with 10% injected faults', () => {
  let stack: FetchStack;

  beforeAll(async () => {
    stack = await startFetchStack({
      fetcherEnv: {
        // a hung call is given up after 1 s; retries start small (the policy is the same, only faster)
        TRUELAYER_TIMEOUT_MS: '1000',
        RETRY_BASE_DELAY_MS: '50',
        RETRY_MAX_ATTEMPTS: '8',
        TASK_POLL_AFTER_MS: '10000',
        TASK_POLL_INTERVAL_MS: '500',
        // a task the bank never finishes (an injected hang) is started anew after 5 s
        TASK_MAX_AGE_MS: '5000',
        // 3-month windows: about 3x the SYNC reads of the 12-month default, so that each injected kind is met
        // (with the default a run once met no hung SYNC read, only hung tasks)
        BACKFILL_WINDOW_MONTHS: '3',
      },
    });
    await stack.sandbox.admin('PATCH', '/switches', { cacheTtlSeconds: 0 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('delivers every transaction once, completes a background refresh, dead-letters nothing', async () => {
    const users = [
      await connectMockUser({ gatewayUrl: stack.base, apiKey: stack.apiKey, simulatorUrl: stack.sandbox.url, userId: 'f-john', username: 'john7', password: 'doe7' }),
      await connectMockUser({ gatewayUrl: stack.base, apiKey: stack.apiKey, simulatorUrl: stack.sandbox.url, userId: 'f-heavy', username: 'heavy', password: 'heavy' }),
    ];
    // The faults start once both users are connected: they are the bank's (Data API), not the auth server's (a code
    // exchange is single-use and never retried, by design).
    for (const rule of [
      { error: 'provider_error', rate: 0.04 },
      { timeout: true, rate: 0.03 },
      { error: 'provider_too_many_requests', rate: 0.03, retryAfterSeconds: 1 },
    ]) {
      await stack.sandbox.admin('POST', '/faults', { endpoint: '*', ...rule });
    }
    const connections = stack.fetcherDb.collection('fetch_connections');
    await waitFor('both post-consent fetches', async () => ((await connections.countDocuments({ backfill: 'done' })) === users.length ? true : undefined), 300_000, 1_000);

    let total = 0;
    for (const u of users) {
      const spans = await stack.sandbox.admin<{ accounts: { account_id: string }[]; cards: { card_id: string }[] }>('GET', `/ledger/accounts?credentials_id=${encodeURIComponent(u.credentialsId)}`);
      for (const id of [...spans.accounts.map((a) => a.account_id), ...spans.cards.map((c) => c.card_id)]) {
        const events = stack.raw.events.filter((e) => e.connectionId === u.connectionId && e.accountId === id && e.mode === eventsV1.FetchMode.FETCH_MODE_BACKFILL && e.payload?.$case === 'transactions');
        const ids = events.flatMap((e) => (e.payload?.$case === 'transactions' ? e.payload.transactions.transactions.map((t) => t.normalisedProviderTransactionId) : []));
        const from = events.map((e) => day(e.window?.from)).sort()[0]!;
        const to = events.map((e) => day(e.window?.to)).sort().at(-1)!;
        const ledger = await stack.sandbox.admin<{ count: number; checksum: string }>('GET', `/ledger?credentials_id=${encodeURIComponent(u.credentialsId)}&account_id=${encodeURIComponent(id)}&from=${from}&to=${to}`);
        expect(new Set(ids).size).toBe(ids.length);
        expect({ id, count: ids.length, checksum: checksum(ids) }).toEqual({ id, count: ledger.count, checksum: ledger.checksum });
        expect(stack.raw.events.some((e) => e.connectionId === u.connectionId && e.accountId === id && e.payload?.$case === 'balance')).toBe(true);
        total += ids.length;
      }
    }
    expect(total).toBeGreaterThan(20_000);

    // a background refresh under the same faults: every unit ends with a finished task (a task that failed at the
    // bank or hung was replaced by a new one)
    await connections.updateMany({}, { $set: { nextDueAt: new Date() } });
    const tasks = stack.fetcherDb.collection('fetch_tasks');
    const all = await waitFor(
      'every refresh task',
      async () => {
        const docs = await tasks.find({}).toArray();
        const settled = docs.every((t) => t['status'] === 'done' || (t['status'] === 'failed' && t['replacedBy']));
        return docs.length > 0 && settled && (await connections.countDocuments({ refreshes: { $gte: 1 } })) === users.length ? docs : undefined;
      },
      120_000,
      500,
    );
    const replaced = all.filter((t) => t['replacedBy']).length;

    // the faults happened, were retried, and nothing was given up
    const journal = stack.fetcherDb.collection('fetch_journal');
    const met = await journal.distinct('errorCode', { errorCode: { $ne: '' } });
    expect(met).toEqual(expect.arrayContaining(['provider_error', 'provider_too_many_requests', 'request_timeout']));
    const calls = await journal.countDocuments({});
    const failures = await journal.countDocuments({ errorCode: { $ne: '' } });
    expect(await journal.countDocuments({ errorCode: { $ne: '' }, action: { $ne: 'retry' } })).toBe(0);
    process.stdout.write(`fetch-faults: ${calls} TrueLayer calls, ${failures} failed (${((100 * failures) / calls).toFixed(1)}%: ${met.join(', ')}), ${total} backfilled transactions exactly once; ${all.length} refresh tasks, ${replaced} replaced after a bank failure or hang\n`);
    expect(stack.raw.deadLetters.map((d) => `${d.errorCode}: ${d.errorMessage}`)).toEqual([]);
  });
});
