import request from 'supertest';
import type { Sandbox } from '../src/app';
import { bearer, CLIENT_ID, CLIENT_SECRET, connect, DAY, FULL_SCOPE, HOUR, makeSandbox, MINUTE, OTHER_REDIRECT_URI, pkcePair, REDIRECT_URI } from './helpers';

// Generous per-test timeout: the heavy data set and the contract sweep can be slow on a loaded machine.
jest.setTimeout(60_000);

function authLink(params: Record<string, string>): string {
  const q = new URLSearchParams({ response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, scope: FULL_SCOPE, state: 'state-123', ...params });
  return `/?${q.toString()}`;
}

function formAction(html: string, testId: string): string {
  const re = new RegExp(`<form method="post" action="([^"]+)"[^>]*>(?:(?!</form>)[\\s\\S])*data-testid="${testId}"`);
  const m = re.exec(html);
  if (!m?.[1]) throw new Error(`no form with ${testId}`);
  return m[1];
}

function exchange(sb: Sandbox, code: string, extra: Record<string, string> = {}) {
  return request(sb.app)
    .post('/connect/token')
    .type('form')
    .send({ grant_type: 'authorization_code', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code, redirect_uri: REDIRECT_URI, ...extra });
}

describe('auth dialog (HTML) with PKCE', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = makeSandbox();
  });
  afterEach(() => sb.dispose());

  it('walks provider selection → consent → bank login → redirect, then exchanges the code with the verifier', async () => {
    const { verifier, challenge } = pkcePair();
    const agent = request(sb.app);
    const start = await agent.get(authLink({ providers: 'uk-cs-mock uk-ob-all', code_challenge: challenge, code_challenge_method: 'S256', nonce: 'n1' })).expect(303);
    const page = start.headers['location'] as string;
    const providers = await agent.get(page).expect(200);
    expect(providers.text).toContain('data-testid="provider-mock"');
    expect(providers.text).toContain('data-testid="provider-ob-monzo"');
    expect(providers.text).not.toContain('data-testid="provider-amex"');
    await agent.post(formAction(providers.text, 'provider-mock')).type('form').send({ provider_id: 'mock' }).expect(303);
    const consent = await agent.get(page).expect(200);
    expect(consent.text).toContain('data-testid="consent-allow"');
    // the page lists exactly what will be granted: the mock bank has no direct debits or standing orders
    const listed = [...consent.text.matchAll(/data-testid="scope-([a-z_]+)"/g)].map((m) => m[1]);
    expect(listed).toEqual(['info', 'accounts', 'balance', 'cards', 'transactions', 'offline_access']);
    await agent.post(formAction(consent.text, 'consent-allow')).type('form').send({}).expect(303);
    const login = await agent.get(page).expect(200);
    expect(login.text).toContain('data-testid="login-submit"');
    const loginAction = formAction(login.text, 'login-submit');
    const wrong = await agent.post(loginAction).type('form').send({ username: 'john', password: 'nope' }).expect(200);
    expect(wrong.text).toContain('data-testid="login-error"');
    const done = await agent.post(loginAction).type('form').send({ username: 'john', password: 'doe' }).expect(302);
    const location = new URL(done.headers['location'] as string);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe('state-123');
    const code = location.searchParams.get('code') ?? '';
    expect(code).not.toBe('');

    await exchange(sb, code).expect(400, { error: 'invalid_grant' }); // verifier missing (and this does not burn the code)
    await exchange(sb, code, { code_verifier: 'x'.repeat(43) }).expect(400, { error: 'invalid_grant' });
    const token = await exchange(sb, code, { code_verifier: verifier }).expect(200);
    expect(token.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    expect(token.body.scope).toBe('info accounts balance cards transactions offline_access'); // mock provider: no DD/SO
    expect(token.body.scope).toBe(listed.join(' ')); // granted = what the consent page showed
    expect(token.body.refresh_token).toMatch(/^[0-9A-F]{64}$/);
    const claims = JSON.parse(Buffer.from(token.body.access_token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ aud: 'data_api', connector_id: 'mock', client_id: CLIENT_ID });
    expect(claims.exp - claims.iat).toBe(3600);
    const me = await agent.get('/data/v1/me').set(bearer(token.body.access_token)).expect(200);
    expect(me.body.results[0].provider.provider_id).toBe('mock');
    // the same auth session cannot be replayed
    await agent.get(page).expect(410);
  });

  it('skips provider selection with provider_id and answers with form_post', async () => {
    const agent = request(sb.app);
    const start = await agent.get(authLink({ providers: 'uk-ob-all', provider_id: 'ob-lloyds', response_mode: 'form_post' })).expect(303);
    const page = start.headers['location'] as string;
    const consent = await agent.get(page).expect(200);
    expect(consent.text).toContain('data-testid="consent"');
    expect(consent.text).toContain('Lloyds');
    await agent.post(formAction(consent.text, 'consent-allow')).type('form').send({}).expect(303);
    const login = await agent.get(page).expect(200);
    const done = await agent.post(formAction(login.text, 'login-submit')).type('form').send({ username: 'john', password: 'doe' }).expect(200);
    expect(done.text).toContain('data-testid="form-post"');
    expect(done.text).toContain(`action="${REDIRECT_URI}"`);
    const code = /name="code" value="([^"]+)"/.exec(done.text)?.[1] ?? '';
    expect(/name="state" value="state-123"/.test(done.text)).toBe(true);
    const token = await exchange(sb, code).expect(200);
    expect(token.body.scope).toBe(FULL_SCOPE);
  });

  it('cancel redirects with error=access_denied and state', async () => {
    const agent = request(sb.app);
    const start = await agent.get(authLink({ providers: 'uk-cs-mock' })).expect(303);
    const page = await agent.get(start.headers['location'] as string).expect(200);
    const res = await agent.post(formAction(page.text, 'cancel')).type('form').send({}).expect(302);
    const url = new URL(res.headers['location'] as string);
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.get('state')).toBe('state-123');
    expect(url.searchParams.get('code')).toBeNull();
  });

  it('never redirects to an unregistered redirect_uri', async () => {
    const res = await request(sb.app).get(authLink({ redirect_uri: 'https://evil.example.com/cb', providers: 'uk-cs-mock' })).expect(400);
    expect(res.headers['location']).toBeUndefined();
    expect(res.text).toContain('data-testid="error-message"');
    await request(sb.app).get(authLink({ client_id: 'nope', providers: 'uk-cs-mock' })).expect(400);
    await request(sb.app).get(authLink({ providers: 'uk-cs-mock', code_challenge: pkcePair().challenge, code_challenge_method: 'plain' })).expect(400);
    await request(sb.app).get(authLink({ providers: 'uk-cs-mock', scope: 'accounts payments' })).expect(400);
  });
});

