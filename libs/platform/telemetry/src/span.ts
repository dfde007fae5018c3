import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

/**
 * Runs `fn` in an active span (a child of whatever is active: a Kafka consumer span, a gRPC call; else a new trace),
 * records a thrown error on it and ends it. `fn` gets the span to add attributes it learns on the way.
 */
export async function inSpan<T>(tracerName: string, name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer(tracerName).startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}
