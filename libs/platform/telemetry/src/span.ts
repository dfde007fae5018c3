import { isSpanContextValid, ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api';

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

/**
 * The active span as a W3C `traceparent` value (version 00), for a hand-off that is neither a call nor a message:
 * work stored now and run later by a timer, possibly on another instance (`contextOfTraceparent` reads it back).
 * Undefined when no valid span is active (tracing off, or outside any span).
 */
export function activeTraceparent(): string | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * A context whose parent span is the one `traceparent` names (as `activeTraceparent` wrote it), so that spans started
 * in it continue that trace. The root context (a span started in it begins a new trace) when there is none or it is
 * malformed: stored work never inherits whatever happened to be active when it was picked up.
 */
export function contextOfTraceparent(traceparent: string | undefined): Context {
  const m = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!m) return ROOT_CONTEXT;
  const sc: SpanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true };
  return isSpanContextValid(sc) ? trace.setSpanContext(ROOT_CONTEXT, sc) : ROOT_CONTEXT;
}
