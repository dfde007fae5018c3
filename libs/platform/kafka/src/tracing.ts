/** The spans of @ais/platform-kafka: one PRODUCER span per publish (producer.ts), one CONSUMER span per message (consumer.ts). */
import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';

export const tracer = trace.getTracer('@ais/platform-kafka');

/** Runs `fn` with `span` active in `parent`, records a thrown error on the span, and ends it either way. */
export async function inEndingSpan<T>(span: Span, parent: Context, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } catch (error) {
    span.recordException(error instanceof Error ? error : new Error(String(error)));
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}
