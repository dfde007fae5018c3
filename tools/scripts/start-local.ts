/*
 * The main job: the whole platform on embedded defaults against the TrueLayer simulator.
 * Provisions the Kafka topics, starts the simulator and the five services against the local stack
 * ($AIS_STACK_DIR/stack.env, default .infra/stack.env), seeds Vault with the simulator's client credentials, creates an
 * API client (or reuses the stored one), connects a mock bank user through our hosted picker and permission screen in
 * one trace, sends a pipeline probe, waits for the post-consent fetch and the pipeline to drain, and prints the user's
 * data from the read API, the connection funnel from the services' metrics and every URL to open. When the stack runs
 * Prometheus (infra/stack.sh), the five services are listed as its scrape targets (file-based discovery) while they
 * run, and the summary shows what Prometheus scraped: targets up, the funnel by PromQL, the alert rules' health.
 *
 * Every process it starts is announced as `[start] spawned <name> pid <pid>` and is stopped again (by that PID) when
 * a service fails to start, when the probe fails, after `--once`, and on SIGINT/SIGTERM/SIGHUP. A start-up failure
 * ends with `[start] FAILED: <service> ...` naming the service and its fatal log line, and exit status 1.
 *
 * AIS_START_ENV_<SERVICE> (e.g. AIS_START_ENV_ENRICHMENT="KAFKA_BROKERS=127.0.0.1:1;STARTUP_TIMEOUT_MS=3000") adds
 * variables to one service only (to try a failure, or a setting).
 */
import {
  buildServiceBundle,
  connectMockUser,
  freePort,
  pidAlive,
  provisionTopics,
  readStackEnv,
  registerScrapeTarget,
  scrapeMetrics,
  ServiceStartError,
  startSandboxProcess,
  startService,
  type MetricSample,
  type SandboxProcess,
  type ServiceProcess,
} from '@ais/testing';
import { Vault } from '@ais/platform-vault';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatSummary, JourneyTrace, prometheusFacts, readSummary, traceFacts, waitForPipelineDrained } from './demo-journey';

const once = process.argv.includes('--once');
const root = join(__dirname, '../..');
const stackDir = resolve(process.env['AIS_STACK_DIR'] ?? join(root, '.infra'));
const t0 = Date.now();

const DEMO_USER = 'demo-user';
/** The connection funnel's stages in order (docs/METRICS.md). */
const FUNNEL = ['link_created', 'bank_chosen', 'permission_accepted', 'consented', 'tokens_stored', 'first_data'] as const;
const RETURN_URL = 'http://127.0.0.1/return';

const say = (line: string) => process.stdout.write(`[start] ${line}\n`);
const secs = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

/** What was spawned (also before it is ready), so that every path out stops all of it. */
const spawned: Array<{ name: string; pid: number; stop(graceMs?: number): Promise<unknown> }> = [];
/** Takes the services off the stack's Prometheus targets (each removes its file in the stack dir). */
const unscrape: Array<() => void> = [];
let stopping: Promise<void> | undefined;

/** Stops everything this script started (SIGTERM, SIGKILL after the grace period), by recorded PID, once. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const off of unscrape) off();
    if (spawned.length === 0) return;
    await Promise.all(spawned.map((p) => p.stop(20_000).catch(() => undefined)));
    const left = spawned.filter((p) => pidAlive(p.pid));
    if (left.length > 0) say(`WARNING: still running after stop: ${left.map((p) => `${p.name} pid ${p.pid}`).join(', ')}`);
    else say(`stopped ${spawned.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
  })();
  return stopping;
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping what was started`);
    void stopAll().finally(() => process.exit(code));
  });
}

/** Extra variables for one service from AIS_START_ENV_<NAME> ("K=V;K2=V2"). */
function overrides(name: string): Record<string, string> {
  const raw = process.env[`AIS_START_ENV_${name.toUpperCase().replace(/-/g, '_')}`];
  const out: Record<string, string> = {};
  for (const pair of (raw ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
  }
  if (raw) say(`${name}: extra settings from AIS_START_ENV_${name.toUpperCase().replace(/-/g, '_')}: ${Object.keys(out).join(', ')}`);
  return out;
}

function track<T extends { name: string; pid: number; stop(graceMs?: number): Promise<unknown> }>(p: T): T {
  spawned.push(p);
  say(`spawned ${p.name} pid ${p.pid}`);
  return p;
}

/**
 * The services run their bundles (built by main() at the outset, beside the topics and the simulator), not tsx on the
 * sources, so the main job runs what ships. They are also ready sooner (all five 5.1 s after the start, against 7.4 on
 * tsx with its cache warm) and smaller (126-144 MB resident each at rest, against 157-255), and with tracing on (as
 * here) tsx's require hook would read a stack trace on every module kafkajs requires per request (docs/BENCHMARKS.md,
 * consent, "Tracing on"). Source maps still point stack traces at the sources.
 */
async function service(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  const bundleDir = join(root, 'dist/apps', name);
  // metrics: each service's /metrics on a free loopback port (ready['metricsPort']) unless the overrides set METRICS_PORT
  return startService(name, { ...env, ...overrides(name) }, { timeoutMs: 90_000, onSpawn: (p) => void track(p), metrics: true, bundleDir });
}

/** The local-demo API client's key: the stored one while the gateway still accepts it, else a new client. */
async function demoApiKey(admin: string, gwBase: string, keyFile: string): Promise<{ key: string; reused: boolean }> {
  const stored = existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '';
  if (stored) {
    const r = await fetch(`${gwBase}/v1/users/${DEMO_USER}/connections`, { headers: { authorization: `Bearer ${stored}` } });
    if (r.status === 200) return { key: stored, reused: true };
  }
  const r = await fetch(`${admin}/admin/api-clients`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'local-demo', allowed_return_urls: [RETURN_URL] }) });
  if (r.status !== 201) throw new Error(`creating the local-demo API client: HTTP ${r.status}`);
  const key = ((await r.json()) as { api_key: string }).api_key;
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  return { key, reused: false };
}

