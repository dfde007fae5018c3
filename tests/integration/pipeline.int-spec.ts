/**
 * The whole data plane end to end on the real stack: TrueLayer simulator → data-fetcher → ais.raw.v1 → enrichment →
 * ais.enriched.v1 → reconciliation (MongoDB-wire store) → the gateway's read API and the ais.ledger.v1 change feed.
 *
 * The simulator runs with the switches that make re-consent hard: transaction ids re-randomised on every request
 * (only normalised_provider_transaction_id is stable) and account ids that change when a connection is
 * reauthenticated. The scenarios build on each other, in order:
 *   1. after consent, the store holds exactly the bank's booked history (count and ids against the simulator's
 *      ledger), enriched, with the recurring payments, the salary and the own-account transfers found;
 *   2. a re-consent (reauth: new account ids) followed by a refresh keeps every internal account id, duplicates
 *      nothing, and the change feed since the cursor taken before shows no added or removed transaction;
 *   3. a user edit (category override, notes) is applied through the user's partition owner and survives a sync;
 *   4. an override made a merchant rule re-enriches the stored history through enrichment and the user's partition:
 *      the change feed shows exactly that merchant's rows as modified, and a later sync keeps the rule.
 * Elsewhere: pending to booked end to end (pending-booked.int-spec.ts: the simulator's clock and
 * data-fetcher's must move together), and a raw replay into a fresh pipeline (proven at the enriched-event level by
 * apps/reconciliation/test/pipeline.int-spec.ts; end to end in tests/integration/replay.int-spec.ts).
 */
import { connectMockUser, reauthMockUser, type MockUserConnection } from '@ais/testing';
// the store's own canonical checksum and counters (invariant 6 is about that store), read as an operator would
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ReconciliationStore } from '../../apps/reconciliation/src/data/store';
import { readApi, startFetchStack, waitForBackfill, waitForStoreSettled, type FetchStack } from './fetch-harness';

jest.setTimeout(600_000);

type Json = Record<string, unknown>;
interface Ledger {
  count: number;
  checksum: string;
  ids: string[];
}

const USER = 'user-e2e';
const PSU_IP = '203.0.113.9';

