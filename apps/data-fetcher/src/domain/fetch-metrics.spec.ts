import { startTestMetrics, type TestMetrics } from '@ais/testing';
import { CircuitBreakers } from './error-policy';
import { FetchMetrics } from './fetch-metrics';

describe('data-fetcher metrics', () => {
  let m: TestMetrics;
  beforeEach(() => {
    m = startTestMetrics();
  });
  afterEach(() => m.stop());

  it('reports the time since the last success per data kind, from this instance\'s clock', async () => {
    let now = 1_000_000;
    const fm = new FetchMetrics(() => now);
    expect(await m.value('ais_fetch_last_success_age_seconds')).toBe(0); // nothing fetched yet: no series
    fm.succeeded('transactions');
    now += 90_000;
    fm.succeeded('balance');
    now += 30_000;
    expect(await m.value('ais_fetch_last_success_age_seconds', { kind: 'transactions' })).toBe(120);
    expect(await m.value('ais_fetch_last_success_age_seconds', { kind: 'balance' })).toBe(30);
    fm.succeeded('transactions');
    expect(await m.value('ais_fetch_last_success_age_seconds', { kind: 'transactions' })).toBe(0);
    fm.stop();
  });

  it('counts budget decisions per provider and outcome', async () => {
    const fm = new FetchMetrics();
    fm.budgetDecision('mock', 'granted');
    fm.budgetDecision('mock', 'granted');
    fm.budgetDecision('mock', 'denied');
    fm.budgetDecision('ob-lloyds', 'bank_exhausted');
    expect(await m.value('ais_fetch_unattended_calls_total', { provider: 'mock', outcome: 'granted' })).toBe(2);
    expect(await m.value('ais_fetch_unattended_calls_total', { provider: 'mock', outcome: 'denied' })).toBe(1);
    expect(await m.value('ais_fetch_unattended_calls_total', { provider: 'ob-lloyds', outcome: 'bank_exhausted' })).toBe(1);
    fm.stop();
  });

  it('records the calls left in the window at each decision: the grant\'s remainder, 0 when denied or spent at the bank', async () => {
    const fm = new FetchMetrics();
    fm.budgetDecision('mock', 'granted', 3);
    fm.budgetDecision('mock', 'granted', 1);
    fm.budgetDecision('mock', 'denied', 2); // a denial leaves nothing, whatever the caller passes
    fm.budgetDecision('ob-lloyds', 'bank_exhausted');
    expect(await m.value('ais_fetch_unattended_budget_left_count', { provider: 'mock' })).toBe(3);
    expect(await m.value('ais_fetch_unattended_budget_left_sum', { provider: 'mock' })).toBe(4);
    expect(await m.value('ais_fetch_unattended_budget_left_count', { provider: 'ob-lloyds' })).toBe(1);
    expect(await m.value('ais_fetch_unattended_budget_left_sum', { provider: 'ob-lloyds' })).toBe(0);
    fm.stop();
  });

  it('records how late each background refresh started against its plan, per provider, never below zero', async () => {
    const fm = new FetchMetrics();
    fm.refreshDelay('mock', 0.5);
    fm.refreshDelay('mock', 420);
    fm.refreshDelay('mock', -3); // clocks of two instances a little apart: on time
    fm.refreshDelay('ob-lloyds', 4 * 3600 + 1);
    expect(await m.value('ais_fetch_refresh_delay_seconds_count', { provider: 'mock' })).toBe(3);
    expect(await m.value('ais_fetch_refresh_delay_seconds_sum', { provider: 'mock' })).toBe(420.5);
    expect(await m.value('ais_fetch_refresh_delay_seconds_bucket', { provider: 'mock', le: '1' })).toBe(2);
    expect(await m.value('ais_fetch_refresh_delay_seconds_bucket', { provider: 'mock', le: '300' })).toBe(2);
    expect(await m.value('ais_fetch_refresh_delay_seconds_bucket', { provider: 'mock', le: '900' })).toBe(3);
    expect(await m.value('ais_fetch_refresh_delay_seconds_bucket', { provider: 'ob-lloyds', le: '14400' })).toBe(0);
    expect(await m.value('ais_fetch_refresh_delay_seconds_bucket', { provider: 'ob-lloyds', le: '43200' })).toBe(1);
    fm.stop();
  });

  it('shows a provider circuit as open from the breaker\'s transitions until a probe closes it', async () => {
    const fm = new FetchMetrics();
    let t = 0;
    const breakers = new CircuitBreakers({ clock: { now: () => new Date(t) }, failureThreshold: 2, coolDownMs: 1_000, onTransition: (x) => fm.circuit(x) });
    breakers.record('ob-lloyds', 'retry');
    breakers.record('ob-lloyds', 'retry');
    expect(await m.value('ais_fetch_circuit_open', { provider: 'ob-lloyds' })).toBe(1);
    t = 2_000;
    expect(breakers.acquire('ob-lloyds')).toEqual({ allowed: true, probe: true }); // half-open: still reported open
    expect(await m.value('ais_fetch_circuit_open', { provider: 'ob-lloyds' })).toBe(1);
    breakers.record('ob-lloyds', 'success');
    expect(await m.value('ais_fetch_circuit_open', { provider: 'ob-lloyds' })).toBe(0);
    expect(await m.value('ais_fetch_circuit_transitions_total', { provider: 'ob-lloyds', to: 'open' })).toBe(1);
    expect(await m.value('ais_fetch_circuit_transitions_total', { provider: 'ob-lloyds', to: 'closed' })).toBe(1);
    fm.stop();
  });

  it('counts the funnel\'s first data by provider', async () => {
    const fm = new FetchMetrics();
    fm.firstData('mock');
    expect(await m.value('ais_connect_funnel_total', { stage: 'first_data', provider: 'mock' })).toBe(1);
    fm.stop();
  });
});
