import { SpanKind } from '@opentelemetry/api';
import { recordingSleep, recordingTracer, scriptedFetch, type FakeReply } from '../../test/support/fakes';
import { createTrueLayerClient, type TrueLayerClientConfig } from './client';
import { customEnvironment, TRUELAYER_PRODUCTION, TRUELAYER_SANDBOX } from './environment';
import { TrueLayerError } from './errors';
import { fullJitterDelay, parseRetryAfter, DEFAULT_RETRY } from './retry';

const SECRET = 'super-secret-value-123';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.access-token-value';

function setup(replies: FakeReply[], extra: Partial<TrueLayerClientConfig> = {}) {
  const f = scriptedFetch(replies);
  const s = recordingSleep();
  const t = recordingTracer();
  const client = createTrueLayerClient({
    environment: customEnvironment({ authBaseUrl: 'http://127.0.0.1:1/', apiBaseUrl: 'http://127.0.0.1:2' }),
    clientId: 'cid',
    clientSecret: SECRET,
    fetch: f.fetch,
    sleep: s.sleep,
    random: () => 0.5,
    tracer: t.tracer,
    generateCorrelationId: () => 'gen-corr-1',
    ...extra,
  });
  return { client, calls: f.calls, delays: s.delays, spans: t.spans };
}

const ok = (results: unknown[] = []): FakeReply => ({ status: 200, body: { results, status: 'Succeeded' } });
const err = (status: number, error: string, headers: Record<string, string> = {}): FakeReply => ({
  status,
  body: { error, error_description: `desc of ${error}`, error_details: {} },
  headers,
});

describe('environments', () => {
  it('has the documented hosts', () => {
    expect(TRUELAYER_PRODUCTION).toMatchObject({ authBaseUrl: 'https://auth.truelayer.com', apiBaseUrl: 'https://api.truelayer.com' });
    expect(TRUELAYER_SANDBOX).toMatchObject({
      authBaseUrl: 'https://auth.truelayer-sandbox.com',
      apiBaseUrl: 'https://api.truelayer-sandbox.com',
    });
  });
  it('validates custom hosts', () => {
    expect(customEnvironment({ authBaseUrl: 'http://127.0.0.1:9/', apiBaseUrl: 'http://127.0.0.1:9' }).authBaseUrl).toBe(
      'http://127.0.0.1:9',
    );
    expect(() => customEnvironment({ authBaseUrl: 'ftp://x', apiBaseUrl: 'http://y' })).toThrow(TypeError);
    expect(() => customEnvironment({ authBaseUrl: 'nope', apiBaseUrl: 'http://y' })).toThrow(TypeError);
    expect(() => customEnvironment({ authBaseUrl: 'http://x?a=1', apiBaseUrl: 'http://y' })).toThrow(TypeError);
  });
});

