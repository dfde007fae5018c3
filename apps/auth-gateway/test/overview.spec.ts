/**
 * The connection overview: the API hands out a sealed, short-lived link for one user of the calling client; the page
 * shows that user's data only (the calls carry the link's client and user), refuses tampered (403) and expired (410)
 * links with a page, escapes the data, keeps its strict CSP, and disconnects only with the CSRF cookie and field.
 */
import { reconciliationV1, tokenvaultV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import request from 'supertest';
import { openApiDocument } from '../src/api/openapi';
import { loggablePath } from '../src/http/access-log';
import { CSRF_COOKIE } from '../src/overview/overview.routes';
import { connection, harness, type Harness } from './harness';

const ACCOUNT: reconciliationV1.Account = {
  ...reconciliationV1.Account.fromPartial({}),
  accountId: 'acc_1',
  userId: 'user-1',
  connectionId: 'conn-1',
  displayName: 'Club <b>Lloyds</b>',
  accountType: 'TRANSACTION',
  currency: 'GBP',
  kind: 'account',
  numberLast4: '5678',
  latestBalance: { accountId: 'acc_1', currency: 'GBP', current: '1204.17', available: '2204.17', overdraft: '', creditLimit: '', asOf: new Date('2026-11-20T06:00:00Z') },
};
const CARD: reconciliationV1.Account = { ...ACCOUNT, accountId: 'card_1', kind: 'card', displayName: 'Visa Platinum', accountType: 'CREDIT', latestBalance: { ...ACCOUNT.latestBalance!, accountId: 'card_1', current: '-310.50' } };

function tx(id: string, at: string, amount: string, running: string, over: Partial<reconciliationV1.Transaction> = {}): reconciliationV1.Transaction {
  return {
    ...reconciliationV1.Transaction.fromPartial({}),
    transactionId: id,
    accountId: 'acc_1',
    status: 'booked',
    bookedAt: new Date(at),
    amount,
    currency: 'GBP',
    description: `TX ${id}`,
    runningBalance: { amount: running, currency: 'GBP' },
    category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', source: 'merchant', reason: '', confidence: 1, version: '' },
    ...over,
  };
}

function withReconciliation(h: Harness, owner: () => string) {
  const guard = (r: { clientId: string; userId: string }) => {
    if (r.clientId !== owner() || r.userId !== 'user-1') throw AppError.notFound('user_not_found', 'no data for this user under this client');
  };
  const recon = {
    listAccounts: jest.fn(async (r: reconciliationV1.ListAccountsRequest) => (guard(r), { accounts: [ACCOUNT, CARD], nextPageToken: '' })),
    getBalanceHistory: jest.fn(async (r: reconciliationV1.GetBalanceHistoryRequest) => (guard(r), { balances: r.accountId === 'acc_1' ? [ACCOUNT.latestBalance!] : [], nextPageToken: '' })),
    listTransactions: jest.fn(async (r: reconciliationV1.ListTransactionsRequest) => {
      guard(r);
      if (r.accountId === 'acc_1') {
        // the month's history, newest first
        const inMonth = (d: string) => r.from && r.to && new Date(d) >= r.from && new Date(d) < r.to;
        return { transactions: [tx('t3', '2026-11-12T10:00:00Z', '-20.00', '1180.00'), tx('t2', '2026-11-05T10:00:00Z', '-4.20', '1200.00'), tx('t1', '2026-11-02T10:00:00Z', '-3.80', '1204.20')].filter((t) => inMonth(t.bookedAt!.toISOString())), nextPageToken: '' };
      }
      if (r.accountId) return { transactions: [], nextPageToken: '' };
      const all = [tx('t3', '2026-11-12T10:00:00Z', '-20.00', '1180.00', { merchantName: '<script>alert(1)</script>' }), tx('t2', '2026-11-05T10:00:00Z', '-4.20', '1200.00', { merchantName: 'Pret A Manger' })];
      return { transactions: r.text ? all.filter((t) => t.merchantName.toLowerCase().includes(r.text.toLowerCase())) : all, nextPageToken: '' };
    }),
    getSpendingSummary: jest.fn(async (r: reconciliationV1.GetSpendingSummaryRequest) => {
      guard(r);
      const months = [
        { month: '2026-10', spending: [{ primary: 'TRANSPORTATION', detailed: 'TRANSPORTATION_TAXIS', total: '31.00', currency: 'GBP', count: 2 }], income: [], ownTransfers: 0 },
        {
          month: '2026-11',
          spending: [
            { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', total: '8.00', currency: 'GBP', count: 2 },
            { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_GROCERIES', total: '20.00', currency: 'GBP', count: 1 },
            { primary: 'ENTERTAINMENT', detailed: 'ENTERTAINMENT_TV_AND_MOVIES', total: '9.99', currency: 'GBP', count: 1 },
          ],
          income: [],
          ownTransfers: 0,
        },
        { month: '2026-12', spending: [], income: [], ownTransfers: 0 },
      ];
      return { months: r.fromMonth ? [{ month: r.fromMonth, spending: [{ primary: 'TRAVEL', detailed: 'TRAVEL_FLIGHTS', total: '120.00', currency: 'GBP', count: 1 }], income: [], ownTransfers: 0 }] : months };
    }),
    listRecurring: jest.fn(async (r: reconciliationV1.ListRecurringRequest) => {
      guard(r);
      const base = { merchantKey: 'netflix', accountId: 'acc_1', cadence: 'monthly', currency: 'GBP', lastDate: new Date('2026-11-03T00:00:00Z'), occurrences: 6, direction: 'outflow', primaryCategory: 'ENTERTAINMENT', detailedCategory: '', source: 'detected' };
      return {
        series: [
          { ...base, seriesId: 's1', merchantName: 'Netflix', amount: '-9.99', nextExpectedDate: new Date('2026-12-03T00:00:00Z'), active: true },
          { ...base, seriesId: 's2', merchantName: 'Old Gym', amount: '-30.00', nextExpectedDate: new Date('2026-06-01T00:00:00Z'), active: false },
        ],
      };
    }),
  };
  (h.deps.downstreams as { reconciliation?: unknown }).reconciliation = recon;
  return recon;
}

describe('connection overview', () => {
  let h: Harness;
  let recon: ReturnType<typeof withReconciliation>;
  let clientId = '';
  let auth: { authorization: string };
  beforeEach(async () => {
    h = harness();
    recon = withReconciliation(h, () => clientId);
    const c = await h.newClient();
    clientId = c.clientId;
    auth = { authorization: `Bearer ${c.key}` };
  });

  const newLink = async (body: unknown = {}): Promise<{ url: string; path: string; expires_at: string }> => {
    const res = await request(h.pub).post('/v1/users/user-1/overview-links').set(auth).send(body as object).expect(201);
    expect(res.headers['cache-control']).toBe('no-store');
    return { ...res.body, path: new URL(res.body.url as string).pathname };
  };
  const csrfCookie = (res: request.Response): string => {
    const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    const c = set.find((x) => x.startsWith(`${CSRF_COOKIE}=`));
    if (!c) throw new Error('no CSRF cookie');
    return c.split(';')[0]!;
  };

  it('POST overview-links: an API key is required; the link is on the public origin, sealed (no user id in it), minutes long', async () => {
    await request(h.pub).post('/v1/users/user-1/overview-links').send({}).expect(401);
    const l = await newLink();
    expect(l.url.startsWith('http://gw.test/overview/')).toBe(true);
    expect(l.url).not.toContain('user-1');
    expect(Date.parse(l.expires_at) - h.clock.now).toBe(900_000);
    expect(Date.parse((await newLink({ ttl_seconds: 120 })).expires_at) - h.clock.now).toBe(120_000);
    const bad = await request(h.pub).post('/v1/users/user-1/overview-links').set(auth).send({ ttl_seconds: 86_400 }).expect(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(bad.body.errors[0].field).toBe('ttl_seconds');
  });

  it('GET the page: the link user\'s data under the link client, escaped, with a strict CSP and no caching', async () => {
    const l = await newLink();
    const res = await request(h.pub).get(l.path).expect(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-inline|https?:/);
    expect(recon.listAccounts).toHaveBeenCalledWith({ clientId, userId: 'user-1', pageSize: 100, pageToken: '' });
    expect(h.tv.listConnections).toHaveBeenCalledWith({ clientId, userId: 'user-1' });
    const html = res.text;
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('Club &lt;b&gt;Lloyds&lt;/b&gt;');
    // accounts and cards with balances
    expect(html).toMatch(/data-testid="account-list">.*Club &lt;b&gt;Lloyds.*£1,204\.17/s);
    expect(html).toMatch(/data-testid="card-list">.*Visa Platinum.*-£310\.50/s);
    // default month: the latest with spending (2026-11), primaries summed, largest first
    expect(html).toContain('<option value="2026-11" selected>November 2026</option>');
    const rows = [...html.matchAll(/data-testid="spending-row" data-category="([A-Z_]+)".*?class="amount">([^<]+)</g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([['FOOD_AND_DRINK', '£28.00'], ['ENTERTAINMENT', '£9.99']]);
    // balance history over the three months to the chosen one: one point per day (3 transaction days + the balance snapshot's day)
    expect(recon.listTransactions).toHaveBeenCalledWith(expect.objectContaining({ accountId: 'acc_1', status: 'booked', from: new Date('2026-09-01T00:00:00Z'), to: new Date('2026-12-01T00:00:00Z') }));
    expect(html).toContain('Balances over 3 months to November 2026');
    expect(html).toMatch(/data-testid="balance-chart" data-points="4"/);
    expect(html).toContain('From £1,204.20 on 2 Nov 2026 to £1,204.17 on 20 Nov 2026');
    // recurring: only active series, with the next expected date
    expect(html).toContain('Netflix');
    expect(html).not.toContain('Old Gym');
    expect(html).toMatch(/data-testid="recurring-next">3 Dec 2026</);
    // consent: days left, no banner at 66 days
    expect(html).toMatch(/data-testid="consent-days-left">66</);
    expect(html).not.toContain('reconsent-banner');
    expect(csrfCookie(res)).toMatch(new RegExp(`^${CSRF_COOKIE}=[A-Za-z0-9_-]{43}$`));
    expect(String(res.headers['set-cookie'])).toMatch(/HttpOnly.*SameSite=Strict|SameSite=Strict.*HttpOnly/);
  });

  it('month picker and search go through the query string; a bad month is a 400 page', async () => {
    const l = await newLink();
    const oct = await request(h.pub).get(`${l.path}?month=2026-10`).expect(200);
    expect(oct.text).toContain('<option value="2026-10" selected>');
    expect(oct.text).toMatch(/data-category="TRANSPORTATION"/);
    // a month outside the default range is asked for on its own
    const older = await request(h.pub).get(`${l.path}?month=2025-03`).expect(200);
    expect(recon.getSpendingSummary).toHaveBeenCalledWith({ clientId, userId: 'user-1', fromMonth: '2025-03', toMonth: '2025-03', accountId: '' });
    expect(older.text).toMatch(/data-category="TRAVEL"/);
    const search = await request(h.pub).get(`${l.path}?q=pret&month=2026-11`).expect(200);
    expect(recon.listTransactions).toHaveBeenCalledWith(expect.objectContaining({ text: 'pret', accountId: '', pageSize: 25 }));
    expect(search.text.match(/data-testid="transaction-row"/g)).toHaveLength(1);
    expect(search.text).toContain('value="pret"');
    const none = await request(h.pub).get(`${l.path}?q=nothing-like-this`).expect(200);
    expect(none.text).toContain('No transactions match “nothing-like-this”.');
    const bad = await request(h.pub).get(`${l.path}?month=2026-13`).expect(400);
    expect(bad.text).toContain('The month must be given as YYYY-MM');
  });

  it('re-consent banner when the consent is near its end, and when sharing stopped', async () => {
    h.tv.listConnections.mockResolvedValueOnce({ connections: [connection({ userId: 'user-1', clientId, daysLeft: 6, reconsentDue: true })] });
    const l = await newLink();
    const near = await request(h.pub).get(l.path).expect(200);
    expect(near.text).toMatch(/data-testid="reconsent-banner"><strong>Your permission for Mock ends in 6 days\./);
    h.tv.listConnections.mockResolvedValueOnce({ connections: [connection({ userId: 'user-1', clientId, status: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_REAUTH_REQUIRED })] });
    expect((await request(h.pub).get(l.path).expect(200)).text).toContain('Sharing from Mock has stopped.');
  });

  it('a user without data yet sees the connections only', async () => {
    recon.listAccounts.mockRejectedValueOnce(AppError.notFound('user_not_found', 'none'));
    const res = await request(h.pub).get((await newLink()).path).expect(200);
    expect(res.text).toContain('data-testid="no-data"');
    expect(res.text).toContain('data-testid="disconnect"');
  });

  it('a tampered or malformed link is a 403 page, an expired one a 410 page; another client\'s user is never read', async () => {
    const l = await newLink();
    const token = l.path.split('/')[2]!;
    const flipped = token.slice(0, 40) + (token[40] === 'A' ? 'B' : 'A') + token.slice(41);
    const forged = await request(h.pub).get(`/overview/${flipped}`).expect(403);
    expect(forged.headers['content-type']).toMatch(/text\/html/);
    expect(forged.text).toContain('This link is not valid');
    await request(h.pub).get('/overview/short').expect(403);
    // a connect-session state (same key family) does not open as an overview link
    const state = h.codec.seal({ sid: 's', uid: 'user-1', cid: clientId, intent: { kind: 'new' }, exp: h.clock.now + 60_000 });
    await request(h.pub).get(`/overview/${state}`).expect(403);
    h.clock.now += 900_001;
    const expired = await request(h.pub).get(l.path).expect(410);
    expect(expired.text).toContain('This link has expired');
    expect(expired.text).not.toMatch(/at .*\.ts:\d+/);
    expect(recon.listAccounts).not.toHaveBeenCalled();
  });

  it("a link stops working when its API client is disabled", async () => {
    const l = await newLink();
    await request(h.pub).get(l.path).expect(200);
    h.clients.records.get(clientId)!.disabledAt = new Date();
    const res = await request(h.pub).get(l.path).expect(403);
    expect(res.text).toContain('This link is not valid');
    expect(recon.listAccounts).toHaveBeenCalledTimes(1);
  });

  it('disconnect: needs the CSRF cookie and the matching field, then revokes through token-vault as the link user', async () => {
    const l = await newLink();
    const page = await request(h.pub).get(l.path).expect(200);
    const cookie = csrfCookie(page);
    const field = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
    expect(cookie.endsWith(`=${field}`)).toBe(true);
    const action = /<form method="post" action="([^"]+)"/.exec(page.text)![1]!;
    expect(action).toBe(`${l.path}/connections/conn-1/disconnect`);

    await request(h.pub).post(action).type('form').send({ csrf: field }).expect(403); // no cookie (a cross-site post)
    await request(h.pub).post(action).set('Cookie', cookie).type('form').send({ csrf: 'x'.repeat(43) }).expect(403);
    await request(h.pub).post(action).set('Cookie', cookie).set('Origin', 'https://evil.test').type('form').send({ csrf: field }).expect(403);
    expect(h.tv.revokeConnection).not.toHaveBeenCalled();

    // a no-referrer page's form is posted with Origin: null; the cookie and field decide
    const ok = await request(h.pub).post(action).set('Cookie', cookie).set('Origin', 'null').type('form').send({ csrf: field }).expect(303);
    expect(ok.headers['location']).toBe(`${l.path}?disconnected=1`);
    expect(h.tv.revokeConnection).toHaveBeenCalledWith({ clientId, userId: 'user-1', connectionId: 'conn-1', reason: 'revoked_by_user' });
    const after = await request(h.pub).get(ok.headers['location']!).set('Cookie', cookie).expect(200);
    expect(after.text).toContain('The bank was disconnected.');
    // the page keeps the cookie it already set
    expect(after.headers['set-cookie']).toBeUndefined();

    h.tv.revokeConnection.mockRejectedValueOnce(AppError.notFound('connection_not_found', 'no such connection'));
    const gone = await request(h.pub).post(`${l.path}/connections/conn-x/disconnect`).set('Cookie', cookie).type('form').send({ csrf: field }).expect(404);
    expect(gone.text).toContain('was not found');
    // an expired link cannot disconnect either
    h.clock.now += 900_001;
    await request(h.pub).post(action).set('Cookie', cookie).type('form').send({ csrf: field }).expect(410);
  });

  it('the link token never reaches the access log; the endpoint is in the OpenAPI document', async () => {
    const token = (await newLink()).path.split('/')[2]!;
    expect(loggablePath(`/overview/${token}/connections/conn-1/disconnect`)).toBe('/overview/:token/connections/conn-1/disconnect');
    expect(loggablePath(`/OVERVIEW/${token}`)).toBe('/OVERVIEW/:token');
    const paths = openApiDocument.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    expect(Object.keys(paths['/v1/users/{userId}/overview-links']!)).toEqual(['post']);
    expect(paths['/v1/users/{userId}/overview-links']!['post']!.responses).toHaveProperty('201');
  });
});
