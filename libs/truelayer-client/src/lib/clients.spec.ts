import { inspect } from 'node:util';
import { scriptedFetch, type FakeReply } from '../../test/support/fakes';
import { createTrueLayerClient } from './client';
import { customEnvironment, TRUELAYER_SANDBOX } from './environment';
import { TrueLayerError } from './errors';
import type { DataRequest, PendingTask } from './data-client';

const SECRET = 'client-secret-xyz';

function setup(replies: FakeReply[] | ((n: number) => FakeReply), api = 'https://api.example') {
  const f = scriptedFetch(typeof replies === 'function' ? (_c, n) => replies(n) : replies);
  const client = createTrueLayerClient({
    environment: customEnvironment({ authBaseUrl: 'https://auth.example', apiBaseUrl: api }),
    clientId: 'cid',
    clientSecret: SECRET,
    fetch: f.fetch,
    sleep: async () => undefined,
    now: () => Date.parse('2024-01-01T00:00:00Z'),
  });
  return { client, calls: f.calls };
}

const tokenBody = {
  access_token: 'at-1',
  expires_in: 3600,
  token_type: 'Bearer',
  refresh_token: 'rt-1',
  scope: 'info accounts offline_access',
};

describe('auth client', () => {
  it('exchangeCode posts a form body with every field and parses the token set', async () => {
    const { client, calls } = setup([{ status: 200, body: tokenBody }]);
    const t = await client.auth.exchangeCode({ code: 'code-1', redirectUri: 'https://app/cb', codeVerifier: 'v'.repeat(43) });
    const c = calls[0]!;
    expect(c.url).toBe('https://auth.example/connect/token');
    expect(c.method).toBe('POST');
    expect(c.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(c.body))).toEqual({
      grant_type: 'authorization_code',
      client_id: 'cid',
      client_secret: SECRET,
      code: 'code-1',
      redirect_uri: 'https://app/cb',
      code_verifier: 'v'.repeat(43),
    });
    expect(t).toMatchObject({
      accessToken: 'at-1',
      refreshToken: 'rt-1',
      expiresIn: 3600,
      tokenType: 'Bearer',
      scope: ['info', 'accounts', 'offline_access'],
      expiresAt: new Date('2024-01-01T01:00:00Z'),
    });
  });

  it('refresh posts grant_type=refresh_token; a missing refresh_token/scope is fine', async () => {
    const { client, calls } = setup([{ status: 200, body: { access_token: 'a', expires_in: '1800', token_type: 'Bearer' } }]);
    const t = await client.auth.refresh('rt-0');
    expect(Object.fromEntries(new URLSearchParams(calls[0]!.body))).toEqual({
      grant_type: 'refresh_token',
      client_id: 'cid',
      client_secret: SECRET,
      refresh_token: 'rt-0',
    });
    expect(t.refreshToken).toBeUndefined();
    expect(t.scope).toEqual([]);
    expect(t.expiresIn).toBe(1800);
  });

  it('maps token errors: invalid_grant, unauthorized_client, invalid_request', async () => {
    const { client } = setup([
      { status: 400, body: { error: 'invalid_grant' } },
      { status: 401, body: { error: 'unauthorized_client', error_description: 'bad creds', error_details: {} } },
      { status: 401, body: { error: 'invalid_request', error_description: 'Invalid request', error_details: { reason: 'Invalid refresh_token' } } },
    ]);
    const e1 = (await client.auth.refresh('r').catch((e: unknown) => e)) as TrueLayerError;
    const e2 = (await client.auth.refresh('r').catch((e: unknown) => e)) as TrueLayerError;
    const e3 = (await client.auth.refresh('r').catch((e: unknown) => e)) as TrueLayerError;
    expect([e1.code, e1.category, e1.httpStatus]).toEqual(['invalid_grant', 'consent_gone', 400]);
    expect([e2.code, e2.category]).toEqual(['unauthorized_client', 'invalid_request']);
    expect([e3.code, e3.category, e3.details]).toEqual(['invalid_request', 'consent_gone', { reason: 'Invalid refresh_token' }]);
  });

  it('the secret never appears in JSON/inspection of the client', () => {
    const { client } = setup([]);
    expect(JSON.stringify(client.auth)).not.toContain(SECRET);
    expect(JSON.stringify(client)).not.toContain(SECRET);
    expect(inspect(client, { depth: 20, showHidden: true })).not.toContain(SECRET);
  });

  it('authLink uses the configured auth host and client id', () => {
    const { client } = setup([]);
    const url = client.auth.authLink({ redirectUri: 'https://app/cb', scope: ['accounts'], state: 's', providers: ['uk-cs-mock'] });
    expect(url.startsWith('https://auth.example/?response_type=code&client_id=cid&')).toBe(true);
  });

  it('reauthLink, directBankAuthLink, debug, deleteConnection, providers', async () => {
    const { client, calls } = setup([
      { status: 200, body: { result: 'https://auth.example/reauth?x', success: true } },
      { status: 200, body: { result: 'https://bank.example/authorize', success: true } },
      { status: 200, body: { credentials_id: 'c', debug_id: 'd', provider_id: 'mock' } },
      { status: 200 },
      { status: 200, body: [{ provider_id: 'mock', display_name: 'Mock', country: 'uk', logo_url: 'x', scopes: 'accounts info' }] },
    ]);
    await expect(client.auth.reauthLink({ refreshToken: 'rt', redirectUri: 'https://app/cb', state: 's', codeChallenge: 'ch' })).resolves.toMatchObject({
      url: 'https://auth.example/reauth?x',
    });
    expect(JSON.parse(calls[0]!.body!)).toEqual({
      response_type: 'code',
      refresh_token: 'rt',
      redirect_uri: 'https://app/cb',
      state: 's',
      code_challenge: 'ch',
      code_challenge_method: 'S256',
    });
    await client.auth.directBankAuthLink({
      redirectUri: 'https://app/cb',
      scope: ['accounts', 'balance'],
      consentId: 'cons-1',
      providerId: 'ob-monzo',
      user: { name: 'A', email: 'a@b.c' },
    });
    expect(calls[1]!.url).toBe('https://auth.example/v1/authuri');
    expect(JSON.parse(calls[1]!.body!)).toMatchObject({ client_id: 'cid', scope: 'accounts balance', consent_id: 'cons-1' });
    await expect(client.auth.debug('at')).resolves.toMatchObject({ debug_id: 'd' });
    expect(JSON.parse(calls[2]!.body!)).toEqual({ access_token: 'at' });
    await client.auth.deleteConnection('at');
    expect(calls[3]).toMatchObject({ method: 'DELETE', url: 'https://auth.example/api/delete' });
    expect(calls[3]!.headers['authorization']).toBe('Bearer at');
    const p = await client.auth.providers({ clientId: true, scopes: ['accounts', 'balance'], country: ['uk', 'fr'] });
    expect(calls[4]!.url).toBe('https://auth.example/api/providers?clientId=cid&scopes=accounts%20balance&country=uk%20fr');
    expect(p.results[0]?.scopes).toEqual(['accounts', 'info']);
  });
});