describe('/connect/token', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = makeSandbox();
  });
  afterEach(() => sb.dispose());

  async function code(extra: Record<string, unknown> = {}): Promise<string> {
    const res = await request(sb.app).post('/__admin/authorize').send({ client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state: 's', ...extra }).expect(200);
    expect(res.body.redirect_url).toContain('code=');
    return res.body.code as string;
  }

  it('admin shortcut + JSON body exchange; code reuse rejected', async () => {
    const c = await code();
    const body = { grant_type: 'authorization_code', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code: c, redirect_uri: REDIRECT_URI };
    await request(sb.app).post('/connect/token').send(body).expect(200);
    await request(sb.app).post('/connect/token').send(body).expect(400, { error: 'invalid_grant' });
  });

  it('rejects a wrong redirect_uri, an expired code and wrong client credentials', async () => {
    const c1 = await code();
    await exchange(sb, c1, { redirect_uri: OTHER_REDIRECT_URI }).expect(400, { error: 'invalid_grant' });
    const wrongSecret = await exchange(sb, c1, { client_secret: 'wrong' }).expect(401);
    expect(wrongSecret.body.error).toBe('unauthorized_client');
    const c2 = await code();
    sb.admin.advanceClock(5 * MINUTE + 1000);
    await exchange(sb, c2).expect(400, { error: 'invalid_grant' });
    const bad = await request(sb.app).post('/connect/token').type('form').send({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET }).expect(400);
    expect(bad.body.error).toBe('invalid_request');
  });

  it('no refresh token without offline_access', async () => {
    const t = await connect(sb, { scope: 'info accounts balance transactions' });
    expect(t.refresh_token).toBeUndefined();
    expect(t.scope).toBe('info accounts balance transactions');
  });

  it('refresh keeps the refresh token by default and only the newest access token stays valid', async () => {
    const t = await connect(sb);
    const refresh = () =>
      request(sb.app).post('/connect/token').type('form').send({ grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: t.refresh_token });
    const r1 = await refresh().expect(200);
    expect(r1.body.refresh_token).toBe(t.refresh_token);
    expect(r1.body.access_token).not.toBe(t.access_token);
    const old = await request(sb.app).get('/data/v1/me').set(bearer(t.access_token)).expect(401);
    expect(old.body.error).toBe('invalid_token');
    await request(sb.app).get('/data/v1/me').set(bearer(r1.body.access_token)).expect(200);
    const counters = await request(sb.app).get('/__admin/counters').expect(200);
    expect(counters.body.token_grants.refresh_token).toBe(1);
    expect(counters.body.per_connection[t.credentials_id].refresh_grants).toBe(1);

    sb.admin.setSwitches({ onlyNewestAccessTokenValid: false });
    const r2 = await refresh().expect(200);
    await request(sb.app).get('/data/v1/me').set(bearer(r1.body.access_token)).expect(200);
    await request(sb.app).get('/data/v1/me').set(bearer(r2.body.access_token)).expect(200);
    const malformed = await request(sb.app).post('/connect/token').type('form').send({ grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: '!' }).expect(401);
    expect(malformed.body).toEqual({ error: 'invalid_request', error_description: 'Invalid request', error_details: { reason: 'Invalid refresh_token' } });
  });

  it('rotation switch issues a new refresh token and invalidates the old one', async () => {
    sb.admin.setSwitches({ refreshTokenRotation: true });
    const t = await connect(sb);
    const body = { grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: t.refresh_token };
    const r1 = await request(sb.app).post('/connect/token').send(body).expect(200);
    expect(r1.body.refresh_token).not.toBe(t.refresh_token);
    await request(sb.app).post('/connect/token').send(body).expect(400, { error: 'invalid_grant' });
    await request(sb.app).post('/connect/token').send({ ...body, refresh_token: r1.body.refresh_token }).expect(200);
  });

  it('expired access token → 401 invalid_token with the expiry time', async () => {
    const t = await connect(sb);
    sb.admin.advanceClock(HOUR + 1000);
    const res = await request(sb.app).get('/data/v1/accounts').set(bearer(t.access_token)).expect(401);
    expect(res.body.error).toBe('invalid_token');
    expect(res.body.error_description).toMatch(/^The token expired at '\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z'$/);
  });
});

