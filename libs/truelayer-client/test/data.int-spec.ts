import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toDate, TrueLayerError, type Account, type Card } from '../src';
import { recordingTracer } from './support/fakes';
import { isoDate, startHarness, USER_IP, type Connected, type Harness } from './support/sandbox';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
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

const DAY = 86_400_000;
const attended = { psuIp: USER_IP };

async function simulatorNow(): Promise<Date> {
  const c = await h.admin<{ now: string }>('GET', '/clock');
  return new Date(c.now);
}

async function recentRange(days = 30) {
  const now = await simulatorNow();
  return { from: isoDate(new Date(now.getTime() - days * DAY)), to: isoDate(now) };
}

describe('every Data API v1 endpoint against the simulator', () => {
  let conn: Connected;
  let account: Account;
  let card: Card;

  beforeAll(async () => {
    await h.admin('POST', '/reset');
    conn = await h.connect();
    const accounts = await h.client.data.accounts(conn.tokens.accessToken, attended);
    const a = accounts.results[0];
    if (!a) throw new Error('no accounts');
    account = a;
    const cards = await h.client.data.cards(conn.tokens.accessToken, attended);
    const c = cards.results[0];
    if (!c) throw new Error('no cards');
    card = c;
  });

  const t = () => conn.tokens.accessToken;

  it('me', async () => {
    const r = await h.client.data.me(t());
    expect(r.results[0]).toMatchObject({ credentials_id: conn.credentialsId, consent_status: expect.any(String) });
    expect(toDate(r.results[0]?.consent_expires_at)).toBeInstanceOf(Date);
    expect(r.correlationId).toEqual(expect.any(String));
    expect(r.credentialsId).toBe(conn.credentialsId);
  });

  it('info', async () => {
    const r = await h.client.data.info(t(), attended);
    expect(r.results[0]?.full_name).toBe('John Doe');
  });

  it('accounts and account', async () => {
    const all = await h.client.data.accounts(t(), attended);
    expect(all.results.length).toBeGreaterThan(0);
    for (const a of all.results) {
      expect(a.account_id).toEqual(expect.any(String));
      expect(a.update_timestamp).toMatch(/Z$/);
    }
    const one = await h.client.data.account(t(), account.account_id ?? '', attended);
    expect(one.results).toHaveLength(1);
    expect(one.results[0]?.account_id).toBe(account.account_id);
  });

  it('balance', async () => {
    const r = await h.client.data.accountBalance(t(), account.account_id ?? '', attended);
    expect(r.results[0]).toMatchObject({ currency: expect.any(String), current: expect.any(Number) });
  });

  it('transactions (from/to) and pending', async () => {
    const range = await recentRange(60);
    const r = await h.client.data.transactions(t(), account.account_id ?? '', range, attended);
    expect(r.results.length).toBeGreaterThan(0);
    for (const tx of r.results) {
      expect(typeof tx.amount).toBe('number');
      expect(Array.isArray(tx.transaction_classification)).toBe(true);
      const d = toDate(tx.timestamp);
      expect(d).toBeInstanceOf(Date);
      expect(isoDate(d as Date) >= range.from && isoDate(d as Date) <= range.to).toBe(true);
    }
    const p = await h.client.data.pendingTransactions(t(), account.account_id ?? '', range, attended);
    expect(Array.isArray(p.results)).toBe(true);
  });

  it('standing orders and direct debits', async () => {
    const so = await h.client.data.standingOrders(t(), account.account_id ?? '', attended);
    for (const s of so.results) expect(s.frequency).toEqual(expect.any(String));
    const dd = await h.client.data.directDebits(t(), account.account_id ?? '', attended);
    for (const d of dd.results) expect(d.direct_debit_id).toEqual(expect.any(String));
    expect(so.results.length + dd.results.length).toBeGreaterThan(0);
  });

  it('cards, card, card balance, card transactions and pending', async () => {
    const id = card.account_id ?? '';
    const one = await h.client.data.card(t(), id, attended);
    expect(one.results[0]?.account_id).toBe(id);
    const bal = await h.client.data.cardBalance(t(), id, attended);
    expect(typeof bal.results[0]?.current).toBe('number');
    const range = await recentRange(60);
    const tx = await h.client.data.cardTransactions(t(), id, range, attended);
    expect(Array.isArray(tx.results)).toBe(true);
    const pend = await h.client.data.cardPendingTransactions(t(), id, range, attended);
    expect(Array.isArray(pend.results)).toBe(true);
  });

  it('numbers sent as strings (spec-typed amounts) still parse as numbers', async () => {
    await h.admin('PATCH', '/switches', { specTypedAmounts: true, cacheTtlSeconds: 0 });
    try {
      const so = await h.client.data.standingOrders(t(), account.account_id ?? '', attended);
      for (const s of so.results) {
        if (s.next_payment_amount !== undefined) expect(typeof s.next_payment_amount).toBe('number');
      }
      const bal = await h.client.data.cardBalance(t(), card.account_id ?? '', attended);
      if (bal.results[0]?.available !== undefined) expect(typeof bal.results[0].available).toBe('number');
    } finally {
      await h.admin('PATCH', '/switches', { specTypedAmounts: false, cacheTtlSeconds: 3600 });
    }
  });

  it('puts the TrueLayer correlation id on a CLIENT span (and never the token)', async () => {
    const rec = recordingTracer();
    const traced = h.makeClient({ tracer: rec.tracer });
    const r = await traced.data.accounts(t(), { ...attended, clientCorrelationId: 'int-test-corr-1' });
    const span = rec.spans[0];
    expect(span?.name).toBe('truelayer GET /data/v1/accounts');
    expect(span?.attributes['truelayer.correlation_id']).toBe(r.correlationId);
    expect(span?.attributes['truelayer.client_correlation_id']).toBe('int-test-corr-1');
    expect(JSON.stringify(rec.spans)).not.toContain(t());
  });

  it('404 account_not_found', async () => {
    const e = await expectTlError(h.client.data.account(t(), 'does-not-exist', attended));
    expect([e.code, e.httpStatus, e.category, e.retriable]).toEqual(['account_not_found', 404, 'invalid_request', false]);
    expect(e.correlationId).toEqual(expect.any(String));
  });

  it('400 invalid_date_range (from after to)', async () => {
    const e = await expectTlError(
      h.client.data.transactions(t(), account.account_id ?? '', { from: '2024-03-01', to: '2024-02-01' }, attended),
    );
    expect([e.code, e.httpStatus, e.category]).toEqual(['invalid_date_range', 400, 'invalid_request']);
  });
});

