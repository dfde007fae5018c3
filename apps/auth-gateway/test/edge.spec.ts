/**
 * The public edge under hostile input: requests the gateway cannot read are the client's fault (4xx problem JSON,
 * never 500), and what reaches the logs is the masked path, never a page token, a request body, a code or a state.
 */
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { createLogger } from '@ais/platform-logger';
import { createGrpcClient, insecureTls } from '@ais/platform-grpc';
import { scrubAttributes } from '@ais/platform-telemetry';
import { context, ROOT_CONTEXT, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import express from 'express';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { openApiDocument } from '../src/api/openapi';
import { publicApp } from '../src/http/app';
import type { Downstreams } from '../src/clients/grpc-clients';
import { harness, stateOf } from './harness';

/** A harness whose log lines are kept (parsed), with an API key and a hosted session's page token. */
async function edge() {
  const h = harness();
  const lines: string[] = [];
  h.deps.logger = createLogger({ service: 'gw-test', level: 'debug', destination: new Writable({ write: (c, _e, cb) => void (lines.push(String(c)), cb()) }) });
  const pub = publicApp(h.deps);
  const { key } = await h.newClient();
  const auth = { authorization: `Bearer ${key}` };
  const hosted = await request(pub).post('/v1/users/user-1/connect-sessions').set(auth).send({ dialog: 'hosted' }).expect(201);
  const pageToken = new URL(hosted.body.url as string).pathname.split('/')[2]!;
  lines.length = 0;
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { h, pub, auth, pageToken, lines, records };
}

/** 28 form fields: with the route's own fields, over the limit of 20 on the hosted pages and the callback. */
const MANY_FIELDS = Array.from({ length: 28 }, (_, i) => `f${i}=body-field-${i}`).join('&');

function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status, code });
}

