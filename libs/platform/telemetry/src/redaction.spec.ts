import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MASK, RedactingExporter, scrubString } from './redaction';

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
});