describe('data plane end to end: fetch → enrich → reconcile → read API and change feed', () => {
  let s: FetchStack;
  let conn: MockUserConnection;
  let store: ReconciliationStore;
  let cursorBeforeReconsent = '';
  let accountsBefore: Json[] = [];

  beforeAll(async () => {
    s = await startFetchStack({ pipeline: true, reconciliationEnv: { CHANGEFEED_SWEEP_MS: '1000', CHANGEFEED_SWEEP_MIN_AGE_MS: '1000' } });
    await s.sandbox.admin('PATCH', '/switches', { transactionIdInstability: true, accountIdChangeOnReauth: true, cacheTtlSeconds: 0 });
    store = new ReconciliationStore(s.reconDb!);
  }, 180_000);

  afterAll(async () => {
    await s?.stop();
  });

  const { get, allTransactions, changesSince } = readApi({ api: (...a) => s.api(...a) }, USER);
  const settled = (what: string): Promise<void> => waitForStoreSettled(store, USER, () => s.raw.events.length, what, 180_000);
  const backfillDone = (): Promise<void> => waitForBackfill(s, conn.connectionId, 180_000);
  /** The simulator's booked ids (normalised) of every account and card, over the span the fetcher read. */
  const bankBooked = async (): Promise<Set<string>> => {
    const listed = await s.sandbox.admin<{ accounts: { account_id: string }[]; cards: { card_id: string }[] }>('GET', `/ledger/accounts?credentials_id=${encodeURIComponent(conn.credentialsId)}`);
    const ids = new Set<string>();
    const windows = s.raw.events.filter((e) => e.userId === USER && e.payload?.$case === 'transactions' && e.window);
    const from = windows.map((e) => e.window!.from!.toISOString().slice(0, 10)).sort()[0]!;
    const to = windows.map((e) => e.window!.to!.toISOString().slice(0, 10)).sort().at(-1)!;
    for (const a of listed.accounts) for (const id of (await s.sandbox.admin<Ledger>('GET', `/ledger?credentials_id=${encodeURIComponent(conn.credentialsId)}&account_id=${a.account_id}&from=${from}&to=${to}`)).ids) ids.add(id);
    for (const c of listed.cards) for (const id of (await s.sandbox.admin<Ledger>('GET', `/ledger?credentials_id=${encodeURIComponent(conn.credentialsId)}&card_id=${c.card_id}&from=${from}&to=${to}`)).ids) ids.add(id);
    return ids;
  };

  it('1. after consent the store holds exactly the bank\'s booked history, enriched, with recurring payments, salary and own transfers', async () => {
    conn = await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId: USER, username: 'john', password: 'doe' });
    await backfillDone();
    await settled('the pipeline after the backfill');

    const booked = await allTransactions('&status=booked');
    const bank = await bankBooked();
    const stable = booked.map((t) => String(t['normalised_provider_transaction_id']));
    expect(new Set(stable).size).toBe(stable.length); // nothing twice
    expect(new Set(stable)).toEqual(bank); // nothing missing, nothing extra
    // every row enriched, on the PFC taxonomy
    for (const t of booked) expect((t['category'] as Json)['primary']).toMatch(/^[A-Z_]+$/);

    const accounts = (await get(`/v1/users/${USER}/accounts`))['accounts'] as Json[];
    expect(accounts.length).toBe(3); // current, savings, credit card
    for (const a of accounts) expect(a['latest_balance']).toBeDefined();
    accountsBefore = accounts;

    // salary as income, standing orders as monthly outflows
    const series = (await get(`/v1/users/${USER}/recurring`))['series'] as Json[];
    const salary = series.find((x) => String(x['merchant_name']).toUpperCase().includes('ACME'));
    expect(salary).toMatchObject({ direction: 'inflow', cadence: 'monthly', primary_category: 'INCOME' });
    expect(series.some((x) => x['direction'] === 'outflow' && x['cadence'] === 'monthly' && String(x['merchant_name']).toUpperCase().includes('HOMELY'))).toBe(true);
    // the standing order to the user's own savings account is paired with its arrival there
    const out = booked.find((t) => String(t['description']).includes('JOHN DOE SAVINGS') && String(t['amount']).startsWith('-'));
    expect(out).toBeDefined();
    const pairId = String(out!['transfer_pair_id']);
    expect(pairId).not.toBe('');
    const other = booked.find((t) => t['transaction_id'] === pairId)!;
    expect(other['account_id']).not.toBe(out!['account_id']);
    expect(other['transfer_pair_id']).toBe(out!['transaction_id']);

    // the change feed from the start lists every live transaction once, as added
    const feed = await changesSince('');
    const ids = [...feed.added, ...feed.modified].map((t) => String(t['transaction_id']));
    expect(new Set(ids).size).toBe(ids.length);
    cursorBeforeReconsent = feed.cursor;
  });

  it('2. a re-consent that changes every TrueLayer id keeps the internal accounts and duplicates nothing', async () => {
    const countBefore = (await allTransactions()).length;
    const r = await reauthMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId: USER, connectionId: conn.connectionId, username: 'john', password: 'doe' });
    expect(r.outcome).toBe('reauth');
    const refreshed = await s.api('POST', `/v1/users/${USER}/connections/${conn.connectionId}/refresh`, undefined, { 'x-psu-ip': PSU_IP });
    expect(refreshed.status).toBe(200);
    await settled('the pipeline after the re-consent');

    const accounts = (await get(`/v1/users/${USER}/accounts`))['accounts'] as Json[];
    expect(accounts.map((a) => a['account_id']).sort()).toEqual(accountsBefore.map((a) => a['account_id']).sort());
    // TrueLayer's ids did change (the switch), so the match was by account number / card
    const listings = s.raw.events.filter((e) => e.userId === USER && e.payload?.$case === 'accounts');
    const idsOf = (e: (typeof listings)[number]) => (e.payload?.$case === 'accounts' ? e.payload.accounts.accounts.map((a) => a.accountId).sort() : []);
    expect(idsOf(listings.at(-1)!)).not.toEqual(idsOf(listings[0]!));

    expect((await allTransactions()).length).toBe(countBefore);
    const feed = await changesSince(cursorBeforeReconsent);
    expect(feed.added).toEqual([]);
    expect(feed.removed).toEqual([]);
    cursorBeforeReconsent = feed.cursor;
  });

  it('3. a user edit is applied through the partition owner and survives a later sync', async () => {
    const [t] = await allTransactions('&status=booked&q=HOMELY');
    expect(t).toBeDefined();
    const id = String(t!['transaction_id']);
    const patched = await s.api('PATCH', `/v1/users/${USER}/transactions/${id}`, { category_override: 'ENTERTAINMENT_OTHER_ENTERTAINMENT', notes: 'flat share' }, { 'idempotency-key': `edit-${id}` });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ applied: true, transaction: { transaction_id: id, category: { detailed: 'ENTERTAINMENT_OTHER_ENTERTAINMENT', source: 'user' }, user_edit: { notes: 'flat share' } } });

    const refreshed = await s.api('POST', `/v1/users/${USER}/connections/${conn.connectionId}/refresh`, undefined, { 'x-psu-ip': PSU_IP });
    expect(refreshed.status).toBe(200);
    await settled('the pipeline after the sync');
    const [after] = await allTransactions(`&status=booked&q=HOMELY`);
    const again = (await allTransactions('&status=booked')).find((x) => x['transaction_id'] === id)!;
    expect(after).toBeDefined();
    expect(again).toMatchObject({ category: { detailed: 'ENTERTAINMENT_OTHER_ENTERTAINMENT', source: 'user' }, user_edit: { notes: 'flat share' } });
    // the enrichment's own verdict is kept beside the override
    expect((again['enriched_category'] as Json)['source']).not.toBe('user');
  });

  it('4. "always categorise this merchant as ..." re-enriches the stored history: the feed shows exactly the rows that changed, and later syncs keep it', async () => {
    const start = (await changesSince(cursorBeforeReconsent)).cursor;
    const all = await allTransactions('&status=booked');
    // a merchant with several booked rows whose category is not yet the one the user wants, and no pending row: the
    // rule re-enriches pending rows too, and which merchant comes first depends on the run's ids (rows of the same
    // day are ordered by id), so a merchant with pending rows would make the expected feed depend on the run
    const pendingMerchants = new Set((await allTransactions('&status=pending')).map((t) => String(t['merchant_key'])));
    const TARGET = 'GENERAL_MERCHANDISE_SUPERSTORES';
    const byMerchant = new Map<string, Json[]>();
    for (const t of all) if (t['merchant_key']) byMerchant.set(String(t['merchant_key']), [...(byMerchant.get(String(t['merchant_key'])) ?? []), t]);
    const [key, rows] = [...byMerchant].find(([k, r]) => !pendingMerchants.has(k) && r.length >= 3 && r.every((t) => (t['category'] as Json)['detailed'] !== TARGET))!;
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const first = String(rows[0]!['transaction_id']);
    const patched = await s.api('PATCH', `/v1/users/${USER}/transactions/${first}`, { category_override: TARGET, apply_to_merchant: true }, { 'idempotency-key': `rule-${first}` });
    expect(patched.status).toBe(200);
    await settled('the pipeline after the re-enrichment');

    const after = (await allTransactions('&status=booked')).filter((t) => t['merchant_key'] === key);
    expect(after.map((t) => t['transaction_id']).sort()).toEqual(rows.map((t) => t['transaction_id']).sort());
    for (const t of after) {
      expect((t['category'] as Json)['detailed']).toBe(TARGET);
      // the rule is enrichment's verdict now, not only an override of the one edited row
      expect(t['enriched_category']).toMatchObject({ detailed: TARGET, source: 'user' });
    }
    // the feed: only this merchant's rows changed, each modified (not added or removed)
    const feed = await changesSince(start);
    expect(feed.added).toEqual([]);
    expect(feed.removed).toEqual([]);
    expect(new Set(feed.modified.map((t) => String(t['transaction_id'])))).toEqual(new Set(rows.map((t) => String(t['transaction_id']))));

    // a later sync enriches fetched rows with the rule: nothing of the merchant changes back
    const refreshed = await s.api('POST', `/v1/users/${USER}/connections/${conn.connectionId}/refresh`, undefined, { 'x-psu-ip': PSU_IP });
    expect(refreshed.status).toBe(200);
    await settled('the pipeline after the sync');
    for (const t of (await allTransactions('&status=booked')).filter((x) => x['merchant_key'] === key)) expect((t['category'] as Json)['detailed']).toBe(TARGET);
    const later = await changesSince(feed.cursor);
    expect(later.modified.filter((t) => t['merchant_key'] === key)).toEqual([]);
  });
});
