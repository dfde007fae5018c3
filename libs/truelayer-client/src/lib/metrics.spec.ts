import { startTestMetrics, type TestMetrics } from '@ais/testing';
import { recordingSleep, scriptedFetch, type FakeReply } from '../../test/support/fakes';
import { createTrueLayerClient, type TrueLayerClientConfig } from './client';
import { customEnvironment } from './environment';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.access-token-value';
const ACCOUNT = 'acc-5f2b1c9e-secret-looking-id';

function setup(replies: FakeReply[], extra: Partial<TrueLayerClientConfig> = {}) {
  const f = scriptedFetch(replies);
  const client = createTrueLayerClient({
    environment: customEnvironment({ authBaseUrl: 'http://127.0.0.1:1/', apiBaseUrl: 'http://127.0.0.1:2' }),
    clientId: 'cid',
    clientSecret: 'client-secret-value',
    fetch: f.fetch,
    sleep: recordingSleep().sleep,
    random: () => 0.5,
    ...extra,
  });
  return { client, calls: f.calls };
}

const ok = (results: unknown[] = []): FakeReply => ({ status: 200, body: { results, status: 'Succeeded' } });

describe('TrueLayer request metrics', () => {
  let m: TestMetrics;
  beforeEach(() => {
    m = startTestMetrics();
  });
  afterEach(() => m.stop());

  it('counts every attempt by endpoint template, method, status and provider, with its latency', async () => {
    const { client } = setup([{ status: 503, body: { error: 'provider_error', error_description: 'down' } }, ok()]);
    await client.data.get(TOKEN, { resource: 'transactions', accountId: ACCOUNT, range: { from: '2026-01-01', to: '2026-01-31' } }, { provider: 'ob-lloyds' });
    const endpoint = '/data/v1/accounts/{account_id}/transactions';
    expect(await m.value('ais_truelayer_requests_total', { endpoint, method: 'GET', status: '503', provider: 'ob-lloyds' })).toBe(1);
    expect(await m.value('ais_truelayer_requests_total', { endpoint, method: 'GET', status: '200', provider: 'ob-lloyds' })).toBe(1);
    expect(await m.value('ais_truelayer_request_duration_seconds_count', { endpoint, provider: 'ob-lloyds' })).toBe(2);
    const samples = await m.collect();
    // The raw path (with the account id), the token and the query never become label values.
    const labelText = JSON.stringify(samples.map((s) => s.labels));
    for (const secret of [ACCOUNT, TOKEN, '2026-01-01']) expect(labelText).not.toContain(secret);
  });

  it('labels attempts without an answer as timeout or network_error, and the token grant by its endpoint', async () => {
    const tokenBody = { access_token: 'at', expires_in: 3600, token_type: 'Bearer', refresh_token: 'rt2' };
    const { client } = setup([{ status: 0, throws: new TypeError('fetch failed') }, ok(), { status: 200, body: tokenBody }]);
    await client.data.me(TOKEN);
    await client.auth.refresh('refresh-token-value', { provider: 'mock' });
    expect(await m.value('ais_truelayer_requests_total', { endpoint: '/data/v1/me', status: 'network_error', provider: 'unknown' })).toBe(1);
    expect(await m.value('ais_truelayer_requests_total', { endpoint: '/data/v1/me', status: '200', provider: 'unknown' })).toBe(1);
    expect(await m.value('ais_truelayer_requests_total', { endpoint: '/connect/token', method: 'POST', status: '200', provider: 'mock' })).toBe(1);

    const hanging = (_url: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    const slow = setup([], { fetch: hanging, timeoutMs: 20, retry: { maxAttempts: 1 } });
    await expect(slow.client.data.accounts(TOKEN)).rejects.toMatchObject({ code: 'request_timeout' });
    expect(await m.value('ais_truelayer_requests_total', { endpoint: '/data/v1/accounts', status: 'timeout' })).toBe(1);
  });

  it('never uses a provider value that is not an id as a label', async () => {
    const { client } = setup([ok(), ok()]);
    await client.data.accounts(TOKEN, { provider: `Bearer ${TOKEN}` });
    await client.data.accounts(TOKEN, { provider: 'https://bank.example/x' });
    expect(await m.value('ais_truelayer_requests_total', { endpoint: '/data/v1/accounts', provider: 'other' })).toBe(2);
    expect(JSON.stringify(await m.collect())).not.toContain(TOKEN);
  });
});