describe('history window, unattended limit, unsupported endpoints', () => {
  beforeEach(async () => {
    await h.admin('POST', '/reset');
  });

  it('403 sca_exceeded for old history after the SCA window; fine inside it', async () => {
    await h.admin('PATCH', '/switches', { cacheTtlSeconds: 0 });
    const c = await h.connect();
    const accounts = await h.client.data.accounts(c.tokens.accessToken, attended);
    const id = accounts.results[0]?.account_id ?? '';
    const now = await simulatorNow();
    const old = { from: isoDate(new Date(now.getTime() - 365 * DAY)), to: isoDate(now) };
    await expect(h.client.data.transactions(c.tokens.accessToken, id, old, attended)).resolves.toBeDefined();
    await h.admin('POST', '/clock/advance', { minutes: 10 });
    const e = await expectTlError(h.client.data.transactions(c.tokens.accessToken, id, old, attended));
    expect([e.code, e.httpStatus, e.category, e.retriable]).toEqual(['sca_exceeded', 403, 'sca_window_passed', false]);
  });

  it('429 provider_request_limit_exceeded on the 5th unattended call; X-PSU-IP calls are exempt', async () => {
    await h.admin('PATCH', '/switches', { cacheTtlSeconds: 0 });
    const c = await h.connect();
    const accounts = await h.client.data.accounts(c.tokens.accessToken, attended);
    const id = accounts.results[0]?.account_id ?? '';
    for (let i = 0; i < 4; i++) await h.client.data.accountBalance(c.tokens.accessToken, id);
    const e = await expectTlError(h.client.data.accountBalance(c.tokens.accessToken, id));
    expect([e.code, e.httpStatus, e.category, e.retriable, e.attempts]).toEqual([
      'provider_request_limit_exceeded',
      429,
      'unattended_limit',
      false,
      1,
    ]);
    await expect(h.client.data.accountBalance(c.tokens.accessToken, id, attended)).resolves.toBeDefined();
  });

  it('501 endpoint_not_supported (standing orders at first direct)', async () => {
    const c = await h.connect({ providerId: 'ob-first-direct' });
    const accounts = await h.client.data.accounts(c.tokens.accessToken, attended);
    const id = accounts.results[0]?.account_id ?? '';
    const e = await expectTlError(h.client.data.standingOrders(c.tokens.accessToken, id, attended));
    expect([e.code, e.httpStatus, e.category, e.retriable]).toEqual(['endpoint_not_supported', 501, 'not_supported', false]);
  });

  it('403 access_denied for an endpoint whose scope was not granted', async () => {
    const c = await h.connect({ scope: ['accounts'] });
    const e = await expectTlError(h.client.data.info(c.tokens.accessToken, attended));
    expect([e.code, e.category]).toEqual(['access_denied', 'consent_gone']);
  });
});

