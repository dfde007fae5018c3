/**
 * data-fetcher's own metrics (docs/METRICS.md), recorded through the service's MeterProvider:
 * - `ais_fetch_unattended_calls_total{provider,outcome}`: the unattended-call ledger's decisions: `granted` (a slot of
 *   the rolling 24 h budget taken), `denied` (no slot left: the call waits for the window), `bank_exhausted` (the
 *   bank answered that the budget is spent and the key's remaining slots were taken). Counted per decision, so it
 *   costs nothing at scrape time; the budget *left* per key lives in the ledger (GetBudget), not in a label.
 * - `ais_fetch_unattended_budget_left{provider}`: a histogram (buckets 0, 1, 2, 3) of the unattended calls left for
 *   the account × endpoint in its rolling window at each decision: after a grant, what the ledger read just before it
 *   minus one; 0 for a denial or a budget the bank said was spent. Its `le="0"` share is the share of unattended calls
 *   that spent (or found spent) the last slot: near 1 when refreshes use the budget fully, the plan's intent.
 * - `ais_fetch_refresh_delay_seconds{provider}`: a histogram of how late each background refresh started against its
 *   plan (the budget rule), in the clock's seconds; a run that threw and was paused counts from the plan, pauses
 *   included. Whether the instances keep up with the schedule: a growing tail means too few instances (or too low a
 *   `SCHEDULER_CONCURRENCY`) for the connections, and every late refresh leaves budget unused.
 * - `ais_fetch_last_success_age_seconds{kind}`: seconds since this instance last fetched each data kind
 *   successfully (absent until the first success after start).
 * - `ais_fetch_circuit_open{provider}` (1 open or half-open, 0 closed) and `ais_fetch_circuit_transitions_total`.
 * - the funnel's `first_data` stage (recordFunnelStage).
 */
import { labelValue, recordFunnelStage } from '@ais/platform-telemetry';
import { metrics, type Counter, type Histogram, type ObservableGauge, type ObservableResult } from '@opentelemetry/api';
import type { CircuitState, CircuitTransition } from './error-policy';

export type BudgetDecision = 'granted' | 'denied' | 'bank_exhausted';

export class FetchMetrics {
  private readonly lastSuccess = new Map<string, number>();
  private readonly circuits = new Map<string, CircuitState>();
  private readonly budget: Counter;
  private readonly budgetLeft: Histogram;
  private readonly delay: Histogram;
  private readonly transitions: Counter;
  private readonly age: ObservableGauge;
  private readonly open: ObservableGauge;
  private readonly observeAge = (result: ObservableResult): void => {
    const now = this.now();
    for (const [kind, at] of this.lastSuccess) result.observe(Math.max(0, (now - at) / 1000), { kind });
  };
  private readonly observeCircuits = (result: ObservableResult): void => {
    for (const [provider, state] of this.circuits) result.observe(state === 'closed' ? 0 : 1, { provider });
  };

  /** Instruments of the MeterProvider registered now (the service's, started before this is built). */
  constructor(private readonly now: () => number = Date.now) {
    const meter = metrics.getMeter('data-fetcher');
    this.budget = meter.createCounter('ais_fetch_unattended_calls_total', { description: 'Unattended-call ledger decisions, by provider and outcome' });
    this.budgetLeft = meter.createHistogram('ais_fetch_unattended_budget_left', {
      description: 'Unattended calls left for the account and endpoint in its rolling 24 h window, at each ledger decision',
      unit: '{call}',
      advice: { explicitBucketBoundaries: [0, 1, 2, 3] },
    });
    this.delay = meter.createHistogram('ais_fetch_refresh_delay_seconds', {
      description: 'How late each background refresh started against its plan',
      unit: 's',
      advice: { explicitBucketBoundaries: [1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600] },
    });
    this.transitions = meter.createCounter('ais_fetch_circuit_transitions_total', { description: 'Provider circuit breaker state changes, by provider and new state' });
    this.age = meter.createObservableGauge('ais_fetch_last_success_age_seconds', { description: 'Seconds since the last successful fetch of each data kind by this instance', unit: 's' });
    this.open = meter.createObservableGauge('ais_fetch_circuit_open', { description: '1 while the provider circuit is open or half-open, 0 when closed' });
    this.age.addCallback(this.observeAge);
    this.open.addCallback(this.observeCircuits);
  }

  /** One ledger decision; `left` = the calls left after a grant (ignored otherwise: nothing is left then). */
  budgetDecision(provider: string, outcome: BudgetDecision, left = 0): void {
    this.budget.add(1, { provider: labelValue(provider), outcome });
    this.budgetLeft.record(outcome === 'granted' ? Math.max(0, left) : 0, { provider: labelValue(provider) });
  }

  /** A background refresh started `seconds` after it was planned for (clamped at 0). */
  refreshDelay(provider: string, seconds: number): void {
    this.delay.record(Math.max(0, seconds), { provider: labelValue(provider) });
  }

  succeeded(kind: string): void {
    this.lastSuccess.set(labelValue(kind), this.now());
  }

  firstData(provider: string): void {
    recordFunnelStage('first_data', provider);
  }

  circuit(t: CircuitTransition): void {
    const provider = labelValue(t.providerId);
    this.circuits.set(provider, t.to);
    this.transitions.add(1, { provider, to: t.to });
  }

  stop(): void {
    this.age.removeCallback(this.observeAge);
    this.open.removeCallback(this.observeCircuits);
  }
}