describe('data client endpoints', () => {
  const cases: [DataRequest, string][] = [
    [{ resource: 'me' }, '/data/v1/me'],
    [{ resource: 'info' }, '/data/v1/info'],
    [{ resource: 'accounts' }, '/data/v1/accounts'],
    [{ resource: 'account', accountId: 'a/1' }, '/data/v1/accounts/a%2F1'],
    [{ resource: 'balance', accountId: 'a1' }, '/data/v1/accounts/a1/balance'],
    [
      { resource: 'transactions', accountId: 'a1', range: { from: new Date('2024-01-05T10:00:00Z'), to: '2024-02-01' } },
      '/data/v1/accounts/a1/transactions?from=2024-01-05&to=2024-02-01',
    ],
    [{ resource: 'pendingTransactions', accountId: 'a1' }, '/data/v1/accounts/a1/transactions/pending'],
    [{ resource: 'standingOrders', accountId: 'a1' }, '/data/v1/accounts/a1/standing_orders'],
    [{ resource: 'directDebits', accountId: 'a1' }, '/data/v1/accounts/a1/direct_debits'],
    [{ resource: 'cards' }, '/data/v1/cards'],
    [{ resource: 'card', cardId: 'c1' }, '/data/v1/cards/c1'],
    [{ resource: 'cardBalance', cardId: 'c1' }, '/data/v1/cards/c1/balance'],
    [
      { resource: 'cardTransactions', cardId: 'c1', range: { from: '2024-01-01', to: '2024-01-31T00:00:00' } },
      '/data/v1/cards/c1/transactions?from=2024-01-01&to=2024-01-31T00%3A00%3A00',
    ],
    [
      { resource: 'cardPendingTransactions', cardId: 'c1', range: { from: '2024-01-01', to: '2024-01-02' } },
      '/data/v1/cards/c1/transactions/pending?from=2024-01-01&to=2024-01-02',
    ],
  ];
  it.each(cases)('%j -> GET %s', async (req, path) => {
    const { client, calls } = setup([{ status: 200, body: { results: [] } }]);
    const r = await client.data.get('tok', req);
    expect(calls[0]!.url).toBe(`https://api.example${path}`);
    expect(r).toMatchObject({ results: [], status: 'Succeeded', correlationId: 'tl-1' });
  });

  it('typed helpers delegate with the right request', async () => {
    const { client, calls } = setup([{ status: 200, body: { results: [] } }]);
    const range = { from: '2024-01-01', to: '2024-01-02' };
    await client.data.me('t');
    await client.data.info('t');
    await client.data.accounts('t');
    await client.data.account('t', 'a');
    await client.data.accountBalance('t', 'a');
    await client.data.transactions('t', 'a', range);
    await client.data.pendingTransactions('t', 'a', range);
    await client.data.standingOrders('t', 'a');
    await client.data.directDebits('t', 'a');
    await client.data.cards('t');
    await client.data.card('t', 'c');
    await client.data.cardBalance('t', 'c');
    await client.data.cardTransactions('t', 'c', range);
    await client.data.cardPendingTransactions('t', 'c');
    expect(calls.map((c) => new URL(c.url).pathname)).toEqual([
      '/data/v1/me',
      '/data/v1/info',
      '/data/v1/accounts',
      '/data/v1/accounts/a',
      '/data/v1/accounts/a/balance',
      '/data/v1/accounts/a/transactions',
      '/data/v1/accounts/a/transactions/pending',
      '/data/v1/accounts/a/standing_orders',
      '/data/v1/accounts/a/direct_debits',
      '/data/v1/cards',
      '/data/v1/cards/c',
      '/data/v1/cards/c/balance',
      '/data/v1/cards/c/transactions',
      '/data/v1/cards/c/transactions/pending',
    ]);
  });

  it('rejects an empty id and an invalid date before sending', async () => {
    const { client, calls } = setup([{ status: 200, body: { results: [] } }]);
    await expect(client.data.account('t', '')).rejects.toThrow(TypeError);
    await expect(client.data.transactions('t', 'a', { from: '1/1/2024', to: '2024-01-02' })).rejects.toThrow(TypeError);
    expect(calls).toHaveLength(0);
  });

  it('uses the sandbox preset hosts', async () => {
    const f = scriptedFetch([{ status: 200, body: { results: [] } }]);
    const c = createTrueLayerClient({ environment: TRUELAYER_SANDBOX, clientId: 'x', clientSecret: 'y', fetch: f.fetch });
    await c.data.accounts('t');
    expect(f.calls[0]!.url).toBe('https://api.truelayer-sandbox.com/data/v1/accounts');
  });
});