async function main(): Promise<void> {
  const stack = readStackEnv(join(stackDir, 'stack.env'));
  const built = Promise.all(['token-vault', 'data-fetcher', 'enrichment', 'reconciliation', 'auth-gateway'].map(buildServiceBundle));
  built.catch(() => undefined); // awaited (and reported) before the services start; this only keeps an early failure handled
  const created = await provisionTopics({ brokers: stack.KAFKA_BROKERS });
  say(`kafka topics ready (${created.length > 0 ? `created ${created.join(', ')}` : 'all existed'}) at ${secs()}`);

  const gwPort = await freePort();
  const gwBase = `http://127.0.0.1:${gwPort}`;
  const sandbox: SandboxProcess = await startSandboxProcess({ SANDBOX_REDIRECT_URIS: `${gwBase}/v1/callback` });
  track({ name: 'truelayer-sandbox', pid: sandbox.pid, stop: () => sandbox.stop() });
  const vault = new Vault({ addr: stack.VAULT_ADDR, token: stack.VAULT_TOKEN });
  await vault.kvWrite('ais/truelayer', { client_id: sandbox.clientId, client_secret: sandbox.clientSecret });

  const common: Record<string, string> = { ...stack, OTEL_TRACES_EXPORTER: 'zipkin', LOG_LEVEL: 'info' };
  await built;
  const tvPort = await freePort();
  const enPort = await freePort();
  const [tv, df, en, rc] = await Promise.all([
    service('token-vault', { ...common, GRPC_PORT: String(tvPort), TRUELAYER_ENV: 'custom', TRUELAYER_AUTH_URL: sandbox.url, TRUELAYER_API_URL: sandbox.url }),
    service('data-fetcher', {
      ...common,
      TOKEN_VAULT_ADDR: `127.0.0.1:${String(tvPort)}`,
      TRUELAYER_ENV: 'custom',
      TRUELAYER_API_URL: sandbox.url,
      WEBHOOK_URI: `${gwBase}/v1/webhooks/truelayer`,
    }),
    service('enrichment', { ...common, GRPC_PORT: String(enPort) }),
    service('reconciliation', { ...common, ENRICHMENT_ADDR: `127.0.0.1:${String(enPort)}` }),
  ]);
  const gw = await service('auth-gateway', {
    ...common,
    HTTP_PORT: String(gwPort),
    PUBLIC_BASE_URL: gwBase,
    TOKEN_VAULT_ADDR: `127.0.0.1:${String(tv.ready['grpcPort'])}`,
    DATA_FETCHER_ADDR: `127.0.0.1:${String(df.ready['grpcPort'])}`,
    RECONCILIATION_ADDR: `127.0.0.1:${String(rc.ready['grpcPort'])}`,
    TRUELAYER_CLIENT_ID: sandbox.clientId,
    TRUELAYER_AUTH_BASE_URL: sandbox.url,
    TRUELAYER_PROVIDERS: 'uk-cs-mock,uk-ob-all',
  });
  say(`all services ready at ${secs()}`);
  if (stack['PROMETHEUS_TARGETS_DIR']) {
    for (const p of [gw, tv, df, en, rc]) unscrape.push(registerScrapeTarget(stack['PROMETHEUS_TARGETS_DIR'], { service: p.name, port: Number(p.ready['metricsPort']) }));
  }
  const admin = `http://127.0.0.1:${String(gw.ready['adminPort'])}`;
  for (const p of [tv, df, en, rc, gw]) {
    console.log(`${p.name.padEnd(15)} pid ${p.pid}  ${JSON.stringify({ grpcPort: p.ready['grpcPort'], httpPort: p.ready['httpPort'], adminPort: p.ready['adminPort'] })}`);
  }
  console.log(`truelayer-sandbox ${sandbox.url}`);

  // The product's backend: an API client, created once and reused by later starts (its key in the stack directory).
  const keyFile = join(stackDir, 'demo-api-key');
  const apiKey = await demoApiKey(admin, gwBase, keyFile);
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${gwBase}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey.key}`, ...(init.headers ?? {}) } });
  say(`API client local-demo ${apiKey.reused ? 'reused' : 'created'} (its key: ${keyFile})`);
  const before = ((await (await api(`/v1/users/${DEMO_USER}/connections`)).json()) as { connections?: unknown[] }).connections?.length ?? 0;

  // The end user: connects a bank through our own picker and permission screen, the real redirects, one trace.
  const trace = new JourneyTrace();
  const steps: string[] = [];
  const journey = await connectMockUser({
    gatewayUrl: gwBase,
    apiKey: apiKey.key,
    simulatorUrl: sandbox.url,
    userId: DEMO_USER,
    username: 'john',
    password: 'doe',
    dialog: 'hosted',
    providerId: 'ob-barclays',
    returnUrl: RETURN_URL,
    headers: () => trace.header(),
    onStep: (step) => steps.push(step),
  });
  console.log(`connect journey of ${DEMO_USER} through the hosted bank picker: ${steps.join(' → ')}`);
  say(`connected at ${secs()}`);

  const res = await fetch(`${admin}/diagnostics/probes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ origin: 'start-local' }) });
  const probe = (await res.json()) as { probe_id: string; trace_id: string };
  let recorded: unknown;
  for (let i = 0; i < 80 && !recorded; i += 1) {
    const r = await fetch(`${admin}/diagnostics/probes/${probe.probe_id}`);
    if (r.ok) recorded = await r.json();
    else await new Promise((r2) => setTimeout(r2, 250));
  }
  console.log(`probe ${probe.probe_id} recorded by data-fetcher: ${JSON.stringify(recorded)}`);
  if (!recorded) throw new Error('the probe did not reach data-fetcher');

  // Full history right after consent: data-fetcher's post-consent fetch (its support report), then the pipeline
  // (enrichment, reconciliation) drained, then what the read API gives the product.
  const connectionId = journey.connectionId;
  let report: { backfill?: string; timeline?: { endpoint: string; items: number }[]; errors?: unknown[] } = {};
  for (let i = 0; i < 480 && report.backfill !== 'done' && report.backfill !== 'partial'; i += 1) {
    const r = await fetch(`${admin}/admin/connections/${encodeURIComponent(connectionId)}/support-report`);
    if (r.ok) report = (await r.json()) as typeof report;
    if (report.backfill !== 'done' && report.backfill !== 'partial') await new Promise((r2) => setTimeout(r2, 250));
  }
  const timeline = report.timeline ?? [];
  const published = timeline.filter((t) => t.endpoint.endsWith('/transactions')).reduce((n, t) => n + (t.items ?? 0), 0);
  console.log(`post-consent fetch of ${DEMO_USER}: ${report.backfill ?? 'not finished'}; ${timeline.length} TrueLayer calls, ${published} transactions published to Kafka, ${(report.errors ?? []).length} errors`);
  if (report.backfill !== 'done' && report.backfill !== 'partial') throw new Error('the post-consent fetch did not finish within 120 s');
  say(`bank data fetched at ${secs()}`);
  await waitForPipelineDrained(stack.KAFKA_BROKERS, 120_000);
  say(`enriched and reconciled at ${secs()}`);

  const summary = await readSummary((path) => api(path), DEMO_USER);
  console.log('');
  console.log(`== ${DEMO_USER}: ${before > 0 ? `connected again (${before} earlier connection${before === 1 ? '' : 's'}; the stored data is reused and reconciled, not duplicated)` : 'connected'} ==`);
  for (const line of formatSummary(summary)) console.log(line);
  console.log('');
  console.log(`journey trace:      ${stack.ZIPKIN_URL}/zipkin/traces/${trace.traceId}`);
  console.log(`probe trace:        ${stack.ZIPKIN_URL}/zipkin/traces/${probe.trace_id}`);
  console.log(`traces UI:          ${stack.ZIPKIN_URL}/zipkin/`);
  console.log(`API reference:      ${gwBase}/docs   (the OpenAPI document: ${gwBase}/v1/openapi.json; Authorization: Bearer $(cat ${keyFile}))`);
  console.log(`support report:     ${admin}/admin/connections/${encodeURIComponent(connectionId)}/support-report?format=html`);
  // the user's connection overview: a short-lived signed link, as the product's backend would ask for it
  const link = await api(`/v1/users/${DEMO_USER}/overview-links`, { method: 'POST', body: JSON.stringify({ ttl_seconds: 3600 }) });
  if (link.status !== 201) throw new Error(`overview link: HTTP ${link.status}`);
  const overview = (await link.json()) as { url: string; expires_at: string };
  const page = await fetch(overview.url);
  if (page.status !== 200) throw new Error(`the overview page answered HTTP ${page.status}`);
  console.log(`overview page:      ${overview.url}   (HTTP ${page.status}; the link works until ${overview.expires_at})`);
  const scraped = new Map<string, MetricSample[]>();
  for (const p of [gw, tv, df, en, rc]) {
    const port = Number(p.ready['metricsPort']);
    console.log(`metrics:            http://127.0.0.1:${port}/metrics   (${p.name})`);
    scraped.set(p.name, (await scrapeMetrics(port)).samples);
  }
  // the connection funnel, as Prometheus sees it: each stage's count summed over the services that record it
  const stage = (s: string) => [...scraped.values()].flat().filter((m) => m.name === 'ais_connect_funnel_total' && m.labels['stage'] === s).reduce((n, m) => n + m.value, 0);
  console.log(`connection funnel: ${FUNNEL.map((s) => `${s} ${stage(s)}`).join(' → ')}`);
  const tlCalls = [...scraped.values()].flat().filter((m) => m.name === 'ais_truelayer_requests_total').reduce((n, m) => n + m.value, 0);
  console.log(`TrueLayer requests counted by the services' metrics: ${tlCalls}`);
  if (stack['PROMETHEUS_URL']) {
    const promUrl = stack['PROMETHEUS_URL'];
    const prom = await prometheusFacts(promUrl, [gw, tv, df, en, rc].map((p) => p.name), new Map(FUNNEL.map((s) => [s, stage(s)] as const)), 30_000);
    const up = [...prom.targets].filter(([, h]) => h === 'up').map(([job]) => job).sort();
    console.log(`prometheus:         ${promUrl}   (scrapes ${up.length} services: ${up.join(', ') || 'none'}; query API: ${promUrl}/api/v1/query?query=...)`);
    console.log(`prometheus funnel:  sum by (stage) (ais_connect_funnel_total): ${FUNNEL.map((s) => `${s} ${prom.funnel.get(s) ?? 0}`).join(' → ')}`);
    console.log(`prometheus alerts:  ${prom.rules} rules of infra/prometheus/alerts.yml loaded, ${prom.rulesHealthy} evaluated without error, firing: ${prom.firing.join(', ') || 'none'}; TrueLayer requests ${prom.truelayerRequests}`);
  }
  if (summary.accounts.length === 0 || summary.transactions === 0) throw new Error(`the read API shows ${summary.accounts.length} accounts and ${summary.transactions} transactions for ${DEMO_USER}`);
  say(`summary at ${secs()}`);
  if (once) {
    await stopAll();
    // the services flush their spans as they stop; the trace UI stores what it receives asynchronously, so the trace
    // is read until every service's spans are in it (or 15 s passed: then it shows what arrived)
    const names = [gw, tv, df, en, rc].map((p) => p.name);
    let t = await traceFacts(stack.ZIPKIN_URL, trace.traceId);
    for (const deadline = Date.now() + 15_000; names.some((n) => !t.services.has(n)) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 500));
      t = await traceFacts(stack.ZIPKIN_URL, trace.traceId);
    }
    console.log(`journey trace: ${[...t.services.values()].reduce((a, b) => a + b, 0)} spans from ${[...t.services.keys()].sort().join(', ') || 'no service'}`);
    console.log(`journey trace: ${t.truelayerCalls} Data API calls (${t.endpoints} endpoints), ${t.withCorrelationId} with TrueLayer's correlation id; provider ${t.providers.join(', ') || '–'}; fetch mode ${t.modes.join(', ') || '–'}`);
    say(`done in ${secs()}`);
    return;
  }
  console.log('running; Ctrl-C stops the services (the servers keep running: npm run stack:down stops them)');
  await new Promise(() => undefined);
}

main().catch(async (error: unknown) => {
  if (error instanceof ServiceStartError) {
    say(`FAILED: ${error.message}`);
  } else {
    say(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
    console.error(error);
  }
  await stopAll();
  process.exit(1);
});