describe('headers', () => {
  it('sends X-Client-Correlation-Id (generated) and no X-PSU-IP by default', async () => {
    const { client, calls } = setup([ok()]);
    const r = await client.data.accounts(TOKEN);
    expect(calls[0]?.headers['x-client-correlation-id']).toBe('gen-corr-1');
    expect(calls[0]?.headers['x-psu-ip']).toBeUndefined();
    expect(calls[0]?.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(r.clientCorrelationId).toBe('gen-corr-1');
    expect(r.correlationId).toBe('tl-1');
  });
  it('sends the caller correlation id and X-PSU-IP only when given', async () => {
    const { client, calls } = setup([ok()]);
    await client.data.accounts(TOKEN, { psuIp: '2001:db8::1', clientCorrelationId: 'mine-1' });
    expect(calls[0]?.headers['x-psu-ip']).toBe('2001:db8::1');
    expect(calls[0]?.headers['x-client-correlation-id']).toBe('mine-1');
  });
  it('rejects a fake PSU IP and unsafe correlation ids before sending', async () => {
    const { client, calls } = setup([ok()]);
    await expect(client.data.accounts(TOKEN, { psuIp: 'localhost' })).rejects.toThrow(TypeError);
    await expect(client.data.accounts(TOKEN, { clientCorrelationId: 'a b' })).rejects.toThrow(TypeError);
    expect(calls).toHaveLength(0);
  });
  it('returns credentialsId and cache max-age', async () => {
    const { client } = setup([{ ...ok(), headers: { 'x-credentials-id': 'cred-1', 'cache-control': 'max-age=3600' } }]);
    const r = await client.data.accounts(TOKEN);
    expect(r.credentialsId).toBe('cred-1');
    expect(r.cacheMaxAgeSeconds).toBe(3600);
    expect(r.httpStatus).toBe(200);
  });
});

describe('spans', () => {
  it('creates a CLIENT span with the TrueLayer correlation id and no secrets', async () => {
    const { client, spans } = setup([{ ...ok(), headers: { 'x-tl-correlation-id': 'tl-abc' } }]);
    await client.data.transactions(TOKEN, 'acc-1', { from: '2024-01-01', to: '2024-01-31' });
    expect(spans).toHaveLength(1);
    const s = spans[0]!;
    expect(s.name).toBe('truelayer GET /data/v1/accounts/{account_id}/transactions');
    expect(s.options.kind).toBe(SpanKind.CLIENT);
    expect(s.attributes['truelayer.correlation_id']).toBe('tl-abc');
    expect(s.attributes['truelayer.client_correlation_id']).toBe('gen-corr-1');
    expect(s.attributes['http.response.status_code']).toBe(200);
    expect(s.ended).toBe(true);
    expect(JSON.stringify(s)).not.toContain(TOKEN);
    expect(JSON.stringify(s)).not.toContain('acc-1');
  });
  it('marks errors with code and correlation id, never the token/secret/code', async () => {
    const { client, spans } = setup([err(400, 'invalid_grant', { 'x-tl-correlation-id': 'tl-err' })]);
    const e = await client.auth.exchangeCode({ code: 'the-auth-code', redirectUri: 'https://a/cb' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TrueLayerError);
    const s = spans[0]!;
    expect(s.attributes['truelayer.error_code']).toBe('invalid_grant');
    expect(s.attributes['truelayer.correlation_id']).toBe('tl-err');
    expect(s.status?.code).toBe(2);
    const dump = JSON.stringify(s);
    for (const secret of [SECRET, 'the-auth-code']) expect(dump).not.toContain(secret);
  });
});

describe('retries', () => {
  it('retries retriable 5xx on GET with full-jitter backoff, then succeeds', async () => {
    const { client, calls, delays, spans } = setup([err(503, 'provider_error'), err(504, 'connector_timeout'), ok()]);
    const r = await client.data.accounts(TOKEN);
    expect(calls).toHaveLength(3);
    // random()=0.5: attempt 1 -> 0.5*200, attempt 2 -> 0.5*400
    expect(delays).toEqual([100, 200]);
    expect(r.correlationId).toBe('tl-3');
    expect(spans[0]?.events.map((e) => e.attributes?.['truelayer.error_code'])).toEqual(['provider_error', 'connector_timeout']);
    expect(new Set(calls.map((c) => c.headers['x-client-correlation-id'])).size).toBe(1);
  });

  it('gives up after maxAttempts and reports attempts', async () => {
    const { client, calls } = setup([err(500, 'internal_server_error')], { retry: { maxAttempts: 4 } });
    const e = (await client.data.accounts(TOKEN).catch((x: unknown) => x)) as TrueLayerError;
    expect(calls).toHaveLength(4);
    expect(e.code).toBe('internal_server_error');
    expect(e.attempts).toBe(4);
    expect(e.retriable).toBe(true);
  });

  it('per-call maxAttempts overrides the default', async () => {
    const { client, calls } = setup([err(503, 'provider_error')]);
    await expect(client.data.accounts(TOKEN, { maxAttempts: 1 })).rejects.toBeInstanceOf(TrueLayerError);
    expect(calls).toHaveLength(1);
  });

  it('honours Retry-After on 429 provider_too_many_requests', async () => {
    const { client, delays } = setup([err(429, 'provider_too_many_requests', { 'retry-after': '2' }), ok()]);
    await client.data.accounts(TOKEN);
    expect(delays).toEqual([2000]);
  });

  it('does not wait for a Retry-After beyond maxRetryAfterMs; exposes retryAfterMs', async () => {
    const { client, calls } = setup([err(429, 'provider_too_many_requests', { 'retry-after': '120' })]);
    const e = (await client.data.accounts(TOKEN).catch((x: unknown) => x)) as TrueLayerError;
    expect(calls).toHaveLength(1);
    expect(e.retryAfterMs).toBe(120_000);
    expect(e.category).toBe('provider_rate_limited');
  });

  it.each([
    [401, 'invalid_token'],
    [403, 'access_denied'],
    [403, 'sca_exceeded'],
    [400, 'validation_error'],
    [400, 'invalid_date_range'],
    [404, 'account_not_found'],
    [429, 'provider_request_limit_exceeded'],
    [501, 'endpoint_not_supported'],
  ])('never retries %i %s', async (status, code) => {
    const { client, calls } = setup([err(status, code), ok()]);
    const e = (await client.data.accounts(TOKEN).catch((x: unknown) => x)) as TrueLayerError;
    expect(calls).toHaveLength(1);
    expect(e.code).toBe(code);
    expect(e.httpStatus).toBe(status);
    expect(e.retriable).toBe(false);
  });

  it('never retries the authorization-code exchange, even on 5xx', async () => {
    const { client, calls } = setup([err(500, 'internal_server_error'), ok()]);
    await expect(client.auth.exchangeCode({ code: 'c', redirectUri: 'https://a/cb' })).rejects.toMatchObject({
      code: 'internal_server_error',
    });
    expect(calls).toHaveLength(1);
  });

  it('retries refresh on a 5xx answer but not after a timeout/network error', async () => {
    const tokenBody = { access_token: 'at', expires_in: 3600, token_type: 'Bearer', refresh_token: 'rt2' };
    const a = setup([err(500, 'internal_server_error'), { status: 200, body: tokenBody }]);
    await expect(a.client.auth.refresh('rt')).resolves.toMatchObject({ accessToken: 'at' });
    expect(a.calls).toHaveLength(2);

    const b = setup([{ status: 0, throws: new TypeError('fetch failed') }, { status: 200, body: tokenBody }]);
    await expect(b.client.auth.refresh('rt')).rejects.toMatchObject({ code: 'network_error', retriable: true });
    expect(b.calls).toHaveLength(1);
  });

  it('does not retry refresh when the response body is cut off (outcome unknown)', async () => {
    let n = 0;
    const fetchFn = async () => {
      n++;
      const stream = new ReadableStream({
        pull(controller) {
          controller.error(new Error('socket hang up'));
        },
      });
      return new Response(stream, { status: 500 });
    };
    const { client } = setup([], { fetch: fetchFn });
    await expect(client.auth.refresh('rt')).rejects.toMatchObject({ code: 'network_error' });
    expect(n).toBe(1);
  });

  it('retries network errors on GET', async () => {
    const { client, calls } = setup([{ status: 0, throws: new TypeError('fetch failed') }, ok()]);
    await client.data.cards(TOKEN);
    expect(calls).toHaveLength(2);
  });

  it('never retries extendConnection', async () => {
    const { client, calls } = setup([err(503, 'provider_error')]);
    await expect(
      client.data.extendConnection({
        refreshToken: 'rt',
        redirectUri: 'https://a/cb',
        user: { id: 'u' },
        userHasReconfirmedConsent: true,
      }),
    ).rejects.toBeInstanceOf(TrueLayerError);
    expect(calls).toHaveLength(1);
  });
});

describe('timeouts and cancellation', () => {
  const hangingFetch = (calls: { n: number }) => (_url: string, init: RequestInit) =>
    new Promise<Response>((_resolve, reject) => {
      calls.n++;
      init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
    });

  it('aborts each attempt after timeoutMs and reports request_timeout', async () => {
    const calls = { n: 0 };
    const { client } = setup([], { fetch: hangingFetch(calls), timeoutMs: 20, retry: { maxAttempts: 2 } });
    const e = (await client.data.me(TOKEN).catch((x: unknown) => x)) as TrueLayerError;
    expect(e.code).toBe('request_timeout');
    expect(e.httpStatus).toBe(0);
    expect(calls.n).toBe(2);
  });

  it('per-call timeout override; caller abort is not retried and not wrapped', async () => {
    const calls = { n: 0 };
    const { client } = setup([], { fetch: hangingFetch(calls), timeoutMs: 60_000 });
    const ac = new AbortController();
    const p = client.data.me(TOKEN, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('caller gave up')), 10);
    await expect(p).rejects.toThrow('caller gave up');
    expect(calls.n).toBe(1);
    await expect(client.data.me(TOKEN, { timeoutMs: 5, maxAttempts: 1 })).rejects.toMatchObject({ code: 'request_timeout' });
  });
});

describe('error bodies', () => {
  it('maps a non-JSON error response by status', async () => {
    const { client } = setup([{ status: 502, text: '<html>bad gateway</html>' }], { retry: { maxAttempts: 1 } });
    const e = (await client.data.me(TOKEN).catch((x: unknown) => x)) as TrueLayerError;
    expect(e.code).toBe('http_502');
    expect(e.category).toBe('provider_down');
    expect(e.retriable).toBe(true);
  });
  it('rejects a 200 whose body does not match the schema without echoing values', async () => {
    const { client } = setup([{ status: 200, body: { results: [{ display_name: TOKEN }] } }]);
    const e = (await client.data.accounts(TOKEN).catch((x: unknown) => x)) as TrueLayerError;
    expect(e.code).toBe('invalid_response');
    expect(e.message).not.toContain(TOKEN);
  });
  it('redacts secrets echoed by the server', async () => {
    const { client } = setup([{ status: 400, body: { error: 'invalid_grant', error_description: `bad code the-code ${SECRET}` } }]);
    const e = (await client.auth.exchangeCode({ code: 'the-code', redirectUri: 'https://a' }).catch((x: unknown) => x)) as TrueLayerError;
    expect(e.message).not.toContain(SECRET);
    expect(e.message).not.toContain('the-code');
    expect(e.category).toBe('consent_gone');
  });
});

describe('retry helpers', () => {
  it('full jitter is bounded by the exponential cap', () => {
    expect(fullJitterDelay(1, DEFAULT_RETRY, () => 0.999999)).toBeLessThan(200);
    expect(fullJitterDelay(10, DEFAULT_RETRY, () => 1)).toBe(5000);
    expect(fullJitterDelay(3, DEFAULT_RETRY, () => 0)).toBe(0);
  });
  it('parses Retry-After seconds and HTTP dates', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
  });
  it('rejects invalid maxAttempts', () => {
    expect(() => setup([], { retry: { maxAttempts: 0 } })).toThrow(TypeError);
  });
});