describe('requests the gateway cannot read: 4xx problem JSON, nothing secret logged', () => {
  it('an unknown Content-Encoding is a 415, a lying one a 400; a real gzip body is read', async () => {
    const { pub, auth, lines, records } = await edge();
    const body = '{"dialog":"truelayer"}';
    const bogus = await request(pub).post('/v1/users/x/connect-sessions').set(auth).set('content-type', 'application/json').set('content-encoding', 'bogus').send(body);
    expectProblem(bogus, 415, 'unsupported_content_encoding');
    const notGzip = await request(pub).post('/v1/users/x/connect-sessions').set(auth).set('content-type', 'application/json').set('content-encoding', 'gzip').send(body);
    expectProblem(notGzip, 400, 'unreadable_body');
    // without a key too: the body is read before the key is checked, and the answer is still the client's error
    expectProblem(await request(pub).post('/v1/users/x/connect-sessions').set('content-type', 'application/json').set('content-encoding', 'bogus').send(body), 415, 'unsupported_content_encoding');
    const gz = await request(pub)
      .post('/v1/users/x/connect-sessions')
      .set(auth)
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .serialize((b: unknown) => b as string)
      .send(gzipSync(body) as unknown as string);
    expect(gz.status).toBe(201);
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
    expect(records().map((r) => r['msg'])).toEqual(['http request', 'http request', 'http request', 'http request']);
    expect(lines.join('')).not.toContain('dialog');
  });

  it('POST /v1/callback with too many fields (400) or charset=utf-7 (415): no exchange, code and state never logged', async () => {
    const { h, pub, lines, records } = await edge();
    const many = await request(pub).post('/v1/callback').type('form').send(`${MANY_FIELDS}&code=the-auth-code-x1&state=the-state-value-x1`);
    expectProblem(many, 400, 'too_many_parameters');
    const utf7 = await request(pub).post('/v1/callback').set('content-type', 'application/x-www-form-urlencoded; charset=utf-7').send('code=the-auth-code-x2&state=the-state-value-x2');
    expectProblem(utf7, 415, 'unsupported_charset');
    expect(h.tv.exchangeCode).not.toHaveBeenCalled();
    const log = lines.join('');
    for (const secret of ['the-auth-code', 'the-state-value', 'body-field']) expect(log).not.toContain(secret);
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
    expect(records().filter((r) => r['msg'] === 'http request').map((r) => [r['path'], r['status']])).toEqual([
      ['/v1/callback', 400],
      ['/v1/callback', 415],
    ]);
  });

  it('POST /connect/<page token>/consent with too many fields: 400; the log has the masked path, not the token or the body', async () => {
    const { h, pub, pageToken, lines, records } = await edge();
    const res = await request(pub).post(`/connect/${pageToken}/consent`).type('form').send(`${MANY_FIELDS}&provider_id=mock`);
    expectProblem(res, 400, 'too_many_parameters');
    expect(res.body.instance).toBe('/connect/:token/consent');
    expect(res.text).not.toContain(pageToken);
    expect(lines.join('')).not.toContain(pageToken);
    expect(lines.join('')).not.toContain('body-field');
    expect(records().find((r) => r['method'] === 'POST' && r['status'] === 400)).toMatchObject({ path: '/connect/:token/consent' });
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
    // the session was not touched: the page still opens
    await request(pub).get(`/connect/${pageToken}`).expect(200);
    expect([...h.sessions.records.values()][0]).toMatchObject({ consumedAt: null });
  });

  it('a body over the limit is a 413; a body of another Content-Type than the route reads is a 415 (a bodiless request passes)', async () => {
    const { h, pub, auth, pageToken, lines, records } = await edge();
    const big = await request(pub).post('/v1/users/x/connect-sessions').set(auth).send({ dialog: 'truelayer', return_url: `https://app.budgetly.test/connected?pad=${'p'.repeat(2000)}` });
    expectProblem(big, 413, 'body_too_large');
    const asText = await request(pub).post('/v1/users/x/connect-sessions').set(auth).set('content-type', 'text/plain').send('{"dialog":"truelayer"}');
    expectProblem(asText, 415, 'unsupported_media_type');
    expect(asText.body.detail).toBe('the request body must be application/json');
    // before the key is checked, like every body error
    expectProblem(await request(pub).post('/v1/users/x/connect-sessions').type('form').send('dialog=truelayer'), 415, 'unsupported_media_type');
    expectProblem(await request(pub).patch('/v1/users/x/accounts/a1').set(auth).set('content-type', 'application/xml').send('<notes/>'), 415, 'unsupported_media_type');
    expectProblem(await request(pub).post('/v1/webhooks/truelayer').set('content-type', 'text/plain').send('task_id=1'), 415, 'unsupported_media_type');
    // JSON with a charset parameter is JSON; a POST without a body reaches the route
    await request(pub).post('/v1/users/x/connect-sessions').set(auth).set('content-type', 'application/json; charset=utf-8').send('{"dialog":"truelayer"}').expect(201);
    expect((await request(pub).post('/v1/users/user-1/connections/conn-1/refresh').set(auth).expect(400)).body.code).toBe('psu_ip_required');
    // the hosted pages' forms and the form_post callback read urlencoded forms only
    const jsonConsent = await request(pub).post(`/connect/${pageToken}/consent`).send({ provider_id: 'mock' });
    expectProblem(jsonConsent, 415, 'unsupported_media_type');
    expect(jsonConsent.body.instance).toBe('/connect/:token/consent');
    expectProblem(await request(pub).post('/v1/callback').send({ code: 'the-auth-code-j', state: 'the-state-value-j' }), 415, 'unsupported_media_type');
    expect(h.tv.exchangeCode).not.toHaveBeenCalled();
    expect(h.sessions.records.size).toBe(2);
    const log = lines.join('');
    for (const secret of [pageToken, 'the-auth-code', 'the-state-value', 'ppppp']) expect(log).not.toContain(secret);
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
  });

  it('malformed percent-encoding in a path is a 400 problem on the pages, the bounce and the caller API', async () => {
    const { pub, auth, records } = await edge();
    for (const [method, path] of [
      ['get', '/connect/%ff'],
      ['get', '/connect/%ff/consent'],
      ['get', '/bounce/%E0%A4%A'],
      ['post', '/connect/%ff/cancel'],
    ] as const) {
      const res = await request(pub)[method](path);
      expectProblem(res, 400, 'malformed_path');
    }
    expectProblem(await request(pub).get('/v1/users/%ff/connections').set(auth), 400, 'malformed_path');
    // the key is still checked first on the caller API
    expectProblem(await request(pub).get('/v1/users/%ff/connections'), 401, 'invalid_api_key');
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
    expect(records().filter((r) => r['msg'] === 'http request').map((r) => r['path'])).toEqual([
      '/connect/:token',
      '/connect/:token/consent',
      '/bounce/:token',
      '/connect/:token/cancel',
      '/v1/users/%ff/connections',
      '/v1/users/%ff/connections',
    ]);
  });

  it('an unexpected error is a 500 whose log line has the masked path and no err.body', async () => {
    const { h, pub, auth, records } = await edge();
    h.tv.listConnections.mockRejectedValueOnce(Object.assign(new Error('store broke'), { body: 'a-request-body-x3' }));
    expectProblem(await request(pub).get('/v1/users/user-1/connections').set(auth), 500, 'internal');
    const line = records().find((r) => r['msg'] === 'unhandled error');
    expect(line).toMatchObject({ level: 'error', path: '/v1/users/user-1/connections', err: { message: 'store broke' } });
    expect(JSON.stringify(line)).not.toContain('a-request-body-x3');
  });
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('server-side failures: a generic problem detail; the cause in the log and the span', () => {
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => context.setGlobalContextManager(manager.enable()));
  afterAll(() => {
    manager.disable();
    context.disable();
  });

  it('token-vault unreachable: 503 without its address or the driver message; both are logged and recorded on the span', async () => {
    const { h, auth, records } = await edge();
    const port = await closedPort();
    const tokenVault = createGrpcClient(tokenvaultV1.TokenVaultServiceClient, `127.0.0.1:${port}`, 5_000, insecureTls().channel('token-vault'));
    (h.deps.downstreams as { tokenVault: Downstreams['tokenVault'] }).tokenVault = tokenVault;
    const recorded: unknown[] = [];
    const span = { spanContext: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 }), recordException: (e: unknown) => void recorded.push(e) } as unknown as Span;
    // the request runs inside an active span, as under the HTTP instrumentation
    const traced = express().use((req, res, next) => context.with(trace.setSpan(ROOT_CONTEXT, span), () => publicApp(h.deps)(req, res, next)));
    try {
      const res = await request(traced).get('/v1/users/demo-user/connections').set(auth);
      expectProblem(res, 503, 'grpc_14');
      expect(res.body.detail).toBe('A service behind the gateway is unavailable; retry later and quote the trace id if it persists.');
      expect(res.body.trace_id).toBe('a'.repeat(32));
      expect(res.text).not.toContain(String(port));
      expect(res.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|No connection/);
      const line = records().find((r) => r['msg'] === 'request failed');
      expect(line).toMatchObject({ level: 'warn', code: 'grpc_14', status: 503, path: '/v1/users/demo-user/connections' });
      expect(String(line?.['detail'])).toContain(`127.0.0.1:${port}`);
      expect(recorded).toHaveLength(1);
      expect((recorded[0] as Error).message).toContain(`127.0.0.1:${port}`);
    } finally {
      tokenVault.close();
    }
  });

  it("the gateway's own 503 and a downstream deadline are generic too; 4xx details are unchanged", async () => {
    const { h, pub, auth } = await edge();
    delete (h.deps.downstreams as { reconciliation?: unknown }).reconciliation;
    const noRead = await request(pub).get('/v1/users/user-1/accounts').set(auth);
    expectProblem(noRead, 503, 'reconciliation_unavailable');
    expect(noRead.body.detail).not.toContain('RECONCILIATION_ADDR');
    h.tv.listConnections.mockRejectedValueOnce(new AppError({ code: 'grpc_4', message: 'Deadline exceeded after 5.001s,LB pick: 0.001s,remote_addr=10.1.2.3:50051', kind: 'deadline_exceeded' }));
    const slow = await request(pub).get('/v1/users/user-1/connections').set(auth);
    expectProblem(slow, 504, 'grpc_4');
    expect(slow.text).not.toContain('10.1.2.3');
    h.tv.getConnection.mockRejectedValueOnce(AppError.notFound('connection_not_found', 'no such connection'));
    expect((await request(pub).get('/v1/users/user-1/connections/conn-9').set(auth)).body).toMatchObject({ status: 404, detail: 'no such connection' });
  });
});