describe('consent lifecycle', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = makeSandbox();
  });
  afterEach(() => sb.dispose());

  const refresh = (sb2: Sandbox, rt: string | undefined) =>
    request(sb2.app).post('/connect/token').type('form').send({ grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: rt });

  it('/me shows a 90-day consent; after expiry data → 403 access_denied and refresh → invalid_grant', async () => {
    const t = await connect(sb);
    const me = await request(sb.app).get('/data/v1/me').set(bearer(t.access_token)).expect(200);
    const r = me.body.results[0];
    expect(Date.parse(r.consent_expires_at) - Date.parse(r.consent_created_at)).toBe(90 * DAY);
    expect(r.credentials_id).toBe(t.credentials_id);
    sb.admin.advanceClock(90 * DAY - 30 * MINUTE);
    const live = await refresh(sb, t.refresh_token).expect(200);
    sb.admin.advanceClock(31 * MINUTE);
    const denied = await request(sb.app).get('/data/v1/accounts').set(bearer(live.body.access_token)).expect(403);
    expect(denied.body).toEqual({ error: 'access_denied', error_description: 'Access to a specific resource has been denied.', error_details: {} });
    await refresh(sb, t.refresh_token).expect(400, { error: 'invalid_grant' });
  });

  it('reauth via /v1/reauthuri keeps credentials_id and the refresh token; account ids change only with the switch', async () => {
    const t = await connect(sb, { provider_id: 'ob-lloyds' });
    const accountsBefore = await request(sb.app).get('/data/v1/accounts').set(bearer(t.access_token)).expect(200);
    sb.admin.advanceClock(95 * DAY);
    const link = await request(sb.app).post('/v1/reauthuri').send({ response_type: 'code', refresh_token: t.refresh_token, redirect_uri: REDIRECT_URI, state: 'again' }).expect(200);
    expect(link.body.success).toBe(true);
    sb.admin.setSwitches({ accountIdChangeOnReauth: true });
    const auth = await request(sb.app).post('/__admin/authorize').send({ auth_url: link.body.result, username: 'john', password: 'doe' }).expect(200);
    expect(auth.body.state).toBe('again');
    const token = await exchange(sb, auth.body.code).expect(200);
    expect(token.body.refresh_token).toBe(t.refresh_token);
    const me = await request(sb.app).get('/data/v1/me').set(bearer(token.body.access_token)).expect(200);
    expect(me.body.results[0].credentials_id).toBe(t.credentials_id);
    expect(Date.parse(me.body.results[0].consent_created_at)).toBe(sb.clock.now());
    expect(Date.parse(me.body.results[0].consent_expires_at)).toBeGreaterThan(sb.clock.now() + 89 * DAY);
    const accountsAfter = await request(sb.app).get('/data/v1/accounts').set(bearer(token.body.access_token)).expect(200);
    expect(accountsAfter.body.results[0].account_id).not.toBe(accountsBefore.body.results[0].account_id);
    expect(accountsAfter.body.results[0].account_number).toEqual(accountsBefore.body.results[0].account_number);
    // a fresh auth creates a new credentials_id
    const fresh = await connect(sb);
    expect(fresh.credentials_id).not.toBe(t.credentials_id);
  });

  it('DELETE /api/delete revokes the connection', async () => {
    const t = await connect(sb);
    await request(sb.app).delete('/api/delete').expect(401);
    const del = await request(sb.app).delete('/api/delete').set(bearer(t.access_token)).expect(200);
    expect(del.text).toBe('');
    const data = await request(sb.app).get('/data/v1/accounts').set(bearer(t.access_token)).expect(403);
    expect(data.body.error).toBe('access_denied');
    await refresh(sb, t.refresh_token).expect(400, { error: 'invalid_grant' });
    const dbg = await request(sb.app).post('/api/debug').send({ access_token: t.access_token }).expect(400);
    expect(dbg.body.error_details.reason).toBe('Consent expired or revoked');
  });

  it('/api/debug issues and deletes a debug id', async () => {
    const t = await connect(sb);
    const dbg = await request(sb.app).post('/api/debug').send({ access_token: t.access_token }).expect(200);
    expect(dbg.body).toMatchObject({ credentials_id: t.credentials_id, provider_id: 'mock' });
    expect(dbg.body.debug_id).toMatch(/^mock\|/);
    const del = await request(sb.app).delete('/api/debug').send({ debug_id: dbg.body.debug_id }).expect(200);
    expect(del.body.debug_id).toBe(dbg.body.debug_id);
  });

  it('/connections/extend: eternal → no_action_needed, john → authentication_needed, validation → RFC 7807', async () => {
    const eternal = await connect(sb, { password: 'eternal', provider_id: 'ob-lloyds' });
    const body = (rt: string | undefined) => ({
      user_has_reconfirmed_consent: true,
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      user: { id: 'u1', name: 'John Doe', email: 'john@example.com' },
      refresh_token: rt,
      redirect_uri: REDIRECT_URI,
    });
    sb.admin.advanceClock(80 * DAY);
    const ok = await request(sb.app).post('/data/v1/connections/extend').send(body(eternal.refresh_token)).expect(200);
    expect(ok.body).toMatchObject({ action_needed: 'no_action_needed', token_type: 'Bearer', expires_in: 3600, refresh_token: eternal.refresh_token });
    const me = await request(sb.app).get('/data/v1/me').set(bearer(ok.body.access_token)).expect(200);
    expect(Date.parse(me.body.results[0].consent_expires_at)).toBe(sb.clock.now() + 90 * DAY);
    const john = await connect(sb);
    const auth = await request(sb.app).post('/data/v1/connections/extend').send(body(john.refresh_token)).expect(200);
    expect(auth.body.action_needed).toBe('authentication_needed');
    expect(auth.body.user_input_link).toContain('session_id=');
    const invalid = await request(sb.app).post('/data/v1/connections/extend').send({ ...body(john.refresh_token), client_id: undefined }).expect(400);
    expect(invalid.headers['content-type']).toContain('application/problem+json');
    expect(invalid.body.errors).toEqual({ ClientId: ['The ClientId field is required.'] });
    const unauth = await request(sb.app).post('/data/v1/connections/extend').send(body('0'.repeat(64))).expect(401);
    expect(unauth.body.detail).toBe('Refresh token missing or invalid.');
  });
});

