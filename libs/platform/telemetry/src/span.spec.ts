import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { activeTraceparent, contextOfTraceparent, inSpan } from './span';

describe('carrying a trace across stored work (activeTraceparent / contextOfTraceparent)', () => {
  const memory = new InMemorySpanExporter();
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] }));
  });
  afterAll(() => {
    trace.disable();
    context.disable();
  });

  it('a span started later in the context of a recorded traceparent is a child of the span that recorded it', async () => {
    let recorded: string | undefined;
    await inSpan('t', 'consent', {}, async () => {
      recorded = activeTraceparent();
    });
    const consent = memory.getFinishedSpans().find((s) => s.name === 'consent')!;
    expect(recorded).toBe(`00-${consent.spanContext().traceId}-${consent.spanContext().spanId}-01`);
    // picked up later, from wherever: another span is active then, and must not become the parent
    await inSpan('t', 'unrelated tick', {}, () => context.with(contextOfTraceparent(recorded), () => inSpan('t', 'backfill', {}, async () => undefined)));
    const backfill = memory.getFinishedSpans().find((s) => s.name === 'backfill')!;
    expect(backfill.spanContext().traceId).toBe(consent.spanContext().traceId);
    expect(backfill.parentSpanContext?.spanId).toBe(consent.spanContext().spanId);
  });

  it('no traceparent, or a malformed one, gives the root context: the work starts a trace of its own', async () => {
    expect(activeTraceparent()).toBeUndefined();
    for (const bad of [undefined, '', 'garbage', `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`, `01-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${'A'.repeat(32)}-${'b'.repeat(16)}-01`]) {
      expect(contextOfTraceparent(bad)).toBe(ROOT_CONTEXT);
    }
    await inSpan('t', 'unrelated', {}, () => context.with(contextOfTraceparent('garbage'), () => inSpan('t', 'own', {}, async () => undefined)));
    const own = memory.getFinishedSpans().find((s) => s.name === 'own')!;
    const unrelated = memory.getFinishedSpans().find((s) => s.name === 'unrelated')!;
    expect(own.parentSpanContext).toBeUndefined();
    expect(own.spanContext().traceId).not.toBe(unrelated.spanContext().traceId);
  });
});
