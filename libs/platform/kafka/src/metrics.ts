/**
 * Kafka metrics, recorded through `@opentelemetry/api` (the service's MeterProvider exports them; without one they
 * are no-ops):
 * - `ais_dead_letters_total{code}`: messages written to the dead-letter topic, counted where every dead letter is
 *   sent (EventProducer.sendRaw with the dead-letter code header);
 * - `ais_kafka_consumer_lag{group,topic}`: the group's committed offsets behind the partitions' high-water marks,
 *   summed per topic; read from the brokers at most every `refreshMs` (on scrape, never in the background).
 */
import { HEADERS } from '@ais/contracts-events';
import type { Logger } from '@ais/platform-logger';
import { metrics, type Counter, type Meter, type ObservableGauge, type ObservableResult } from '@opentelemetry/api';
import type { Admin, IHeaders, Kafka } from 'kafkajs';

export const METER_NAME = '@ais/platform-kafka';

function lazy<T>(make: (meter: Meter) => T): () => T {
  let cached: { provider: unknown; value: T } | undefined;
  return () => {
    const provider = metrics.getMeterProvider();
    if (cached?.provider !== provider) cached = { provider, value: make(provider.getMeter(METER_NAME)) };
    return cached.value;
  };
}

const deadLetters = lazy((meter): Counter =>
  meter.createCounter('ais_dead_letters_total', { description: 'Messages written to the dead-letter topic, by error code' }),
);

/** Error codes are identifiers (`decode_failed`, `invalid_event`); anything else is counted as `other`. */
function codeLabel(code: string | undefined): string {
  if (!code) return 'unknown';
  return /^[a-z0-9][a-z0-9_.-]{0,63}$/i.test(code) ? code : 'other';
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
}

/** Counts the dead letters among sent messages (the ones carrying the dead-letter code header). */
export function countDeadLetters(messages: ReadonlyArray<{ headers?: IHeaders }>): void {
  for (const m of messages) {
    const code = headerText(m.headers, HEADERS.deadLetterCode);
    if (code !== undefined) deadLetters().add(1, { code: codeLabel(code) });
  }
}

export interface LagSource {
  /** Committed offsets of the group per partition (`-1`: nothing committed yet). */
  committed(groupId: string, topics: string[]): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
  /** Low and high-water marks per partition. */
  watermarks(topic: string): Promise<Array<{ partition: number; low: string; high: string }>>;
  close(): Promise<void>;
}

/** Lag per topic: high − committed, or high − low where the group has committed nothing. */
export async function readLag(source: LagSource, groupId: string, topics: string[]): Promise<Map<string, number>> {
  const committed = await source.committed(groupId, topics);
  const out = new Map<string, number>();
  for (const topic of topics) {
    const marks = await source.watermarks(topic);
    const offsets = new Map((committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    let lag = 0;
    for (const m of marks) {
      const high = Number(m.high);
      const done = offsets.get(m.partition) ?? -1;
      lag += Math.max(0, high - (done >= 0 ? done : Number(m.low)));
    }
    out.set(topic, lag);
  }
  return out;
}

/** A {@link LagSource} over a kafkajs admin client, connected on first use. */
export function adminLagSource(kafka: Kafka): LagSource {
  let admin: Promise<Admin> | undefined;
  const connected = (): Promise<Admin> => {
    admin ??= (async () => {
      const a = kafka.admin();
      await a.connect();
      return a;
    })().catch((error: unknown) => {
      admin = undefined;
      throw error;
    });
    return admin;
  };
  return {
    async committed(groupId, topics) {
      return (await connected()).fetchOffsets({ groupId, topics });
    },
    async watermarks(topic) {
      return (await connected()).fetchTopicOffsets(topic);
    },
    async close() {
      const a = admin;
      admin = undefined;
      if (a) await (await a.catch(() => undefined))?.disconnect();
    },
  };
}

export interface LagWatch {
  stop(): Promise<void>;
}

const lagGauge = lazy((meter): ObservableGauge =>
  meter.createObservableGauge('ais_kafka_consumer_lag', { description: 'Messages of the topic not yet committed by the consumer group', unit: '{message}' }),
);

/**
 * Reports the consumer group's lag on each scrape from values at most `refreshMs` old (a stale value is re-read
 * within the scrape, bounded by `timeoutMs`; a failed read keeps the last values and is logged at debug).
 */
export function watchConsumerLag(o: { source: LagSource; groupId: string; topics: () => string[]; logger?: Logger; refreshMs?: number; timeoutMs?: number; now?: () => number }): LagWatch {
  const refreshMs = o.refreshMs ?? 5_000;
  const timeoutMs = o.timeoutMs ?? 2_000;
  const now = o.now ?? Date.now;
  let values = new Map<string, number>();
  let readAt = -Infinity;
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  const refresh = (): Promise<void> => {
    inFlight ??= readLag(o.source, o.groupId, o.topics())
      .then((lag) => {
        values = lag;
      })
      .catch((error: unknown) => o.logger?.debug({ err: error, groupId: o.groupId }, 'consumer lag could not be read'))
      .finally(() => {
        readAt = now();
        inFlight = undefined;
      });
    return inFlight;
  };
  const gauge = lagGauge();
  const callback = async (result: ObservableResult): Promise<void> => {
    if (stopped) return;
    if (now() - readAt >= refreshMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([refresh(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    for (const [topic, lag] of values) result.observe(lag, { group: o.groupId, topic });
  };
  gauge.addCallback(callback);
  return {
    async stop() {
      stopped = true;
      gauge.removeCallback(callback);
      await inFlight;
      await o.source.close();
    },
  };
}
