import request from 'supertest';
import { randomBytes } from 'node:crypto';
import { BINDING_COOKIE } from '../src/connect/pages.routes';
import { StateCodec, StateError } from '../src/security/state';
import { harness, stateOf, type Harness } from './harness';

const RETURN = 'https://app.budgetly.test/connected';

async function session(h: Harness, key: string, body: Record<string, unknown> = {}, user = 'user-1') {
  const res = await request(h.pub)
    .post(`/v1/users/${user}/connect-sessions`)
    .set('authorization', `Bearer ${key}`)
    .send({ dialog: 'truelayer', return_url: RETURN, ...body })
    .expect(201);
  return res.body as { session_id: string; url: string; expires_at: string };
}

/** Snapshot of every session record, to prove a rejected callback changed nothing. */
const snapshot = (h: Harness) => JSON.stringify([...h.sessions.records.values()]);

describe('state codec', () => {
  const codec = new StateCodec(randomBytes(32));
  const payload = { sid: 's1', uid: 'user-with-a-distinctive-id', cid: 'c1', intent: { kind: 'new' as const }, exp: 2_000 };

  it('round-trips and hides the payload', () => {
    const s = codec.seal(payload);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(s).not.toContain('distinctive');
    expect(Buffer.from(s, 'base64url').toString('latin1')).not.toContain('distinctive');
    expect(codec.open(s, 1_000)).toEqual(payload);
    expect(codec.seal(payload)).not.toBe(s);
  });

  it('rejects tampering, other keys, garbage and expiry', () => {
    const s = codec.seal(payload);
    const raw = Buffer.from(s, 'base64url');
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    const reason = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as StateError).reason;
      }
      return 'accepted';
    };
    expect(reason(() => codec.open(raw.toString('base64url'), 1_000))).toBe('forged');
    expect(reason(() => new StateCodec(randomBytes(32)).open(s, 1_000))).toBe('forged');
    expect(reason(() => codec.open('abc', 1_000))).toBe('malformed');
    expect(reason(() => codec.open('a b', 1_000))).toBe('malformed');
    expect(reason(() => codec.open(s, 2_000))).toBe('expired');
  });
});

describe('connect sessions (option 1: TrueLayer dialog)', () => {
  it("returns TrueLayer's auth link with providers, scopes, PKCE S256 and an encrypted state; stores the verifier server-side", async () => {
    const h = harness();
    const { clientId, key } = await h.newClient();
    const s = await session(h, key, { providers: ['uk-cs-mock'], scopes: ['info', 'accounts'], response_mode: 'form_post' });
    const u = new URL(s.url);
    expect(u.origin).toBe('http://tl.test');
    expect(u.searchParams.get('client_id')).toBe('sandbox-ais-test');
    expect(u.searchParams.get('redirect_uri')).toBe('http://gw.test/v1/callback');
    expect(u.searchParams.get('providers')).toBe('uk-cs-mock');
    expect(u.searchParams.get('scope')).toBe('info accounts');
    expect(u.searchParams.get('response_mode')).toBe('form_post');
    expect(u.searchParams.get('code_challenge_method')).toBe('S256');
    expect(u.searchParams.get('provider_id')).toBeNull();
    const rec = h.sessions.records.get(s.session_id)!;
    expect(rec).toMatchObject({ clientId, userId: 'user-1', intent: { kind: 'new' }, consumedAt: null, returnUrl: RETURN });
    expect(rec.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.url).not.toContain(rec.codeVerifier!);
    expect(h.codec.open(stateOf(s.url), h.clock.now)).toMatchObject({ sid: s.session_id, uid: 'user-1', cid: clientId });
    expect(Date.parse(s.expires_at) - h.clock.now).toBe(600_000);
  });

  it('uses configured defaults and validates the body and the return URL', async () => {
    const h = harness();
    const { key } = await h.newClient();
    const s = await session(h, key, { return_url: undefined });
    expect(new URL(s.url).searchParams.get('providers')).toBe('uk-ob-all uk-oauth-all');
    const auth = { authorization: `Bearer ${key}` };
    const post = (body: unknown) => request(h.pub).post('/v1/users/user-1/connect-sessions').set(auth).send(body as object);
    expect((await post({ dialog: 'popup' }).expect(400)).body.code).toBe('invalid_body');
    expect((await post({ dialog: 'truelayer', extra: 1 }).expect(400)).body.code).toBe('invalid_body');
    expect((await post({ dialog: 'truelayer', return_url: 'https://evil.test/x' }).expect(403)).body.code).toBe('return_url_not_allowed');
    expect((await post({ dialog: 'truelayer', return_url: 'javascript:alert(1)' }).expect(400)).body.code).toBe('invalid_return_url');
    expect((await post({ dialog: 'truelayer', return_url: 'https://app.budgetly.test/connectedx' }).expect(403)).body.code).toBe('return_url_not_allowed');
    expect((await post({ dialog: 'truelayer', scopes: ['balance'] }).expect(400)).body.code).toBe('invalid_auth_request');
    await post({ dialog: 'truelayer', return_url: 'https://app.budgetly.test/connected/deep?x=1' }).expect(201);
  });
});

