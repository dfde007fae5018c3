/**
 * Metrics: an OpenTelemetry MeterProvider whose one reader is a Prometheus exporter with its own HTTP server
 * (`GET /metrics` on METRICS_HOST:METRICS_PORT; METRICS_PORT 0 = off). It is registered as the global provider, so
 * code anywhere records through `@opentelemetry/api` (`metrics.getMeter(...)`); see {@link lazyInstruments}.
 *
 * Labels stay low-cardinality: endpoints as templates, providers, stages, outcomes; never user, connection or
 * client ids, tokens or URLs (docs/METRICS.md lists every instrument).
 */
import { metrics, type Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

export interface MetricsSettings {
  serviceName: string;
  serviceVersion: string;
  environment: string;
  host: string;
  /** 0 = no endpoint and no SDK: instruments stay the API's no-ops. */
  port: number;
}

export interface MetricsHandle {
  readonly enabled: boolean;
  /** Resolves once the endpoint listens (rejects when the port cannot be bound). */
  readonly listening: Promise<void>;
  /** Stops the endpoint and the provider; the global provider is reset to the no-op one. */
  shutdown(): Promise<void>;
}

let active: { provider: MeterProvider; exporter: PrometheusExporter } | undefined;

/**
 * Starts the process's metrics endpoint once. Problems (a second start, another registered provider, a port in use)
 * surface as a rejected `listening`, which the service awaits during start-up.
 */
export function startMetrics(s: MetricsSettings): MetricsHandle {
  const off = (listening: Promise<void>): MetricsHandle => ({ enabled: false, listening, shutdown: async () => undefined });
  if (s.port === 0) return off(Promise.resolve());
  const refuse = (message: string): MetricsHandle => {
    const failed = Promise.reject(Object.assign(new Error(message), { code: 'metrics_unavailable' }));
    failed.catch(() => undefined);
    return off(failed);
  };
  if (active) return refuse('metrics already started in this process');
  const exporter = new PrometheusExporter({ host: s.host, port: s.port, preventServerStart: true });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': s.serviceName,
      'service.version': s.serviceVersion,
      'deployment.environment.name': s.environment,
    }),
    readers: [exporter],
  });
  if (!metrics.setGlobalMeterProvider(provider)) {
    void provider.shutdown();
    return refuse('another MeterProvider is already registered (unset OTEL_METRICS_EXPORTER when METRICS_PORT is set)');
  }
  active = { provider, exporter };
  const listening = exporter.startServer().catch((error: unknown) => {
    throw Object.assign(new Error(`metrics endpoint ${s.host}:${s.port} could not listen: ${(error as Error).message}`), {
      code: 'metrics_listen_failed',
    });
  });
  listening.catch(() => undefined); // the caller awaits it; no unhandled rejection before that
  return {
    enabled: true,
    listening,
    async shutdown() {
      if (active?.provider !== provider) return;
      active = undefined;
      metrics.disable();
      // The exporter's shutdown closes its HTTP server; the provider's flushes nothing else (pull-based).
      await provider.shutdown();
    },
  };
}

/**
 * Instruments created on first use from the global MeterProvider and created again when that provider changes
 * (the API hands out no-op meters until one is registered, and tests register their own).
 */
export function lazyInstruments<T>(meterName: string, make: (meter: Meter) => T): () => T {
  let cached: { provider: unknown; value: T } | undefined;
  return () => {
    const provider = metrics.getMeterProvider();
    if (cached?.provider !== provider) cached = { provider, value: make(provider.getMeter(meterName)) };
    return cached.value;
  };
}

/**
 * A provider or data-kind id as a label value: known ids pass (lower-case, digits, `-`, `_`, at most 64 characters),
 * anything else (empty, a URL, a token by mistake) becomes `other`.
 */
export function labelValue(value: string | undefined | null, fallback = 'unknown'): string {
  if (value === undefined || value === null || value === '') return fallback;
  return /^[a-z0-9][a-z0-9_-]{0,63}$/.test(value) ? value : 'other';
}
