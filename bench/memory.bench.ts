/**
 * Benchmark: resident memory (RSS) of each of the five services idle and under load, next to what a bare Node
 * process and a bare kafkajs consumer cost on the same machine in the same run (issue 13; target under 200 MB each).
 *
 * Every figure is sampled from /proc/<pid>/status (VmRSS every 200 ms: min, median, p95, largest sample; VmHWM, the
 * kernel's peak since the process started). The services' V8 heap (used and total) is sampled inside each service
 * by bench/heap-stats.cjs (`--require` through NODE_OPTIONS, a timer writing v8.getHeapStatistics() to a file every
 * 250 ms), since the services do not export it.
 *
 * Services run as they ship: the esbuild bundles (tools/scripts/build-app.mjs, built first) with the image's CMD
 * and the image's ENV (NODE_OPTIONS among it), not tsx on the sources (BENCH_MEMORY_RUNTIME=tsx measures those).
 *
 * 1. Baselines: a bare Node process (`setInterval` and nothing else) and a bare kafkajs consumer (the services'
 *    kafkajs, one group member, eachBatch that only counts) subscribed to the data plane's raw topic.
 * 2. The data plane (tests/integration/fetch-harness.ts: simulator, token-vault, data-fetcher, enrichment,
 *    reconciliation, auth-gateway as child processes, their config defaults):
 *    - idle: BENCH_MEMORY_SETTLE_S (20) after every service is ready, sampled for BENCH_MEMORY_IDLE_S (10);
 *    - backfill: the simulator's `heavy` user (6 years, ~31,000 transactions) connects through the gateway
 *      (connectMockUser); sampled from the connect until the backfill is done and reconciliation has applied and
 *      published it (token-vault's code exchange and tokens, data-fetcher's backfill, enrichment and
 *      reconciliation on one heavy user, the bare consumer reading the same raw events);
 *    - reads: BENCH_MEMORY_READ_CONCURRENCY (8) callers for BENCH_MEMORY_READ_S (20) on the gateway's public API
 *      (transactions pages, the change feed from the start, accounts, recurring, connections, new connect sessions).
 * 3. The pipeline load of bench/pipeline.bench.ts (its runSize, BENCH_MEMORY_PIPELINE_SIZE transactions, default
 *    10,000 of 4 users): enrichment and reconciliation sampled from enrichment's readiness to the drain, a second
 *    bare kafkajs consumer reading the same raw topic meanwhile. Its µs per transaction is reported beside it.
 *
 * Run: npm run bench -- memory      Writes bench/results/memory.json (or to BENCH_RESULTS_DIR).
 */
import { bindings } from '@ais/contracts-events';
import { buildServiceBundle, connectMockUser, ensureStack, REPO_ROOT, stopStack, type StackHandle } from '@ais/testing';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { readApi, startFetchStack, waitFor, waitForStoreSettled } from '../tests/integration/fetch-harness';
import { ReconciliationStore } from '../apps/reconciliation/src/data/store';
import { kafkaLogBytes, runSize, storeFootprint, type Footprint, type SizeResult } from './pipeline.bench';
import { benchServiceEnv, cpuSeconds, mockPassword, resultsDir, shippedServiceEnv } from './proc';
import { RssSampler, type RssStats } from './rss';

const SERVICES = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'] as const;
type ServiceName = (typeof SERVICES)[number];
const TARGET_MB = 200;
const RUNTIME = process.env['BENCH_MEMORY_RUNTIME'] ?? 'bundle';
const SETTLE_S = Number(process.env['BENCH_MEMORY_SETTLE_S'] ?? 20);
const IDLE_S = Number(process.env['BENCH_MEMORY_IDLE_S'] ?? 10);
const READ_S = Number(process.env['BENCH_MEMORY_READ_S'] ?? 20);
const READ_CONCURRENCY = Number(process.env['BENCH_MEMORY_READ_CONCURRENCY'] ?? 4);
const PIPELINE_SIZE = Number(process.env['BENCH_MEMORY_PIPELINE_SIZE'] ?? 10_000);
/** The simulator's mock user that connects: `heavy` (~31,000 transactions) or e.g. `john`. */
const MOCK_USER = process.env['BENCH_MEMORY_MOCK_USER'] ?? 'heavy';
const USER = `bench-memory-${MOCK_USER}`;

