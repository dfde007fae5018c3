/**
 * The benchmarks still run and still measure (a smoke, not a performance test: no figure is compared with a
 * threshold): every bench/<name>.bench.ts in a small configuration, through `bash bench/run.sh <name>` as
 * `npm run bench` runs it, on the integration stack (AIS_STACK_ENV), writing into a temporary results directory
 * (BENCH_RESULTS_DIR, so the committed bench/results stay as measured by hand). Each JSON must carry its figures
 * and the baseline measured in the same run, every figure and ratio a finite positive number.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, teeOutput } from '@ais/testing';

jest.setTimeout(300_000);

type Json = Record<string, unknown>;

function positive(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`${what} is ${JSON.stringify(value)}, not a finite positive number`);
  return value;
}

const at = (json: unknown, path: string): unknown => path.split('.').reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Json)[k] : undefined), json);
const positives = (json: unknown, paths: string[]) => paths.forEach((p) => positive(at(json, p), p));

function runBench(name: string, env: Record<string, string>, resultsDir: string): Promise<{ code: number | null; output: string; seconds: number }> {
  const started = Date.now();
  const stackDir = process.env['AIS_STACK_DIR'];
  if (!stackDir) throw new Error('AIS_STACK_DIR missing: integration globalSetup did not run');
  const child = spawn('bash', ['bench/run.sh', name], {
    cwd: REPO_ROOT,
    env: { ...process.env, AIS_STACK_ENV: join(stackDir, 'stack.env'), BENCH_RESULTS_DIR: resultsDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  teeOutput(`bench-${name}`, child);
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output, seconds: (Date.now() - started) / 1000 })));
}

const SMOKES: { name: string; env: Record<string, string>; check(json: Json): void }[] = [
  {
    name: 'get-access-token',
    env: { BENCH_DURATION_MS: '1500', BENCH_CONCURRENCY: '8' },
    check(json) {
      const best = json['best'] as Json[];
      expect(best.map((b) => b['name'])).toEqual(['bare gRPC echo', 'GetAccessToken (cached)']);
      for (const b of best) {
        expect(b['errors']).toBe(0);
        positives(b, ['calls', 'throughput', 'p50_ms', 'p99_ms']);
      }
      positive(json['ratio_throughput'], 'ratio_throughput');
    },
  },
  {
    name: 'store',
    env: { BENCH_STORE_SIZES: '2000', BENCH_STORE_SAMPLES: '20', BENCH_STORE_HEAVY: '2000' },
    check(json) {
      const rows = json['rows'] as Json[];
      expect(rows).toHaveLength(1);
      // the baseline of every query figure is the server's bare round trip (ping) of the same run
      positives(rows[0], ['documents', 'insert_docs_per_s', 'ping_p50_ms', 'upsert_by_key_p50_ms', 'keyset_page_p50_ms', 'keyset_page_p99_ms', 'heavy_user_page_p50_ms', 'replay_500_bulkwrite_p50_ms']);
    },
  },
  {
    name: 'fetch',
    env: { BENCH_FETCH_RUNS: '1' },
    check(json) {
      positives(json, ['transactions', 'baseline.median', 'subject.median', 'ratio_of_medians']);
      expect((json['runs'] as Json[]).map((r) => r['side'])).toEqual(['baseline', 'subject']);
    },
  },
  {
    name: 'pipeline',
    env: { BENCH_PIPELINE_SIZES: '2000', BENCH_PIPELINE_REFRESH_ROUNDS: '2' },
    check(json) {
      const [r] = json['results'] as Json[];
      // the backfill's 2,000 and then two scheduled refreshes of the one user: 16 raw events each, one new transaction
      // each (stored: the store holds 2,002 at the end)
      expect(at(r, 'pipeline.stored_transactions')).toBe(2002);
      const rounds = at(r, 'refresh_rounds') as Json[];
      expect(rounds.map((x) => [x['round'], x['users'], x['raw_events'], x['new_transactions']])).toEqual([
        [1, 1, 16, 1],
        [2, 1, 16, 1],
      ]);
      for (const x of rounds) {
        positives(x, ['seconds', 'transactions_reread', 'ledger_events']);
        expect(typeof at(x, 'cpu_ms_per_refresh.reconciliation')).toBe('number');
      }
      expect(at(r, 'ceiling.bulk_upsert.tx_per_s')).toBeGreaterThan(0);
      positives(r, [
        'pipeline.tx_per_s',
        'pipeline.us_per_tx',
        'ceiling.kafka_consume.us_per_tx',
        'ceiling.bulk_upsert.us_per_tx',
        'ceiling.serial_consume_plus_upsert.us_per_tx',
        'ratio_pipeline_to_serial_ceiling',
        'ratio_pipeline_to_slowest_stage',
        'cpu_us_per_tx.pipeline',
        'cpu_us_per_tx.ratio_ceiling_to_pipeline',
      ]);
    },
  },
  {
    name: 'read-api',
    env: { BENCH_READ_USERS: '1', BENCH_READ_HEAVY: '0', BENCH_READ_SECONDS: '2', BENCH_READ_ROUNDS: '1', BENCH_READ_WARMUP_SECONDS: '1', BENCH_READ_CONCURRENCY: '8' },
    check(json) {
      positive(at(json, 'data.transactions'), 'data.transactions');
      for (const scenario of ['transactions_page', 'changes_since_cursor']) {
        const r = at(json, `results.${scenario}`);
        for (const side of ['bare', 'gateway']) positives(r, ['requests', 'rps', 'p50_ms', 'p99_ms', 'cpu_ms_per_request', 'mean_response_bytes'].map((k) => `${side}.${k}`));
        positives(r, ['ratio_p50', 'ratio_p99', 'ratio_throughput', 'ratio_cpu_per_request']);
        expect(typeof at(r, 'p99_target_met')).toBe('boolean');
      }
    },
  },
  {
    name: 'consent',
    env: { BENCH_CONSENT_USER: 'small', BENCH_CONSENT_RUNS: '1' },
    check(json) {
      positives(json, ['transactions', 'subject_median_s', 'baseline_median_s', 'ratio_of_medians']);
      const [run] = json['runs'] as Json[];
      positives(run, ['subject_s', 'raw_read_s', 'raw_read_calls', 'bulk_insert_s', 'baseline_s', 'ratio', 'phases_s.authorized_to_backfill_done', 'phases_s.api_read', 'cpu_floor_s', 'cpu_floor_ratio', 'machine_busy_share']);
      // the floor is the subject's CPU (the bench's own left out) over the cores; the busy share a fraction of them
      const cpu = Object.entries(at(run, 'cpu_seconds') as Record<string, number>).reduce((a, [k, v]) => a + (k === 'bench' ? 0 : v), 0);
      expect(at(run, 'cpu_floor_s') as number).toBeCloseTo(cpu / cpus().length, 1);
      expect(at(run, 'machine_busy_share') as number).toBeLessThanOrEqual(1.05);
      // the read-back's CPU, per process, is a part of the subject's (the small user's one page may take under a tick)
      const readBack = at(run, 'read_back_cpu_seconds') as Record<string, number>;
      const subjectCpu = at(run, 'cpu_seconds') as Record<string, number>;
      expect(Object.keys(readBack).sort()).toEqual(Object.keys(subjectCpu).sort());
      for (const [k, v] of Object.entries(readBack)) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(subjectCpu[k]! + 0.01);
      }
      // the share of the cores the target would need with this CPU: the floor's ratio over the target
      // (both rounded to hundredths)
      expect(Math.abs((at(run, 'busy_needed_for_target') as number) * 1.5 - (at(run, 'cpu_floor_ratio') as number))).toBeLessThanOrEqual(0.013);
      expect(typeof json['target_met']).toBe('boolean');
    },
  },
];

describe('benchmarks (smoke: small configurations)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(SMOKES.map((s) => [s.name, s] as const))('%s runs, and its JSON has its figures beside a baseline of the same run', async (name, smoke) => {
    const run = await runBench(name, smoke.env, dir);
    if (run.code !== 0) throw new Error(`bench ${name} exited ${String(run.code)} after ${run.seconds} s:\n${run.output.slice(-4000)}`);
    const json = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Json;
    smoke.check(json);
    // the services (every benchmark's but the store's, which starts none) run as their images run them: bench/run.sh
    // builds their bundles first
    if (name !== 'store') expect(json['services_runtime'] ?? at(json, 'settings.runtime')).toBe('bundles in dist/apps');
    process.stdout.write(`[bench-smoke] ${name}: ${run.seconds.toFixed(1)} s\n`);
  });
});
