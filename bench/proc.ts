/**
 * Process accounting and a keep-alive HTTP load generator for the benchmarks (read-api, consent): CPU seconds of
 * processes from /proc (the stack's servers with their children), peak RSS, the results directory, and a
 * closed-loop load of N workers over one keep-alive agent.
 */
import { imageEnv, REPO_ROOT } from '@ais/testing';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { isAbsolute, join } from 'node:path';

const CLK_TCK = 100;

/** Where results go: BENCH_RESULTS_DIR (CI's smoke writes to a temporary directory), else bench/results. */
export function resultsDir(): string {
  const dir = process.env['BENCH_RESULTS_DIR'];
  const out = dir ? (isAbsolute(dir) ? dir : join(REPO_ROOT, dir)) : join(REPO_ROOT, 'bench/results');
  mkdirSync(out, { recursive: true });
  return out;
}

/** BENCH_<SERVICE>_<VAR> (service name upper-cased, `-` as `_`): <VAR> set on that service (tuning experiments, a profiler through NODE_OPTIONS). */
export function benchServiceEnv(service: string): Record<string, string> {
  const pre = `BENCH_${service.toUpperCase().replace(/-/g, '_')}_`;
  return Object.fromEntries(Object.entries(process.env).flatMap(([k, v]) => (k.startsWith(pre) && v !== undefined ? [[k.slice(pre.length), v]] : [])));
}

/** The image's ENV that shapes a process' memory: V8's flags and glibc's allocator. */
export const MEMORY_ENV: ReadonlySet<string> = new Set(['NODE_OPTIONS', 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_']);

/**
 * What the service's image sets of MEMORY_ENV (`ENV` in apps/<service>/Dockerfile): the heap limits and allocator
 * settings it ships with. Only these: the harness's own settings (loopback hosts, ports, no TLS, so not
 * NODE_ENV=production, which refuses insecure gRPC) win over the rest of the image's.
 */
export function imageMemoryEnv(service: string): Record<string, string> {
  return Object.fromEntries(Object.entries(imageEnv(service)).filter(([k]) => MEMORY_ENV.has(k)));
}

/**
 * The image's memory settings with BENCH_<SERVICE>_<VAR> on top; BENCH_<SERVICE>_NODE_OPTIONS is added after the
 * image's, so a flag it repeats wins (V8 keeps the last value of a flag).
 */
export function shippedServiceEnv(service: string): Record<string, string> {
  const image = imageMemoryEnv(service);
  const bench = benchServiceEnv(service);
  const nodeOptions = [image['NODE_OPTIONS'], bench['NODE_OPTIONS']].filter(Boolean).join(' ');
  return { ...image, ...bench, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) };
}

/**
 * The environment a benchmark gives a service it starts: as it ships, `shippedServiceEnv` (the image's memory
 * settings with BENCH_<SERVICE>_<VAR> on top); with BENCH_IMAGE_ENV=0 only BENCH_<SERVICE>_<VAR> (V8's defaults: a
 * heap sized for the machine, as every benchmark but memory ran them before 6 December). `override` names a
 * benchmark's own switch, which wins when set (BENCH_CONSENT_IMAGE_ENV).
 */
export function runEnv(service: string, override?: string): Record<string, string> {
  const on = ((override !== undefined ? process.env[override] : undefined) ?? process.env['BENCH_IMAGE_ENV'] ?? '1') !== '0';
  return on ? shippedServiceEnv(service) : benchServiceEnv(service);
}

/** The simulator's password of a mock user (apps/truelayer-sandbox/src/domain/users.ts): `heavy` and `small` are their own, `john`, `john1`… take `doe`, `doe1`…. */
export const mockPassword = (login: string): string => (login === 'heavy' || login === 'small' ? login : login.replace(/^john/, 'doe'));

/** How a benchmark's services run (bench/run.sh): the images' bundles, or the sources through tsx (BENCH_RUNTIME=tsx). */
export const servicesRuntime = (): string => (process.env['AIS_SERVICE_BUNDLES'] ? `bundles in ${process.env['AIS_SERVICE_BUNDLES']}` : 'tsx on the sources');

export const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
export const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime + stime (+ reaped children) of a process, in CPU seconds; 0 when it is gone. */
export function cpuSeconds(pid: number, withChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = Number(f[11]) + Number(f[12]);
    return (own + (withChildren ? Number(f[13]) + Number(f[14]) : 0)) / CLK_TCK;
  } catch {
    return 0;
  }
}