class BenchFailure extends Error {}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number) => Math.round(x * 10) / 10;

// ---------------------------------------------------------------------------------------------------------------
// V8 heap, sampled inside the services (bench/heap-stats.cjs writes <dir>/<pid>.jsonl)

const heapDir = mkdtempSync(join(tmpdir(), 'bench-memory-heap-'));
const HEAP_REQUIRE = `--require ${join(REPO_ROOT, 'bench/heap-stats.cjs')}`;

interface HeapStats {
  used_p95_mb: number;
  used_peak_mb: number;
  total_peak_mb: number;
  /** The heap limit V8 runs with (--max-old-space-size and the young generation). */
  limit_mb: number;
}

function heapStats(pid: number, from: number, to: number): HeapStats | undefined {
  const file = join(heapDir, `${pid}.jsonl`);
  if (!existsSync(file)) return undefined;
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { t: number; used: number; total: number; limit: number })
    .filter((x) => x.t >= from && x.t <= to);
  if (rows.length === 0) return undefined;
  const used = rows.map((x) => x.used).sort((a, b) => a - b);
  return {
    used_p95_mb: r1(used[Math.min(used.length - 1, Math.ceil(0.95 * used.length) - 1)]!),
    used_peak_mb: r1(used.at(-1)!),
    total_peak_mb: r1(Math.max(...rows.map((x) => x.total))),
    limit_mb: r1(rows.at(-1)!.limit),
  };
}

interface Phase {
  name: string;
  seconds: number;
  rss: Record<string, RssStats>;
  heap: Record<string, HeapStats>;
  /** CPU seconds of each process during the phase (utime + stime from /proc). */
  cpu_seconds: Record<string, number>;
  detail?: Record<string, unknown>;
}

/** Samples `pids` while `work` runs; RSS from /proc, heap from the services' own samples of the same interval. */
async function phase(name: string, pids: Record<string, number>, work: () => Promise<Record<string, unknown> | void>): Promise<Phase> {
  const from = Date.now();
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, cpuSeconds(pid)]));
  const sampler = new RssSampler(pids);
  let detail: Record<string, unknown> | void;
  let rss: Record<string, RssStats> = {};
  try {
    detail = await work();
  } finally {
    rss = sampler.stop();
  }
  const to = Date.now();
  const cpu = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, Math.round((cpuSeconds(pid) - cpu0[n]!) * 100) / 100]));
  const heap: Record<string, HeapStats> = {};
  for (const [n, pid] of Object.entries(pids)) {
    const h = heapStats(pid, from, to);
    if (h) heap[n] = h;
  }
  const p: Phase = { name, seconds: r1((to - from) / 1000), rss, heap, cpu_seconds: cpu, ...(detail ? { detail } : {}) };
  const line = Object.entries(rss)
    .map(([n, s]) => `${n} p50 ${Math.round(s.p50_mb)} p95 ${Math.round(s.p95_mb)} peak ${Math.round(s.peak_mb)}${heap[n] ? ` (heap used ${Math.round(heap[n].used_peak_mb)}/${Math.round(heap[n].total_peak_mb)})` : ''}`)
    .join('; ');
  console.log(`  [${name}] ${p.seconds} s: ${line}`);
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// Baseline processes

interface Child {
  pid: number;
  stop(): Promise<void>;
  output(): string;
}