describe('routing is case-sensitive; page tokens are masked whatever the case', () => {
  it('/Connect/<token>, /CONNECT/<token>/consent and friends are 404s that neither answer with nor log the token', async () => {
    const { h, pub, auth, pageToken, lines, records } = await edge();
    for (const [method, path] of [
      ['get', `/Connect/${pageToken}`],
      ['get', `/CONNECT/${pageToken}/consent?provider_id=mock`],
      ['post', `/connect/${pageToken}/Cancel`],
      ['post', `/Connect/${pageToken}/cancel`],
      ['get', `/Bounce/${pageToken}`],
      ['get', '/V1/callback?code=x&state=y'],
      ['get', '/v1/Users/user-1/connections'],
    ] as const) {
      const res = await request(pub)[method](path).set(auth);
      expectProblem(res, 404, 'route_not_found');
      expect(res.text).not.toContain(pageToken);
    }
    expect(h.tv.listConnections).not.toHaveBeenCalled();
    expect([...h.sessions.records.values()][0]).toMatchObject({ consumedAt: null, outcome: null });
    expect(lines.join('')).not.toContain(pageToken);
    expect(records().map((r) => r['path'])).toEqual([
      '/Connect/:token',
      '/CONNECT/:token/consent',
      '/connect/:token/Cancel',
      '/Connect/:token/cancel',
      '/Bounce/:token',
      '/V1/callback',
      '/v1/Users/user-1/connections',
    ]);
    // the lower-case page still opens, and the caller API logs its full path
    await request(pub).get(`/connect/${pageToken}`).expect(200);
    await request(pub).get('/v1/users/user-1/connections').set(auth).expect(200);
    expect(records().slice(-2).map((r) => r['path'])).toEqual(['/connect/:token', '/v1/users/user-1/connections']);
  });

  it("a span's url.path and http.target are masked whatever the case of the prefix", () => {
    const token = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde';
    const out = scrubAttributes({ 'url.path': `/Connect/${token}/consent`, 'http.target': `/BOUNCE/${token}`, 'url.full': `http://gw.test/connect/${token}` });
    expect(JSON.stringify(out)).not.toContain(token);
    expect(out['url.path']).toBe('/Connect/[REDACTED]/consent');
  });
});

