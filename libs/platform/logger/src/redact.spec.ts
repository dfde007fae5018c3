import { randomBytes } from 'node:crypto';
import {
  CIRCULAR,
  DEPTH_LIMIT,
  forgetSecrets,
  isSecretKey,
  MAX_DEPTH,
  MAX_FIELDS,
  MAX_SECRETS,
  REDACTED,
  redactFields,
  registerSecret,
  scrubText,
  TRUNCATED,
} from './redact';

const opaque = () => randomBytes(24).toString('base64url');
/** The value at `path` inside `value` (undefined when absent). */
const dig = (value: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value);

afterEach(() => forgetSecrets());

describe('secret keys', () => {
  it('match the listed keys whatever their case and separators', () => {
    for (const key of [
      'authorization',
      'Authorization',
      'cookie',
      'Set-Cookie',
      'X-Api-Key',
      'x-vault-token',
      'X-Vault-Token',
      'access_token',
      'refresh_token',
      'refreshToken',
      'id_token',
      'client_secret',
      'clientSecret',
      'code',
      'state',
      'pageToken',
      'page_token',
      'bounceToken',
      'bounce_token',
      'password',
      'token',
      'secret',
      'apiKey',
      'api_key',
      'ciphertext',
      'webhookSecret',
    ]) {
      expect([key, isSecretKey(key)]).toEqual([key, true]);
    }
    for (const key of ['connectionId', 'status', 'statusCode', 'errorCode', 'tokenType', 'expiresAt', 'path', 'msg']) {
      expect([key, isSecretKey(key)]).toEqual([key, false]);
    }
  });

  it('keep error codes and lifecycle states under code/state, but not OAuth codes and states', () => {
    const authCode = randomBytes(32).toString('hex').toUpperCase();
    const state = opaque();
    const out = redactFields({
      a: { code: 'ECONNREFUSED', state: 'awaiting_consent' },
      b: { code: 14, state: 'active' },
      c: { code: 'invalid_grant' },
      d: { code: authCode, state },
      e: { code: 'deadbeef1234' },
    });
    expect(out).toEqual({
      a: { code: 'ECONNREFUSED', state: 'awaiting_consent' },
      b: { code: 14, state: 'active' },
      c: { code: 'invalid_grant' },
      d: { code: REDACTED, state: REDACTED },
      e: { code: REDACTED },
    });
  });
});

