import { context, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { Writable } from 'node:stream';
import { createLogger, REDACTED } from './index';

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
