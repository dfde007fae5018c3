/**
 * Benchmark: the read API under load (issue 13). The gateway's transactions page and "changes since cursor", p50/p99
 * latency and throughput at a fixed concurrency, next to a bare Express + MongoDB driver server doing the same
 * query on the same data in the same run.
 *
 * - Data, seeded as the platform seeds it: the whole data plane runs as child processes (the TrueLayer simulator,
 *   token-vault, data-fetcher, enrichment, reconciliation, auth-gateway; tests/integration/fetch-harness.ts
 *   `startFetchStack({pipeline: true})`), and BENCH_READ_USERS simulator users (`john1`…, about 2,700
 *   transactions each over 2 years) plus, with BENCH_READ_HEAVY=1, the `heavy` user (6 years, about 31,600: off by
 *   default, its first page costs the local store a sort of all its rows on either side, bench/store.bench.ts) are
 *   connected through the gateway's connect journey (@ais/testing connectMockUser). The bench waits until each
 *   backfill is done and reconciliation has committed and published everything, and checks that the read API
 *   returns every live transaction of the store.
 * - Subject: auth-gateway's routes as a client calls them, `Authorization: Bearer <API key>` (the key check, the
 *   per-address and per-key rate limits in MongoDB; the limits raised above the load: DEFAULT_RATE_LIMIT_PER_MINUTE
 *   100000, RATE_LIMIT_IP_API_PER_MINUTE 100000000), then reconciliation over gRPC (mTLS), which reads the store:
 *   `GET /v1/users/{u}/transactions` (default page, 50, newest first) and `GET /v1/users/{u}/changes?cursor=C`
 *   (default count, 100; C = the middle of the user's sequence, so every answer is a full page).
 * - Baseline: bench/read-api-bare-server.ts, its own Node process: Express + the MongoDB driver, the bearer key
 *   compared in memory, ONE query per request on reconciliation's `transactions` collection, the query that returns
 *   the data on the gateway's path (same filter, sort, index hint and limit), JSON in the same shape. Before the
 *   load, both answer the same page for every user (the same transaction ids in the same order; the gateway's
 *   changes are a subset of the bare server's, which reads only transactions).
 * - Load: a closed loop of BENCH_READ_CONCURRENCY workers (default 16) over keep-alive connections (bench/proc.ts
 *   runLoad), users in turn; per scenario a warm-up of each side, then BENCH_READ_ROUNDS rounds of bare then
 *   gateway, BENCH_READ_SECONDS each; latencies of a side's rounds are pooled. CPU seconds of every process
 *   during each side's rounds (gateway, reconciliation, bare server, FerretDB, PostgreSQL, the bench itself as the
 *   load generator) give CPU per request.
 *
 * Target: gateway p99 at most 2× the bare server's.
 *
 * Run: npm run bench -- read-api   (BENCH_READ_USERS default 8, BENCH_READ_HEAVY default 0, BENCH_READ_SECONDS
 *      default 10, BENCH_READ_ROUNDS default 3, BENCH_READ_WARMUP_SECONDS default 3, BENCH_READ_CONCURRENCY 16;
 *      BENCH_RESULTS_DIR for another results directory). Writes read-api.json.
 *      Experiments: BENCH_READ_TRACING=zipkin (the gateway and reconciliation export spans, batched, to the stack's
 *      Zipkin; each scenario gets a span-time breakdown of its gateway rounds), BENCH_<SERVICE>_<VAR> (sets <VAR> on
 *      that service: BENCH_AUTH_GATEWAY_…, BENCH_RECONCILIATION_…).
 * The services run with their images' memory settings (bench/proc.ts `runEnv`), as they ship; BENCH_IMAGE_ENV=0
 * runs them with V8's defaults, as before 6 December.
 */