describe('callback', () => {
  it('query: consumes the state, exchanges the code in token-vault and lands on the bounce page', async () => {
    const h = harness();
    const { clientId, key } = await h.newClient();
    const s = await session(h, key);
    const state = stateOf(s.url);
    // the proxy in front (loopback, trusted by TRUST_PROXY) names the user's IP
    const res = await request(h.pub).get('/v1/callback').set('x-forwarded-for', '198.51.100.23').query({ code: 'the-code', state, scope: 'info accounts' }).expect(303);
    expect(res.headers['location']).toMatch(/^\/bounce\/[A-Za-z0-9_-]{43}$/);
    const rec = h.sessions.records.get(s.session_id)!;
    expect(h.tv.exchangeCode).toHaveBeenCalledWith({
      clientId,
      userId: 'user-1',
      authorizationCode: 'the-code',
      redirectUri: 'http://gw.test/v1/callback',
      codeVerifier: rec.codeVerifier,
      previousConnectionId: '',
      psuIp: '198.51.100.23',
    });
    expect(rec).toMatchObject({ outcome: 'connected', connectionId: 'conn-new' });
    expect(rec.consumedAt).not.toBeNull();
    const bounce = await request(h.pub).get(res.headers['location']!).expect(200);
    expect(bounce.text).toContain('data-testid="bounce-page"');
    expect(bounce.text).toContain(`href="${RETURN}?status=connected&amp;session_id=${s.session_id}&amp;connection_id=conn-new"`);
    expect(bounce.text).toContain('data-testid="web-fallback"');
    expect(bounce.headers['content-security-policy']).toContain("default-src 'none'");
    expect(bounce.text).not.toMatch(/<script/i);
  });

  it('form_post: accepts the result from a form body', async () => {
    const h = harness();
    const { key } = await h.newClient();
    const s = await session(h, key, { response_mode: 'form_post' });
    const res = await request(h.pub).post('/v1/callback').type('form').send({ code: 'c2', state: stateOf(s.url) }).expect(303);
    expect(res.headers['location']).toMatch(/^\/bounce\//);
    // without a proxy header: the peer's own address
    expect(h.tv.exchangeCode).toHaveBeenCalledWith(expect.objectContaining({ authorizationCode: 'c2', psuIp: expect.stringMatching(/127\.0\.0\.1$|^::1$/) }));
  });

  it('access_denied ends in a "you cancelled" page, consumes the session and never exchanges', async () => {
    const h = harness();
    const { key } = await h.newClient();
    const s = await session(h, key);
    const res = await request(h.pub).post('/v1/callback').type('form').send({ error: 'access_denied', state: stateOf(s.url) }).expect(200);
    expect(res.text).toContain('data-outcome="cancelled"');
    expect(res.text).toContain('You cancelled');
    expect(res.text).toContain(`${RETURN}?status=cancelled&amp;error=access_denied`);
    expect(h.tv.exchangeCode).not.toHaveBeenCalled();
    expect(h.sessions.records.get(s.session_id)).toMatchObject({ outcome: 'cancelled', outcomeCode: 'access_denied' });
    const other = await session(h, key);
    const failed = await request(h.pub).get('/v1/callback').query({ error: 'provider_error', state: stateOf(other.url) }).expect(502);
    expect(failed.text).toContain('data-outcome="failed"');
    expect(h.tv.exchangeCode).not.toHaveBeenCalled();
  });

  it('a failing exchange ends in a clear page', async () => {
    const h = harness();
    const { key } = await h.newClient();
    h.tv.exchangeCode.mockRejectedValueOnce(new Error('boom'));
    const s = await session(h, key);
    const res = await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(s.url) }).expect(502);
    expect(res.text).toContain('data-outcome="failed"');
  });

  describe('state attacks are rejected with an error page and leave no record', () => {
    it('forged: a state not made by us', async () => {
      const h = harness();
      const { clientId, key } = await h.newClient();
      const s = await session(h, key);
      const before = snapshot(h);
      const other = new StateCodec(randomBytes(32)).seal({ sid: s.session_id, uid: 'user-1', cid: clientId, intent: { kind: 'new' }, exp: h.clock.now + 60_000 });
      for (const state of [other, 'not-a-state', `${stateOf(s.url).slice(0, -2)}AA`]) {
        const res = await request(h.pub).get('/v1/callback').query({ code: 'x', state }).expect(400);
        expect(res.text).toContain('data-outcome="rejected"');
      }
      const none = await request(h.pub).get('/v1/callback').query({ code: 'x' }).expect(400);
      expect(none.text).toContain('data-testid="outcome-page"');
      expect(snapshot(h)).toBe(before);
      expect(h.tv.exchangeCode).not.toHaveBeenCalled();
    });

    it('replayed: the second use of a state', async () => {
      const h = harness();
      const { key } = await h.newClient();
      const s = await session(h, key);
      await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(s.url) }).expect(303);
      const before = snapshot(h);
      const res = await request(h.pub).post('/v1/callback').type('form').send({ code: 'y', state: stateOf(s.url) }).expect(400);
      expect(res.text).toContain('already been used');
      expect(snapshot(h)).toBe(before);
      expect(h.tv.exchangeCode).toHaveBeenCalledTimes(1);
    });

    it('expired: a state past its lifetime', async () => {
      const h = harness();
      const { key } = await h.newClient();
      const s = await session(h, key);
      const before = snapshot(h);
      h.clock.now += 600_001;
      const res = await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(s.url) }).expect(410);
      expect(res.text).toContain('data-outcome="expired"');
      expect(snapshot(h)).toBe(before);
      expect(h.sessions.records.get(s.session_id)!.consumedAt).toBeNull();
      expect(h.tv.exchangeCode).not.toHaveBeenCalled();
    });

    it("cross-user / cross-client: a state naming another user's or client's session", async () => {
      const h = harness();
      const a = await h.newClient();
      const s = await session(h, a.key, {}, 'alice');
      const before = snapshot(h);
      const exp = h.clock.now + 60_000;
      const asBob = h.codec.seal({ sid: s.session_id, uid: 'bob', cid: a.clientId, intent: { kind: 'new' }, exp });
      const asOtherClient = h.codec.seal({ sid: s.session_id, uid: 'alice', cid: 'cother', intent: { kind: 'new' }, exp });
      const asReconsent = h.codec.seal({ sid: s.session_id, uid: 'alice', cid: a.clientId, intent: { kind: 'reconsent', connectionId: 'c9' }, exp });
      for (const state of [asBob, asOtherClient, asReconsent]) {
        const res = await request(h.pub).get('/v1/callback').query({ code: 'x', state }).expect(400);
        expect(res.text).toContain('belongs to a different request');
      }
      expect(snapshot(h)).toBe(before);
      expect(h.tv.exchangeCode).not.toHaveBeenCalled();
      // the rightful owner can still finish
      await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(s.url) }).expect(303);
    });

    it('unknown session: a valid-looking state whose session does not exist', async () => {
      const h = harness();
      const before = snapshot(h);
      const state = h.codec.seal({ sid: 'nope', uid: 'u', cid: 'c', intent: { kind: 'new' }, exp: h.clock.now + 60_000 });
      await request(h.pub).get('/v1/callback').query({ code: 'x', state }).expect(400);
      expect(snapshot(h)).toBe(before);
      expect(await h.sessions.count()).toBe(0);
    });
  });
});

