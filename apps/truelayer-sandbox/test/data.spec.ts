import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Sandbox } from '../src/app';
import { bearer, connect, DAY, HOUR, makeSandbox, MINUTE, type Tokens } from './helpers';

// Generous per-test timeout: the heavy data set and the contract sweep can be slow on a loaded machine.
jest.setTimeout(60_000);

const isoDate = (t: number): string => new Date(t).toISOString().slice(0, 10);

describe('Data API v1', () => {
  let sb: Sandbox;
  let t: Tokens;
  beforeEach(async () => {
    sb = makeSandbox();
    t = await connect(sb, { provider_id: 'ob-lloyds' });
  });
  afterEach(() => sb.dispose());

  const get = (path: string, token = t.access_token) => request(sb.app).get(`/data/v1${path}`).set(bearer(token));

  it('uses the results envelope and sets correlation and credentials headers', async () => {
    const res = await get('/accounts').expect(200);
    expect(res.body.status).toBe('Succeeded');
    expect(res.body.results).toHaveLength(2);
    expect(res.headers['x-tl-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-credentials-id']).toBe(t.credentials_id);
    expect(res.headers['cache-control']).toMatch(/^max-age=\d+$/);
    expect(res.headers['content-encoding']).toBe('gzip');
    const plain = await get('/accounts').set('Accept-Encoding', 'identity').expect(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toEqual(res.body);
    const acc = res.body.results[0];
    expect(acc.account_number.sort_code).toMatch(/^\d{2}-\d{2}-\d{2}$/);
    expect(acc.account_number.iban).toMatch(/^GB\d{2}[A-Z]{4}\d{14}$/);
    const unauth = await request(sb.app).get('/data/v1/accounts').expect(401);
    expect(unauth.body.error).toBe('invalid_token');
    expect(unauth.headers['x-tl-correlation-id']).toBeDefined();
    await get('/accounts', 'not-a-token').expect(401);
    const nf = await get('/accounts/ffffffffffffffffffffffffffffffff/balance').expect(404);
    expect(nf.body).toEqual({ error: 'account_not_found', error_description: 'account not found', error_details: {} });
    const balance = await get(`/accounts/${acc.account_id}/balance`).expect(200);
    expect(balance.body.results[0]).toEqual(expect.objectContaining({ currency: 'GBP', current: expect.any(Number), available: expect.any(Number), overdraft: 1000 }));
  });

  it('enforces scopes with 403 access_denied', async () => {
    const narrow = await connect(sb, { scope: 'accounts offline_access', provider_id: 'ob-lloyds' });
    await get('/accounts', narrow.access_token).expect(200);
    const accId = (await get('/accounts', narrow.access_token)).body.results[0].account_id;
    for (const path of ['/info', `/accounts/${accId}/balance`, `/accounts/${accId}/transactions`, `/accounts/${accId}/standing_orders`, `/accounts/${accId}/direct_debits`, '/cards']) {
      const res = await get(path, narrow.access_token).expect(403);
      expect(res.body.error).toBe('access_denied');
    }
    await get('/me', narrow.access_token).expect(200);
  });

  it('serves standing orders, direct debits, cards and card data', async () => {
    const accId = (await get('/accounts')).body.results[0].account_id;
    const so = await get(`/accounts/${accId}/standing_orders`).expect(200);
    expect(so.body.results[0].frequency).toMatch(/^IntrvlMnthDay:01:\d{2}$/);
    const dd = await get(`/accounts/${accId}/direct_debits`).expect(200);
    expect(dd.body.results.map((d: { name: string }) => d.name)).toContain('BT INTERNET');
    const cards = await get('/cards').expect(200);
    const cardId = cards.body.results[0].account_id;
    expect(cardId).toMatch(/^[0-9a-f]{40}$/);
    const cb = await get(`/cards/${cardId}/balance`).expect(200);
    expect(cb.body.results[0].credit_limit).toBe(3300);
    const ctx = await get(`/cards/${cardId}/transactions?from=${isoDate(sb.clock.now() - 30 * DAY)}&to=${isoDate(sb.clock.now())}`).expect(200);
    const purchase = ctx.body.results.find((x: { transaction_type: string }) => x.transaction_type === 'DEBIT');
    expect(purchase.amount).toBeGreaterThan(0);
    expect(purchase.meta.cardNumber).toMatch(/^\d{4}\*{8}\d{4}$/);
  });

  it('validates from/to: validation_error and invalid_date_range', async () => {
    const accId = (await get('/accounts')).body.results[0].account_id;
    const bad = await get(`/accounts/${accId}/transactions?from=yesterday&to=2026-01-01`).expect(400);
    expect(bad.body).toEqual({ error: 'validation_error', error_description: 'The supplied parameters are not valid.', error_details: {} });
    const inverted = await get(`/accounts/${accId}/transactions?from=2026-03-01&to=2026-02-01`).expect(400);
    expect(inverted.body.error).toBe('invalid_date_range');
    const future = await get(`/accounts/${accId}/transactions?from=2027-03-01&to=2027-04-01`).expect(400);
    expect(future.body.error).toBe('invalid_date_range');
    const dt = await get(`/accounts/${accId}/transactions?from=2026-02-01T00:00:00&to=2026-02-10T23:59:59`).expect(200);
    for (const tx of dt.body.results) expect(tx.timestamp >= '2026-02-01' && tx.timestamp <= '2026-02-11').toBe(true);
  });

  it('history window: full history right after consent, sca_exceeded beyond 90 days afterwards', async () => {
    sb.admin.setSwitches({ cacheTtlSeconds: 0 });
    const heavy = await connect(sb, { username: 'heavy', password: 'heavy', provider_id: 'ob-barclays' });
    const accId = (await get('/accounts', heavy.access_token)).body.results[0].account_id;
    const fiveYears = `/accounts/${accId}/transactions?from=${isoDate(sb.clock.now() - 5 * 365 * DAY - 20 * DAY)}&to=${isoDate(sb.clock.now())}`;
    const full = await get(fiveYears, heavy.access_token).set('X-PSU-IP', '10.0.0.1').expect(200);
    expect(full.body.results.length).toBeGreaterThanOrEqual(20_000);
    const oldest = full.body.results.at(-1).timestamp as string;
    expect(Date.parse(`${oldest.slice(0, 19)}Z`)).toBeLessThan(sb.clock.now() - 5 * 365 * DAY);
    sb.admin.advanceClock(5 * MINUTE + 1000);
    const late = await get(fiveYears, heavy.access_token).set('X-PSU-IP', '10.0.0.1').expect(403);
    expect(late.body.error).toBe('sca_exceeded');
    await get(`/accounts/${accId}/transactions?from=${isoDate(sb.clock.now() - 89 * DAY)}&to=${isoDate(sb.clock.now())}`, heavy.access_token).set('X-PSU-IP', '10.0.0.1').expect(200);
  });

  it('unattended cap: 5th call → 429, X-PSU-IP exempt, resets after 24 h; cached answers do not count', async () => {
    sb.admin.setSwitches({ cacheTtlSeconds: 0, accessTokenTtlSeconds: 7 * 86_400 });
    t = await connect(sb, { provider_id: 'ob-lloyds' });
    const accId = (await get('/accounts')).body.results[0].account_id;
    const path = `/accounts/${accId}/balance`;
    for (let i = 0; i < 4; i += 1) {
      await get(path).expect(200);
      sb.admin.advanceClock(MINUTE);
    }
    const fifth = await get(path).expect(429);
    expect(fifth.body).toEqual({
      error: 'provider_request_limit_exceeded',
      error_description: 'Maximum number of requests per user allowed by provider exceeded.',
      error_details: {},
    });
    await get(path).set('X-PSU-IP', '203.0.113.7').expect(200);
    await get(`/accounts/${accId}/transactions`).expect(200); // other endpoint, own budget
    const counters = await request(sb.app).get('/__admin/counters').expect(200);
    expect(counters.body.per_connection[t.credentials_id].calls).toMatchObject({ attended: 1, rejected: 1 });
    sb.admin.advanceClock(24 * HOUR - 3.5 * MINUTE);
    await get(path).expect(200); // the first call has left the rolling window
    await get(path).expect(429);

    sb.admin.setSwitches({ cacheTtlSeconds: 3600 });
    const card = (await get('/cards')).body.results[0].account_id;
    const first = await get(`/cards/${card}/balance`).expect(200);
    for (let i = 0; i < 6; i += 1) {
      const again = await get(`/cards/${card}/balance`).expect(200);
      expect(again.body).toEqual(first.body);
    }
    sb.admin.advanceClock(30 * MINUTE);
    const cached = await get(`/cards/${card}/balance`).expect(200);
    expect(cached.headers['cache-control']).toBe('max-age=1800');
  });

  it('validation comes before the budget: a bad date range is 400 even when the budget is spent, and never spends it', async () => {
    sb.admin.setSwitches({ cacheTtlSeconds: 0 });
    const accId = (await get('/accounts')).body.results[0].account_id;
    const path = `/accounts/${accId}/transactions`;
    const from = isoDate(sb.clock.now() - 10 * DAY);
    const to = isoDate(sb.clock.now() - 20 * DAY);
    // three rejected requests first: none of them may count
    for (let i = 0; i < 3; i += 1) expect((await get(`${path}?from=${from}&to=${to}`).expect(400)).body.error).toBe('invalid_date_range');
    await get(`${path}?from=not-a-date`).expect(400);
    for (let i = 0; i < 4; i += 1) await get(path).expect(200); // all four unattended calls are still there
    await get(path).expect(429);
    expect((await get(`${path}?from=${from}&to=${to}`).expect(400)).body.error).toBe('invalid_date_range'); // still first, budget spent
    const counters = await request(sb.app).get('/__admin/counters').expect(200);
    expect(counters.body.per_connection[t.credentials_id].calls).toMatchObject({ unattended: 4 + 1, rejected: 1 }); // + the /accounts call
  });

  it('dates every response by the simulated clock', async () => {
    sb.admin.advanceClock(37 * MINUTE + 13_000); // within the access token's hour, off the wall clock's second
    const res = await get('/accounts').expect(200);
    expect(res.headers['date']).toBe(new Date(sb.clock.now()).toUTCString());
    expect(res.headers['date']).toBe(res.headers['last-modified']);
    const auth = await request(sb.app).get('/api/providers').expect(200);
    expect(auth.headers['date']).toBe(new Date(sb.clock.now()).toUTCString());
  });

  it('mock error users fail every data call with their code', async () => {
    const locked = await connect(sb, { username: 'error.account_temporarily_locked', password: 'error' });
    const res = await get('/accounts', locked.access_token).expect(403);
    expect(res.body.error).toBe('account_temporarily_locked');
    const wrong = await connect(sb, { username: 'error.wrong_credentials', password: 'error' });
    expect((await get('/info', wrong.access_token).expect(401)).body.error).toBe('wrong_credentials');
    await get('/me', wrong.access_token).expect(200);
  });

  it('fault injection returns a specific TrueLayer error, then recovers', async () => {
    const rule = await request(sb.app).post('/__admin/faults').send({ endpoint: 'accounts', provider: 'ob-lloyds', error: 'provider_timeout', count: 1 }).expect(201);
    expect(rule.body.id).toBeDefined();
    const res = await get('/accounts').expect(504);
    expect(res.body).toEqual({ error: 'provider_timeout', error_description: 'The provider service timed out.', error_details: {} });
    await get('/accounts').expect(200);
    sb.admin.addFault({ endpoint: 'info', error: 'connector_overload' });
    expect((await get('/info').expect(503)).body.error).toBe('connector_overload');
    sb.admin.addFault({ endpoint: 'cards', error: 'custom_code', status: 418, description: 'teapot' });
    expect((await get('/cards').expect(418)).body).toEqual({ error: 'custom_code', error_description: 'teapot', error_details: {} });
    await request(sb.app).delete('/__admin/faults').expect(204);
    await get('/cards').expect(200);
    sb.admin.addFault({ endpoint: 'cards', provider: 'ob-lloyds', error: 'provider_too_many_requests', retryAfterSeconds: 30, count: 1 });
    const limited = await get('/cards?nocache=1').expect(429); // a new query: the plain /cards answer is cached
    expect(limited.headers['retry-after']).toBe('30');
    expect(limited.body.error).toBe('provider_too_many_requests');
  });

  it('timeout fault never answers until the client gives up', async () => {
    sb.admin.addFault({ endpoint: 'accounts', timeout: true });
    await expect(get('/accounts').timeout(300)).rejects.toThrow(/Timeout/i);
  });

  it('pending transactions settle into booked ones with a new transaction_id', async () => {
    sb.admin.setSwitches({ cacheTtlSeconds: 0, accessTokenTtlSeconds: 30 * 86_400 });
    t = await connect(sb, { provider_id: 'ob-lloyds' });
    const accId = (await get('/accounts')).body.results[0].account_id;
    let pending = await get(`/accounts/${accId}/transactions/pending`).set('X-PSU-IP', '1.1.1.1').expect(200);
    for (let i = 0; i < 12 && pending.body.results.length === 0; i += 1) {
      sb.admin.advanceClock(6 * HOUR);
      pending = await get(`/accounts/${accId}/transactions/pending`).set('X-PSU-IP', '1.1.1.1').expect(200);
    }
    expect(pending.body.results.length).toBeGreaterThan(0);
    const p = pending.body.results[0];
    expect(p.normalised_provider_transaction_id).toBeUndefined();
    sb.admin.advanceClock(4 * DAY);
    const pendingLater = await get(`/accounts/${accId}/transactions/pending`).set('X-PSU-IP', '1.1.1.1').expect(200);
    expect(pendingLater.body.results.map((x: { transaction_id: string }) => x.transaction_id)).not.toContain(p.transaction_id);
    const booked = await get(`/accounts/${accId}/transactions?from=${isoDate(sb.clock.now() - 10 * DAY)}&to=${isoDate(sb.clock.now())}`)
      .set('X-PSU-IP', '1.1.1.1')
      .expect(200);
    const settled = booked.body.results.filter((x: { description: string; amount: number }) => x.description === p.description && x.amount === p.amount);
    expect(settled.length).toBeGreaterThan(0);
    expect(settled.map((x: { transaction_id: string }) => x.transaction_id)).not.toContain(p.transaction_id);
    expect(settled[0].normalised_provider_transaction_id).toMatch(/^txn-/);
  });

  it('transaction-id instability switch keeps normalised ids stable', async () => {
    sb.admin.setSwitches({ cacheTtlSeconds: 0, transactionIdInstability: true });
    const accId = (await get('/accounts')).body.results[0].account_id;
    const path = `/accounts/${accId}/transactions?from=${isoDate(sb.clock.now() - 20 * DAY)}&to=${isoDate(sb.clock.now())}`;
    const a = await get(path).set('X-PSU-IP', '1.1.1.1').expect(200);
    const b = await get(path).set('X-PSU-IP', '1.1.1.1').expect(200);
    expect(a.body.results[0].transaction_id).not.toBe(b.body.results[0].transaction_id);
    expect(a.body.results[0].normalised_provider_transaction_id).toBe(b.body.results[0].normalised_provider_transaction_id);
  });

  it('advertises the configured public base URLs', async () => {
    const configured = makeSandbox({ authBaseUrl: 'https://auth.sandbox.test', apiBaseUrl: 'https://api.sandbox.test' });
    const c = await connect(configured);
    const claims = JSON.parse(Buffer.from(c.access_token.split('.')[1]!, 'base64url').toString()) as { iss: string };
    expect(claims.iss).toBe('https://auth.sandbox.test');
    const me = await request(configured.app).get('/data/v1/me').set(bearer(c.access_token)).expect(200);
    expect(me.body.results[0].provider.logo_uri).toBe('https://auth.sandbox.test/logos/mock.svg');
    const accepted = await request(configured.app).get('/data/v1/accounts?async=true').set(bearer(c.access_token)).expect(202);
    expect(accepted.body.results_uri).toBe(`https://api.sandbox.test/data/v1/results/${accepted.body.task_id}`);
    configured.dispose();
  });

  it('a reauth link can still be generated after the consent expired', async () => {
    sb.admin.advanceClock(90 * DAY);
    const r = await request(sb.app).post('/v1/reauthuri').send({ response_type: 'code', refresh_token: t.refresh_token, redirect_uri: 'http://127.0.0.1:9999/callback' }).expect(200);
    expect(r.body.result).toContain('session_id=');
  });

  it('provider without standing orders answers 501 endpoint_not_supported', async () => {
    const fd = await connect(sb, { provider_id: 'ob-first-direct' });
    const accId = (await get('/accounts', fd.access_token)).body.results[0].account_id;
    const res = await get(`/accounts/${accId}/standing_orders`, fd.access_token).expect(501);
    expect(res.body.error).toBe('endpoint_not_supported');
  });
});

describe('async mode and webhooks', () => {
  let sb: Sandbox;
  let server: Server;
  let received: Array<Record<string, unknown>>;
  let waiters: Array<() => void>;
  let hookUrl: string;

  beforeEach(async () => {
    sb = makeSandbox();
    received = [];
    waiters = [];
    server = createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(data) as Record<string, unknown>);
        res.writeHead(200).end();
        for (const w of waiters.splice(0)) w();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tl-hook/secret123`;
  });
  afterEach(async () => {
    sb.dispose();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const nextWebhook = () => new Promise<void>((resolve) => waiters.push(resolve));

  it('202 with task → webhook → results fetched', async () => {
    const t = await connect(sb);
    const accId = (await request(sb.app).get('/data/v1/accounts').set(bearer(t.access_token))).body.results[0].account_id;
    const wait = nextWebhook();
    const accepted = await request(sb.app)
      .get(`/data/v1/accounts/${accId}/transactions`)
      .query({ async: 'true', webhook_uri: hookUrl, from: isoDate(sb.clock.now() - 30 * DAY), to: isoDate(sb.clock.now()) })
      .set(bearer(t.access_token))
      .expect(202);
    expect(accepted.body.status).toBe('Queued');
    expect(accepted.body.results_uri).toMatch(new RegExp(`/data/v1/results/${accepted.body.task_id}$`));
    await wait;
    expect(received[0]).toMatchObject({ task_id: accepted.body.task_id, status: 'Succeeded', credentials_id: t.credentials_id, results_uri: accepted.body.results_uri });
    expect(received[0]?.['request_uri']).toContain(`/data/v1/accounts/${accId}/transactions`);
    const results = await request(sb.app).get(new URL(accepted.body.results_uri).pathname).set(bearer(t.access_token)).expect(200);
    expect(results.body.status).toBe('Succeeded');
    expect(results.body.results.length).toBeGreaterThan(10);
    const other = await connect(sb);
    await request(sb.app).get(new URL(accepted.body.results_uri).pathname).set(bearer(other.access_token)).expect(404);
    sb.admin.setSwitches({ asyncResultTtlSeconds: 60 });
    sb.admin.advanceClock(2 * 60_000);
    const expired = await request(sb.app).get(new URL(accepted.body.results_uri).pathname).set(bearer(t.access_token)).expect(404);
    expect(expired.body.error).toBe('task_not_found');
  });

  it('failed task sends a Failed webhook with the error; webhooks can be dropped', async () => {
    const t = await connect(sb, { username: 'error.provider_error', password: 'error' });
    const wait = nextWebhook();
    const accepted = await request(sb.app).get('/data/v1/accounts').query({ async: 'true', webhook_uri: hookUrl }).set(bearer(t.access_token)).expect(202);
    await wait;
    expect(received[0]).toMatchObject({ status: 'Failed', error: 'provider_error', task_id: accepted.body.task_id });
    const failed = await request(sb.app).get(new URL(accepted.body.results_uri).pathname).set(bearer(t.access_token)).expect(503);
    expect(failed.body.error).toBe('provider_error');

    const ok = await connect(sb);
    sb.admin.addFault({ dropWebhook: true });
    const dropped = await request(sb.app).get('/data/v1/accounts').query({ async: 'true', webhook_uri: hookUrl }).set(bearer(ok.access_token)).expect(202);
    for (let i = 0; i < 500 && !sb.context.webhooks.some((w) => w.task_id === dropped.body.task_id); i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(sb.context.webhooks.find((w) => w.task_id === dropped.body.task_id)?.outcome).toBe('dropped');
    expect(received).toHaveLength(1);
    await request(sb.app).get(new URL(dropped.body.results_uri).pathname).set(bearer(ok.access_token)).expect(200);
  });
});