describe('redactFields', () => {
  it('redacts err.response.config.headers.authorization (depth 5) and deeper, in Error fields and causes', () => {
    const err = Object.assign(new Error('Request failed with status code 401'), {
      code: 'ERR_BAD_REQUEST',
      response: { status: 401, config: { url: 'https://auth.example/connect/token', headers: { Authorization: 'Basic Y2xpZW50OnNlY3JldA==' } } },
    });
    const wrapped = new Error('refresh failed', { cause: err });
    const deep = { a: { b: { c: { d: { e: { f: { g: { h: { refresh_token: 'rt-deep-value' } } } } } } } } };
    const out = redactFields({ err: wrapped, deep });
    expect(out.err).toMatchObject({ type: 'Error', message: 'refresh failed' });
    expect(String(dig(out, 'err', 'stack'))).toContain('refresh failed');
    expect(dig(out, 'err', 'cause')).toMatchObject({ type: 'Error', code: 'ERR_BAD_REQUEST', message: 'Request failed with status code 401' });
    expect(dig(out, 'err', 'cause', 'response')).toEqual({ status: 401, config: { url: 'https://auth.example/connect/token', headers: { Authorization: REDACTED } } });
    expect(dig(out, 'deep', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')).toEqual({ refresh_token: REDACTED });
    expect(JSON.stringify(out)).not.toMatch(/Y2xpZW50OnNlY3JldA|rt-deep-value/);
  });

  it('reads Headers, Maps and URLSearchParams as objects and redacts their secret entries', () => {
    const headers = new Headers({ authorization: 'Bearer abc', 'x-vault-token': 'hvs.secret', 'x-request-id': 'r1' });
    const out = redactFields({
      headers,
      map: new Map([['refresh_token', 'rt'], ['connectionId', 'c1']]),
      query: new URLSearchParams('code=ABC123DEF&state=opaqueState1&x=1'),
      body: Buffer.from('client_secret=shh'),
    });
    expect(out).toEqual({
      headers: { authorization: REDACTED, 'x-vault-token': REDACTED, 'x-request-id': 'r1' },
      map: { refresh_token: REDACTED, connectionId: 'c1' },
      query: { code: REDACTED, state: REDACTED, x: '1' },
      body: '[Binary 17 bytes]',
    });
  });

  it('marks cycles and keeps repeated (non-cyclic) references', () => {
    const shared = { connectionId: 'c1' };
    const node: Record<string, unknown> = { name: 'n', shared, again: shared, token: 't0k3n-value' };
    node['self'] = node;
    node['list'] = [node, shared];
    const out = redactFields({ node });
    expect(out.node).toEqual({ name: 'n', shared, again: shared, token: REDACTED, self: CIRCULAR, list: [CIRCULAR, shared] });
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('bounds the work on huge and deep values with markers, keeping the rest', () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 100_000; i += 1) wide[`k${i}`] = i;
    const long = Array.from({ length: 100_000 }, (_, i) => i);
    let deep: Record<string, unknown> = { password: 'p4ssw0rd-deep' };
    for (let i = 0; i < 1_000; i += 1) deep = { next: deep };

    const w = redactFields({ connectionId: 'c1', wide });
    expect(w.connectionId).toBe('c1');
    // the budget counts every field of the value: connectionId and wide itself too
    expect(Object.keys(w.wide)).toHaveLength(MAX_FIELDS - 2 + 1);
    expect(w.wide).toMatchObject({ k0: 0, [`k${MAX_FIELDS - 3}`]: MAX_FIELDS - 3, [TRUNCATED]: `${MAX_FIELDS} fields per line` });

    const l = redactFields({ long }) as { long: unknown[] };
    const kept = MAX_FIELDS - 1;
    expect(l.long).toHaveLength(kept + 1);
    expect(l.long[kept - 1]).toBe(kept - 1);
    expect(l.long[kept]).toBe(`${TRUNCATED} ${100_000 - kept} more`);

    let d: unknown = redactFields({ deep }).deep;
    let depth = 0;
    while (typeof d === 'object') {
      d = dig(d, 'next');
      depth += 1;
    }
    expect(d).toBe(DEPTH_LIMIT);
    expect(depth).toBe(MAX_DEPTH);
  });
});

describe('secrets by shape', () => {
  it('mask hosted-page, bounce and overview-link tokens in paths, keeping the rest of the path', () => {
    const token = 'AQx9_kR2-bT7mZpL0sQwErTyUiOp';
    expect(scrubText(`GET /connect/${token}/consent`)).toBe(`GET /connect/${REDACTED}/consent`);
    expect(scrubText(`http://gw/bounce/${token}`)).toBe(`http://gw/bounce/${REDACTED}`);
    expect(scrubText(`see https://gw.example/overview/${token}?month=2026-11`)).toBe(`see https://gw.example/overview/${REDACTED}?month=2026-11`);
    expect(scrubText('/overview/short')).toBe('/overview/short');
  });
});

describe('registered secrets', () => {
  it('are masked wherever they appear in a string, raw, JSON-escaped or URL-encoded', () => {
    const rt = opaque();
    const odd = 'sk/with+plus="quote"';
    registerSecret(rt);
    registerSecret(odd);
    expect(scrubText(`refresh failed for ${rt}: invalid_grant`)).toBe(`refresh failed for ${REDACTED}: invalid_grant`);
    expect(scrubText(`${rt}`)).toBe(REDACTED);
    expect(scrubText(`${rt}${rt}x`)).toBe(`${REDACTED}${REDACTED}x`);
    expect(scrubText(JSON.stringify({ msg: `a ${odd} b` }))).toBe(`{"msg":"a ${REDACTED} b"}`);
    expect(scrubText(`https://x/?q=${encodeURIComponent(odd)}`)).toBe(`https://x/?q=${REDACTED}`);
    expect(scrubText('nothing secret here at all, just words')).toBe('nothing secret here at all, just words');
  });

  it('ignore short values, keep the most recent ones, and can be forgotten', () => {
    registerSecret('short');
    expect(scrubText('a short word')).toBe('a short word');

    const first = opaque();
    registerSecret(first);
    const rest = Array.from({ length: MAX_SECRETS }, opaque);
    rest.forEach(registerSecret);
    expect(scrubText(`x ${first} y`)).toBe(`x ${first} y`);
    expect(scrubText(`x ${rest[0]} y ${rest[MAX_SECRETS - 1]}`)).toBe(`x ${REDACTED} y ${REDACTED}`);

    registerSecret(rest[0]); // refreshed: now the most recent
    registerSecret(opaque()); // evicts rest[1], the oldest
    expect(scrubText(`${rest[0]} ${rest[1]}`)).toBe(`${REDACTED} ${rest[1]}`);

    forgetSecrets(rest[0]);
    expect(scrubText(`${rest[0]}`)).toBe(rest[0]);
  });

  it('are found at any position, short (8 characters) or long (a 1,200-character token)', () => {
    const short = 'Zq8#kLm2';
    const long = randomBytes(900).toString('base64url');
    registerSecret(short);
    registerSecret(long);
    for (let at = 0; at < 9; at += 1) {
      const pad = '-'.repeat(at);
      expect(scrubText(`${pad}${short}.`)).toBe(`${pad}${REDACTED}.`);
      expect(scrubText(`${pad}${long}`)).toBe(`${pad}${REDACTED}`);
    }
    expect(scrubText(short.slice(0, 7))).toBe(short.slice(0, 7));
    expect(scrubText(long.slice(1))).toBe(long.slice(1));
  });

  it('mask overlapping secrets as one span', () => {
    registerSecret('ABCDEFGHIJKL');
    registerSecret('GHIJKLMNOPQR');
    expect(scrubText('--ABCDEFGHIJKLMNOPQR--')).toBe(`--${REDACTED}--`);
  });
});

describe('secret shapes in text', () => {
  it('masks code, state and token parameters wherever they are (any case), and nothing else', () => {
    expect(scrubText('GET /v1/callback?code=2C21FFD55BA6&state=s1&x=1')).toBe(`GET /v1/callback?code=${REDACTED}&state=${REDACTED}&x=1`);
    expect(scrubText('grant_type=refresh_token&refresh_token=opaque-rt&client_id=c&client_secret=shh')).toBe(
      `grant_type=refresh_token&refresh_token=${REDACTED}&client_id=c&client_secret=${REDACTED}`,
    );
    expect(scrubText('redirected with Access_Token=abc and ID_TOKEN=def, TOKEN=ghi')).toBe(
      `redirected with Access_Token=${REDACTED} and ID_TOKEN=${REDACTED}, TOKEN=${REDACTED}`,
    );
    expect(scrubText('"url":"https://gw/cb?Code=abc"')).toBe(`"url":"https://gw/cb?Code=${REDACTED}"`);
    expect(scrubText('errorcode=1&x_state=2&code=')).toBe('errorcode=1&x_state=2&code=');
    const once = scrubText('(code=abc; state=[x]) token=def');
    expect(once).toBe(`(code=${REDACTED}; state=${REDACTED}) token=${REDACTED}`);
    expect(scrubText(once)).toBe(once);
  });

  it('masks hosted-page path tokens, bearer tokens, JWTs and PEM private keys', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl';
    expect(scrubText(`/Connect/AbCdEfGhIjKlMnOpQrStUv/consent Bearer abc.def ${jwt}`)).toBe(
      `/Connect/${REDACTED}/consent Bearer ${REDACTED} ${REDACTED}`,
    );
    const pem = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg\n-----END EC PRIVATE KEY-----';
    const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    expect(scrubText(`key ${pem} cert ${cert}`)).toBe(`key ${REDACTED} cert ${cert}`);
    expect(scrubText(JSON.stringify({ pem }))).toBe(`{"pem":"${REDACTED}"}`);
  });
});