describe('/api/providers', () => {
  const sb = makeSandbox();
  afterAll(() => sb.dispose());

  it('returns a bare array and filters by country, scopes and clientId', async () => {
    const all = await request(sb.app).get('/api/providers').expect(200);
    expect(Array.isArray(all.body)).toBe(true);
    expect(all.body.length).toBeGreaterThanOrEqual(20);
    expect(all.body.find((p: { provider_id: string }) => p.provider_id === 'mock')).toMatchObject({ display_name: 'Mock', country: 'uk' });
    const fr = await request(sb.app).get('/api/providers?country=fr').expect(200);
    expect(fr.body.every((p: { country: string }) => p.country === 'fr')).toBe(true);
    const ukIe = await request(sb.app).get('/api/providers').query({ country: 'uk ie' }).expect(200);
    expect(new Set(ukIe.body.map((p: { country: string }) => p.country))).toEqual(new Set(['uk', 'ie']));
    const dd = await request(sb.app).get('/api/providers').query({ scopes: 'direct_debits cards' }).expect(200);
    expect(dd.body.every((p: { scopes: string[] }) => p.scopes.includes('direct_debits') && p.scopes.includes('cards'))).toBe(true);
    expect(dd.body.some((p: { provider_id: string }) => p.provider_id === 'mock')).toBe(false);
    await request(sb.app).get('/api/providers?clientId=unknown').expect(200, []);
    const mine = await request(sb.app).get(`/api/providers?clientId=${CLIENT_ID}`).expect(200);
    expect(mine.body.length).toBe(all.body.length);
    const logo = await request(sb.app).get(new URL(all.body[0].logo_url).pathname).expect(200);
    expect(logo.headers['content-type']).toContain('image/svg+xml');
  });
});

