/**
 * Keeps credentials out of exported spans, whatever an instrumentation recorded: attribute values under sensitive
 * keys are dropped, and every string (attribute values, exception events, status, span name) goes through the
 * logger's {@link scrubText}: secrets the process registered by value, sensitive query parameters, hosted-page path
 * tokens, bearer tokens and JWTs are masked.
 */
import { isSecretField, REDACTED, scrubText } from '@ais/platform-logger';
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** The same mask the logs use, so a scrubbed value reads the same in logs and spans. */
export const MASK = REDACTED;

// Attribute names are namespaced (`http.request.header.authorization`, `app.refresh_token`): any part naming a secret
// here, or the last part being one of the logger's secret keys (see SECRET_KEYS), drops the value.
const SENSITIVE_KEY = /(token|secret|password|passwd|authorization|cookie|api[-_.]?key|code_verifier|credential|ciphertext|plaintext)/i;

/** One definition for logs and spans: see `scrubText` in the logger. */
export function scrubString(value: string): string {
  return scrubText(value);
}

function scrubValue(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === 'string') return scrubString(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? scrubString(v) : v)) as AttributeValue;
  return value;
}

export function scrubAttributes(attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    out[key] = SENSITIVE_KEY.test(key) || isSecretField(key.slice(key.lastIndexOf('.') + 1), value) ? MASK : scrubValue(value);
  }
  return out;
}

/** A span that reads like the original but with scrubbed attributes, events and name. */
export function scrubSpan(span: ReadableSpan): ReadableSpan {
  const scrubbed = Object.create(span) as ReadableSpan;
  Object.defineProperties(scrubbed, {
    name: { value: scrubString(span.name), enumerable: true },
    attributes: { value: scrubAttributes(span.attributes), enumerable: true },
    events: {
      value: span.events.map((e) => ({ ...e, attributes: e.attributes ? scrubAttributes(e.attributes) : e.attributes })),
      enumerable: true,
    },
    status: {
      value: span.status.message ? { ...span.status, message: scrubString(span.status.message) } : span.status,
      enumerable: true,
    },
  });
  return scrubbed;
}

/** Wraps an exporter so that nothing leaves the process unscrubbed. */
export class RedactingExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans.map(scrubSpan), resultCallback);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }
}
