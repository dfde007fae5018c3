/**
 * The local stack's Prometheus (infra/stack.sh) with the platform's services as its targets, the way `npm start`
 * lists them (file-based discovery, `registerScrapeTarget` of @ais/testing):
 *   - it loaded the runbook's alert rules (infra/prometheus/alerts.yml) and evaluates every one without error;
 *   - it scrapes each of the five services, whose series carry the service as `job`, and after a real connect journey
 *     the funnel and the TrueLayer request counters are there through PromQL;
 *   - a runbook alert fires from the services' real metrics: two undecodable raw events make enrichment dead-letter
 *     them, and DeadLettersAny fires for job="enrichment" with the dead letter's code;
 *   - the configuration infra/compose.platform.yaml mounts (infra/prometheus/compose.yml) loads in the same
 *     Prometheus: a job per service on port 9464, and the same rules.
 */
import { TOPICS, topicName } from '@ais/contracts-events';
import { connectMockUser, freePort, parseEnvFile, promQuery, promRules, promTargets, registerScrapeTarget } from '@ais/testing';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { parse } from 'yaml';
import { startFetchStack, waitFor, type FetchStack } from './fetch-harness';
import { stackEnv } from './stack-env';

jest.setTimeout(300_000);

const infra = stackEnv();
const PROM = process.env['PROMETHEUS_URL'] ?? '';
const TARGETS = process.env['PROMETHEUS_TARGETS_DIR'] ?? '';
const SERVICES = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'];
const ruleNames = (parse(readFileSync(join(__dirname, '../../infra/prometheus/alerts.yml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] }).groups
  .flatMap((g) => g.rules.map((r) => r.alert))
  .sort();

describe('the stack\'s Prometheus', () => {
  it('is part of the test stack (PROMETHEUS_URL and its targets dir in stack.env)', async () => {
    expect(PROM).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(TARGETS).not.toBe('');
    expect((await fetch(`${PROM}/-/ready`)).status).toBe(200);
    expect(infra['KAFKA_BROKERS']).toBeTruthy();
  });

  it('has loaded every alert of the runbook and evaluates each one without error', async () => {
    const rules = await waitFor(
      'one evaluation of every rule',
      async () => {
        const r = await promRules(PROM);
        return r.length > 0 && r.every((x) => !x.lastEvaluation.startsWith('0001-')) ? r : undefined;
      },
      30_000,
      500,
    );
    expect(rules.map((r) => r.name).sort()).toEqual(ruleNames);
    for (const r of rules) expect([r.name, r.group, r.health, r.lastError ?? '']).toEqual([r.name, 'ais-platform', 'ok', '']);
  });

  describe('with the platform running and listed as its targets', () => {
    let s: FetchStack;
    const unlist: Array<() => void> = [];
    let producer: Producer;

    beforeAll(async () => {
      s = await startFetchStack({ pipeline: true });
      for (const p of [s.gateway, s.tokenVault, s.fetchers[0]!, s.enrichment!, s.reconciliation!]) {
        unlist.push(registerScrapeTarget(TARGETS, { service: p.name, port: Number(p.ready['metricsPort']) }));
      }
      producer = new Kafka({ clientId: `prom-spec-${s.prefix}`, brokers: infra['KAFKA_BROKERS']!.split(','), logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
    }, 180_000);

    afterAll(async () => {
      for (const off of unlist) off();
      await producer?.disconnect();
      await s?.stop();
    });

    const ours = (job: string) => `job="${job}",instance=~"127.0.0.1:(${[s.gateway, s.tokenVault, s.fetchers[0]!, s.enrichment!, s.reconciliation!].map((p) => String(p.ready['metricsPort'])).join('|')})"`;

    it('scrapes each of the five services within seconds, each under its own job', async () => {
      const targets = await waitFor(
        'the five targets up',
        async () => {
          const t = (await promTargets(PROM)).filter((x) => SERVICES.includes(x.job));
          return SERVICES.every((job) => t.some((x) => x.job === job && x.health === 'up')) ? t : undefined;
        },
        30_000,
        500,
      );
      expect(targets.filter((t) => t.health === 'up').map((t) => t.job).sort()).toEqual([...SERVICES].sort());
      for (const job of SERVICES) {
        const up = await promQuery(PROM, `up{${ours(job)}}`);
        expect([job, up.map((x) => x.value)]).toEqual([job, [1]]);
        // each service names itself in target_info (docs/METRICS.md)
        const info = await promQuery(PROM, `target_info{${ours(job)}}`);
        expect([job, info[0]?.labels['service_name']]).toEqual([job, job]);
      }
    });

    it('after a connect journey, PromQL shows the funnel through first data and the TrueLayer calls by endpoint', async () => {
      await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId: 'prom-user', username: 'john', password: 'doe' });
      const funnel = await waitFor(
        'the funnel through first_data in Prometheus',
        async () => {
          const f = new Map((await promQuery(PROM, 'sum by (stage) (ais_connect_funnel_total{' + `instance=~"127.0.0.1:(${[s.gateway, s.tokenVault, s.fetchers[0]!].map((p) => String(p.ready['metricsPort'])).join('|')})"` + '})')).map((x) => [x.labels['stage'], x.value] as const));
          // each stage comes from another service's scrape (every 2 s, each on its own schedule): wait for all four
          return ['link_created', 'consented', 'tokens_stored', 'first_data'].every((stage) => (f.get(stage) ?? 0) >= 1) ? f : undefined;
        },
        120_000,
        1_000,
      );
      for (const stage of ['link_created', 'consented', 'tokens_stored', 'first_data']) expect([stage, funnel.get(stage)]).toEqual([stage, 1]);
      // first_data is counted at the first unit with data (the fetch goes /me, /info, /accounts, ...), so the scrape that
      // shows it may hold only /me and /info (CI's run of 5 December did): wait for the calls the fetch goes on to make
      const byEndpoint = await waitFor(
        'three TrueLayer endpoints in Prometheus',
        async () => {
          const e = await promQuery(PROM, `sum by (endpoint) (ais_truelayer_requests_total{${ours('data-fetcher')}})`);
          return e.length >= 3 ? e : undefined;
        },
        60_000,
        1_000,
      );
      expect(byEndpoint.length).toBeGreaterThanOrEqual(3);
      expect(byEndpoint.every((x) => x.value > 0)).toBe(true);
      const latency = await promQuery(PROM, `sum(ais_truelayer_request_duration_seconds_count{${ours('data-fetcher')}})`);
      expect(latency[0]?.value).toBeGreaterThan(0);
    });

    it("fires the runbook's DeadLettersAny alert for enrichment when it dead-letters undecodable raw events", async () => {
      const raw = topicName(TOPICS.raw, s.prefix);
      const garbage = { key: 'prom-user', value: Buffer.from('not a protobuf RawDataEvent \u0000\u00ff') };
      await producer.send({ topic: raw, messages: [garbage] });
      // the counter's first sample, then a second dead letter: increase() needs the series before the rise
      await waitFor('the first dead letter in Prometheus', async () => ((await promQuery(PROM, `ais_dead_letters_total{${ours('enrichment')}}`))[0]?.value === 1 ? true : undefined), 60_000, 500);
      await producer.send({ topic: raw, messages: [garbage] });
      const alert = await waitFor(
        'DeadLettersAny firing for enrichment',
        async () => (await promQuery(PROM, 'ALERTS{alertname="DeadLettersAny",alertstate="firing",job="enrichment"}'))[0],
        60_000,
        1_000,
      );
      expect(alert.labels).toMatchObject({ severity: 'info', job: 'enrichment' });
      expect(alert.labels['code']).toMatch(/^[a-z_]+$/);
      const rule = (await promRules(PROM)).find((r) => r.name === 'DeadLettersAny');
      expect([rule?.state, rule?.health]).toEqual(['firing', 'ok']);
    });
  });
});

describe('infra/prometheus/compose.yml (the compose platform\'s Prometheus configuration)', () => {
  it('loads in the Prometheus version the stack runs: a job per service on port 9464 and the runbook\'s rules', async () => {
    const versions = parseEnvFile(readFileSync(join(__dirname, '../../infra/versions.env'), 'utf8'));
    const bin = join(process.env['AIS_INFRA_HOME'] ?? join(homedir(), '.cache/ais-platform'), `prometheus-${versions['PROMETHEUS_VERSION']!}`, 'bin/prometheus');
    const data = mkdtempSync(join(tmpdir(), 'prom-compose-'));
    const port = await freePort();
    const child = spawn(bin, [`--config.file=${join(__dirname, '../../infra/prometheus/compose.yml')}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${String(port)}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    const url = `http://127.0.0.1:${String(port)}`;
    try {
      await waitFor(
        'the compose configuration loaded',
        async () => {
          if (child.exitCode !== null) throw new Error(`prometheus exited (${String(child.exitCode)}): ${stderr.slice(-2000)}`);
          return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200 ? true : undefined;
        },
        30_000,
        250,
      );
      // discovery hands the static targets to the scrape manager shortly after the server is ready
      const targets = await waitFor('the five targets discovered', async () => {
        const t = await promTargets(url);
        return t.length >= SERVICES.length ? t : undefined;
      }, 30_000, 250);
      expect(targets.map((t) => [t.job, t.scrapeUrl]).sort()).toEqual(SERVICES.map((svc) => [svc, `http://${svc}:9464/metrics`]).sort());
      const rules = await waitFor('the rules evaluated', async () => {
        const r = await promRules(url);
        return r.length > 0 && r.every((x) => !x.lastEvaluation.startsWith('0001-')) ? r : undefined;
      }, 40_000, 500);
      expect(rules.map((r) => r.name).sort()).toEqual(ruleNames);
      for (const r of rules) expect([r.name, r.health]).toEqual([r.name, 'ok']);
    } finally {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(data, { recursive: true, force: true });
    }
  });
});