describe('admin authorize shortcut', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = makeSandbox();
  });
  afterEach(() => sb.dispose());

  it('supports PKCE, form_post, cancel and reauth links opened in the HTML dialog', async () => {
    const { verifier, challenge } = pkcePair();
    const a = await request(sb.app)
      .post('/__admin/authorize')
      .send({ client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256', response_mode: 'form_post', state: 'p' })
      .expect(200);
    expect(a.body.response_mode).toBe('form_post');
    await exchange(sb, a.body.code).expect(400);
    const t = await exchange(sb, a.body.code, { code_verifier: verifier }).expect(200);
    const cancelled = await request(sb.app).post('/__admin/authorize').send({ state: 'c', cancel: true }).expect(200);
    expect(cancelled.body.redirect_url).toBe(`${REDIRECT_URI}?error=access_denied&state=c`);
    await request(sb.app).post('/__admin/authorize').send({ username: 'john', password: 'bad' }).expect(400);
    await request(sb.app).post('/__admin/authorize').send({ redirect_uri: 'https://evil.example.com/' }).expect(400);

    const link = await request(sb.app).post('/v1/reauthuri').send({ response_type: 'code', refresh_token: t.body.refresh_token, redirect_uri: REDIRECT_URI }).expect(200);
    const url = new URL(link.body.result);
    const start = await request(sb.app).get(`${url.pathname}${url.search}`).expect(303);
    const login = await request(sb.app).get(start.headers['location'] as string).expect(200);
    expect(login.text).toContain('data-testid="bank-login"');
  });

  it('latency fault delays the answer', async () => {
    const t = await connect(sb);
    sb.admin.addFault({ endpoint: 'me', latencyMs: 150, count: 1 });
    const started = Date.now();
    await request(sb.app).get('/data/v1/me').set(bearer(t.access_token)).expect(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('403 after consent expiry still carries X-Credentials-Id; /__admin is absent when disabled', async () => {
    const t = await connect(sb);
    await request(sb.app).post('/__admin/connections/revoke').send({ credentials_id: t.credentials_id }).expect(200);
    const res = await request(sb.app).get('/data/v1/me').set(bearer(t.access_token)).expect(403);
    expect(res.headers['x-credentials-id']).toBe(t.credentials_id);
    const noAdmin = makeSandbox({ admin: false });
    await request(noAdmin.app).get('/__admin/clock').expect(404);
    noAdmin.dispose();
  });
});

describe('refresh-token idle lapse switch', () => {
  it('a refresh token unused for longer than refreshTokenIdleDays → invalid_grant', async () => {
    const sb = makeSandbox({ switches: { refreshTokenIdleDays: 30 } });
    const t = await connect(sb);
    const refresh = () =>
      request(sb.app).post('/connect/token').type('form').send({ grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: t.refresh_token });
    sb.admin.advanceClock(29 * DAY);
    await refresh().expect(200);
    sb.admin.advanceClock(31 * DAY);
    await refresh().expect(400, { error: 'invalid_grant' });
    sb.dispose();
  });
});
