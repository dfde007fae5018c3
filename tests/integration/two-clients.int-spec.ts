/**
 * Two API clients of one deployment that use the same user id for two people of theirs (an e-mail address, a small
 * integer), who connect the same bank: two users, end to end (simulator → data-fetcher → enrichment → reconciliation
 * → the gateway's read API). Each client reads its own user's three accounts and whole history, whichever connected
 * first; and one client's erasure of its user leaves the other client's user as it was.
 *
 * Before reconciliation kept them apart, the second client's account listing was matched to the first client's
 * accounts and moved them over, while the transactions stayed the first client's: the first client then read no
 * accounts and the second no transactions (the main job's second start after a stack restart ran into it).
 */
import { connectMockUser } from '@ais/testing';
// the store's user state, read as the harness reads it to know that the pipeline has settled
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ReconciliationStore } from '../../apps/reconciliation/src/data/store';
import { readApi, startFetchStack, waitFor, waitForBackfill, waitForStoreSettled, type FetchStack } from './fetch-harness';

jest.setTimeout(600_000);

type Json = Record<string, unknown>;
const USER = 'ann@example.com';

describe('one user id under two API clients, end to end', () => {
  let s: FetchStack;
  let store: ReconciliationStore;
  let keyB = '';

  beforeAll(async () => {
    s = await startFetchStack({ pipeline: true });
    store = new ReconciliationStore(s.reconDb!);
    const created = await fetch(`${s.admin}/admin/api-clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `second-${s.ns}`, allowed_return_urls: ['https://app.example.test/done'] }),
    });
    expect(created.status).toBe(201);
    keyB = ((await created.json()) as { api_key: string }).api_key;
  }, 180_000);

  afterAll(async () => {
    await s?.stop();
  });

  /** The read API with client B's key. */
  const apiB: FetchStack['api'] = async (method, path, body) => {
    const res = await fetch(`${s.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${keyB}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  };
  const A = readApi({ api: (...a) => s.api(...a) }, USER);
  const B = readApi({ api: apiB }, USER);
  const user = encodeURIComponent(USER);

  /** Connects USER of the client with `apiKey` to the simulator's john, and waits until the history is stored and published. */
  const connect = async (apiKey: string): Promise<string> => {
    const conn = await connectMockUser({ gatewayUrl: s.base, apiKey, simulatorUrl: s.sandbox.url, userId: USER, username: 'john', password: 'doe' });
    await waitForBackfill(s, conn.connectionId, 180_000);
    await waitForStoreSettled(store, USER, () => s.raw.events.length, 'the pipeline after the backfill', 180_000);
    return conn.connectionId;
  };
  const ids = (rows: Json[], field: string): string[] => rows.map((r) => String(r[field])).sort();

  it('each client reads its own user\'s accounts and whole history, and one client\'s erasure leaves the other\'s user as it was', async () => {
    await connect(s.apiKey);
    const accountsA = (await A.get(`/v1/users/${user}/accounts`))['accounts'] as Json[];
    const bookedA = await A.allTransactions('&status=booked');
    expect(accountsA).toHaveLength(3); // current, savings, credit card
    expect(bookedA.length).toBeGreaterThan(100);

    const connectionB = await connect(keyB);
    const accountsB = (await B.get(`/v1/users/${user}/accounts`))['accounts'] as Json[];
    const bookedB = await B.allTransactions('&status=booked');
    // B's user: three accounts of its own, and the bank's whole history under them
    expect(accountsB).toHaveLength(3);
    expect(ids(accountsB, 'account_id').filter((id) => ids(accountsA, 'account_id').includes(id))).toEqual([]);
    expect(new Set(bookedB.map((t) => String(t['account_id'])))).toEqual(new Set(ids(accountsB, 'account_id')));
    const stableB = new Set(bookedB.map((t) => String(t['normalised_provider_transaction_id'])));
    expect(stableB.size).toBe(bookedB.length); // nothing twice
    for (const t of bookedA) expect(stableB).toContain(String(t['normalised_provider_transaction_id']));
    // the simulator's history moves with the clock: a row may have appeared between the two backfills
    expect(bookedB.length - bookedA.length).toBeLessThanOrEqual(5);
    // A's user kept its accounts and every row, on them
    expect(ids((await A.get(`/v1/users/${user}/accounts`))['accounts'] as Json[], 'account_id')).toEqual(ids(accountsA, 'account_id'));
    const bookedAAfter = await A.allTransactions('&status=booked');
    expect(ids(bookedAAfter, 'transaction_id')).toEqual(expect.arrayContaining(ids(bookedA, 'transaction_id')));
    expect(new Set(bookedAAfter.map((t) => String(t['account_id'])))).toEqual(new Set(ids(accountsA, 'account_id')));
    // each client's recurring payments are on its own accounts
    for (const [read, accounts] of [[A, accountsA], [B, accountsB]] as const) {
      const series = (await read.get(`/v1/users/${user}/recurring`))['series'] as Json[];
      expect(series.length).toBeGreaterThan(0);
      for (const x of series) expect(ids(accounts, 'account_id')).toContain(String(x['account_id']));
    }

    // A erases its user: gone for A, everywhere; B's user of the same id keeps its connection and its data
    const del = await s.api('DELETE', `/v1/users/${user}`);
    expect(del.status).toBe(202);
    const erasureId = String(del.json['erasure_id']);
    const done = await waitFor(
      `erasure ${erasureId} completed`,
      async () => {
        const r = await s.api('GET', `/v1/users/${user}/erasures/${erasureId}`);
        return r.json['status'] === 'completed' ? r.json : undefined;
      },
      120_000,
      500,
    );
    expect((done['account_ids'] as string[]).sort()).toEqual(ids(accountsA, 'account_id'));
    expect((await s.api('GET', `/v1/users/${user}/accounts`)).status).toBe(404);
    expect(ids((await B.get(`/v1/users/${user}/accounts`))['accounts'] as Json[], 'account_id')).toEqual(ids(accountsB, 'account_id'));
    expect((await B.allTransactions('&status=booked')).length).toBeGreaterThanOrEqual(bookedB.length);
    expect(((await B.get(`/v1/users/${user}/connections`))['connections'] as Json[]).map((c) => c['connection_id'])).toEqual([connectionB]);
  });
});