function spawnNode(args: string[], env: Record<string, string> = {}): Child {
  const child: ChildProcess = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (!child.pid) throw new BenchFailure('could not spawn a baseline process');
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    pid: child.pid,
    output: () => text,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A bare kafkajs consumer (the services' version): joins a group on `topic` from the beginning, counts messages. */
const BARE_CONSUMER = `
const { Kafka, logLevel } = require('kafkajs');
const kafka = new Kafka({ clientId: 'bench-memory-bare', brokers: process.env.BROKERS.split(','), logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: process.env.GROUP, maxWaitTimeInMs: 1000 });
let messages = 0;
(async () => {
  await consumer.connect();
  await consumer.subscribe({ topics: [process.env.TOPIC], fromBeginning: true });
  consumer.on(consumer.events.GROUP_JOIN, () => console.log('joined'));
  await consumer.run({ eachBatch: async ({ batch }) => { messages += batch.messages.length; console.log('messages ' + messages); } });
})().catch((e) => { console.error(e); process.exit(1); });
process.on('SIGTERM', () => consumer.disconnect().finally(() => process.exit(0)));
`;

function bareConsumer(brokers: string, topic: string, group: string): Child {
  return spawnNode(['-e', BARE_CONSUMER], { BROKERS: brokers, TOPIC: topic, GROUP: group });
}

const bareMessages = (c: Child): number => Number(/messages (\d+)\s*$/.exec(c.output())?.[1] ?? 0);

// ---------------------------------------------------------------------------------------------------------------
// The data plane

/** The env each service gets on top of the harness's: the image's memory settings in bundle mode, and the heap sampler. */
function serviceEnv(service: ServiceName): Record<string, string> {
  // BENCH_<SERVICE>_<VAR> (bench/proc.ts) for experiments; its NODE_OPTIONS are added to the image's
  const env = RUNTIME === 'bundle' ? shippedServiceEnv(service) : benchServiceEnv(service);
  const nodeOptions = [env['NODE_OPTIONS'], HEAP_REQUIRE].filter(Boolean).join(' ');
  return { ...env, NODE_OPTIONS: nodeOptions, HEAP_STATS_DIR: heapDir };
}

async function dataPlane(stack: StackHandle): Promise<{ phases: Phase[]; bare: Phase[]; detail: Record<string, unknown> }> {
  const s = await startFetchStack({
    pipeline: true,
    tokenVaultEnv: serviceEnv('token-vault'),
    fetcherEnv: serviceEnv('data-fetcher'),
    enrichmentEnv: serviceEnv('enrichment'),
    reconciliationEnv: serviceEnv('reconciliation'),
    gatewayEnv: serviceEnv('auth-gateway'),
  });
  const bare = bareConsumer(stack.env.KAFKA_BROKERS, bindings.raw(s.prefix).topic, `bench-memory-bare-${s.ns}`);
  try {
    const pids = (): Record<string, number> => ({
      'auth-gateway': s.gateway.pid,
      'token-vault': s.tokenVault.pid,
      'data-fetcher': s.fetchers[0]!.pid,
      enrichment: s.enrichment!.pid,
      reconciliation: s.reconciliation!.pid,
      'bare kafkajs consumer': bare.pid,
    });
    console.log(`  data plane ready (${RUNTIME}); settling ${SETTLE_S} s`);
    await sleep(SETTLE_S * 1000);
    const idle = await phase('idle', pids(), async () => void (await sleep(IDLE_S * 1000)));

    const store = new ReconciliationStore(s.reconDb!);
    let connectionId = '';
    const backfill = await phase('backfill', pids(), async () => {
      const t0 = Date.now();
      const procs = [s.gateway, s.tokenVault, ...s.fetchers, s.enrichment!, s.reconciliation!];
      const connect = () => connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId: USER, username: MOCK_USER, password: mockPassword(MOCK_USER) });
      // a service that died (out of memory under its heap limit, say) fails the bench with its last output; a
      // refused journey with every service alive (a deadline missed on an overloaded machine) is tried once more
      const dead = async () => {
        for (const p of procs) if ((await Promise.race([p.exited, sleep(0).then(() => undefined)])) !== undefined) return p;
        return undefined;
      };
      const conn = await connect().catch(async (error: unknown) => {
        const d = await dead();
        if (d) throw new BenchFailure(`${d.name} exited: ${d.output().slice(-3000)}`);
        console.log(`  connect failed (${(error as Error).message.slice(0, 200)}); every service is alive; once more`);
        return connect();
      });
      connectionId = conn.connectionId;
      const report = await waitFor(
        'the heavy user\'s backfill',
        async () => {
          const res = await fetch(`${s.admin}/admin/connections/${encodeURIComponent(conn.connectionId)}/support-report`, { headers: { accept: 'application/json' } });
          const r = (await res.json()) as Record<string, unknown>;
          return r['backfill'] === 'done' || r['backfill'] === 'partial' ? r : undefined;
        },
        600_000,
        1_000,
      );
      if (report['backfill'] !== 'done') throw new BenchFailure(`backfill ended ${String(report['backfill'])}`);
      const fetchedS = (Date.now() - t0) / 1000;
      await waitForStoreSettled(store, USER, () => s.raw.events.length, 'reconciliation after the backfill', 900_000);
      const transactions = s.raw.events.filter((e) => e.userId === USER && e.payload?.$case === 'transactions').reduce((n, e) => n + (e.payload?.$case === 'transactions' ? e.payload.transactions.transactions.length : 0), 0);
      return { transactions, raw_events: s.raw.events.length, fetched_seconds: r1(fetchedS), settled_seconds: r1((Date.now() - t0) / 1000), bare_consumer_messages: bareMessages(bare) };
    });
    // what one heavy user's connection left: every service's collections, the raw and enriched topics on disk,
    // and the calls data-fetcher made (its journal)
    const mongo = s.fetcherDb.getClient();
    const footprint: Footprint & { calls?: number } = { kafka_log_bytes: {}, store: {} };
    for (const [svc, db] of [['data-fetcher', `df_${s.ns}`], ['token-vault', `tv_${s.ns}`], ['auth-gateway', `gw_${s.ns}`], ['enrichment', `en_${s.ns}`], ['reconciliation', `rc_${s.ns}`]] as const) footprint.store[svc] = await storeFootprint(mongo.db(db));
    for (const t of ['raw', 'enriched', 'ledger'] as const) {
      const b = kafkaLogBytes(stack, bindings[t](s.prefix).topic);
      if (b !== undefined) footprint.kafka_log_bytes[t] = b;
    }
    footprint.calls = await mongo.db(`df_${s.ns}`).collection('fetch_journal').countDocuments({}).catch(() => undefined);
    if (bareMessages(bare) !== s.raw.events.length) console.log(`  note: the bare consumer read ${bareMessages(bare)} of ${s.raw.events.length} raw events`);

    const api = readApi({ api: (...a) => s.api(...a) }, USER);
    const reads = await phase('reads', pids(), async () => {
      const until = Date.now() + READ_S * 1000;
      const counts: Record<string, number> = {};
      let pageToken = '';
      const user = encodeURIComponent(USER);
      const ops: [string, () => Promise<unknown>][] = [
        [
          'transactions page',
          async () => {
            const page = await api.get(`/v1/users/${user}/transactions?page_size=100${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ''}`);
            pageToken = String(page['next_page_token'] ?? '');
          },
        ],
        ['changes from the start', () => api.get(`/v1/users/${user}/changes?count=500`)],
        ['accounts', () => api.get(`/v1/users/${user}/accounts`)],
        ['recurring', () => api.get(`/v1/users/${user}/recurring`)],
        ['connections', () => api.get(`/v1/users/${user}/connections/${encodeURIComponent(connectionId)}`)],
        [
          'connect session',
          async () => {
            const r = await s.api('POST', `/v1/users/${encodeURIComponent(`bench-memory-new-${Math.floor(Math.random() * 1e9)}`)}/connect-sessions`, { dialog: 'truelayer' });
            if (r.status !== 201) throw new BenchFailure(`connect session: HTTP ${r.status}`);
          },
        ],
      ];
      let i = 0;
      // a failed request (a 504 when the shared machine is overloaded) is counted, not fatal: this phase is about
      // the memory the traffic takes, bench/read-api measures its latency
      const errors: Record<string, string> = {};
      await Promise.all(
        Array.from({ length: READ_CONCURRENCY }, async () => {
          while (Date.now() < until) {
            const [name, op] = ops[i++ % ops.length]!;
            try {
              await op();
              counts[name] = (counts[name] ?? 0) + 1;
            } catch (error) {
              errors[name] = String((error as Error).message).slice(0, 200);
              counts[`${name} (failed)`] = (counts[`${name} (failed)`] ?? 0) + 1;
            }
          }
        }),
      );
      const total = Object.entries(counts).filter(([k]) => !k.endsWith('(failed)')).reduce((a, [, b]) => a + b, 0);
      if (total === 0) throw new BenchFailure(`no read request succeeded: ${JSON.stringify(errors)}`);
      return { requests: counts, requests_per_s: Math.round(total / READ_S), concurrency: READ_CONCURRENCY, ...(Object.keys(errors).length ? { last_errors: errors } : {}) };
    });
    const bareIdle = { ...idle, rss: { 'bare kafkajs consumer': idle.rss['bare kafkajs consumer']! }, heap: {} };
    const bareLoad = { ...backfill, name: 'backfill (reads the same raw events)', rss: { 'bare kafkajs consumer': backfill.rss['bare kafkajs consumer']! }, heap: {} };
    const strip = (p: Phase): Phase => ({ ...p, rss: Object.fromEntries(Object.entries(p.rss).filter(([k]) => k !== 'bare kafkajs consumer')) });
    return { phases: [strip(idle), strip(backfill), strip(reads)], bare: [bareIdle, bareLoad], detail: { ns: s.ns, footprint } };
  } finally {
    await bare.stop();
    await s.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (RUNTIME !== 'bundle' && RUNTIME !== 'tsx') throw new BenchFailure('BENCH_MEMORY_RUNTIME must be bundle or tsx');
  const started = new Date();
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim() !== '';
  if (RUNTIME === 'bundle') {
    // bench/run.sh has built them already (and set AIS_SERVICE_BUNDLES) unless BENCH_RUNTIME=tsx
    if (!process.env['AIS_SERVICE_BUNDLES']) {
      for (const s of SERVICES) await buildServiceBundle(s);
      process.env['AIS_SERVICE_BUNDLES'] = 'dist/apps';
    }
  } else {
    delete process.env['AIS_SERVICE_BUNDLES']; // bench/run.sh sets it for the other benchmarks
  }
  const stack = await ensureStack((m) => console.log(m));
  for (const [k, v] of Object.entries(stack.env)) process.env[k] = v; // the integration harness reads the stack from the environment
  const load0 = loadavg().map((x) => r1(x));
  let bareNode: Phase;
  let plane: Awaited<ReturnType<typeof dataPlane>>;
  let pipeline: { phase: Phase; result: SizeResult; bare: Phase } | undefined;
  try {
    console.log('==> baseline: a bare Node process');
    const idleNode = spawnNode(['-e', 'setInterval(() => {}, 1 << 30)']);
    try {
      await sleep(5_000);
      bareNode = await phase('bare node idle', { 'bare node': idleNode.pid }, async () => void (await sleep(IDLE_S * 1000)));
    } finally {
      await idleNode.stop();
    }
    console.log(`==> the data plane (${RUNTIME})`);
    plane = await dataPlane(stack);

    console.log(`==> the pipeline load: ${PIPELINE_SIZE} transactions (bench/pipeline.bench.ts)`);
    // runSize starts these two with benchServiceEnv: hand it the same env as the data plane's (heap sampler included)
    for (const s of ['enrichment', 'reconciliation'] as const) {
      for (const [k, v] of Object.entries(serviceEnv(s))) process.env[`BENCH_${s.toUpperCase()}_${k}`] = v;
    }
    let sampler: RssSampler | undefined;
    let bare: Child | undefined;
    let pids: Record<string, number> = {};
    let from = 0;
    let rss: Record<string, RssStats> = {};
    const result = await runSize(stack, PIPELINE_SIZE, (m) => console.log(m), {
      started: ({ enrichment, reconciliation, rawTopic }) => {
        bare = bareConsumer(stack.env.KAFKA_BROKERS, rawTopic, `bench-memory-bare-pipe-${Date.now()}`);
        pids = { enrichment: enrichment.pid, reconciliation: reconciliation.pid, 'bare kafkajs consumer': bare.pid };
        from = Date.now();
        sampler = new RssSampler(pids);
      },
      drained: () => {
        rss = sampler!.stop();
      },
    }).finally(() => bare?.stop());
    const to = Date.now();
    const heap: Record<string, HeapStats> = {};
    for (const n of ['enrichment', 'reconciliation']) {
      const h = heapStats(pids[n]!, from, to);
      if (h) heap[n] = h;
    }
    const { 'bare kafkajs consumer': bareRss, ...services } = rss;
    const ph: Phase = { name: `pipeline ${PIPELINE_SIZE}`, seconds: result.pipeline.seconds, rss: services, heap, cpu_seconds: result.pipeline.cpu.cpu_seconds, detail: { us_per_tx: result.pipeline.us_per_tx, cpu_us_per_tx: result.cpu_us_per_tx.pipeline, tx_per_s: result.pipeline.tx_per_s } };
    console.log(`  [pipeline] ${result.pipeline.seconds} s, ${result.pipeline.us_per_tx} µs/tx: ${Object.entries(services).map(([n, x]) => `${n} p95 ${Math.round(x.p95_mb)} peak ${Math.round(x.peak_mb)}`).join('; ')}`);
    pipeline = { phase: ph, result, bare: { name: `pipeline ${PIPELINE_SIZE} (reads the same raw topic)`, seconds: ph.seconds, rss: bareRss ? { 'bare kafkajs consumer': bareRss } : {}, heap: {}, cpu_seconds: {} } };
  } finally {
    await stopStack(stack);
    rmSync(heapDir, { recursive: true, force: true });
  }

  // per service: idle (median of the idle samples) and the worst load phase (its p95 and largest sample)
  const loadPhases: Phase[] = [...plane.phases.slice(1), ...(pipeline ? [pipeline.phase] : [])];
  const rows = SERVICES.map((svc) => {
    const idle = plane.phases[0]!.rss[svc]!;
    const under = loadPhases.filter((p) => p.rss[svc]).map((p) => ({ phase: p.name, ...p.rss[svc]!, heap: p.heap[svc] }));
    const worst = under.reduce((a, b) => (b.peak_mb > a.peak_mb ? b : a));
    return {
      service: svc,
      idle_p50_mb: idle.p50_mb,
      idle_heap_used_mb: plane.phases[0]!.heap[svc]?.used_peak_mb ?? null,
      load: Object.fromEntries(under.map((u) => [u.phase, { p95_mb: u.p95_mb, peak_mb: u.peak_mb, heap_used_peak_mb: u.heap?.used_peak_mb ?? null, heap_total_peak_mb: u.heap?.total_peak_mb ?? null }])),
      worst_phase: worst.phase,
      worst_p95_mb: worst.p95_mb,
      worst_peak_mb: worst.peak_mb,
      hwm_mb: Math.max(...under.map((u) => u.hwm_mb)),
      heap_limit_mb: worst.heap?.limit_mb ?? null,
      under_target: worst.peak_mb < TARGET_MB,
    };
  });
  const bareNodeMb = bareNode!.rss['bare node']!.p50_mb;
  const bareIdle = plane.bare[0]!.rss['bare kafkajs consumer'];
  const bareLoad = [plane.bare[1]!, ...(pipeline ? [pipeline.bare] : [])].map((p) => p.rss['bare kafkajs consumer']).filter((x): x is RssStats => Boolean(x));
  const fmt = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : String(Math.round(x)));
  const phaseNames = ['backfill', 'reads', ...(pipeline ? [pipeline.phase.name] : [])];
  const table = [
    `| process | idle RSS MB (median) | ${phaseNames.map((p) => `${p}: RSS p95 / peak MB (heap used peak)`).join(' | ')} | peak under load / ${TARGET_MB} MB |`,
    `|---|---|${phaseNames.map(() => '---').join('|')}|---|`,
    ...rows.map((r) => `| ${r.service} | ${fmt(r.idle_p50_mb)} | ${phaseNames.map((p) => (r.load[p] ? `${fmt(r.load[p]!.p95_mb)} / ${fmt(r.load[p]!.peak_mb)} (${fmt(r.load[p]!.heap_used_peak_mb)})` : '–')).join(' | ')} | ${fmt(r.worst_peak_mb)} ${r.under_target ? 'under' : '**over**'} |`),
    `| bare Node process (baseline) | ${fmt(bareNodeMb)} | ${phaseNames.map(() => '–').join(' | ')} | |`,
    `| bare kafkajs consumer (baseline) | ${fmt(bareIdle?.p50_mb)} | ${fmt(bareLoad[0]?.p95_mb)} / ${fmt(bareLoad[0]?.peak_mb)} | – |${pipeline ? ` ${fmt(bareLoad[1]?.p95_mb)} / ${fmt(bareLoad[1]?.peak_mb)} |` : ''} |`,
  ].join('\n');
  const machine = { node: process.version, platform: `${process.platform} ${process.arch}`, cores: cpus().length, cpu: cpus()[0]?.model ?? '', memory_gb: r1(totalmem() / 2 ** 30), loadavg_1_5_15_at_start: load0, loadavg_1_5_15_at_end: loadavg().map((x) => r1(x)) };
  const out = {
    benchmark: 'memory: RSS of each service idle and under load, next to a bare Node process and a bare kafkajs consumer',
    date: started.toISOString(),
    commit: `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    machine,
    settings: { runtime: RUNTIME, mock_user: MOCK_USER, settle_s: SETTLE_S, idle_s: IDLE_S, read_s: READ_S, read_concurrency: READ_CONCURRENCY, pipeline_size: PIPELINE_SIZE, sample_every_ms: 200, target_mb: TARGET_MB },
    baseline: { bare_node_idle: bareNode!.rss['bare node'], bare_kafkajs_consumer: [...plane.bare, ...(pipeline ? [pipeline.bare] : [])] },
    services: rows,
    phases: [...plane.phases, ...(pipeline ? [pipeline.phase] : [])],
    pipeline: pipeline ? { transactions: PIPELINE_SIZE, users: pipeline.result.users, us_per_tx: pipeline.result.pipeline.us_per_tx, cpu_us_per_tx: pipeline.result.cpu_us_per_tx.pipeline, cpu_seconds: pipeline.result.pipeline.cpu.cpu_seconds, ledger_events: pipeline.result.pipeline.ledger_events, raw_bytes: pipeline.result.raw_bytes, footprint: pipeline.result.footprint } : null,
    data_plane: plane.detail,
    table,
  };
  const file = join(resultsDir(), 'memory.json');
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\n${machine.platform}, ${machine.cores} cores, ${machine.cpu}, ${machine.memory_gb} GB, node ${machine.node}; load ${load0.join(' ')} -> ${machine.loadavg_1_5_15_at_end.join(' ')}\n\n${table}\n`);
  console.log(`written ${file}`);
  const over = rows.filter((r) => !r.under_target);
  if (over.length > 0) console.log(`over the ${TARGET_MB} MB target: ${over.map((r) => `${r.service} ${Math.round(r.worst_peak_mb)} MB (${r.worst_phase})`).join(', ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