describe('methods: HEAD never consumes a callback; other methods on a known path are 405 with Allow', () => {
  it('HEAD /v1/callback changes nothing; the real GET afterwards still completes the journey', async () => {
    const { h, pub, auth } = await edge();
    const s = await request(pub).post('/v1/users/user-1/connect-sessions').set(auth).send({ dialog: 'truelayer' }).expect(201);
    const query = { code: 'the-code', state: stateOf(s.body.url as string) };
    const head = await request(pub).head('/v1/callback').query(query);
    expect(head.status).toBe(200);
    expect(head.headers['cache-control']).toBe('no-store');
    expect(h.tv.exchangeCode).not.toHaveBeenCalled();
    expect(h.sessions.records.get(s.body.session_id as string)).toMatchObject({ consumedAt: null, outcome: null });
    const get = await request(pub).get('/v1/callback').query(query).expect(303);
    expect(get.headers['location']).toMatch(/^\/bounce\//);
    expect(h.tv.exchangeCode).toHaveBeenCalledTimes(1);
    expect(h.tv.exchangeCode).toHaveBeenCalledWith(expect.objectContaining({ authorizationCode: 'the-code' }));
  });

  it('TRACE, PUT and friends on the callback and the hosted pages: 405 problem with Allow; nothing consumed; token not logged', async () => {
    const { h, pub, pageToken, lines } = await edge();
    for (const [method, path, allow] of [
      ['trace', '/v1/callback', 'GET, HEAD, POST'],
      ['put', '/v1/callback', 'GET, HEAD, POST'],
      ['delete', '/v1/callback?code=x&state=y', 'GET, HEAD, POST'],
      ['trace', `/connect/${pageToken}`, 'GET, HEAD'],
      ['put', `/connect/${pageToken}/consent`, 'GET, HEAD, POST'],
      ['get', `/connect/${pageToken}/cancel`, 'POST'],
      ['head', `/connect/${pageToken}/cancel`, 'POST'],
      ['post', `/bounce/${pageToken}`, 'GET, HEAD'],
      ['get', '/v1/webhooks/truelayer', 'POST'],
    ] as const) {
      const res = await request(pub)[method](path);
      expect([method, path, res.status, res.headers['allow']]).toEqual([method, path, 405, allow]);
      if (method !== 'head') expectProblem(res, 405, 'method_not_allowed');
    }
    const options = await request(pub).options('/v1/callback').expect(204);
    expect(options.headers['allow']).toBe('GET, HEAD, POST');
    expect([...h.sessions.records.values()][0]).toMatchObject({ consumedAt: null, outcome: null });
    expect(h.tv.exchangeCode).not.toHaveBeenCalled();
    expect(lines.join('')).not.toContain(pageToken);
  });

  it('every path of the OpenAPI document answers TRACE with 405 and an Allow naming exactly its documented methods', async () => {
    const { pub, auth } = await edge();
    const ids: Record<string, string> = { userId: 'user-1', connectionId: 'conn-1', accountId: 'acc_1', transactionId: 'txn_1', erasureId: 'er-1' };
    const paths = Object.entries(openApiDocument.paths as Record<string, Record<string, unknown>>);
    expect(paths.length).toBeGreaterThan(15);
    for (const [template, ops] of paths) {
      const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => ids[name] ?? 'x');
      const documented = new Set(Object.keys(ops).map((m) => m.toUpperCase()));
      if (documented.has('GET')) documented.add('HEAD');
      const res = await request(pub).trace(path).set(auth);
      expect([template, res.status, res.headers['allow']]).toEqual([template, 405, [...documented].sort().join(', ')]);
    }
    // without a key, the caller API still says 401 first
    expect((await request(pub).trace('/v1/users/user-1/connections')).status).toBe(401);
  });
});

