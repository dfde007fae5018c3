/**
 * Contract test: every endpoint of both OpenAPI documents, for every sandbox user, validated with ajv against the
 * documented response schema and status codes (see openapi.ts for the documented corrections).
 */
import request, { type Response } from 'supertest';
import type { Sandbox } from '../src/app';
import { DOCUMENTED_USERS, MOCK_ERROR_CODES } from '../src/domain/users';
import { bearer, CLIENT_ID, CLIENT_SECRET, connect, DAY, FULL_SCOPE, makeSandbox, MINUTE, REDIRECT_URI, type Tokens } from './helpers';
import { loadSpec, type SpecValidator } from './openapi';

// Generous per-test timeout: the heavy data set and the contract sweep can be slow on a loaded machine.
jest.setTimeout(60_000);

const auth = loadSpec('authentication-server.json');
const data = loadSpec('data-api-v1.json');
const covered = new Map<string, Set<number>>();

function check(spec: SpecValidator, template: string, method: string, res: Response): void {
  const label = `${method.toUpperCase()} ${template} → ${res.status}`;
  const key = `${spec === auth ? 'auth' : 'data'} ${method.toLowerCase()} ${template}`;
  if (!covered.has(key)) covered.set(key, new Set());
  covered.get(key)?.add(res.status);
  if (!spec.statuses(template, method).includes(String(res.status))) {
    throw new Error(`${label}: status not documented (${spec.statuses(template, method).join(', ')}); body ${JSON.stringify(res.body)}`);
  }
  const validate = spec.validator(template, method, res.status);
  if (!validate) {
    expect(res.text ?? '').toBe('');
    return;
  }
  if (!validate(res.body)) {
    throw new Error(`${label}: body does not match the schema: ${JSON.stringify(validate.errors?.slice(0, 5))}\nbody: ${JSON.stringify(res.body).slice(0, 800)}`);
  }
}

const isoDate = (t: number): string => new Date(t).toISOString().slice(0, 10);
const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface UserCase {
  username: string;
  password: string;
  provider: string;
}

const USER_CASES: UserCase[] = [
  { username: 'john', password: 'doe', provider: 'mock' },
  { username: 'john', password: 'doe', provider: 'ob-lloyds' },
  { username: 'john', password: 'eternal', provider: 'ob-monzo' },
  { username: 'john42', password: 'doe42', provider: 'amex' },
  { username: 'small', password: 'small', provider: 'ob-hsbc' },
  { username: 'heavy', password: 'heavy', provider: 'ob-barclays' },
  { username: 'john', password: 'doe', provider: 'stet-credit-agricole' },
  { username: 'john', password: 'doe', provider: 'ob-first-direct' },
  ...MOCK_ERROR_CODES.map((code) => ({ username: `error.${code}`, password: 'error', provider: 'mock' })),
];