describe('mock error users (error.<code> / error)', () => {
  beforeAll(async () => {
    await h.admin('POST', '/reset');
  });
  it.each([
    ['account_permanently_locked', 'consent_gone', false],
    ['account_temporarily_locked', 'consent_gone', false],
    ['internal_error', 'unknown', true],
    ['provider_error', 'provider_down', true],
    ['user_input_required', 'consent_gone', false],
    ['wrong_credentials', 'consent_gone', false],
  ] as const)('%s -> %s (retriable %s)', async (code, category, retriable) => {
    const c = await h.connect({ username: `error.${code}`, password: 'error', providerId: 'mock', providers: ['uk-cs-mock'], scope: ['accounts', 'balance', 'offline_access'] });
    const e = await expectTlError(h.client.data.accounts(c.tokens.accessToken, attended));
    expect([e.code, e.category, e.retriable]).toEqual([code, category, retriable]);
    expect(e.attempts).toBe(retriable ? 3 : 1);
  });
});

describe('fault injection: every data error code the simulator can produce', () => {
  let c: Connected;
  beforeAll(async () => {
    await h.admin('POST', '/reset');
    await h.admin('PATCH', '/switches', { cacheTtlSeconds: 0 });
    c = await h.connect();
  });
  afterEach(async () => {
    await h.admin('DELETE', '/faults');
  });

  const CODES: [string, number, string, boolean][] = [
    ['validation_error', 400, 'invalid_request', false],
    ['invalid_date_range', 400, 'invalid_request', false],
    ['deprecated_provider', 400, 'not_supported', false],
    ['invalid_token', 401, 'token_expired', false],
    ['access_denied', 403, 'consent_gone', false],
    ['sca_exceeded', 403, 'sca_window_passed', false],
    ['invalid_credentials_key', 403, 'consent_gone', false],
    ['account_not_found', 404, 'invalid_request', false],
    ['provider_too_many_requests', 429, 'provider_rate_limited', true],
    ['provider_request_limit_exceeded', 429, 'unattended_limit', false],
    ['internal_server_error', 500, 'unknown', true],
    ['endpoint_not_supported', 501, 'not_supported', false],
    ['provider_error', 503, 'provider_down', true],
    ['temporarily_unavailable', 503, 'provider_down', true],
    ['connector_overload', 503, 'provider_down', true],
    ['connector_timeout', 504, 'provider_down', true],
    ['provider_timeout', 504, 'provider_down', true],
  ];

  it.each(CODES)('%s (HTTP %i) -> %s, retriable=%s', async (code, status, category, retriable) => {
    await h.admin('POST', '/faults', { endpoint: 'accounts', error: code });
    const e = await expectTlError(h.client.data.accounts(c.tokens.accessToken, attended));
    expect([e.code, e.httpStatus, e.category, e.retriable]).toEqual([code, status, category, retriable]);
    expect(e.attempts).toBe(retriable ? 3 : 1);
    expect(e.correlationId).toEqual(expect.any(String));
    expect(e.message).not.toContain(c.tokens.accessToken);
  });

  it('a transient fault is retried and the call succeeds', async () => {
    await h.admin('POST', '/faults', { endpoint: 'accounts', error: 'provider_error', count: 2 });
    const r = await h.client.data.accounts(c.tokens.accessToken, attended);
    expect(r.results.length).toBeGreaterThan(0);
  });

  it('a hung request times out per attempt and is retried', async () => {
    await h.admin('POST', '/faults', { endpoint: 'cards', timeout: true, count: 1 });
    const fast = h.makeClient({ timeoutMs: 300 });
    const r = await fast.data.cards(c.tokens.accessToken, attended);
    expect(r.results.length).toBeGreaterThan(0);
    await h.admin('POST', '/faults', { endpoint: 'cards', timeout: true });
    const e = await expectTlError(fast.data.cards(c.tokens.accessToken, { ...attended, maxAttempts: 2 }));
    expect([e.code, e.attempts]).toEqual(['request_timeout', 2]);
  });
});

