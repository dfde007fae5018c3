/**
 * Runs the TrueLayer simulator (`apps/truelayer-sandbox`) as a real child process for integration tests.
 *
 * - spawns `node --require tsx/cjs apps/truelayer-sandbox/src/main.ts` from the repo root;
 * - binds 127.0.0.1 on a random port (`SANDBOX_PORT=0`) with a random client secret;
 * - resolves once the child logs its JSON `"msg":"listening"` line with the URL;
 * - `stop()` signals ONLY that child, by its PID: SIGTERM, then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { processEnv } from '@ais/platform-config';
import { recordSecret, teeOutput } from './secret-ledger';

export interface SandboxProcess {
  /** Base URL; the simulator serves the auth server and the Data API from this one origin. */
  url: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** PID of the child (for diagnostics). */
  pid: number;
  /** Last log lines of the child (stdout and stderr), for failure messages. */
  logs(): string[];
  /** Calls the simulator's admin API (`/__admin<path>`); throws with the status and body on a non-2xx answer. */
  admin<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export interface SandboxProcessOptions {
  /** Max time to wait for the listening line. Default 30 s. */
  startTimeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL. Default 5 s. */
  stopTimeoutMs?: number;
}

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const ENTRY = 'apps/truelayer-sandbox/src/main.ts';
const MAX_LOG_LINES = 200;

export async function startSandboxProcess(
  env: Record<string, string> = {},
  opts: SandboxProcessOptions = {},
): Promise<SandboxProcess> {
  const clientSecret = env['SANDBOX_CLIENT_SECRET'] ?? randomBytes(24).toString('base64url');
  const clientId = env['SANDBOX_CLIENT_ID'] ?? 'sandbox-ais-test';
  const redirectUris = env['SANDBOX_REDIRECT_URIS'] ?? 'http://127.0.0.1:3000/callback';
  const redirectUri = redirectUris.split(',')[0]?.trim() ?? 'http://127.0.0.1:3000/callback';
  const parentEnv = processEnv();
  // A minimal, deterministic environment: inherited SANDBOX_* / LOG_* variables must not change the simulator.
  const childEnv: Record<string, string> = {
    PATH: parentEnv['PATH'] ?? '',
    HOME: parentEnv['HOME'] ?? '',
    TSX_TSCONFIG_PATH: parentEnv['TSX_TSCONFIG_PATH'] ?? resolve(REPO_ROOT, 'tsconfig.base.json'),
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    SANDBOX_HOST: '127.0.0.1',
    SANDBOX_PORT: '0',
    ...env,
    SANDBOX_CLIENT_ID: clientId,
    SANDBOX_CLIENT_SECRET: clientSecret,
    SANDBOX_REDIRECT_URIS: redirectUris,
  };

  const child = spawn(process.execPath, ['--require', 'tsx/cjs', ENTRY], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('failed to spawn the sandbox process');
  recordSecret('client-secret', clientSecret);
  teeOutput('truelayer-sandbox', child);

  const logLines: string[] = [];
  const remember = (line: string) => {
    logLines.push(line);
    if (logLines.length > MAX_LOG_LINES) logLines.shift();
  };
  let exited = child.exitCode !== null || child.signalCode !== null;
  const exitPromise = new Promise<void>((res) => {
    child.once('exit', () => {
      exited = true;
      res();
    });
  });
  // Safety net: never leave the child running if the test process exits without calling stop().
  const onParentExit = () => {
    if (!exited) killPid(pid, 'SIGKILL');
  };
  process.once('exit', onParentExit);

  const url = await new Promise<string>((resolveUrl, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      finish(() => reject(new Error(`sandbox did not log "listening" within ${opts.startTimeoutMs ?? 30_000} ms\n${tail(logLines)}`)));
    }, opts.startTimeoutMs ?? 30_000);
    lineReader(child, 'stdout', (line) => {
      remember(line);
      const listeningUrl = parseListening(line);
      if (listeningUrl) finish(() => resolveUrl(listeningUrl));
    });
    lineReader(child, 'stderr', remember);
    child.once('error', (err) => finish(() => reject(err)));
    child.once('exit', (code, signal) =>
      finish(() => reject(new Error(`sandbox exited before listening (code ${code}, signal ${signal})\n${tail(logLines)}`))),
    );
  }).catch(async (err: unknown) => {
    await stopChild(child, pid, () => exited, exitPromise, opts.stopTimeoutMs ?? 5_000);
    process.removeListener('exit', onParentExit);
    throw err;
  });

  let stopping: Promise<void> | undefined;
  return {
    url,
    clientId,
    clientSecret,
    redirectUri,
    pid,
    logs: () => [...logLines],
    admin: async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${url}/__admin${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`admin ${method} ${path} -> ${res.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    stop: () => {
      stopping ??= stopChild(child, pid, () => exited, exitPromise, opts.stopTimeoutMs ?? 5_000).finally(() => {
        process.removeListener('exit', onParentExit);
      });
      return stopping;
    },
  };
}

function parseListening(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const rec = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return rec.msg === 'listening' && typeof rec.url === 'string' ? rec.url : undefined;
  } catch {
    return undefined;
  }
}

function lineReader(child: ChildProcess, stream: 'stdout' | 'stderr', onLine: (line: string) => void): void {
  let buf = '';
  const s = child[stream];
  if (!s) return;
  s.setEncoding('utf8');
  s.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) onLine(line);
    }
  });
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function stopChild(
  _child: ChildProcess,
  pid: number,
  hasExited: () => boolean,
  exitPromise: Promise<void>,
  graceMs: number,
): Promise<void> {
  if (hasExited()) return;
  killPid(pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exitPromise.then(() => false),
    new Promise<boolean>((res) => {
      timer = setTimeout(() => res(true), graceMs);
    }),
  ]);
  if (timer) clearTimeout(timer);
  if (timedOut && !hasExited()) {
    killPid(pid, 'SIGKILL');
    await exitPromise;
  }
}

function tail(lines: string[]): string {
  return lines.slice(-20).join('\n');
}