describe('contract: Data API v1 for every sandbox user', () => {
  let sb: Sandbox;
  beforeAll(() => {
    sb = makeSandbox();
    sb.admin.setSwitches({ cacheTtlSeconds: 0 });
  });
  afterAll(() => sb.dispose());

  it('covers every documented mock user', () => {
    const names = new Set(USER_CASES.map((u) => u.username.replace(/\d+$/, 'N')));
    for (const u of DOCUMENTED_USERS) expect(names.has(u.username.split(' ')[0]!.replace(/\d+$/, 'N'))).toBe(true);
  });

  it.each(USER_CASES)('$username/$password via $provider', async (u) => {
    const t = await connect(sb, { username: u.username, password: u.password, provider_id: u.provider });
    const get = (p: string) => request(sb.app).get(`/data/v1${p}`).set(bearer(t.access_token)).set('X-PSU-IP', '192.0.2.10');
    check(data, '/me', 'get', await get('/me'));
    check(data, '/info', 'get', await get('/info'));
    const accounts = await get('/accounts');
    check(data, '/accounts', 'get', accounts);
    const cards = await get('/cards');
    check(data, '/cards', 'get', cards);
    const ids = (res: Response): string[] => (res.status === 200 ? (res.body.results as Array<{ account_id: string }>).map((a) => a.account_id) : []);
    const range = `from=${isoDate(sb.clock.now() - 60 * DAY)}&to=${isoDate(sb.clock.now())}`;
    for (const id of [...ids(accounts), '0123456789abcdef0123456789abcdef']) {
      check(data, '/accounts/{account_id}', 'get', await get(`/accounts/${id}`));
      check(data, '/accounts/{account_id}/balance', 'get', await get(`/accounts/${id}/balance`));
      check(data, '/accounts/{account_id}/transactions', 'get', await get(`/accounts/${id}/transactions?${range}`));
      check(data, '/accounts/{account_id}/transactions', 'get', await get(`/accounts/${id}/transactions`));
      check(data, '/accounts/{account_id}/transactions/pending', 'get', await get(`/accounts/${id}/transactions/pending`));
      check(data, '/accounts/{account_id}/standing_orders', 'get', await get(`/accounts/${id}/standing_orders`));
      check(data, '/accounts/{account_id}/direct_debits', 'get', await get(`/accounts/${id}/direct_debits`));
    }
    for (const id of [...ids(cards), '0123456789abcdef0123456789abcdef01234567']) {
      check(data, '/cards/{account_id}', 'get', await get(`/cards/${id}`));
      check(data, '/cards/{account_id}/balance', 'get', await get(`/cards/${id}/balance`));
      check(data, '/cards/{account_id}/transactions', 'get', await get(`/cards/${id}/transactions?${range}`));
      check(data, '/cards/{account_id}/transactions/pending', 'get', await get(`/cards/${id}/transactions/pending`));
    }
    // async mode: 202 then results (validated against the synchronous endpoint's schema)
    const asyncPath = t.scope.split(' ').includes('accounts') ? '/accounts' : '/cards';
    const accepted = await get(`${asyncPath}?async=true`);
    check(data, asyncPath, 'get', accepted);
    expect(accepted.status).toBe(202);
    let results: Response | undefined;
    for (let i = 0; i < 400; i += 1) {
      results = await request(sb.app).get(new URL(accepted.body.results_uri).pathname).set(bearer(t.access_token));
      if (results.status !== 202) break;
      await wait(10);
    }
    if (!results) throw new Error('no results');
    check(data, asyncPath, 'get', results);
    // batch (deprecated)
    if (!t.scope.split(' ').includes('accounts')) return;
    const batch = await request(sb.app).post('/data/v1/batch/transactions').set(bearer(t.access_token)).send({ from: `${isoDate(sb.clock.now() - 7 * DAY)}T00:00:00`, to: `${isoDate(sb.clock.now())}T00:00:00`, pending: true, balance: true });
    check(data, '/batch/transactions', 'post', batch);
    let batchResults: Response | undefined;
    for (let i = 0; i < 400; i += 1) {
      batchResults = await request(sb.app).get('/data/v1/batch/results').set(bearer(t.access_token));
      if (batchResults.status !== 202) break;
      await wait(10);
    }
    if (batchResults && batchResults.status !== 202) check(data, '/batch/results', 'get', batchResults);
  });

  it('error statuses: 400, 401, 403 (sca/consent), 429, faults 500/501/503/504', async () => {
    const t = await connect(sb, { provider_id: 'ob-lloyds' });
    const get = (p: string, token: string = t.access_token) => request(sb.app).get(`/data/v1${p}`).set(bearer(token));
    const accId = (await get('/accounts').set('X-PSU-IP', '192.0.2.1')).body.results[0].account_id as string;
    check(data, '/accounts/{account_id}/transactions', 'get', await get(`/accounts/${accId}/transactions?from=garbage`));
    check(data, '/accounts/{account_id}/transactions', 'get', await get(`/accounts/${accId}/transactions?from=2026-02-01&to=2026-01-01`));
    check(data, '/accounts', 'get', await request(sb.app).get('/data/v1/accounts'));
    check(data, '/me', 'get', await request(sb.app).get('/data/v1/me').set(bearer('nope')));
    for (let i = 0; i < 5; i += 1) {
      const res = await get(`/accounts/${accId}/direct_debits`);
      check(data, '/accounts/{account_id}/direct_debits', 'get', res);
      if (i === 4) expect(res.status).toBe(429);
    }
    for (const code of ['internal_server_error', 'endpoint_not_supported', 'provider_error', 'temporarily_unavailable', 'connector_overload', 'connector_timeout', 'provider_timeout', 'provider_too_many_requests']) {
      sb.admin.addFault({ endpoint: 'account.balance', error: code, count: 1 });
      const res = await get(`/accounts/${accId}/balance`).set('X-PSU-IP', '192.0.2.1');
      expect(res.body.error).toBe(code);
      check(data, '/accounts/{account_id}/balance', 'get', res);
    }
    sb.admin.addFault({ endpoint: 'me', error: 'internal_server_error', count: 1 });
    check(data, '/me', 'get', await get('/me'));
    sb.admin.advanceClock(50 * MINUTE); // Lloyds group: 45-minute SCA window
    const refreshed = await request(sb.app).post('/connect/token').type('form').send({ grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: t.refresh_token });
    check(auth, '/connect/token', 'post', refreshed);
    const sca = await get(`/accounts/${accId}/transactions?from=2020-01-01&to=${isoDate(sb.clock.now())}`, refreshed.body.access_token).set('X-PSU-IP', '192.0.2.1');
    expect(sca.body.error).toBe('sca_exceeded');
    check(data, '/accounts/{account_id}/transactions', 'get', sca);
    await request(sb.app).delete('/api/delete').set(bearer(refreshed.body.access_token)).expect(200);
    check(data, '/me', 'get', await get('/me', refreshed.body.access_token));
  });

  it('/connections/extend: 200 (both outcomes), 400, 401, 422', async () => {
    const body = (rt: string | undefined) => ({
      user_has_reconfirmed_consent: true,
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      user: { id: 'u-1', name: 'John Doe', email: 'john@example.com' },
      refresh_token: rt,
      redirect_uri: REDIRECT_URI,
    });
    const extend = (b: unknown) => request(sb.app).post('/data/v1/connections/extend').send(b as object);
    const eternal = await connect(sb, { password: 'eternal', provider_id: 'ob-lloyds' });
    check(data, '/connections/extend', 'post', await extend(body(eternal.refresh_token)));
    const john = await connect(sb, { provider_id: 'ob-lloyds' });
    check(data, '/connections/extend', 'post', await extend(body(john.refresh_token)));
    check(data, '/connections/extend', 'post', await extend({ ...body(john.refresh_token), client_id: undefined }));
    check(data, '/connections/extend', 'post', await extend(body('F'.repeat(64))));
    const eu = await connect(sb, { provider_id: 'stet-credit-agricole' });
    const unprocessable = await extend(body(eu.refresh_token));
    expect(unprocessable.status).toBe(422);
    check(data, '/connections/extend', 'post', unprocessable);
  });
});