describe('hosted-page client errors: 4xx page, logged below error level', () => {
  it('POST /connect/<new-session token>/reconfirm is a 400 page and a warn line; the session still works', async () => {
    const { h, pub, pageToken, lines, records } = await edge();
    const browser = request.agent(pub);
    await browser.get(`/connect/${pageToken}`).expect(200);
    const res = await browser.post(`/connect/${pageToken}/reconfirm`).type('form').send({});
    expect(res.status).toBe(400);
    expect(res.text).toContain('data-outcome="rejected"');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(h.tv.startReconsent).not.toHaveBeenCalled();
    expect(records().find((r) => r['msg'] === 'hosted page refused')).toMatchObject({ level: 'warn', code: 'not_a_reconsent', status: 400 });
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
    expect(lines.join('')).not.toContain(pageToken);
    await browser.get(`/connect/${pageToken}`).expect(200);
  });

  it("re-consent page: token-vault's NOT_FOUND is a 404 page (warn); token-vault down stays a 502 page (error)", async () => {
    const { h, pub, auth, records } = await edge();
    const s = await request(pub).post('/v1/users/user-1/connections/conn-1/reconsent').set(auth).send({ dialog: 'hosted', return_url: 'https://app.budgetly.test/connected' }).expect(201);
    const path = new URL(s.body.url as string).pathname;
    h.tv.getConnection.mockRejectedValueOnce(AppError.notFound('connection_not_found', 'no such connection'));
    const browser = request.agent(pub);
    const gone = await browser.get(path);
    expect(gone.status).toBe(404);
    expect(gone.text).toContain('data-outcome="rejected"');
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
    h.tv.startReconsent.mockRejectedValueOnce(AppError.unavailable('grpc_14', 'No connection established'));
    const down = await browser.post(path).type('form').send({});
    expect(down.status).toBe(502);
    expect(down.text).toContain('data-outcome="failed"');
    expect(records().filter((r) => r['level'] === 'error').map((r) => r['msg'])).toEqual(['hosted page failed']);
  });
});
