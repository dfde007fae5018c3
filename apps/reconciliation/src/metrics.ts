/**
 * Where reconciliation's time goes, recorded through `@opentelemetry/api` (exported by the service's MeterProvider;
 * no-ops without one): `ais_reconciliation_stage_duration_seconds{stage}`, a histogram of
 *
 * - `message`: one consumed message (ais.enriched.v1, ais.connection.v1) in its partition's turn, from decoding to
 *   applied or dead-lettered: the store's reads, reconcile and writes, or the edit, re-enrichment or erasure;
 *   retries included;
 * - `store_write`: the bulk writes of one transactions message (part of its `message`);
 * - `analysis`: the derived-data hook after a message (recurring series, transfers; most runs stop after reading
 *   three small documents);
 * - `change_feed`: one publish run of a user's committed changes to ais.ledger.v1 (the consumer's, early or at the
 *   end of a Kafka batch, and the sweep's).
 *
 * A partition's turn is `message` + `analysis` + the consumer's `change_feed` runs, one after another; their sums
 * say which one to work on when the change feed lags (docs/METRICS.md).
 */
import { lazyInstruments } from '@ais/platform-telemetry';

export const METER_NAME = 'reconciliation';

export type Stage = 'message' | 'store_write' | 'analysis' | 'change_feed';

/** Seconds: a message takes milliseconds (a balance) to seconds (500 rows on a busy store). */
export const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const histogram = lazyInstruments(METER_NAME, (meter) =>
  meter.createHistogram('ais_reconciliation_stage_duration_seconds', {
    description: 'Time reconciliation spends per stage: a message applied, its store writes, analysis after it, a change-feed publish run',
    unit: 's',
    advice: { explicitBucketBoundaries: STAGE_BUCKETS },
  }),
);

/** Runs `fn` and records its duration under `stage`, whether it succeeds or fails. */
export async function timed<T>(stage: Stage, fn: () => Promise<T>): Promise<T> {
  const t0 = process.hrtime.bigint();
  try {
    return await fn();
  } finally {
    histogram().record(Number(process.hrtime.bigint() - t0) / 1e9, { stage });
  }
}
