/**
 * Every HTTP attempt to TrueLayer, recorded through `@opentelemetry/api` (exported by the service's MeterProvider;
 * no-ops without one):
 * - `ais_truelayer_requests_total{endpoint,method,status,provider}`;
 * - `ais_truelayer_request_duration_seconds{endpoint,method,status,provider}` (histogram).
 * `endpoint` is the path template (`/data/v1/accounts/{account_id}/transactions`), `status` the HTTP status or
 * `timeout` / `network_error` / `cancelled` when none came, `provider` the caller's {@link CallOptions.provider} (else `unknown`).
 */
import { metrics, type Counter, type Histogram, type Meter } from '@opentelemetry/api';

export const METER_NAME = '@ais/truelayer-client';

/** Seconds; TrueLayer answers in tens of ms to tens of seconds (slow banks, the 30 s timeout). */
export const DURATION_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];

interface Instruments {
  requests: Counter;
  duration: Histogram;
}

function make(meter: Meter): Instruments {
  return {
    requests: meter.createCounter('ais_truelayer_requests_total', { description: 'HTTP requests to TrueLayer (each attempt), by endpoint template, status and provider' }),
    duration: meter.createHistogram('ais_truelayer_request_duration_seconds', {
      description: 'Latency of HTTP requests to TrueLayer (each attempt)',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
  };
}

let cached: { provider: unknown; value: Instruments } | undefined;

/** Created on first use and again when the global MeterProvider changes (no-op meters until one is registered). */
function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (cached?.provider !== provider) cached = { provider, value: make(provider.getMeter(METER_NAME)) };
  return cached.value;
}

/** A provider id (`ob-lloyds`, `mock`) as a label; anything else (empty, a URL, a secret by mistake) is not. */
export function providerLabel(provider: string | undefined): string {
  if (!provider) return 'unknown';
  return /^[a-z0-9][a-z0-9_-]{0,63}$/.test(provider) ? provider : 'other';
}

export function recordAttempt(a: { endpoint: string; method: string; status: number | 'timeout' | 'network_error' | 'cancelled'; provider: string | undefined; seconds: number }): void {
  const labels = { endpoint: a.endpoint, method: a.method, status: String(a.status), provider: providerLabel(a.provider) };
  const { requests, duration } = instruments();
  requests.add(1, labels);
  duration.record(a.seconds, labels);
}
