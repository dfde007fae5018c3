/**
 * The public edge under hostile input: requests the gateway cannot read are the client's fault (4xx problem JSON,
 * never 500), and what reaches the logs is the masked path, never a page token, a request body, a code or a state.
 */
import { createLogger } from '@ais/platform-logger';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { publicApp } from '../src/http/app';
import { harness } from './harness';

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
const THIRTY_FIELDS = Array.from({ length: 28 }, (_, i) => `f${i}=body-field-${i}`).join('&');

function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status, code });
}

describe('requests the gateway cannot read: 4xx problem JSON, nothing secret logged', () => {
  it('an unknown or lying Content-Encoding is a 400; a real gzip body is read', async () => {
    const { pub, auth, records } = await edge();
    const body = '{"dialog":"truelayer"}';
    const bogus = await request(pub).post('/v1/users/x/connect-sessions').set(auth).set('content-type', 'application/json').set('content-encoding', 'bogus').send(body);
    expectProblem(bogus, 400, 'unsupported_content_encoding');
    const notGzip = await request(pub).post('/v1/users/x/connect-sessions').set(auth).set('content-type', 'application/json').set('content-encoding', 'gzip').send(body);
    expectProblem(notGzip, 400, 'unreadable_body');
    // without a key too: the body is read before the key is checked, and the answer is still the client's error
    expectProblem(await request(pub).post('/v1/users/x/connect-sessions').set('content-type', 'application/json').set('content-encoding', 'bogus').send(body), 400, 'unsupported_content_encoding');
    const gz = await request(pub)
      .post('/v1/users/x/connect-sessions')
      .set(auth)
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .serialize((b: unknown) => b as string)
      .send(gzipSync(body) as unknown as string);
    expect(gz.status).toBe(201);
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
  });

  it('POST /v1/callback with too many fields or charset=utf-7: 400, no exchange, code and state never logged', async () => {
    const { h, pub, lines, records } = await edge();
    const many = await request(pub).post('/v1/callback').type('form').send(`${THIRTY_FIELDS}&code=the-auth-code-x1&state=the-state-value-x1`);
    expectProblem(many, 400, 'too_many_parameters');
    const utf7 = await request(pub).post('/v1/callback').set('content-type', 'application/x-www-form-urlencoded; charset=utf-7').send('code=the-auth-code-x2&state=the-state-value-x2');
    expectProblem(utf7, 400, 'unsupported_charset');
    expect(h.tv.exchangeCode).not.toHaveBeenCalled();
    const log = lines.join('');
    for (const secret of ['the-auth-code', 'the-state-value', 'body-field']) expect(log).not.toContain(secret);
    expect(records().filter((r) => r['level'] === 'error')).toEqual([]);
    expect(records().filter((r) => r['msg'] === 'http request').map((r) => [r['path'], r['status']])).toEqual([
      ['/v1/callback', 400],
      ['/v1/callback', 400],
    ]);
  });

  it('POST /connect/<page token>/consent with too many fields: 400; the log has the masked path, not the token or the body', async () => {
    const { h, pub, pageToken, lines, records } = await edge();
    const res = await request(pub).post(`/connect/${pageToken}/consent`).type('form').send(`${THIRTY_FIELDS}&provider_id=mock`);
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
