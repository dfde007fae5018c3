import { HEADERS } from '@ais/contracts-events';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { countDeadLetters, readLag, watchConsumerLag, type LagSource } from './metrics';

// @ais/testing's startTestMetrics cannot be used here: the testing library depends on this one.
class Reader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

interface TestMetrics {
  collect(): Promise<unknown>;
  value(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

function startTestMetrics(): TestMetrics {
  const reader = new Reader();
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  return {
    collect: () => reader.collect(),
    async value(name, labels = {}) {
      const { resourceMetrics } = await reader.collect();
      let sum = 0;
      for (const metric of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
        if (metric.descriptor.name !== name) continue;
        for (const p of metric.dataPoints) if (Object.entries(labels).every(([k, v]) => p.attributes[k] === v)) sum += p.value as number;
      }
      return sum;
    },
    async stop() {
      metrics.disable();
      await provider.shutdown();
    },
  };
}

function fakeSource(state: { committed: Record<string, Record<number, string>>; marks: Record<string, Array<{ partition: number; low: string; high: string }>> }) {
  const reads = { n: 0, closed: false };
  const source: LagSource = {
    async committed(_groupId, topics) {
      reads.n += 1;
      return topics.map((topic) => ({ topic, partitions: Object.entries(state.committed[topic] ?? {}).map(([p, offset]) => ({ partition: Number(p), offset })) }));
    },
    async watermarks(topic) {
      return state.marks[topic] ?? [];
    },
    async close() {
      reads.closed = true;
    },
  };
  return { source, reads };
}

describe('consumer lag', () => {
  it('sums high-water minus committed per topic; an uncommitted partition counts from its low mark', async () => {
    const { source } = fakeSource({
      committed: { raw: { 0: '10', 1: '-1' }, conn: { 0: '5' } },
      marks: {
        raw: [
          { partition: 0, low: '0', high: '15' },
          { partition: 1, low: '3', high: '7' },
        ],
        conn: [{ partition: 0, low: '0', high: '5' }],
      },
    });
    const lag = await readLag(source, 'g', ['raw', 'conn']);
    expect(Object.fromEntries(lag)).toEqual({ raw: 5 + 4, conn: 0 });
  });

  describe('as a gauge', () => {
    let m: TestMetrics;
    beforeEach(() => {
      m = startTestMetrics();
    });
    afterEach(() => m.stop());

    it('reads the brokers at most once per refresh interval, however often it is scraped', async () => {
      let clock = 0;
      const state = { committed: { raw: { 0: '1' } }, marks: { raw: [{ partition: 0, low: '0', high: '4' }] } };
      const { source, reads } = fakeSource(state);
      const watch = watchConsumerLag({ source, groupId: 'enrichment', topics: () => ['raw'], refreshMs: 5_000, now: () => clock });
      expect(await m.value('ais_kafka_consumer_lag', { group: 'enrichment', topic: 'raw' })).toBe(3);
      state.marks.raw[0]!.high = '9';
      clock = 4_999;
      expect(await m.value('ais_kafka_consumer_lag', { group: 'enrichment', topic: 'raw' })).toBe(3);
      expect(reads.n).toBe(1);
      clock = 5_000;
      expect(await m.value('ais_kafka_consumer_lag', { group: 'enrichment', topic: 'raw' })).toBe(8);
      expect(reads.n).toBe(2);
      await watch.stop();
      expect(reads.closed).toBe(true);
      clock = 20_000;
      await m.collect();
      expect(reads.n).toBe(2); // stopped: a scrape no longer reads the brokers
    });

    it('keeps the last values when the brokers cannot be read', async () => {
      let clock = 0;
      let fail = false;
      const { source } = fakeSource({ committed: { raw: { 0: '2' } }, marks: { raw: [{ partition: 0, low: '0', high: '6' }] } });
      const flaky: LagSource = { ...source, committed: (g, t) => (fail ? Promise.reject(new Error('broker down')) : source.committed(g, t)) };
      const watch = watchConsumerLag({ source: flaky, groupId: 'g', topics: () => ['raw'], refreshMs: 1, now: () => clock });
      expect(await m.value('ais_kafka_consumer_lag', { topic: 'raw' })).toBe(4);
      fail = true;
      clock = 10;
      expect(await m.value('ais_kafka_consumer_lag', { topic: 'raw' })).toBe(4);
      await watch.stop();
    });
  });
});

describe('dead-letter count', () => {
  let m: TestMetrics;
  beforeEach(() => {
    m = startTestMetrics();
  });
  afterEach(() => m.stop());

  it('counts messages carrying the dead-letter code, by code; other messages and odd codes are not labels', async () => {
    countDeadLetters([
      { headers: { [HEADERS.deadLetterCode]: 'decode_failed' } },
      { headers: { [HEADERS.deadLetterCode]: Buffer.from('decode_failed') } },
      { headers: { [HEADERS.deadLetterCode]: 'code with spaces and a token eyJhbGciOi' } },
      { headers: { [HEADERS.eventId]: 'e1' } },
      {},
    ]);
    expect(await m.value('ais_dead_letters_total', { code: 'decode_failed' })).toBe(2);
    expect(await m.value('ais_dead_letters_total', { code: 'other' })).toBe(1);
    expect(await m.value('ais_dead_letters_total')).toBe(3);
  });
});