describe('async tasks', () => {
  const taskId = '18a77ae5-a30b-4955-b840-301daddd180a';
  const resultsUri = `https://api.example/data/v1/results/${taskId}`;

  async function started() {
    const s = setup((n) =>
      n === 0
        ? { status: 202, body: { results_uri: resultsUri, status: 'Queued', task_id: taskId }, headers: { 'x-credentials-id': 'cred-1' } }
        : n === 1
          ? { status: 202, body: { status: 'Running' } }
          : { status: 200, body: { results: [{ full_name: 'John Doe' }], status: 'Succeeded' } },
    );
    const task = await s.client.data.startTask('tok', { resource: 'info' }, { webhookUri: 'https://hooks.example/tl/secret-path' });
    return { ...s, task };
  }

  it('startTask sends async=true and webhook_uri and returns the pending task', async () => {
    const { task, calls } = await started();
    expect(calls[0]!.url).toBe(
      'https://api.example/data/v1/info?async=true&webhook_uri=https%3A%2F%2Fhooks.example%2Ftl%2Fsecret-path',
    );
    expect(task).toMatchObject({ taskId, resultsUri, status: 'Queued', resource: 'info', credentialsId: 'cred-1' });
  });

  it('matchWebhook checks task id, results uri and credentials id', async () => {
    const { client, task } = await started();
    const body = {
      request_timestamp: '2024-01-01T12:00:00Z',
      request_uri: 'https://api.example/data/v1/info',
      credentials_id: 'cred-1',
      task_id: taskId,
      status: 'Succeeded',
      results_uri: resultsUri,
    };
    expect(client.data.matchWebhook(body, task)).toMatchObject({ ok: true, succeeded: true });
    expect(client.data.matchWebhook({ ...body, task_id: 'other' }, task)).toEqual({ ok: false, reason: 'task_id_mismatch' });
    expect(client.data.matchWebhook({ ...body, results_uri: 'https://evil.example/x' }, task)).toEqual({
      ok: false,
      reason: 'results_uri_mismatch',
    });
    expect(client.data.matchWebhook({ ...body, credentials_id: 'c2' }, task)).toEqual({ ok: false, reason: 'credentials_id_mismatch' });
    expect(client.data.matchWebhook({ hello: 1 }, task)).toEqual({ ok: false, reason: 'invalid_body' });
    expect(
      client.data.matchWebhook({ ...body, status: 'Failed', error: 'provider_error', error_description: 'x' }, task),
    ).toMatchObject({ ok: true, succeeded: false });
  });

  it('fetchResults: pending while Running, then parsed results', async () => {
    const { client, task, calls } = await started();
    await expect(client.data.fetchResults('tok', task)).resolves.toMatchObject({ done: false, status: 'Running' });
    const r = await client.data.fetchResults('tok', task);
    expect(r.done).toBe(true);
    if (r.done) expect(r.results[0]?.full_name).toBe('John Doe');
    expect(calls[1]!.url).toBe(resultsUri);
  });

  it('fetchResults throws the task error for a Failed task', async () => {
    const { client } = setup([{ status: 200, body: { status: 'Failed', error: 'provider_timeout', error_description: 'x' } }]);
    const task: Pick<PendingTask, 'resultsUri' | 'resource'> = { resultsUri, resource: 'accounts' };
    await expect(client.data.fetchResults('tok', task)).rejects.toMatchObject({ code: 'provider_timeout', category: 'provider_down' });
  });

  it('never sends the token to a results_uri outside the configured API', async () => {
    const { client, calls } = setup([{ status: 200, body: { results: [] } }]);
    for (const bad of [
      'https://evil.example/data/v1/results/x',
      'https://api.example/data/v1/accounts',
      'https://api.example/data/v1/results/',
      'not a url',
    ]) {
      await expect(client.data.fetchResults('tok', { resultsUri: bad, resource: 'accounts' })).rejects.toThrow(TypeError);
    }
    expect(calls).toHaveLength(0);
  });

  it('startTask rejects a 202 whose results_uri points elsewhere', async () => {
    const { client } = setup([{ status: 202, body: { results_uri: 'https://evil/x', status: 'Queued', task_id: 't' } }]);
    await expect(client.data.startTask('tok', { resource: 'accounts' })).rejects.toMatchObject({ code: 'invalid_response' });
  });
});

