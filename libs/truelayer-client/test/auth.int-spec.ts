import { createPkcePair, parseAuthRedirect, TrueLayerError } from '../src';
import { startHarness, USER_IP, type Harness } from './support/sandbox';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});
beforeEach(async () => {
  await h.admin('POST', '/reset');
});

async function expectTlError(p: Promise<unknown>): Promise<TrueLayerError> {
  const e = await p.then(
    () => {
      throw new Error('expected a TrueLayerError');
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(TrueLayerError);
  return e as TrueLayerError;
}

describe('providers', () => {
  it('lists providers and applies clientId/scopes/country filters', async () => {
    const all = await h.client.auth.providers();
    expect(all.results.map((p) => p.provider_id)).toContain('mock');
    const mock = all.results.find((p) => p.provider_id === 'mock');
    expect(mock?.scopes).toEqual(expect.arrayContaining(['accounts', 'balance']));
    const uk = await h.client.auth.providers({ clientId: true, country: ['uk'], scopes: ['direct_debits', 'standing_orders'] });
    expect(uk.results.length).toBeGreaterThan(0);
    expect(uk.results.every((p) => p.country === 'uk' && p.scopes.includes('direct_debits'))).toBe(true);
    expect(uk.results.some((p) => p.provider_id === 'mock')).toBe(false);
  });
});

describe('authorization_code grant', () => {
  it('exchanges a code (with PKCE) for tokens with the granted scopes', async () => {
    const { tokens } = await h.connect();
    expect(tokens.accessToken).toEqual(expect.any(String));
    expect(tokens.refreshToken).toEqual(expect.any(String));
    expect(tokens.tokenType).toBe('Bearer');
    expect(tokens.expiresIn).toBe(3600);
    expect(tokens.scope).toEqual(expect.arrayContaining(['accounts', 'offline_access']));
    // The auth server documents no X-TL-Correlation-Id header (only the Data API does); the client id is always set.
    expect(tokens.clientCorrelationId).toEqual(expect.any(String));
  });

  it('issues no refresh token without offline_access', async () => {
    const { tokens } = await h.connect({ scope: ['info', 'accounts'] });
    expect(tokens.refreshToken).toBeUndefined();
  });

  it('a code is single use: replay gives invalid_grant (consent_gone, not retried)', async () => {
    const c = await h.connect();
    const e = await expectTlError(
      h.client.auth.exchangeCode({ code: c.code, redirectUri: h.sandbox.redirectUri, ...(c.codeVerifier ? { codeVerifier: c.codeVerifier } : {}) }),
    );
    expect(e.code).toMatch(/^invalid_grant|invalid_authorization_code$/);
    expect(e.category).toBe('consent_gone');
    expect(e.attempts).toBe(1);
    expect(e.message).not.toContain(c.code);
  });

  it('rejects a wrong PKCE verifier', async () => {
    const pkce = createPkcePair();
    const state = 's-pkce';
    const link = h.client.auth.authLink({
      redirectUri: h.sandbox.redirectUri,
      scope: ['accounts'],
      state,
      providers: ['uk-cs-mock'],
      codeChallenge: pkce.codeChallenge,
      codeChallengeMethod: 'S256',
    });
    const done = await h.admin<{ redirect_url: string }>('POST', '/authorize', { auth_url: link, username: 'john', password: 'doe' });
    const r = parseAuthRedirect(done.redirect_url, state);
    if (!r.ok) throw new Error('auth failed');
    const e = await expectTlError(
      h.client.auth.exchangeCode({ code: r.code, redirectUri: h.sandbox.redirectUri, codeVerifier: createPkcePair().codeVerifier }),
    );
    expect(e.httpStatus).toBeGreaterThanOrEqual(400);
    expect(e.retriable).toBe(false);
  });

  it('wrong client secret gives unauthorized_client', async () => {
    const c = await h.connect();
    const wrong = h.makeClient({ clientSecret: 'not-the-secret' });
    const e = await expectTlError(wrong.auth.refresh(c.tokens.refreshToken ?? ''));
    expect(e.code).toBe('unauthorized_client');
    expect(e.httpStatus).toBe(401);
    expect(e.message).not.toContain('not-the-secret');
  });

  it('cancelled consent comes back as error=access_denied', async () => {
    const state = 's-cancel';
    const link = h.client.auth.authLink({ redirectUri: h.sandbox.redirectUri, scope: ['accounts'], state, providers: ['uk-cs-mock'] });
    const done = await h.admin<{ redirect_url: string }>('POST', '/authorize', { auth_url: link, cancel: true });
    expect(parseAuthRedirect(done.redirect_url, state)).toMatchObject({ ok: false, error: 'access_denied' });
  });
});

describe('refresh_token grant', () => {
  it('refreshes; the refresh token is stable by default and the old access token stops working', async () => {
    const c = await h.connect();
    const r = await h.client.auth.refresh(c.tokens.refreshToken ?? '');
    expect(r.accessToken).not.toBe(c.tokens.accessToken);
    expect(r.refreshToken).toBe(c.tokens.refreshToken);
    await expect(h.client.data.me(r.accessToken)).resolves.toMatchObject({ status: 'Succeeded' });
    const e = await expectTlError(h.client.data.me(c.tokens.accessToken));
    expect(e.category).toBe('token_expired');
  });

  it('with rotation on, the old refresh token gives invalid_grant', async () => {
    await h.admin('PATCH', '/switches', { refreshTokenRotation: true });
    const c = await h.connect();
    const r = await h.client.auth.refresh(c.tokens.refreshToken ?? '');
    expect(r.refreshToken).not.toBe(c.tokens.refreshToken);
    const e = await expectTlError(h.client.auth.refresh(c.tokens.refreshToken ?? ''));
    expect(e.code).toBe('invalid_grant');
    expect(e.category).toBe('consent_gone');
  });

  it('a malformed refresh token is rejected (not retried)', async () => {
    const e = await expectTlError(h.client.auth.refresh('garbage'));
    expect(['invalid_grant', 'invalid_request']).toContain(e.code);
    expect(e.category).toBe('consent_gone');
    expect(e.attempts).toBe(1);
  });

  it('refresh is retried after an injected 500, the code exchange is not', async () => {
    const c = await h.connect();
    await h.admin('POST', '/faults', { endpoint: 'token', error: 'internal_server_error', count: 1 });
    await expect(h.client.auth.refresh(c.tokens.refreshToken ?? '')).resolves.toMatchObject({ tokenType: 'Bearer' });

    await h.admin('POST', '/faults', { endpoint: 'token', error: 'internal_server_error', count: 1 });
    const e = await expectTlError(h.connect());
    expect(e.code).toBe('internal_server_error');
    expect(e.attempts).toBe(1);
  });

  it('after consent expiry refresh gives invalid_grant', async () => {
    const c = await h.connect();
    await h.admin('POST', '/clock/advance', { days: 91 });
    const e = await expectTlError(h.client.auth.refresh(c.tokens.refreshToken ?? ''));
    expect(e.code).toBe('invalid_grant');
    expect(e.category).toBe('consent_gone');
  });

  it('a revoked consent gives access_denied (consent_gone) on data calls with a live token', async () => {
    const c = await h.connect();
    await h.admin('POST', '/connections/revoke', { credentials_id: c.credentialsId });
    const e = await expectTlError(h.client.data.accounts(c.tokens.accessToken, { psuIp: USER_IP }));
    expect([e.code, e.httpStatus, e.category, e.retriable]).toEqual(['access_denied', 403, 'consent_gone', false]);
    expect(e.correlationId).toEqual(expect.any(String));
  });

  it('an expired access token gives invalid_token (token_expired)', async () => {
    const c = await h.connect();
    await h.admin('POST', '/clock/advance', { minutes: 61 });
    const e = await expectTlError(h.client.data.accounts(c.tokens.accessToken, { psuIp: USER_IP }));
    expect(e.code).toBe('invalid_token');
    expect(e.httpStatus).toBe(401);
    expect(e.category).toBe('token_expired');
    expect(e.retriable).toBe(false);
  });
});

describe('connection management', () => {
  it('reauthLink: completing it keeps credentials_id', async () => {
    const c = await h.connect();
    const state = 's-reauth';
    const link = await h.client.auth.reauthLink({ refreshToken: c.tokens.refreshToken ?? '', redirectUri: h.sandbox.redirectUri, state });
    expect(link.url.startsWith(h.sandbox.url)).toBe(true);
    const done = await h.admin<{ redirect_url: string; credentials_id: string }>('POST', '/authorize', {
      auth_url: link.url,
      username: 'john',
      password: 'doe',
    });
    const r = parseAuthRedirect(done.redirect_url, state);
    if (!r.ok) throw new Error('reauth failed');
    const t = await h.client.auth.exchangeCode({ code: r.code, redirectUri: h.sandbox.redirectUri });
    const me = await h.client.data.me(t.accessToken);
    expect(me.results[0]?.credentials_id).toBe(c.credentialsId);
  });

  it('reauthLink with an unknown refresh token is unauthorized', async () => {
    const e = await expectTlError(h.client.auth.reauthLink({ refreshToken: 'nope', redirectUri: h.sandbox.redirectUri }));
    expect(e.httpStatus).toBe(401);
  });

  it('debug returns a debug_id; deleteConnection revokes', async () => {
    const c = await h.connect();
    const d = await h.client.auth.debug(c.tokens.accessToken);
    expect(d.credentials_id).toBe(c.credentialsId);
    expect(d.debug_id).toEqual(expect.any(String));
    await h.client.auth.deleteConnection(c.tokens.accessToken);
    const e1 = await expectTlError(h.client.data.accounts(c.tokens.accessToken, { psuIp: USER_IP }));
    expect(['token_expired', 'consent_gone']).toContain(e1.category);
    const e2 = await expectTlError(h.client.auth.refresh(c.tokens.refreshToken ?? ''));
    expect(e2.code).toBe('invalid_grant');
    const e3 = await expectTlError(h.client.auth.debug(c.tokens.accessToken));
    expect(e3.code).toBe('invalid_request');
    expect(e3.details).toEqual({ reason: 'Consent expired or revoked' });
  });

  it('directBankAuthLink returns a link that can be completed', async () => {
    const link = await h.client.auth.directBankAuthLink({
      redirectUri: h.sandbox.redirectUri,
      scope: ['accounts', 'balance'],
      consentId: 'consent-1',
      providerId: 'ob-barclays',
      state: 's-direct',
      user: { name: 'John Doe', email: 'john@example.com' },
    });
    expect(link.url.startsWith(h.sandbox.url)).toBe(true);
  });
});

describe('extendConnection', () => {
  const params = (refreshToken: string) => ({
    refreshToken,
    redirectUri: h.sandbox.redirectUri,
    user: { id: 'user-1', name: 'John Doe', email: 'john@example.com' },
    userHasReconfirmedConsent: true as const,
    state: 'extend-state',
  });

  it('john/eternal -> no_action_needed with new tokens', async () => {
    const c = await h.connect({ username: 'john', password: 'eternal' });
    const r = await h.client.data.extendConnection(params(c.tokens.refreshToken ?? ''));
    expect(r.action).toBe('no_action_needed');
    if (r.action === 'no_action_needed') await expect(h.client.data.me(r.accessToken)).resolves.toBeDefined();
  });

  it('john/doe -> authentication_needed with a link', async () => {
    const c = await h.connect();
    const r = await h.client.data.extendConnection(params(c.tokens.refreshToken ?? ''));
    expect(r).toMatchObject({ action: 'authentication_needed', userInputLink: expect.stringContaining(h.sandbox.url) });
  });

  it('unknown refresh token -> extend_unauthorized; non-UK provider -> extend_not_possible', async () => {
    const e1 = await expectTlError(h.client.data.extendConnection(params('nope')));
    expect([e1.code, e1.httpStatus, e1.category]).toEqual(['extend_unauthorized', 401, 'consent_gone']);
    expect(e1.message).not.toContain(h.sandbox.clientSecret);

    const providers = await h.client.auth.providers({ country: ['fr'] });
    const fr = providers.results[0];
    if (!fr) throw new Error('simulator has no FR provider');
    const c = await h.connect({ providerId: fr.provider_id, providers: ['fr-ob-all'], scope: ['accounts', 'offline_access'] });
    const e2 = await expectTlError(h.client.data.extendConnection(params(c.tokens.refreshToken ?? '')));
    expect([e2.code, e2.httpStatus]).toEqual(['extend_not_possible', 422]);
  });

  it('an unregistered redirect_uri -> extend_validation_error', async () => {
    const c = await h.connect();
    const e = await expectTlError(
      h.client.data.extendConnection({ ...params(c.tokens.refreshToken ?? ''), redirectUri: 'https://not-registered.example/cb' }),
    );
    expect([e.code, e.httpStatus, e.category]).toEqual(['extend_validation_error', 400, 'invalid_request']);
  });
});
