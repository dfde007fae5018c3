import { buildAuthLink, parseAuthRedirect, validateScopes } from './auth-link';
import { codeChallengeS256, createCodeVerifier, createPkcePair } from './pkce';

describe('PKCE', () => {
  it('matches the RFC 7636 appendix B vector', () => {
    expect(codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });
  it('creates 43..128 char verifiers and a matching pair', () => {
    expect(createCodeVerifier()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(createCodeVerifier(96)).toHaveLength(128);
    const p = createPkcePair();
    expect(p.codeChallenge).toBe(codeChallengeS256(p.codeVerifier));
    expect(p.codeChallengeMethod).toBe('S256');
    expect(() => createCodeVerifier(16)).toThrow(RangeError);
    expect(() => codeChallengeS256('short')).toThrow(TypeError);
  });
});

describe('buildAuthLink', () => {
  const base = {
    clientId: 'sandbox-abc',
    redirectUri: 'https://app.example.com/callback?x=1',
    scope: ['info', 'accounts', 'balance', 'transactions', 'offline_access'],
    state: 'st-123',
    providers: ['uk-ob-all', 'uk-oauth-all'],
  };

  it('encodes every parameter, lists joined with %20', () => {
    const url = buildAuthLink('https://auth.truelayer-sandbox.com/', {
      ...base,
      nonce: 'n-1',
      providerId: 'ob-monzo',
      responseMode: 'form_post',
      codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      codeChallengeMethod: 'S256',
      disableProviders: ['ob-a', 'ob-b'],
      enableMock: true,
      trackingId: 'tr-1',
      language: 'en',
    });
    expect(url.startsWith('https://auth.truelayer-sandbox.com/?response_type=code&')).toBe(true);
    expect(url).not.toContain('+');
    expect(url).toContain('scope=info%20accounts%20balance%20transactions%20offline_access');
    expect(url).toContain('providers=uk-ob-all%20uk-oauth-all');
    expect(url).toContain('redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback%3Fx%3D1');
    const q = new URL(url).searchParams;
    expect(Object.fromEntries(q)).toEqual({
      response_type: 'code',
      client_id: 'sandbox-abc',
      redirect_uri: 'https://app.example.com/callback?x=1',
      scope: 'info accounts balance transactions offline_access',
      providers: 'uk-ob-all uk-oauth-all',
      state: 'st-123',
      nonce: 'n-1',
      response_mode: 'form_post',
      provider_id: 'ob-monzo',
      disable_providers: 'ob-a ob-b',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      enable_mock: 'true',
      tracking_id: 'tr-1',
      language: 'en',
    });
  });

  it('omits response_mode for query mode and optional params when absent', () => {
    const q = new URL(buildAuthLink('https://auth.truelayer.com', { ...base, responseMode: 'query' })).searchParams;
    expect(q.has('response_mode')).toBe(false);
    expect(q.has('nonce')).toBe(false);
    expect(q.has('code_challenge')).toBe(false);
  });

  it('validates scopes, providers, state and extraParams', () => {
    expect(() => validateScopes(['balance'])).toThrow(/requires one of: accounts, cards/);
    expect(() => validateScopes(['cards', 'balance', 'transactions'])).not.toThrow();
    expect(() => validateScopes(['cards', 'standing_orders'])).toThrow(/accounts/);
    expect(() => validateScopes([])).toThrow();
    expect(() => buildAuthLink('https://a', { ...base, providers: [] })).toThrow();
    expect(() => buildAuthLink('https://a', { ...base, state: '' })).toThrow();
    expect(() => buildAuthLink('https://a', { ...base, extraParams: { state: 'x' } })).toThrow();
    expect(buildAuthLink('https://a', { ...base, extraParams: { enable_oauth_providers: 'true' } })).toContain(
      'enable_oauth_providers=true',
    );
  });
});

describe('parseAuthRedirect', () => {
  it('returns code and state on success', () => {
    expect(parseAuthRedirect('https://app/cb?code=c1&state=s1&scope=info%20accounts', 's1')).toEqual({
      ok: true,
      code: 'c1',
      state: 's1',
      scope: ['info', 'accounts'],
    });
    expect(parseAuthRedirect({ code: 'c1', state: 's1' }, 's1')).toMatchObject({ ok: true, code: 'c1' });
  });
  it('reports error=access_denied as failure (never a code)', () => {
    expect(parseAuthRedirect('code=c1&error=access_denied&state=s1', 's1')).toEqual({
      ok: false,
      error: 'access_denied',
      errorDescription: undefined,
      state: 's1',
    });
  });
  it('rejects a state mismatch or missing code', () => {
    expect(() => parseAuthRedirect('?code=c1&state=evil', 's1')).toThrow(/state/);
    expect(() => parseAuthRedirect('?state=s1', 's1')).toThrow(/code/);
  });
});
