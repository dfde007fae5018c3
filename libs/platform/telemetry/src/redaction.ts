/**
 * Keeps credentials out of exported spans, whatever an instrumentation recorded: attribute values under sensitive
 * keys are dropped, sensitive query parameters in URL-ish attributes are masked, and bearer tokens / JWTs inside
 * any string attribute or exception event are masked.
 */
import { REDACTED, scrubText } from '@ais/platform-logger';
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** The same mask the logs use, so a scrubbed value reads the same in logs and spans. */
export const MASK = REDACTED;

const SENSITIVE_KEY = /(token|secret|password|passwd|authorization|cookie|api[-_.]?key|code_verifier|credential|ciphertext|plaintext)/i;
const SENSITIVE_PARAMS = ['code', 'state', 'access_token', 'refresh_token', 'id_token', 'client_secret', 'token', 'code_verifier', 'api_key'];
// Also matches at the start of a bare query string (the `url.query` attribute has no leading `?`).
const QUERY_PARAM = new RegExp(`((?:^|[?&#;"'])(?:${SENSITIVE_PARAMS.join('|')})=)[^&#\\s"']*`, 'gi');
// Hosted-page and bounce tokens travel in the path: /connect/<token>/..., /bounce/<token> (any case: /Connect/<token> is a 404 that still carries it)
const PATH_TOKEN = /(\/(?:connect|bounce)\/)[A-Za-z0-9_-]{16,}/gi;

export function scrubString(value: string): string {
  const masked = value
    .replace(QUERY_PARAM, (_m, prefix: string) => `${prefix}${MASK}`)
    .replace(PATH_TOKEN, (_m, prefix: string) => `${prefix}${MASK}`);
  // bearer tokens and JWT-shaped strings: the logger's scrubber, one definition for logs and spans
  return scrubText(masked);
}

function scrubValue(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === 'string') return scrubString(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? scrubString(v) : v)) as AttributeValue;
  return value;
}

export function scrubAttributes(attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    out[key] = SENSITIVE_KEY.test(key) ? MASK : scrubValue(value);
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
