import type { Attributes, AttributeValue, Span, SpanOptions, Tracer } from '@opentelemetry/api';
import type { FetchLike } from '../../src';

export interface RecordedCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

export interface FakeReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Throw instead of answering (simulates network failure / timeout). */
  throws?: Error;
  /** Raw text body (overrides `body`). */
  text?: string;
}

/** Scripted fetch: replies in order (last one repeats), records every request. */
export function scriptedFetch(replies: FakeReply[] | ((call: RecordedCall, n: number) => FakeReply)) {
  const calls: RecordedCall[] = [];
  const fetchFn: FetchLike = async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const call: RecordedCall = {
      url: input,
      method: init.method ?? 'GET',
      headers,
      body: typeof init.body === 'string' ? init.body : undefined,
    };
    calls.push(call);
    const n = calls.length - 1;
    const reply = typeof replies === 'function' ? replies(call, n) : (replies[Math.min(n, replies.length - 1)] as FakeReply);
    if (reply.throws) throw reply.throws;
    const text = reply.text ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
    return new Response(reply.status === 204 ? null : text, {
      status: reply.status,
      headers: { 'content-type': 'application/json', 'x-tl-correlation-id': `tl-${n + 1}`, ...(reply.headers ?? {}) },
    });
  };
  return { fetch: fetchFn, calls };
}

export interface RecordedSpan {
  name: string;
  options: SpanOptions;
  attributes: Record<string, AttributeValue>;
  events: { name: string; attributes?: Attributes }[];
  status: { code: number; message?: string } | undefined;
  ended: boolean;
}

/** Minimal in-memory Tracer (the OTel SDK must not be imported by libraries, tests included). */
export function recordingTracer() {
  const spans: RecordedSpan[] = [];
  const tracer = {
    startActiveSpan(name: string, options: SpanOptions, fn: (span: Span) => unknown) {
      const rec: RecordedSpan = {
        name,
        options,
        attributes: { ...(options.attributes as Record<string, AttributeValue>) },
        events: [],
        status: undefined,
        ended: false,
      };
      spans.push(rec);
      const span = {
        setAttribute(k: string, v: AttributeValue) {
          rec.attributes[k] = v;
          return span;
        },
        setAttributes(a: Attributes) {
          Object.assign(rec.attributes, a);
          return span;
        },
        addEvent(n: string, a?: Attributes) {
          rec.events.push({ name: n, attributes: a });
          return span;
        },
        setStatus(s: { code: number; message?: string }) {
          rec.status = s;
          return span;
        },
        end() {
          rec.ended = true;
        },
        recordException() {
          /* not used */
        },
        isRecording: () => true,
        updateName: () => span,
        spanContext: () => ({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 1 }),
      };
      return fn(span as unknown as Span);
    },
    startSpan() {
      throw new Error('not used');
    },
  };
  return { tracer: tracer as unknown as Tracer, spans };
}

/** Sleep that records delays and resolves immediately. */
export function recordingSleep() {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms: number) => {
      delays.push(ms);
    },
  };
}