describe('extendConnection', () => {
  it('posts the documented body to the API host and maps outcomes', async () => {
    const { client, calls } = setup([
      { status: 200, body: { action_needed: 'no_action_needed', access_token: 'a2', expires_in: 3600, refresh_token: 'r2', token_type: 'Bearer' } },
      { status: 200, body: { action_needed: 'authentication_needed', user_input_link: 'https://bank/x' } },
      {
        status: 422,
        body: { type: 'https://docs', title: 'No way to extend this connection', status: 422, detail: 'This connection cannot be extended', trace_id: 't-1' },
      },
    ]);
    const params = {
      refreshToken: 'rt',
      redirectUri: 'https://app/cb',
      user: { id: 'u1', name: 'N', email: 'e@x' },
      userHasReconfirmedConsent: true as const,
      state: 's',
    };
    await expect(client.data.extendConnection(params)).resolves.toMatchObject({ action: 'no_action_needed', accessToken: 'a2' });
    expect(calls[0]!.url).toBe('https://api.example/data/v1/connections/extend');
    expect(JSON.parse(calls[0]!.body!)).toEqual({
      user_has_reconfirmed_consent: true,
      client_id: 'cid',
      client_secret: SECRET,
      user: { id: 'u1', name: 'N', email: 'e@x' },
      refresh_token: 'rt',
      redirect_uri: 'https://app/cb',
      state: 's',
    });
    await expect(client.data.extendConnection(params)).resolves.toEqual({
      action: 'authentication_needed',
      userInputLink: 'https://bank/x',
      correlationId: 'tl-2',
    });
    const e = (await client.data.extendConnection(params).catch((x: unknown) => x)) as TrueLayerError;
    expect([e.code, e.category, e.traceId, e.httpStatus]).toEqual(['extend_not_possible', 'consent_gone', 't-1', 422]);
    expect(e.message).not.toContain(SECRET);
  });
});