describe('contract: auth server', () => {
  let sb: Sandbox;
  let t: Tokens;
  beforeAll(async () => {
    sb = makeSandbox();
    t = await connect(sb);
  });
  afterAll(() => sb.dispose());

  it('/connect/token success and errors', async () => {
    const code = (await request(sb.app).post('/__admin/authorize').send({ client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, scope: FULL_SCOPE })).body.code as string;
    const form = { grant_type: 'authorization_code', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code, redirect_uri: REDIRECT_URI };
    check(auth, '/connect/token', 'post', await request(sb.app).post('/connect/token').type('form').send(form));
    check(auth, '/connect/token', 'post', await request(sb.app).post('/connect/token').type('form').send(form));
    check(auth, '/connect/token', 'post', await request(sb.app).post('/connect/token').send({ ...form, client_secret: 'bad' }));
    check(auth, '/connect/token', 'post', await request(sb.app).post('/connect/token').send({ grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: '#' }));
    check(auth, '/connect/token', 'post', await request(sb.app).post('/connect/token').send({ grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: t.refresh_token }));
    sb.admin.addFault({ endpoint: 'token', error: 'internal_server_error', description: 'Sorry, we are experiencing technical difficulties. Please try again later.', count: 1 });
    check(auth, '/connect/token', 'post', await request(sb.app).post('/connect/token').send(form));
  });

  it('/api/providers with every filter', async () => {
    for (const q of ['', '?country=uk', '?country=fr%20de', '?scopes=info%20accounts', `?clientId=${CLIENT_ID}`, '?clientId=unknown']) {
      check(auth, '/api/providers', 'get', await request(sb.app).get(`/api/providers${q}`));
    }
  });

  it('/v1/reauthuri, /v1/authuri, /api/debug, /api/delete', async () => {
    const fresh = await connect(sb);
    check(auth, '/v1/reauthuri', 'post', await request(sb.app).post('/v1/reauthuri').send({ response_type: 'code', refresh_token: fresh.refresh_token, redirect_uri: REDIRECT_URI, state: 's' }));
    check(auth, '/v1/reauthuri', 'post', await request(sb.app).post('/v1/reauthuri').send({ response_type: 'code', refresh_token: 'A'.repeat(64), redirect_uri: REDIRECT_URI }));
    check(
      auth,
      '/v1/authuri',
      'post',
      await request(sb.app).post('/v1/authuri').send({ response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, scope: 'info accounts', consent_id: 'c-1', provider_id: 'ob-monzo' }),
    );
    check(auth, '/v1/authuri', 'post', await request(sb.app).post('/v1/authuri').send({ response_type: 'code', client_id: 'nope', redirect_uri: REDIRECT_URI, scope: 'info', consent_id: 'c', provider_id: 'ob-monzo' }));
    const dbg = await request(sb.app).post('/api/debug').send({ access_token: fresh.access_token });
    check(auth, '/api/debug', 'post', dbg);
    check(auth, '/api/debug', 'post', await request(sb.app).post('/api/debug').send({ access_token: 'unknown' }));
    check(auth, '/api/debug', 'delete', await request(sb.app).delete('/api/debug').send({ debug_id: dbg.body.debug_id }));
    check(auth, '/api/debug', 'delete', await request(sb.app).delete('/api/debug').send({ debug_id: dbg.body.debug_id }));
    check(auth, '/api/delete', 'delete', await request(sb.app).delete('/api/delete').set(bearer(fresh.access_token)));
    check(auth, '/api/debug', 'post', await request(sb.app).post('/api/debug').send({ access_token: fresh.access_token }));
    check(auth, '/api/delete', 'delete', await request(sb.app).delete('/api/delete').set(bearer(fresh.access_token)));
  });
});

afterAll(() => {
  // every operation of both documents was exercised, each at least once with a 2xx answer
  const missing: string[] = [];
  for (const [spec, name] of [[auth, 'auth'], [data, 'data']] as const) {
    for (const { path, method } of spec.operations()) {
      const statuses = covered.get(`${name} ${method} ${path}`);
      if (!statuses || ![...statuses].some((s) => s >= 200 && s < 300)) missing.push(`${name} ${method.toUpperCase()} ${path}`);
    }
  }
  expect(missing).toEqual([]);
});
