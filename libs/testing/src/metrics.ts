/**
 * Metrics in tests: an in-process MeterProvider registered as the global one (unit specs read what the code under
 * test recorded through `@opentelemetry/api`), and a reader of a service's Prometheus endpoint (integration specs).
 */
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader, type Histogram } from '@opentelemetry/sdk-metrics';

/** One sample: a counter or gauge value, or a histogram's count, sum or cumulative bucket (`le`). */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

class CollectingReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

export interface TestMetrics {
  /** Everything recorded so far (histograms as `<name>_count`, `<name>_sum` and `<name>_bucket{le}`). */
  collect(): Promise<MetricSample[]>;
  /** The sum of the samples of `name` whose labels include `labels` (0 when none). */
  value(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/** Registers a fresh global MeterProvider; `stop()` removes it. One at a time. */
export function startTestMetrics(): TestMetrics {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  metrics.disable();
  metrics.setGlobalMeterProvider(provider);
  const collect = async (): Promise<MetricSample[]> => {
    const { resourceMetrics } = await reader.collect();
    const out: MetricSample[] = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) {
          const labels = Object.fromEntries(Object.entries(point.attributes).map(([k, v]) => [k, String(v)]));
          if (metric.dataPointType === DataPointType.HISTOGRAM) {
            const h = point.value as Histogram;
            out.push({ name: `${metric.descriptor.name}_count`, labels, value: h.count }, { name: `${metric.descriptor.name}_sum`, labels, value: h.sum ?? 0 });
            // cumulative buckets, as the Prometheus exposition has them
            let below = 0;
            h.buckets.boundaries.forEach((le, i) => {
              below += h.buckets.counts[i] ?? 0;
              out.push({ name: `${metric.descriptor.name}_bucket`, labels: { ...labels, le: String(le) }, value: below });
            });
            out.push({ name: `${metric.descriptor.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
          } else {
            out.push({ name: metric.descriptor.name, labels, value: point.value as number });
          }
        }
      }
    }
    return out;
  };
  return {
    collect,
    async value(name, labels = {}) {
      return (await collect())
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0);
    },
    async stop() {
      metrics.disable();
      await provider.shutdown();
    },
  };
}

/** Parses the Prometheus text format (0.0.4) into samples; `# HELP` / `# TYPE` lines are skipped. */
export function parsePrometheusText(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = labelRe.exec(m[2] ?? ''); l; l = labelRe.exec(m[2] ?? '')) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** GET http://host:port/metrics, parsed. */
export async function scrapeMetrics(port: number, host = '127.0.0.1'): Promise<{ samples: MetricSample[]; text: string }> {
  const res = await fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`GET /metrics on ${host}:${port} answered ${res.status}`);
  const text = await res.text();
  return { samples: parsePrometheusText(text), text };
}