describe('extendConnection on the auth client and path override', () => {
  it('auth.extendConnection posts to the configured path (OpenAPI variant)', async () => {
    const f = scriptedFetch([{ status: 200, body: { action_needed: 'reconfirmation_of_consent_needed', user_input_link: 'https://l' } }]);
    const client = createTrueLayerClient({
      environment: customEnvironment({ authBaseUrl: 'https://auth.example', apiBaseUrl: 'https://api.example' }),
      clientId: 'cid',
      clientSecret: SECRET,
      fetch: f.fetch,
      extendConnectionPath: '/connections/extend',
    });
    const r = await client.auth.extendConnection({
      refreshToken: 'rt',
      redirectUri: 'https://app/cb',
      user: { id: 'u' },
      userHasReconfirmedConsent: true,
    });
    expect(r).toMatchObject({ action: 'reconfirmation_of_consent_needed', userInputLink: 'https://l' });
    expect(f.calls[0]!.url).toBe('https://api.example/connections/extend');
  });
});

describe('deprecated batch endpoints', () => {
  it('starts a batch and polls results (202 pending, then 200)', async () => {
    const { client, calls } = setup([
      { status: 202, body: { results_uri: 'https://api.example/data/v1/batch/results', status: 'Queued', task_id: 't1' } },
      { status: 202, body: { results_uri: 'https://api.example/data/v1/batch/results', status: 'Running', task_id: 't1' } },
      {
        status: 200,
        body: { status: 'Succeeded', task_id: 't1', request: { from: '2024-01-01', to: '2024-01-31' }, results: { accounts: [], cards: [] } },
      },
    ]);
    const started = await client.data.startBatchTransactions('tok', { from: '2024-01-01', to: '2024-01-31', pending: true, balance: true });
    expect(started).toMatchObject({ taskId: 't1', status: 'Queued' });
    expect(JSON.parse(calls[0]!.body!)).toEqual({ from: '2024-01-01', to: '2024-01-31', pending: true, balance: true });
    await expect(client.data.batchResults('tok')).resolves.toMatchObject({ done: false, status: 'Running' });
    await expect(client.data.batchResults('tok')).resolves.toMatchObject({ done: true, task_id: 't1', request: { from: '2024-01-01T00:00:00.000Z' } });
  });
});