import { TOPICS, topicName } from '@ais/contracts-events';
import { connectMockUser, ensureStack, stopStack } from '@ais/testing';
import { Kafka, logLevel } from 'kafkajs';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { encodeCursor } from '../apps/reconciliation/src/grpc/reconciliation.service';
import { readApi, startFetchStack, waitFor, waitForStoreSettled, type FetchStack } from '../tests/integration/fetch-harness';
import { committedToEnd } from './kafka';
import { cpuDelta, cpuSnapshot, machineBusySeconds, percentile, resultsDir, round, runEnv, runLoad, servicesRuntime, sleep, stackPids, startBenchProcess, type LoadResult } from './proc';

const int = (name: string, def: number, min: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}`);
  return v;
};
const USERS = int('BENCH_READ_USERS', 8, 0);
const HEAVY = int('BENCH_READ_HEAVY', 0, 0) > 0;
const SECONDS = int('BENCH_READ_SECONDS', 10, 1);
const ROUNDS = int('BENCH_READ_ROUNDS', 3, 1);
const WARMUP = int('BENCH_READ_WARMUP_SECONDS', 3, 0);
const CONCURRENCY = int('BENCH_READ_CONCURRENCY', 16, 1);
const TARGET_P99_RATIO = 2;
/** zipkin: the gateway and reconciliation export spans (batched) and each scenario gets a span-time breakdown. */
const TRACING = process.env['BENCH_READ_TRACING'] ?? 'none';

interface SpanStat {
  span: string;
  count: number;
  total_s: number;
  mean_ms: number;
}

/** Spans of the gateway's traces that started in [fromMs, toMs], summed by service and name. */
async function spanBreakdown(zipkinUrl: string, fromMs: number, toMs: number): Promise<SpanStat[]> {
  const q = new URLSearchParams({ serviceName: 'auth-gateway', endTs: String(toMs), lookback: String(toMs - fromMs), limit: '100000' });
  const res = await fetch(`${zipkinUrl}/api/v2/traces?${q.toString()}`);
  if (!res.ok) throw new BenchFailure(`zipkin answered ${res.status}`);
  const traces = (await res.json()) as { id: string; name?: string; duration?: number; localEndpoint?: { serviceName?: string } }[][];
  const by = new Map<string, { count: number; us: number }>();
  for (const span of traces.flat()) {
    const key = `${span.localEndpoint?.serviceName ?? '?'}: ${span.name ?? '?'}`;
    const x = by.get(key) ?? { count: 0, us: 0 };
    x.count += 1;
    x.us += span.duration ?? 0;
    by.set(key, x);
  }
  return [...by].map(([span, x]) => ({ span, count: x.count, total_s: round(x.us / 1e6, 2), mean_ms: round(x.us / 1e3 / x.count, 2) })).sort((a, b) => b.total_s - a.total_s);
}

class BenchFailure extends Error {}

interface Side {
  name: 'bare' | 'gateway';
  port: number;
}

interface SideResult extends LoadResult {
  rounds: LoadResult[];
  cpu_seconds: Record<string, number>;
  /** CPU of the processes that serve the request (the bench's own load generation excluded), per request. */
  cpu_ms_per_request: number;
  load_generator_cpu_ms_per_request: number;
  other_processes_cpu_seconds: number;
}

async function main(): Promise<void> {
  if (USERS + (HEAVY ? 1 : 0) < 1) throw new BenchFailure('no users: set BENCH_READ_USERS >= 1 or BENCH_READ_HEAVY=1');
  const stack = await ensureStack((m) => console.log(m));
  Object.assign(process.env, stack.env);
  const started = new Date();
  const loadAtStart = loadavg().map((x) => round(x, 2));
  const tracing: Record<string, string> = TRACING === 'zipkin' ? { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: stack.env.OTEL_EXPORTER_ZIPKIN_ENDPOINT } : {};
  let fs: FetchStack | undefined;
  let bare: Awaited<ReturnType<typeof startBenchProcess>> | undefined;
  try {
    fs = await startFetchStack({
      pipeline: true,
      metrics: false,
      gatewayEnv: { DEFAULT_RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_IP_API_PER_MINUTE: '100000000', ...tracing, ...runEnv('auth-gateway') },
      reconciliationEnv: { ...tracing, ...runEnv('reconciliation') },
      tokenVaultEnv: runEnv('token-vault'),
      fetcherEnv: runEnv('data-fetcher'),
      enrichmentEnv: runEnv('enrichment'),
    });
    const s = fs;
    const reconDb = s.reconDb!;
    // 1. users, connected through the gateway as a product connects them
    const logins = [...Array.from({ length: USERS }, (_, i) => ({ username: `john${i + 1}`, password: `doe${i + 1}` })), ...(HEAVY ? [{ username: 'heavy', password: 'heavy' }] : [])];
    const t0 = process.hrtime.bigint();
    const users: { userId: string; connectionId: string; login: string }[] = [];
    for (const l of logins) {
      const userId = `bench-read-${l.username}`;
      const c = await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId, username: l.username, password: l.password });
      users.push({ userId, connectionId: c.connectionId, login: l.username });
    }
    console.log(`connected ${users.length} users; waiting for their backfills through the pipeline`);
    const store = { userState: (id: string) => reconDb.collection<{ _id: string; seq?: number; committedSeq?: number; publishedSeq?: number }>('user_state').findOne({ _id: id }) };
    for (const u of users) {
      await waitFor(
        `${u.login}'s backfill`,
        async () => {
          const c = await s.fetcherDb.collection<{ _id: string; backfill?: string }>('fetch_connections').findOne({ _id: u.connectionId });
          if (c?.backfill === 'failed') throw new BenchFailure(`${u.login}'s backfill failed`);
          return c?.backfill === 'done' ? true : undefined;
        },
        1_800_000,
        1_000,
      );
    }
    // every raw event through enrichment and reconciliation (both groups at the ends of their input topics), then
    // each user's changes committed and published
    const admin = new Kafka({ clientId: 'bench-read-api', brokers: stack.env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const drained = async () =>
        (await committedToEnd(admin, `enrichment-${s.ns}`, topicName(TOPICS.raw, s.prefix))) && (await committedToEnd(admin, `reconciliation-${s.ns}`, topicName(TOPICS.enriched, s.prefix))) ? true : undefined;
      await waitFor('the pipeline to consume every raw event', drained, 1_800_000, 1_000);
    } finally {
      await admin.disconnect();
    }
    for (const u of users) await waitForStoreSettled(store, u.userId, () => s.raw.events.length, `${u.login}'s history in the store`, 1_800_000);
    const seedSeconds = round(Number(process.hrtime.bigint() - t0) / 1e9, 1);
    if (s.raw.deadLetters.length > 0) throw new BenchFailure(`${s.raw.deadLetters.length} dead letters while seeding`);
    const txs = reconDb.collection<{ _id: string; clientId: string; userId: string }>('transactions');
    const anyTx = await txs.findOne({ userId: users[0]!.userId });
    if (!anyTx) throw new BenchFailure('no transactions in the store');
    const clientId = anyTx.clientId;
    const seeded: { user: string; login: string; transactions: number; committed_seq: number; cursor_seq: number; cursor: string; full_read_s: number }[] = [];
    for (const u of users) {
      const live = await txs.countDocuments({ userId: u.userId, removed: false } as never);
      const tr = process.hrtime.bigint();
      const all = await readApi(s, u.userId).allTransactions();
      const fullRead = round(Number(process.hrtime.bigint() - tr) / 1e9, 2);
      if (all.length !== live) throw new BenchFailure(`${u.login}: the read API returned ${all.length} transactions, the store has ${live} live`);
      const committed = (await store.userState(u.userId))?.committedSeq ?? 0;
      const mid = Math.floor(committed / 2);
      seeded.push({ user: u.userId, login: u.login, transactions: live, committed_seq: committed, cursor_seq: mid, cursor: encodeCursor(mid), full_read_s: fullRead });
    }
    const totalTx = seeded.reduce((a, b) => a + b.transactions, 0);
    console.log(`seeded ${totalTx} transactions of ${users.length} users in ${seedSeconds} s: ${seeded.map((x) => `${x.login} ${x.transactions}`).join(', ')}`);

    // 2. the bare server on the same database
    bare = await startBenchProcess('read-api-bare-server.ts', { MONGODB_URI: stack.env.MONGODB_URI, MONGODB_DB: `rc_${s.ns}`, READ_BARE_CLIENT_ID: clientId, READ_BARE_API_KEY: s.apiKey });
    const sides: Side[] = [
      { name: 'bare', port: Number(bare.ready['httpPort']) },
      { name: 'gateway', port: Number(new URL(s.base).port) },
    ];
    const headers = { authorization: `Bearer ${s.apiKey}`, accept: 'application/json' };
    const getJson = async (side: Side, path: string) => {
      const res = await fetch(`http://127.0.0.1:${side.port}${path}`, { headers });
      if (res.status !== 200) throw new BenchFailure(`${side.name} GET ${path}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, { transaction_id: string }[]>;
    };
    const scenarios = {
      transactions_page: (u: (typeof seeded)[number]) => `/v1/users/${encodeURIComponent(u.user)}/transactions`,
      changes_since_cursor: (u: (typeof seeded)[number]) => `/v1/users/${encodeURIComponent(u.user)}/changes?cursor=${encodeURIComponent(u.cursor)}`,
    };
    // 3. the same answers from both
    for (const u of seeded) {
      const [b, g] = [await getJson(sides[0]!, scenarios.transactions_page(u)), await getJson(sides[1]!, scenarios.transactions_page(u))];
      const ids = (x: Record<string, { transaction_id: string }[]>, k: string) => (x[k] ?? []).map((t) => t.transaction_id);
      if (ids(b, 'transactions').join() !== ids(g, 'transactions').join() || ids(g, 'transactions').length !== Math.min(50, u.transactions)) {
        throw new BenchFailure(`${u.login}: the transactions pages differ (bare ${ids(b, 'transactions').length}, gateway ${ids(g, 'transactions').length} rows)`);
      }
      const [bc, gc] = [await getJson(sides[0]!, scenarios.changes_since_cursor(u)), await getJson(sides[1]!, scenarios.changes_since_cursor(u))];
      const bareIds = new Set([...ids(bc, 'added'), ...ids(bc, 'modified'), ...ids(bc, 'removed')]);
      const gwIds = [...ids(gc, 'added'), ...ids(gc, 'modified'), ...ids(gc, 'removed')];
      if (bareIds.size !== 100 || gwIds.length === 0 || gwIds.some((id) => !bareIds.has(id))) {
        throw new BenchFailure(`${u.login}: the changes pages do not match (bare ${bareIds.size} transactions, gateway ${gwIds.length}, ${gwIds.filter((id) => !bareIds.has(id)).length} not in the bare page)`);
      }
    }

    // 4. load
    const pids = { gateway: s.gateway.pid, reconciliation: s.reconciliation!.pid, bare: bare.child.pid, ...stackPids(stack.dir), bench: process.pid };
    const servedBy = (side: Side['name']) => (side === 'bare' ? ['bare', 'ferretdb', 'postgres'] : ['gateway', 'reconciliation', 'ferretdb', 'postgres']);
    const results: Record<
      string,
      { bare: SideResult; gateway: SideResult; ratio_p50: number; ratio_p99: number; ratio_throughput: number; ratio_cpu_per_request: number; p99_target_met: boolean; gateway_rate_limit_store_fallbacks: number; gateway_span_breakdown?: SpanStat[] }
    > = {};
    // the gateway counts in process memory for 5 s when a rate-limit count in MongoDB is slower than its timeout: said, not hidden
    const fallbacks = () => s.gateway.logs.filter((l) => String(l['msg'] ?? '').startsWith('rate limit store failed')).length;
    for (const [scenario, pathOf] of Object.entries(scenarios)) {
      const path = (w: number, i: number) => pathOf(seeded[(w + i) % seeded.length]!);
      if (WARMUP > 0) for (const side of sides) await runLoad({ port: side.port, headers }, path, CONCURRENCY, WARMUP * 1000);
      const fallbacksBefore = fallbacks();
      const rounds: Record<Side['name'], LoadResult[]> = { bare: [], gateway: [] };
      const latencies: Record<Side['name'], number[]> = { bare: [], gateway: [] };
      const cpu: Record<Side['name'], Record<string, number>> = { bare: {}, gateway: {} };
      const busy: Record<Side['name'], number> = { bare: 0, gateway: 0 };
      const gatewayWindows: [number, number][] = [];
      for (let r = 0; r < ROUNDS; r += 1) {
        for (const side of sides) {
          const before = cpuSnapshot(pids);
          const m0 = machineBusySeconds();
          const w0 = Date.now();
          const res = await runLoad({ port: side.port, headers }, path, CONCURRENCY, SECONDS * 1000);
          busy[side.name] += machineBusySeconds() - m0;
          if (side.name === 'gateway') gatewayWindows.push([w0, Date.now()]);
          const d = cpuDelta(before, cpuSnapshot(pids));
          for (const [k, v] of Object.entries(d)) cpu[side.name][k] = round((cpu[side.name][k] ?? 0) + v, 2);
          const { latencies: l, ...summary } = res;
          rounds[side.name].push(summary);
          latencies[side.name].push(...l);
          console.log(`${scenario} ${side.name} round ${r + 1}: ${summary.rps} req/s, p50 ${summary.p50_ms} ms, p99 ${summary.p99_ms} ms, errors ${summary.errors} ${JSON.stringify(summary.error_statuses)}`);
        }
      }
      const pooled = (side: Side['name']): SideResult => {
        const l = latencies[side].sort((a, b) => a - b);
        const rs = rounds[side];
        const n = l.length;
        const secs = rs.reduce((a, b) => a + b.seconds, 0);
        const served = servedBy(side).reduce((a, k) => a + (cpu[side][k] ?? 0), 0);
        const ours = Object.values(cpu[side]).reduce((a, b) => a + b, 0);
        const errors = rs.reduce((a, b) => a + b.errors, 0);
        const statuses: Record<string, number> = {};
        for (const x of rs) for (const [k, v] of Object.entries(x.error_statuses)) statuses[k] = (statuses[k] ?? 0) + v;
        return {
          requests: n,
          errors,
          error_statuses: statuses,
          seconds: round(secs),
          rps: round(n / secs, 1),
          p50_ms: round(percentile(l, 50), 2),
          p90_ms: round(percentile(l, 90), 2),
          p99_ms: round(percentile(l, 99), 2),
          max_ms: round(l[n - 1] ?? NaN, 2),
          mean_ms: round(l.reduce((a, b) => a + b, 0) / n, 2),
          mean_response_bytes: Math.round(rs.reduce((a, b) => a + b.mean_response_bytes * b.requests, 0) / n),
          rounds: rs,
          cpu_seconds: cpu[side],
          cpu_ms_per_request: round((served * 1000) / n, 3),
          load_generator_cpu_ms_per_request: round(((cpu[side]['bench'] ?? 0) * 1000) / n, 3),
          other_processes_cpu_seconds: round(Math.max(0, busy[side] - ours), 1),
        };
      };
      const b = pooled('bare');
      const g = pooled('gateway');
      const ratioP99 = round(g.p99_ms / b.p99_ms, 2);
      let spans: SpanStat[] | undefined;
      if (TRACING === 'zipkin') {
        await sleep(6_000); // the batch span processors' last exports
        spans = await spanBreakdown(stack.env.ZIPKIN_URL, gatewayWindows[0]![0], gatewayWindows[gatewayWindows.length - 1]![1]);
      }
      results[scenario] = {
        bare: b,
        gateway: g,
        ratio_p50: round(g.p50_ms / b.p50_ms, 2),
        ratio_p99: ratioP99,
        ratio_throughput: round(g.rps / b.rps, 2),
        ratio_cpu_per_request: round(g.cpu_ms_per_request / b.cpu_ms_per_request, 2),
        // an answer that is not a page is not served: the target needs none
        p99_target_met: ratioP99 <= TARGET_P99_RATIO && g.errors === 0,
        gateway_rate_limit_store_fallbacks: fallbacks() - fallbacksBefore,
        ...(spans ? { gateway_span_breakdown: spans } : {}),
      };
    }

    const machine = {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? '',
      memory_gb: round(totalmem() / 2 ** 30, 1),
      loadavg_1_5_15_at_start: loadAtStart,
      loadavg_1_5_15_at_end: loadavg().map((x) => round(x, 2)),
    };
    const table = [
      '| scenario | side | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | CPU ms/req (servers + store) | bytes/answer | gateway / bare p50 | p99 (target ≤ 2) | req/s | CPU/req |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...Object.entries(results).flatMap(([name, r]) => [
        `| ${name} | bare Express + driver | ${r.bare.rps} | ${r.bare.p50_ms} | ${r.bare.p90_ms} | ${r.bare.p99_ms} | ${r.bare.max_ms} | ${r.bare.errors} | ${r.bare.cpu_ms_per_request} | ${r.bare.mean_response_bytes} | | | | |`,
        `| ${name} | gateway → reconciliation | ${r.gateway.rps} | ${r.gateway.p50_ms} | ${r.gateway.p90_ms} | ${r.gateway.p99_ms} | ${r.gateway.max_ms} | ${r.gateway.errors} ${JSON.stringify(r.gateway.error_statuses)} | ${r.gateway.cpu_ms_per_request} | ${r.gateway.mean_response_bytes} | ${r.ratio_p50} | ${r.ratio_p99} ${r.p99_target_met ? '(met)' : '(missed)'} | ${r.ratio_throughput} | ${r.ratio_cpu_per_request} |`,
      ]),
    ].join('\n');
    const out = {
      benchmark: 'read-api: gateway transactions page and changes since cursor under load vs a bare Express + MongoDB driver server, same query, same data',
      date: started.toISOString(),
      machine,
      services_runtime: servicesRuntime(),
      settings: { tracing: TRACING, service_env: Object.fromEntries(['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'].map((svc) => [svc, runEnv(svc)])), concurrency: CONCURRENCY, seconds_per_round: SECONDS, rounds: ROUNDS, warmup_seconds: WARMUP, users: USERS, heavy: HEAVY, transactions_page_size: 50, changes_count: 100, gateway_env: { DEFAULT_RATE_LIMIT_PER_MINUTE: 100000, RATE_LIMIT_IP_API_PER_MINUTE: 100000000 } },
      data: { transactions: totalTx, users: seeded.map(({ cursor: _c, ...u }) => u), seed_seconds: seedSeconds },
      baseline: 'bench/read-api-bare-server.ts: Express + MongoDB driver, its own process, one query per request on the same collection (same filter, sort, hint, limit), bearer key compared in memory',
      targets: { p99_ratio_at_most: TARGET_P99_RATIO },
      results,
      table,
    };
    const file = join(resultsDir(), 'read-api.json');
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\n${machine.platform}, ${machine.cores} cores, ${machine.cpu}, node ${machine.node}; load ${machine.loadavg_1_5_15_at_start.join(' ')} -> ${machine.loadavg_1_5_15_at_end.join(' ')}`);
    console.log(`${totalTx} transactions of ${seeded.length} users; ${CONCURRENCY} in flight, ${ROUNDS} × ${SECONDS} s per side\n\n${table}\n`);
    for (const [name, r] of Object.entries(results)) {
      if (r.gateway_span_breakdown) console.log(`spans of ${name} (gateway rounds):\n${r.gateway_span_breakdown.slice(0, 20).map((x) => `  ${x.span}: ${x.count} spans, ${x.total_s} s, mean ${x.mean_ms} ms`).join('\n')}`);
    }
    console.log(`written ${file}`);
  } finally {
    await bare?.stop().catch(() => undefined);
    await fs?.stop().catch(() => undefined);
    await stopStack(stack);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
