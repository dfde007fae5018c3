/**
 * Starts a service as a real child process (as it runs in production: its own telemetry SDK, its own
 * service.name), captures its JSON log lines, waits for its `service ready` line, and stops it by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './stack';

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
}

export async function startService(name: string, env: Record<string, string>, timeoutMs = 60_000): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--enable-source-maps', '--require', 'tsx/cjs', '--require', './libs/platform/telemetry/src/register.ts', join('apps', name, 'src/main.ts')],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OTEL_SERVICE_NAME: name, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  if (!child.pid) throw new Error(`could not spawn ${name}`);
  const logs: Record<string, unknown>[] = [];
  let text = '';
  let buffer = '';
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready in ${timeoutMs} ms; output:\n${text.slice(-4000)}`)), timeoutMs);
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
      reject(new Error(`${name} exited (${code}) before it was ready; output:\n${text.slice(-4000)}`));
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
  try {
    return { name, pid, ready: await ready, logs, output: () => text, stop, exited };
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
