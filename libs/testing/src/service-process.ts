/**
 * Starts a service as a real child process (as it runs in production: its own telemetry SDK, its own
 * service.name), captures its JSON log lines, waits for its `service ready` line, and stops it by its PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { teeOutput } from './secret-ledger';
import { freePort, REPO_ROOT } from './stack';

/**
 * Builds a service's esbuild bundle from the sources as they are now (tools/scripts/build-app.mjs: what its image
 * runs, about half a second) and returns its directory, dist/apps/<name>, for `startService`'s `bundleDir`.
 */
export async function buildServiceBundle(name: string): Promise<string> {
  try {
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'tools/scripts/build-app.mjs'), name], { cwd: REPO_ROOT });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`building ${name}: ${(err.stderr ?? '').trim().split('\n').slice(-1)[0] || err.message}`);
  }
  return join(REPO_ROOT, 'dist/apps', name);
}

/** Whether a process with this PID exists (signal 0: nothing is sent). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ServiceProcess {
  name: string;
  pid: number;
  /** Fields of the `service ready` line (ports). */
  ready: Record<string, unknown>;
  /** Every stdout line parsed as JSON (non-JSON lines kept as `{ raw }`). */
  logs: Record<string, unknown>[];
  /** Raw stdout + stderr text, for secret scans. */
  output(): string;
  /** SIGTERM, wait for exit; SIGKILL after `graceMs`. Resolves with the exit code (or signal name). */
  stop(graceMs?: number): Promise<number | string>;
  exited: Promise<number | string>;
  /** Closes our ends of its stdout and stderr, as when the parent that started it is gone. */
  closeOutput(): void;
}

/** A service that exited (or timed out) before its `service ready` line; `reason` is its fatal log line. */
export class ServiceStartError extends Error {
  constructor(
    readonly service: string,
    readonly exitCode: number | string | undefined,
    readonly reason: string,
    readonly output: string,
  ) {
    super(
      exitCode === undefined
        ? `${service} not ready: ${reason}`
        : `${service} exited (${exitCode}) before it was ready: ${reason}`,
    );
    this.name = 'ServiceStartError';
  }
}

export interface StartServiceOptions {
  /** How long to wait for `service ready` (default 60 s). */
  timeoutMs?: number;
  /** Called right after the spawn, before readiness: lets a caller stop a process that never gets ready. */
  onSpawn?: (proc: { name: string; pid: number; stop(graceMs?: number): Promise<number | string> }) => void;
  /**
   * Run the esbuild bundle in this directory (tools/scripts/build-app.mjs) the way its image's CMD does, not the sources.
   * Without it, AIS_SERVICE_BUNDLES=<dir> runs `<dir>/<name>` for every service (benchmarks measure what ships).
   */
  bundleDir?: string;
  /** Serve the Prometheus endpoint on a free loopback port (METRICS_PORT; `ready['metricsPort']`) unless env sets one. */
  metrics?: boolean;
}

/** The message of the last fatal (else error) JSON log line in `logs`, else the last line of `text`. */
function failureReason(logs: Record<string, unknown>[], text: string): string {
  for (const level of ['fatal', 'error']) {
    const line = [...logs].reverse().find((l) => l['level'] === level && typeof l['msg'] === 'string');
    if (line) return String(line['msg']);
  }
  return text.trim().split('\n').slice(-1)[0] ?? 'no output';
}

export async function startService(
  name: string,
  env: Record<string, string>,
  options: number | StartServiceOptions = {},
): Promise<ServiceProcess> {
  const { timeoutMs = 60_000, onSpawn, bundleDir: bundleOption, metrics = false } = typeof options === 'number' ? { timeoutMs: options } : options;
  const bundles = process.env['AIS_SERVICE_BUNDLES'];
  const bundleDir = bundleOption ?? (bundles ? resolve(REPO_ROOT, bundles, name) : undefined);
  if (metrics && env['METRICS_PORT'] === undefined) env = { ...env, METRICS_HOST: '127.0.0.1', METRICS_PORT: String(await freePort()) };
  const child: ChildProcess = spawn(
    process.execPath,
    bundleDir
      ? ['--enable-source-maps', '--require', './register.js', 'main.js']
      : ['--enable-source-maps', '--require', 'tsx/cjs', '--require', './libs/platform/telemetry/src/register.ts', join('apps', name, 'src/main.ts')],
    {
      cwd: bundleDir ?? REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OTEL_SERVICE_NAME: name, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  if (!child.pid) throw new Error(`could not spawn ${name}`);
  teeOutput(name, child);
  const logs: Record<string, unknown>[] = [];
  let text = '';
  let buffer = '';
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const outputClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ServiceStartError(name, undefined, `no "service ready" line within ${timeoutMs} ms`, text.slice(-4000))), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          parsed = { raw: line };
        }
        logs.push(parsed);
        if (parsed['msg'] === 'service ready') {
          clearTimeout(timer);
          resolve(parsed);
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    void exited.then((code) => {
      clearTimeout(timer);
      // Let the last output chunks arrive (stdio closes after the exit event) before naming the reason.
      void Promise.race([outputClosed, new Promise((r) => setTimeout(r, 500))]).then(() =>
        reject(new ServiceStartError(name, code, failureReason(logs, text), text.slice(-4000))),
      );
    });
  });
  const pid = child.pid;
  const stop = async (graceMs = 20_000): Promise<number | string> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const closeOutput = () => {
    child.stdout?.destroy();
    child.stderr?.destroy();
  };
  onSpawn?.({ name, pid, stop });
  try {
    return { name, pid, ready: await ready, logs, output: () => text, stop, exited, closeOutput };
  } catch (error) {
    await stop(2_000);
    throw error;
  }
}

/** Runs a service that is expected to exit on its own (e.g. bad configuration); kills it by PID after `timeoutMs`. */
export async function runToExit(
  name: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number | string; output: string; lines: Record<string, unknown>[]; ms: number }> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    ['--require', 'tsx/cjs', '--require', './libs/platform/telemetry/src/register.ts', join('apps', name, 'src/main.ts')],
    { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OTEL_SERVICE_NAME: name, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  teeOutput(name, child);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? 'unknown')));
  clearTimeout(timer);
  const lines = output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { raw: l };
      }
    });
  return { code, output, lines, ms: Date.now() - started };
}
