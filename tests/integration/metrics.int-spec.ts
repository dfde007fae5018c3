/**
 * Metrics on the real stack (simulator, the five services with METRICS_PORT, Kafka, the store): one user connects
 * through our hosted bank picker and permission screen (the real redirect through the simulator's dialog), the
 * post-consent fetch runs, then every service's /metrics is scraped:
 *
 * - token-vault and data-fetcher count their TrueLayer calls by endpoint template, status and provider, with latency
 *   histograms; data-fetcher's carry the connection's provider;
 * - the connection funnel shows each stage once for the provider the user chose (gateway: link created, bank chosen,
 *   permission accepted, consented; token-vault: tokens stored; data-fetcher: first data);
 * - the pipeline services report their consumer lag; data-fetcher its fetch lag per data kind;
 * - no label value anywhere is an id or a secret of the journey (user, connection, credentials, accounts, API key,
 *   page token, state, code) or looks like one (UUIDs, JWTs, long opaque strings).
 */
import { connectMockUser, scrapeMetrics, type MetricSample } from '@ais/testing';
import { startFetchStack, waitFor, type FetchStack } from './fetch-harness';

jest.setTimeout(300_000);

const RETURN_URL = 'https://app.example.test/done';

type Scrape = { service: string; samples: MetricSample[] };

const sum = (samples: MetricSample[], name: string, labels: Record<string, string> = {}): number =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((t, s) => t + s.value, 0);

/**
 * The hosted journey a browser takes (picker, permission screen, the bank's dialog on the simulator, callback,
 * bounce), each step checked by connectMockUser; `secrets` gets every token it saw and the credentials id.
 */
async function connectThroughHostedPages(stack: FetchStack, userId: string, providerId: string): Promise<{ connectionId: string; credentialsId: string; secrets: string[] }> {
  const secrets: string[] = [];
  const c = await connectMockUser({ gatewayUrl: stack.base, apiKey: stack.apiKey, simulatorUrl: stack.sandbox.url, userId, username: 'john', password: 'doe', dialog: 'hosted', providerId, returnUrl: RETURN_URL, secrets });
  return { connectionId: c.connectionId, credentialsId: c.credentialsId, secrets };
}