describe('option 2: hosted picker and permission screen', () => {
  async function hosted(h: Harness) {
    const { key } = await h.newClient();
    const s = await session(h, key, { dialog: 'hosted' });
    expect(s.url).toMatch(/^http:\/\/gw\.test\/connect\/[A-Za-z0-9_-]{43}$/);
    // one browser (a cookie jar): the first open binds the session to it
    return { ...s, path: new URL(s.url).pathname, browser: request.agent(h.pub) };
  }

  it('bank picker lists providers with logos, search and country filter', async () => {
    const h = harness();
    const s = await hosted(h);
    const page = await s.browser.get(s.path).expect(200);
    expect(page.text).toContain('data-testid="bank-picker"');
    expect(page.text).toContain('data-testid="provider-mock"');
    expect(page.text).toContain('src="http://tl.test/logos/mock.svg"');
    expect(page.headers['content-security-policy']).toMatch(/img-src 'self' data: http:\/\/tl\.test;/);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['content-security-policy']).toContain("form-action 'self' http://tl.test");
    expect(page.text).not.toMatch(/<script|<link/i);
    const search = await s.browser.get(s.path).query({ q: 'barc' }).expect(200);
    expect(search.text).toContain('provider-ob-barclays');
    expect(search.text).not.toContain('provider-mock');
    const fr = await s.browser.get(s.path).query({ country: 'fr' }).expect(200);
    expect(fr.text).toContain('provider-fr-stet-bnp');
    expect(fr.text).not.toContain('provider-ob-barclays');
    await request(h.pub).get('/connect/unknown-token-unknown-token').expect(400);
  });

  it('permission screen explains what, why, 90 days, TrueLayer, revocation and privacy; then 303 to TrueLayer with provider_id', async () => {
    const h = harness();
    const s = await hosted(h);
    const consent = await s.browser.get(`${s.path}/consent`).query({ provider_id: 'mock' }).expect(200);
    for (const id of ['permission-screen', 'permission-info', 'permission-transactions', 'permission-offline_access', 'consent-duration', 'truelayer-info', 'revoke-info', 'privacy-policy', 'consent-continue']) {
      expect(consent.text).toContain(`data-testid="${id}"`);
    }
    expect(consent.text).toContain('90 days');
    expect(consent.text).toContain('Financial Conduct Authority');
    expect(consent.text).toContain('https://budgetly.test/privacy');
    expect(consent.headers['content-security-policy']).toContain('form-action');
    const go = await s.browser.post(`${s.path}/consent`).type('form').send({ provider_id: 'mock' }).expect(303);
    const link = new URL(go.headers['location']!);
    expect(link.origin).toBe('http://tl.test');
    expect(link.searchParams.get('provider_id')).toBe('mock');
    expect(link.searchParams.get('providers')).toContain('mock');
    expect(link.searchParams.get('code_challenge_method')).toBe('S256');
    expect(h.codec.open(stateOf(link.toString()), h.clock.now).sid).toBe(s.session_id);
    await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(link.toString()) }).expect(303);
    // the hosted pages die with the session
    await s.browser.get(s.path).expect(400);
  });

  it('cancel on our own page ends the session', async () => {
    const h = harness();
    const s = await hosted(h);
    await s.browser.get(s.path).expect(200);
    const res = await s.browser.post(`${s.path}/cancel`).expect(200);
    expect(res.text).toContain('data-outcome="cancelled"');
    expect(h.sessions.records.get(s.session_id)).toMatchObject({ outcome: 'cancelled' });
  });
});