export function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((l) => Number(l.trim())).filter(Boolean);
  } catch {
    return [];
  }
}

/** The stack's server processes (the PID files infra/stack.sh writes), when the stack has a directory. */
export function stackPids(dir: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, file] of [
    ['kafka', 'kafka'],
    ['ferretdb', 'mongo'],
    ['postgres', 'mongo-pg'],
  ] as const) {
    const f = join(dir ?? '', 'pids', `${file}.pid`);
    if (dir && existsSync(f)) out[name] = Number(readFileSync(f, 'utf8').trim());
  }
  return out;
}

/** CPU seconds so far of each named process; the stack's servers with their children (PostgreSQL backends). */
export function cpuSnapshot(pids: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    if (!pid) continue;
    const kids = name === 'postgres' || name === 'kafka' || name === 'ferretdb' ? childPids(pid) : [];
    out[name] = cpuSeconds(pid, kids.length > 0 || name === 'postgres') + kids.reduce((s, c) => s + cpuSeconds(c, true), 0);
  }
  return out;
}

export function cpuDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(b).map((k) => [k, round(b[k]! - (a[k] ?? 0), 2)]));
}

/** Busy CPU seconds of the whole machine so far (/proc/stat). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (line.reduce((s, x) => s + x, 0) - (line[3] ?? 0) - (line[4] ?? 0)) / CLK_TCK;
}

export function peakRssMb(pid: number): number | undefined {
  try {
    const kb = /^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface LoadResult {
  requests: number;
  /** Answers other than 200 (their latency is in the figures: a client waited for them too), by status. */
  errors: number;
  error_statuses: Record<string, number>;
  seconds: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
  mean_response_bytes: number;
}

export interface LoadTarget {
  port: number;
  headers: Record<string, string>;
}

/**
 * Closed loop: `concurrency` workers, each sending its next request when the previous answer is fully read, over
 * one keep-alive agent with as many sockets, for `durationMs`. Answers other than 200 are counted (a 504 under
 * load is a result); 401, 403 and 404 fail the run (a wrong bench). Latency is from the request's start to its last
 * body byte, for every answer.
 */
export async function runLoad(target: LoadTarget, path: (worker: number, i: number) => string, concurrency: number, durationMs: number): Promise<LoadResult & { latencies: number[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let bytes = 0;
  const get = (p: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: target.port, path: p, method: 'GET', headers: target.headers, agent }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            errors += 1;
            statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
            // 401/403/404 mean a wrong bench, not load: stop
            if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 404) return reject(new Error(`GET ${p.replace(/cursor=[^&]+/, 'cursor=…')}: HTTP ${res.statusCode}`));
          }
          resolve(n);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  const t0 = process.hrtime.bigint();
  const end = Date.now() + durationMs;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        for (let i = 0; Date.now() < end; i += 1) {
          const t = process.hrtime.bigint();
          const n = await get(path(w, i));
          bytes += n;
          latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const s = seconds(t0);
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    error_statuses: statuses,
    seconds: round(s),
    rps: round(latencies.length / s, 1),
    p50_ms: round(percentile(latencies, 50), 2),
    p90_ms: round(percentile(latencies, 90), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    max_ms: round(latencies[latencies.length - 1] ?? NaN, 2),
    mean_ms: round(latencies.reduce((a, b) => a + b, 0) / latencies.length, 2),
    mean_response_bytes: Math.round(bytes / latencies.length),
    latencies,
  };
}

/** Starts `bench/<file>` as its own Node process; resolves with it and its "service ready" line. */
export function startBenchProcess(file: string, env: Record<string, string>, timeoutMs = 60_000): Promise<{ child: ChildProcess; ready: Record<string, unknown>; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', join(REPO_ROOT, 'bench', file)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${file}: no "service ready" line within ${timeoutMs} ms`));
    }, timeoutMs);
    let buffer = '';
    child.stdout?.on('data', (c: Buffer) => {
      buffer += c.toString('utf8');
      const line = buffer.split('\n').find((l) => l.includes('"service ready"'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, ready: JSON.parse(line) as Record<string, unknown>, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${String(code)} before it was ready`));
    });
  });
}