describe('metrics after a connect journey and its post-consent fetch', () => {
  let stack: FetchStack;
  let scrapes: Scrape[];
  let journey: { connectionId: string; credentialsId: string; secrets: string[] };
  const userId = `metrics-user-${Date.now()}`;
  const provider = 'mock';

  beforeAll(async () => {
    stack = await startFetchStack({ pipeline: true });
    journey = await connectThroughHostedPages(stack, userId, provider);
    await waitFor(
      'the post-consent fetch',
      async () => {
        const res = await fetch(`${stack.admin}/admin/connections/${encodeURIComponent(journey.connectionId)}/support-report`, { headers: { accept: 'application/json' } });
        const report = res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
        return report && (report['backfill'] === 'done' || report['backfill'] === 'partial') ? true : undefined;
      },
      180_000,
      1_000,
    );
    const services = [stack.gateway, stack.tokenVault, stack.fetchers[0]!, stack.enrichment!, stack.reconciliation!];
    scrapes = await Promise.all(
      services.map(async (svc) => {
        const port = Number(svc.ready['metricsPort']);
        expect(port).toBeGreaterThan(0);
        return { service: svc.name, samples: (await scrapeMetrics(port)).samples };
      }),
    );
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const of = (service: string): MetricSample[] => scrapes.find((s) => s.service === service)!.samples;

  it('token-vault counts its TrueLayer calls (code exchange, /me) by endpoint, status and provider, with latency', () => {
    const tv = of('token-vault');
    expect(sum(tv, 'ais_truelayer_requests_total', { endpoint: '/connect/token', method: 'POST', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sum(tv, 'ais_truelayer_requests_total', { endpoint: '/data/v1/me', status: '200' })).toBeGreaterThanOrEqual(1);
    for (const s of tv.filter((x) => x.name === 'ais_truelayer_requests_total')) expect(Object.keys(s.labels)).toEqual(expect.arrayContaining(['endpoint', 'method', 'status', 'provider']));
    expect(sum(tv, 'ais_truelayer_request_duration_seconds_count', { endpoint: '/connect/token' })).toBe(sum(tv, 'ais_truelayer_requests_total', { endpoint: '/connect/token' }));
  });

  it('data-fetcher counts its Data API calls by endpoint template with the connection\'s provider, with latency buckets', () => {
    const df = of('data-fetcher');
    const calls = df.filter((s) => s.name === 'ais_truelayer_requests_total' && s.value > 0);
    expect(calls.length).toBeGreaterThan(0);
    for (const s of calls) {
      expect(s.labels['endpoint']).toMatch(/^\/data\/v1\/[a-z_/{}]+$/);
      expect(s.labels['provider']).toBe(provider);
      expect(s.labels['status']).toMatch(/^(\d{3}|timeout|network_error|cancelled)$/);
    }
    expect(sum(df, 'ais_truelayer_requests_total', { endpoint: '/data/v1/accounts', status: '200', provider })).toBeGreaterThanOrEqual(1);
    expect(sum(df, 'ais_truelayer_requests_total', { endpoint: '/data/v1/accounts/{account_id}/transactions', status: '200', provider })).toBeGreaterThanOrEqual(1);
    const buckets = df.filter((s) => s.name === 'ais_truelayer_request_duration_seconds_bucket' && s.labels['endpoint'] === '/data/v1/accounts');
    expect(buckets.find((b) => b.labels['le'] === '+Inf')!.value).toBe(sum(df, 'ais_truelayer_requests_total', { endpoint: '/data/v1/accounts' }));
  });

  it('shows the connection funnel, each stage once for the chosen provider, across the services that see it', () => {
    const stage = (service: string, name: string, p = provider) => sum(of(service), 'ais_connect_funnel_total', { stage: name, provider: p });
    expect(stage('auth-gateway', 'link_created', 'none')).toBe(1);
    expect(stage('auth-gateway', 'bank_chosen')).toBe(1);
    expect(stage('auth-gateway', 'permission_accepted')).toBe(1);
    expect(stage('auth-gateway', 'consented')).toBe(1);
    expect(stage('token-vault', 'tokens_stored')).toBe(1);
    expect(stage('data-fetcher', 'first_data')).toBe(1);
  });

  it('reports consumer lag for the Kafka consumers and fetch lag per data kind', () => {
    for (const service of ['data-fetcher', 'enrichment', 'reconciliation']) {
      const lag = of(service).filter((s) => s.name === 'ais_kafka_consumer_lag');
      expect(lag.length).toBeGreaterThan(0);
      for (const s of lag) {
        expect(s.labels['topic']!.startsWith(stack.prefix)).toBe(true);
        expect(s.value).toBeGreaterThanOrEqual(0);
      }
    }
    const age = of('data-fetcher').filter((s) => s.name === 'ais_fetch_last_success_age_seconds');
    expect(age.map((s) => s.labels['kind'])).toEqual(expect.arrayContaining(['accounts', 'transactions', 'balance']));
    for (const s of age) expect(s.value).toBeLessThan(300);
    expect(sum(of('data-fetcher'), 'ais_dead_letters_total')).toBe(0);
  });

  it('reconciliation reports where its time goes: each message, its store writes, analysis and change-feed runs', async () => {
    const port = Number(stack.reconciliation!.ready['metricsPort']);
    const stage = (samples: MetricSample[], suffix: string, name: string, le?: string) => sum(samples, `ais_reconciliation_stage_duration_seconds_${suffix}`, { stage: name, ...(le ? { le } : {}) });
    const state = stack.reconDb!.getClient().db(`rc_${stack.ns}`).collection<{ _id: string; committedSeq?: number; publishedSeq?: number }>('user_state');
    // once the user's changes are all published, every stage has run at least once for them
    const samples = await waitFor(
      "the user's changes applied and published",
      async () => {
        const st = await state.findOne({ _id: userId });
        if (!st?.committedSeq || st.publishedSeq !== st.committedSeq) return undefined;
        const scraped = (await scrapeMetrics(port)).samples;
        return stage(scraped, 'count', 'change_feed') > 0 ? scraped : undefined;
      },
      120_000,
      500,
    );
    const series = samples.filter((s) => s.name === 'ais_reconciliation_stage_duration_seconds_count');
    expect(new Set(series.map((s) => s.labels['stage']))).toEqual(new Set(['message', 'store_write', 'analysis', 'change_feed']));
    // the journey's accounts, balances and transactions: several messages, the transactions ones written in bulk
    expect(stage(samples, 'count', 'message')).toBeGreaterThanOrEqual(3);
    expect(stage(samples, 'count', 'store_write')).toBeGreaterThanOrEqual(1);
    expect(stage(samples, 'count', 'store_write')).toBeLessThan(stage(samples, 'count', 'message'));
    expect(stage(samples, 'count', 'analysis')).toBeGreaterThanOrEqual(1);
    // a message's store writes are part of its time
    expect(stage(samples, 'sum', 'store_write')).toBeGreaterThan(0);
    expect(stage(samples, 'sum', 'store_write')).toBeLessThan(stage(samples, 'sum', 'message'));
    for (const name of ['message', 'store_write', 'analysis', 'change_feed']) expect(stage(samples, 'bucket', name, '+Inf')).toBe(stage(samples, 'count', name));
  });

  it('has no id or secret of the journey, nor anything that looks like one, as a label value', async () => {
    const accounts = (await stack.sandbox.admin<{ accounts: { account_id: string }[] }>('GET', `/ledger/accounts?credentials_id=${encodeURIComponent(journey.credentialsId)}`)).accounts.map((a) => a.account_id);
    const known = [userId, journey.connectionId, stack.apiKey, ...accounts, ...journey.secrets].filter((v) => v.length >= 6);
    expect(accounts.length).toBeGreaterThan(0);
    const values = new Set(scrapes.flatMap((s) => s.samples.flatMap((x) => Object.values(x.labels))));
    expect(values.size).toBeGreaterThan(10);
    const offending: string[] = [];
    for (const value of values) {
      if (known.some((k) => value.includes(k))) offending.push(value);
      // the test's own namespace (topic prefix, group ids) is random hex by design: not a secret
      const v = value.split(stack.ns).join('');
      const idLike =
        /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i.test(v) || // UUID
        /eyJ[A-Za-z0-9_-]{5,}\./.test(v) || // JWT
        /[0-9a-f]{16,}/i.test(v) || // long hex
        // a long opaque token (base64url: mixed case and digits), not a word or an identifier_with_underscores
        v.split(/[^A-Za-z0-9_-]/).some((t) => t.length >= 32 || (t.length >= 16 && /\d/.test(t) && /[A-Z]/.test(t) && /[a-z]/.test(t)));
      if (idLike) offending.push(value);
    }
    expect(offending).toEqual([]);
  });

  it('closes the endpoint with the service: SIGTERM ends it cleanly although a scraper keeps its connection open', async () => {
    const svc = stack.enrichment!;
    const port = Number(svc.ready['metricsPort']);
    await scrapeMetrics(port); // fetch keeps this connection alive after the answer
    const started = Date.now();
    expect(await svc.stop(20_000)).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000); // the harness's SHUTDOWN_TIMEOUT_MS: no forced exit
    expect(svc.logs.some((l) => l['msg'] === 'shutdown hook done' && l['hook'] === 'metrics' && l['phase'] === 'flush')).toBe(true);
    expect(svc.logs.some((l) => l['msg'] === 'shutdown complete')).toBe(true);
    expect(svc.logs.filter((l) => l['msg'] === 'shutdown hook failed' || l['msg'] === 'shutdown timed out; forcing')).toEqual([]);
    await expect(scrapeMetrics(port)).rejects.toThrow();
  });
});