describe('hosted pages are bound to the browser that opened them first', () => {
  async function hosted(h: Harness) {
    const { key } = await h.newClient();
    const s = await session(h, key, { dialog: 'hosted' });
    return { ...s, path: new URL(s.url).pathname, token: new URL(s.url).pathname.split('/')[2]! };
  }
  const cookieOf = (res: request.Response): string => {
    const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${BINDING_COOKIE}=`));
    if (!set) throw new Error('no binding cookie');
    return set;
  };

  it('browser A binds the link on first open; browser B (no cookie, a forged one, another session\'s) gets a 403 page and changes nothing; A finishes', async () => {
    const h = harness();
    const s = await hosted(h);
    const a = request.agent(h.pub);
    const first = await a.get(s.path).expect(200);
    const cookie = cookieOf(first);
    // HttpOnly, SameSite=Lax, only this session's pages, as long as the session lives; not Secure on http://
    expect(cookie).toMatch(new RegExp(`^${BINDING_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=600; Path=/connect/${s.token}; Expires=[^;]+; HttpOnly; SameSite=Lax$`));
    const secret = /=([^;]+);/.exec(cookie)![1]!;
    const rec = h.sessions.records.get(s.session_id)!;
    expect(rec.browserBinding).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.browserBinding).not.toContain(secret);

    const other = await hosted(h);
    const otherCookie = cookieOf(await request(h.pub).get(other.path).expect(200));
    const before = snapshot(h);
    const browsers = [
      request.agent(h.pub), // no cookie
      request.agent(h.pub).set('cookie', `${BINDING_COOKIE}=${'A'.repeat(43)}`), // a guessed secret
      request.agent(h.pub).set('cookie', otherCookie.split(';')[0]!), // a real binding of another session
    ];
    for (const b of browsers) {
      for (const res of [
        await b.get(s.path),
        await b.get(`${s.path}/consent`).query({ provider_id: 'mock' }),
        await b.post(`${s.path}/consent`).type('form').send({ provider_id: 'mock' }),
        await b.post(`${s.path}/cancel`),
        await b.post(`${s.path}/reconfirm`).type('form').send({}),
      ]) {
        expect(res.status).toBe(403);
        expect(res.text).toContain('data-outcome="rejected"');
        expect(res.text).toContain('This link was opened in another browser');
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(res.headers['location']).toBeUndefined();
      }
    }
    expect(snapshot(h)).toBe(before);
    expect(h.sessions.records.get(s.session_id)).toMatchObject({ providerId: null, consumedAt: null, outcome: null });

    // A goes on: permission screen, consent, TrueLayer, callback, bounce
    await a.get(`${s.path}/consent`).query({ provider_id: 'mock' }).expect(200);
    const go = await a.post(`${s.path}/consent`).type('form').send({ provider_id: 'mock' }).expect(303);
    expect(new URL(go.headers['location']!).searchParams.get('provider_id')).toBe('mock');
    const done = await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(go.headers['location']!) }).expect(303);
    expect(done.headers['location']).toMatch(/^\/bounce\//);
    expect(h.sessions.records.get(s.session_id)).toMatchObject({ outcome: 'connected' });
  });

  it('only one of several browsers opening the link at once wins', async () => {
    const h = harness();
    const s = await hosted(h);
    const results = await Promise.all(Array.from({ length: 6 }, () => request(h.pub).get(s.path)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 403, 403, 403, 403, 403]);
    expect(results.filter((r) => r.headers['set-cookie'])).toHaveLength(1);
  });

  it('an action (POST) on a link nobody opened, or a HEAD, binds nothing and changes nothing', async () => {
    const h = harness();
    const s = await hosted(h);
    const before = snapshot(h);
    const cancel = await request(h.pub).post(`${s.path}/cancel`).expect(403);
    expect(cancel.text).toContain('has not been opened yet');
    await request(h.pub).post(`${s.path}/consent`).type('form').send({ provider_id: 'mock' }).expect(403);
    const head = await request(h.pub).head(s.path).expect(200);
    expect(head.headers['set-cookie']).toBeUndefined();
    expect(snapshot(h)).toBe(before);
    // the user's own first open still binds
    await request.agent(h.pub).get(s.path).expect(200);
    expect(h.sessions.records.get(s.session_id)!.browserBinding).not.toBeNull();
  });

  it('the cookie is Secure when the browser comes over https (public origin or a trusted proxy)', async () => {
    const h = harness();
    const viaProxy = await hosted(h);
    const proxied = await request(h.pub).get(viaProxy.path).set('x-forwarded-proto', 'https').expect(200);
    expect(cookieOf(proxied)).toMatch(/; Secure;/);
    h.settings.publicBaseUrl = 'https://gw.test';
    const s = await hosted(h);
    expect(cookieOf(await request(h.pub).get(s.path).expect(200))).toMatch(/; HttpOnly; Secure; SameSite=Lax$/);
  });
});

describe('re-consent', () => {
  it('reauth: token-vault gets a state bound to the connection; the callback passes previous_connection_id', async () => {
    const h = harness();
    const { clientId, key } = await h.newClient();
    const res = await request(h.pub).post('/v1/users/user-1/connections/conn-1/reconsent').set('authorization', `Bearer ${key}`).send({}).expect(201);
    expect(res.body).toMatchObject({ outcome: 'reauth', url: 'http://tl.test/reauth?x=1' });
    const call = h.tv.startReconsent.mock.calls[0]![0] as { state: string };
    expect(h.codec.open(call.state, h.clock.now)).toMatchObject({ uid: 'user-1', cid: clientId, intent: { kind: 'reconsent', connectionId: 'conn-1' } });
    await request(h.pub).get('/v1/callback').query({ code: 'x', state: call.state }).expect(303);
    expect(h.tv.exchangeCode).toHaveBeenCalledWith(expect.objectContaining({ previousConnectionId: 'conn-1', codeVerifier: '' }));
  });

  it('new auth: returns a connect URL whose state carries the old connection', async () => {
    const h = harness();
    const { key } = await h.newClient();
    h.tv.startReconsent.mockResolvedValueOnce({ outcome: { $case: 'newAuthRequired', newAuthRequired: 'conn-1' } });
    const res = await request(h.pub).post('/v1/users/user-1/connections/conn-1/reconsent').set('authorization', `Bearer ${key}`).send({ dialog: 'truelayer' }).expect(201);
    expect(res.body.outcome).toBe('new_auth');
    const link = new URL(res.body.url as string);
    expect(link.searchParams.get('code_challenge')).toBeTruthy();
    expect(h.codec.open(stateOf(link.toString()), h.clock.now).intent).toEqual({ kind: 'reconsent', connectionId: 'conn-1' });
    await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(link.toString()) }).expect(303);
    const verifier = h.sessions.records.get(res.body.session_id as string)!.codeVerifier;
    expect(h.tv.exchangeCode).toHaveBeenCalledWith(expect.objectContaining({ previousConnectionId: 'conn-1', codeVerifier: verifier }));
  });
});

describe('hosted re-consent page (the user reconfirms on our page)', () => {
  async function confirmSession(h: Harness) {
    const { key } = await h.newClient();
    const res = await request(h.pub)
      .post('/v1/users/user-1/connections/conn-1/reconsent')
      .set('authorization', `Bearer ${key}`)
      .send({ dialog: 'hosted', return_url: RETURN })
      .expect(201);
    expect(res.body.outcome).toBe('confirm');
    expect(h.tv.startReconsent).not.toHaveBeenCalled();
    const path = new URL(res.body.url as string).pathname;
    expect(path).toMatch(/^\/connect\/[A-Za-z0-9_-]{43}\/reconfirm$/);
    return { path, sessionId: res.body.session_id as string, browser: request.agent(h.pub) };
  }

  it('shows what is shared and days left; confirming extends and lands on the bounce page', async () => {
    const h = harness();
    const { path, sessionId, browser } = await confirmSession(h);
    const page = await browser.get(path).expect(200);
    for (const id of ['reconfirm-screen', 'permission-info', 'days-left', 'consent-duration', 'truelayer-info', 'revoke-info', 'privacy-policy', 'reconfirm-continue']) {
      expect(page.text).toContain(`data-testid="${id}"`);
    }
    expect(page.text).toContain('66');
    h.tv.startReconsent.mockResolvedValueOnce({ outcome: { $case: 'extended', extended: (await h.tv.getConnection({ clientId: 'c', userId: 'user-1', connectionId: 'conn-1' })).connection } });
    const go = await browser.post(path).type('form').send({}).expect(303);
    expect(h.tv.startReconsent).toHaveBeenCalledWith(expect.objectContaining({ userReconfirmed: true, connectionId: 'conn-1', userId: 'user-1' }));
    expect(go.headers['location']).toMatch(/^\/bounce\//);
    const bounce = await request(h.pub).get(go.headers['location']!).expect(200);
    expect(bounce.text).toContain('data-outcome="extended"');
    expect(bounce.text).toContain('status=extended');
    expect(h.sessions.records.get(sessionId)).toMatchObject({ outcome: 'extended', connectionId: 'conn-1' });
    // single use: the page is gone
    await browser.get(path).expect(400);
    expect(h.tv.exchangeCode).not.toHaveBeenCalled();
  });

  it('falls back to the reauth link, whose callback renews the connection', async () => {
    const h = harness();
    const { path, browser } = await confirmSession(h);
    await browser.get(path).expect(200);
    const go = await browser.post(path).type('form').send({}).expect(303);
    expect(go.headers['location']).toBe('http://tl.test/reauth?x=1');
    const state = (h.tv.startReconsent.mock.calls[0]![0] as { state: string }).state;
    await request(h.pub).get('/v1/callback').query({ code: 'x', state }).expect(303);
    expect(h.tv.exchangeCode).toHaveBeenCalledWith(expect.objectContaining({ previousConnectionId: 'conn-1', codeVerifier: '' }));
  });

  it('falls back to a fresh auth at the same bank, carrying the old connection', async () => {
    const h = harness();
    const { path, browser } = await confirmSession(h);
    await browser.get(path).expect(200);
    h.tv.startReconsent.mockResolvedValueOnce({ outcome: { $case: 'newAuthRequired', newAuthRequired: 'no_refresh_token' } });
    const go = await browser.post(path).type('form').send({}).expect(303);
    const link = new URL(go.headers['location']!);
    expect(link.searchParams.get('provider_id')).toBe('mock');
    expect(link.searchParams.get('code_challenge')).toBeTruthy();
    expect(h.codec.open(stateOf(link.toString()), h.clock.now).intent).toEqual({ kind: 'reconsent', connectionId: 'conn-1' });
    await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(link.toString()) }).expect(303);
    expect(h.tv.exchangeCode).toHaveBeenCalledWith(expect.objectContaining({ previousConnectionId: 'conn-1' }));
  });

  it("refuses another user's connection before creating anything", async () => {
    const h = harness();
    const { key } = await h.newClient();
    await request(h.pub).post('/v1/users/user-1/connections/conn-404/reconsent').set('authorization', `Bearer ${key}`).send({ dialog: 'hosted' }).expect(404);
    expect(await h.sessions.count()).toBe(0);
  });
});

describe('public documents', () => {
  it('serves the app-association files from configuration, 404 when unset', async () => {
    const aasa = { applinks: { details: [{ appIDs: ['TEAM.com.budgetly'], components: [{ '/': '/connected/*' }] }] } };
    const assetLinks = [{ relation: ['delegate_permission/common.handle_all_urls'], target: { namespace: 'android_app', package_name: 'com.budgetly', sha256_cert_fingerprints: ['AA:BB'] } }];
    const h = harness({ aasa, assetLinks });
    const a = await request(h.pub).get('/.well-known/apple-app-site-association').expect(200);
    expect(a.headers['content-type']).toContain('application/json');
    expect(a.body).toEqual(aasa);
    expect((await request(h.pub).get('/.well-known/assetlinks.json').expect(200)).body).toEqual(assetLinks);
    const none = harness();
    await request(none.pub).get('/.well-known/apple-app-site-association').expect(404);
    await request(none.pub).get('/.well-known/assetlinks.json').expect(404);
  });

  it('serves a valid OpenAPI 3.1 document covering every /v1 route, without an API key', async () => {
    const h = harness();
    const res = await request(h.pub).get('/v1/openapi.json').expect(200);
    expect(res.headers['content-type']).toContain('application/json');
    const doc = JSON.parse(res.text) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths['/v1/users/{userId}/connect-sessions']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/v1/users/{userId}/connections/{connectionId}']!).sort()).toEqual(['delete', 'get']);
    expect(doc.paths['/v1/users/{userId}/connections/{connectionId}/reconsent']).toBeDefined();
    expect(Object.keys(doc.paths['/v1/users/{userId}/connections/{connectionId}/refresh']!)).toEqual(['post']);
    expect(doc.paths['/v1/webhooks/truelayer']!['post']).toMatchObject({ security: [] });
    expect(Object.keys(doc.paths['/v1/callback']!).sort()).toEqual(['get', 'post']);
    // every $ref resolves
    const refs = res.text.match(/"#\/components\/[^"]+"/g) ?? [];
    for (const r of refs) {
      const parts = r.slice(3, -1).split('/');
      let node: unknown = doc;
      for (const p of parts) node = (node as Record<string, unknown>)[p];
      expect(node).toBeDefined();
    }
  });
});
