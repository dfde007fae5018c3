import { context, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { CIRCULAR, createLogger, forgetSecrets, REDACTED, registerSecret, TRUNCATED } from './index';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  beforeAll(() => context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
  afterAll(() => context.disable());
  afterEach(() => forgetSecrets());

  it('writes JSON with service fields and redacts credentials at any depth', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 'token-vault', version: '1.2.3', environment: 'test', destination });
    log.info(
      {
        headers: { authorization: 'Bearer abc.def.ghi' },
        tokens: { access_token: 'at-123', refresh_token: 'rt-456' },
        nested: { deeper: { client_secret: 'shh' } },
        connectionId: 'conn-1',
      },
      'stored tokens',
    );
    const line = lines[0]!;
    expect(line['service.name']).toBe('token-vault');
    expect(line['service.version']).toBe('1.2.3');
    expect(line['level']).toBe('info');
    expect(line['connectionId']).toBe('conn-1');
    const text = JSON.stringify(line);
    for (const secret of ['abc.def.ghi', 'at-123', 'rt-456', 'shh']) expect(text).not.toContain(secret);
    expect((line['tokens'] as Record<string, string>)['access_token']).toBe(REDACTED);
  });

  it('masks bearer tokens and JWTs inside messages and error stacks', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 's', destination });
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl';
    log.warn(`upstream said Bearer ${jwt}`);
    log.error({ err: new Error(`refresh failed for ${jwt}`) }, 'oops');
    const text = JSON.stringify(lines);
    expect(text).not.toContain(jwt);
    expect(lines[0]!['msg']).toBe(`upstream said Bearer ${REDACTED}`);
  });

  it('redacts err.response.config.headers.authorization of a logged error (the depth-5 leak)', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 's', destination });
    const token = randomBytes(24).toString('base64url');
    const err = Object.assign(new Error('Request failed with status code 401'), {
      response: { status: 401, config: { method: 'post', headers: { authorization: `Bearer ${token}`, 'X-Vault-Token': `hvs.${token}` } } },
    });
    log.error({ err, connectionId: 'c1' }, 'token refresh failed');
    log.warn({ error: err }, 'same error under another key');
    expect(JSON.stringify(lines)).not.toContain(token);
    for (const line of lines) {
      const e = (line['err'] ?? line['error']) as Record<string, unknown>;
      expect(e).toMatchObject({ type: 'Error', message: 'Request failed with status code 401' });
      expect(e['response']).toEqual({ status: 401, config: { method: 'post', headers: { authorization: REDACTED, 'X-Vault-Token': REDACTED } } });
    }
    expect(lines[0]).toMatchObject({ connectionId: 'c1', msg: 'token refresh failed' });
  });

  it('masks a registered opaque refresh token in error messages, stacks, nested fields and messages', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 's', destination });
    const refreshToken = randomBytes(32).toString('hex');
    registerSecret(refreshToken);
    const err = new Error(`invalid_grant for ${refreshToken}`);
    log.error({ err, detail: { upstream: { body: `refresh_token ${refreshToken} expired` } } }, 'refresh failed');
    log.error(err);
    log.info('retrying with %s', refreshToken);
    log.info({ connectionId: 'c1' }, 'sent %o', { refresh_token: 'interpolated-rt-value', n: 1 });
    expect(JSON.stringify(lines)).not.toContain(refreshToken);
    const e = lines[0]!['err'] as Record<string, string>;
    expect(e['message']).toBe(`invalid_grant for ${REDACTED}`);
    expect(e['stack']).toContain(`Error: invalid_grant for ${REDACTED}`);
    expect(lines[1]!['msg']).toBe(`invalid_grant for ${REDACTED}`);
    expect(lines[2]!['msg']).toBe(`retrying with ${REDACTED}`);
    expect(lines[3]!['msg']).toBe(`sent {"refresh_token":"${REDACTED}","n":1}`);
  });

  it('masks ?code= and other secret parameters inside log strings', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 's', destination });
    log.info({ url: '/v1/callback?state=st4te-value&code=C0DE-VALUE' }, 'callback GET /v1/callback?code=C0DE-VALUE&state=st4te-value');
    expect(JSON.stringify(lines)).not.toMatch(/C0DE-VALUE|st4te-value/);
    expect(lines[0]!['msg']).toBe(`callback GET /v1/callback?code=${REDACTED}&state=${REDACTED}`);
    expect(lines[0]!['url']).toBe(`/v1/callback?state=${REDACTED}&code=${REDACTED}`);
  });

  it('redacts in child loggers: bindings, setBindings, their own serializers, formatters and message prefix', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 's', destination });
    const apiKey = `ais_c1_${randomBytes(32).toString('base64url')}`;
    registerSecret(apiKey);
    const child = log.child({ pageToken: 'page-token-value', connectionId: 'c1' });
    child.info('one');
    const grandchild = child.child(
      { request: { headers: { cookie: 'sid=cookie-value' } } },
      {
        serializers: { req: (req: { headers: Record<string, string> }) => ({ headers: req.headers }) },
        formatters: { log: (o: object) => ({ ...o, extra: { x_api_key: 'header-key-value' } }) },
        msgPrefix: `[${apiKey}] `,
      },
    );
    grandchild.info({ req: { headers: { Authorization: 'Basic dXNlcjpwYXNzd29yZA==', accept: 'json' } } }, 'two');
    grandchild.setBindings({ bounce_token: 'bounce-token-value' });
    grandchild.info('three');
    const text = JSON.stringify(lines);
    for (const secret of ['page-token-value', 'cookie-value', 'dXNlcjpwYXNzd29yZA', 'header-key-value', 'bounce-token-value', apiKey]) {
      expect(text).not.toContain(secret);
    }
    expect(lines[0]).toMatchObject({ pageToken: REDACTED, connectionId: 'c1', msg: 'one' });
    expect(lines[1]).toMatchObject({
      pageToken: REDACTED,
      request: { headers: { cookie: REDACTED } },
      req: { headers: { Authorization: REDACTED, accept: 'json' } },
      extra: { x_api_key: REDACTED },
      msg: `[${REDACTED}] two`,
    });
    expect(lines[2]).toMatchObject({ bounce_token: REDACTED, msg: `[${REDACTED}] three` });
  });

  it('writes a line for cyclic and huge objects, marking what it left out', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 's', destination });
    const cyclic: Record<string, unknown> = { id: 'a', token: 'cyclic-token' };
    cyclic['self'] = cyclic;
    const huge = { items: Array.from({ length: 50_000 }, (_, i) => ({ i, access_token: `at-${i}` })) };
    log.info({ cyclic }, 'cyclic');
    log.info({ huge }, 'huge');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ cyclic: { id: 'a', token: REDACTED, self: CIRCULAR }, msg: 'cyclic' });
    const items = (lines[1]!['huge'] as { items: unknown[] }).items;
    expect(lines[1]!['msg']).toBe('huge');
    expect(items[0]).toEqual({ i: 0, access_token: REDACTED });
    expect(String(items.at(-1))).toMatch(new RegExp(`^\\${TRUNCATED.slice(0, -1)}\\] \\d+ more$`));
    expect(JSON.stringify(lines[1])).not.toMatch(/at-\d/);
  });

  it('keeps non-secret values below pino\'s default depth limit', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 's', destination });
    log.info({ a: { b: { c: { d: { e: { f: { g: 'kept', secret: 'deep-secret' } } } } } } }, 'deep');
    expect(lines[0]).toMatchObject({ a: { b: { c: { d: { e: { f: { g: 'kept', secret: REDACTED } } } } } } });
  });

  it('adds trace_id and span_id of the active span', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 's', destination });
    const spanContext: SpanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
    context.with(trace.setSpan(context.active(), trace.wrapSpanContext(spanContext)), () => log.info('inside'));
    log.info('outside');
    expect(lines[0]).toMatchObject({ trace_id: spanContext.traceId, span_id: spanContext.spanId });
    expect(lines[1]).not.toHaveProperty('trace_id');
  });
});
