import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { forgetSecrets, registerSecret } from '@ais/platform-logger';
import { randomBytes } from 'node:crypto';
import { MASK, RedactingExporter, scrubAttributes, scrubString } from './redaction';

describe('span redaction', () => {
  it('masks auth codes and tokens in URLs and bearer strings', () => {
    expect(scrubString('http://127.0.0.1/v1/callback?code=abc123&state=s1&x=1')).toBe(
      `http://127.0.0.1/v1/callback?code=${MASK}&state=${MASK}&x=1`,
    );
    expect(scrubString('Bearer eyJhbGciOi.xyz')).toBe(`Bearer ${MASK}`);
    expect(scrubString('GET http://gw/connect/AbCdEfGhIjKlMnOpQrStUv/consent')).toBe(`GET http://gw/connect/${MASK}/consent`);
    expect(scrubString('/bounce/AbCdEfGhIjKlMnOpQrStUv12')).toBe(`/bounce/${MASK}`);
    expect(scrubString('code=2C21FFD55BA6&state=abc&x=1')).toBe(`code=${MASK}&state=${MASK}&x=1`);
    expect(scrubString('errorcode=1&x=2')).toBe('errorcode=1&x=2');
    expect(scrubString('/connect/:token')).toBe('/connect/:token');
  });

  it('exports spans with sensitive attributes, events and status scrubbed', async () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new RedactingExporter(memory))] });
    const tracer = provider.getTracer('t');
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl';
    const span = tracer.startSpan('GET /callback', { kind: SpanKind.SERVER });
    span.setAttributes({
      'http.url': 'https://gw/v1/callback?code=supersecretcode&state=opaque',
      'http.request.header.authorization': 'Bearer abc',
      'truelayer.correlation_id': 'corr-1',
      'app.refresh_token': 'rt-1',
    });
    span.recordException(new Error(`refresh failed with ${jwt}`));
    span.setStatus({ code: SpanStatusCode.ERROR, message: `token ${jwt}` });
    span.end();
    await provider.forceFlush();
    const [exported] = memory.getFinishedSpans();
    expect(exported).toBeDefined();
    const text = JSON.stringify({ a: exported!.attributes, e: exported!.events, s: exported!.status });
    for (const secret of ['supersecretcode', 'opaque', 'Bearer abc', 'rt-1', jwt]) expect(text).not.toContain(secret);
    expect(exported!.attributes['truelayer.correlation_id']).toBe('corr-1');
    expect(exported!.spanContext().traceId).toBe(span.spanContext().traceId);
    await provider.shutdown();
  });

  it('drops values under secret keys by the last part of the name, keeping error codes and lifecycle states', () => {
    const authCode = randomBytes(32).toString('hex').toUpperCase();
    const out = scrubAttributes({
      'http.request.header.x-vault-token': 'hvs.token-value',
      'app.page_token': 'page-token-value',
      'app.bounceToken': 'bounce-token-value',
      'oauth.code': authCode,
      'oauth.state': 'opaque-State-1',
      'error.code': 'ECONNREFUSED',
      'rpc.grpc.status_code': 14,
      'app.connection.state': 'active',
      'app.token_expires_at': '2026-12-01T10:00:00Z',
    });
    expect(out).toEqual({
      'http.request.header.x-vault-token': MASK,
      'app.page_token': MASK,
      'app.bounceToken': MASK,
      'oauth.code': MASK,
      'oauth.state': MASK,
      'error.code': 'ECONNREFUSED',
      'rpc.grpc.status_code': 14,
      'app.connection.state': 'active',
      'app.token_expires_at': MASK,
    });
  });

  it('masks a registered secret in attributes, exception events, status and name', async () => {
    const refreshToken = randomBytes(32).toString('hex');
    registerSecret(refreshToken);
    try {
      const memory = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new RedactingExporter(memory))] });
      const span = provider.getTracer('t').startSpan(`refresh ${refreshToken}`);
      span.setAttributes({ 'app.note': `upstream rejected ${refreshToken}`, 'app.list': ['x', refreshToken] });
      const err = new Error(`invalid_grant: ${refreshToken}`);
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      span.end();
      await provider.forceFlush();
      const [exported] = memory.getFinishedSpans();
      const text = JSON.stringify({ n: exported!.name, a: exported!.attributes, e: exported!.events, s: exported!.status });
      expect(text).not.toContain(refreshToken);
      expect(exported!.events[0]!.attributes!['exception.message']).toBe(`invalid_grant: ${MASK}`);
      expect(String(exported!.events[0]!.attributes!['exception.stacktrace'])).toContain(`invalid_grant: ${MASK}`);
      expect(exported!.attributes['app.list']).toEqual(['x', MASK]);
      await provider.shutdown();
    } finally {
      forgetSecrets(refreshToken);
    }
  });
});