describe('async mode with a webhook', () => {
  let server: Server;
  let hookUrl: string;
  const received: unknown[] = [];
  const waiters: ((b: unknown) => void)[] = [];

  beforeAll(async () => {
    await h.admin('POST', '/reset');
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const parsed: unknown = JSON.parse(body || 'null');
        received.push(parsed);
        waiters.shift()?.(parsed);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tl-hook/secret-123`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const nextWebhook = () =>
    new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no webhook within 10 s')), 10_000);
      waiters.push((b) => {
        clearTimeout(timer);
        resolve(b);
      });
    });

  it('starts a task, matches the webhook and fetches the same results as the sync call', async () => {
    const c = await h.connect();
    const accounts = await h.client.data.accounts(c.tokens.accessToken, attended);
    const id = accounts.results[0]?.account_id ?? '';
    const range = await recentRange(30);
    const hook = nextWebhook();
    const task = await h.client.data.startTask(
      c.tokens.accessToken,
      { resource: 'transactions', accountId: id, range },
      { webhookUri: hookUrl },
      attended,
    );
    expect(task.status).toBe('Queued');
    const body = await hook;
    const match = h.client.data.matchWebhook(body, task);
    expect(match).toMatchObject({ ok: true, succeeded: true });
    expect(h.client.data.matchWebhook(body, { ...task, taskId: 'other' })).toEqual({ ok: false, reason: 'task_id_mismatch' });
    const results = await h.client.data.fetchResults(c.tokens.accessToken, task);
    expect(results.done).toBe(true);
    const sync = await h.client.data.transactions(c.tokens.accessToken, id, range, attended);
    if (results.done) {
      expect(results.results.map((x) => x.normalised_provider_transaction_id)).toEqual(
        sync.results.map((x) => x.normalised_provider_transaction_id),
      );
    }
  });

  it('a failed task: webhook says Failed and fetchResults throws the task error', async () => {
    const c = await h.connect();
    await h.admin('POST', '/faults', { endpoint: 'cards', error: 'provider_timeout' });
    try {
      const hook = nextWebhook();
      const task = await h.client.data.startTask(c.tokens.accessToken, { resource: 'cards' }, { webhookUri: hookUrl }, attended);
      const m = h.client.data.matchWebhook(await hook, task);
      expect(m).toMatchObject({ ok: true, succeeded: false, webhook: { error: 'provider_timeout' } });
      const e = await expectTlError(h.client.data.fetchResults(c.tokens.accessToken, task, { maxAttempts: 1 }));
      expect([e.code, e.category]).toEqual(['provider_timeout', 'provider_down']);
    } finally {
      await h.admin('DELETE', '/faults');
    }
  });

  it('polling before completion reports not done', async () => {
    await h.admin('PATCH', '/switches', { asyncTaskDelayMs: 1000 });
    const c = await h.connect();
    const task = await h.client.data.startTask(c.tokens.accessToken, { resource: 'accounts' }, {}, attended);
    const first = await h.client.data.fetchResults(c.tokens.accessToken, task);
    expect(first).toMatchObject({ done: false });
    await h.admin('PATCH', '/switches', { asyncTaskDelayMs: 20 });
  });
});

describe('deprecated batch endpoints', () => {
  it('POST /batch/transactions then GET /batch/results until done', async () => {
    await h.admin('POST', '/reset');
    const c = await h.connect();
    const range = await recentRange(14);
    const started = await h.client.data.startBatchTransactions(c.tokens.accessToken, { ...range, pending: true, balance: true }, attended);
    expect(started.taskId).toEqual(expect.any(String));
    let result = await h.client.data.batchResults(c.tokens.accessToken);
    for (let i = 0; i < 50 && !result.done; i++) {
      await new Promise((r) => setTimeout(r, 50));
      result = await h.client.data.batchResults(c.tokens.accessToken);
    }
    expect(result.done).toBe(true);
    if (result.done) {
      expect(result.task_id).toBe(started.taskId);
      expect(result.results.accounts?.length).toBeGreaterThan(0);
    }
  });
});
