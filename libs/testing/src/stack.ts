/**
 * Real servers for integration tests. `ensureStack()` reuses a running local stack (`.infra/stack.env`, e.g. the
 * one `.ci/run` or `npm run stack:up` started) when every server answers, otherwise starts a private one and
 * remembers to stop it. The private one comes from a provider (stack-provider.ts, AIS_STACK_PROVIDER): `native`
 * runs `infra/stack.sh up --dir <tmp>` (no container engine needed); `containers` runs infra/compose.yaml's images
 * with testcontainers (stack-containers.ts, never run by this project); `auto`, the default, takes containers only
 * when testcontainers finds a reachable engine. Both write the same stack.env. A suite never skips: if the servers
 * cannot be had, setup fails with the reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chooseStackProvider, CONTAINERS_FILE, ENGINE_TIMEOUT_VARIABLE, parseEngineTimeout, parseProviderRequest, STACK_PROVIDER_VARIABLE, type StackProviderName } from './stack-provider';

export const REPO_ROOT = resolve(__dirname, '../../..');

export interface StackEnv {
  KAFKA_BROKERS: string;
  MONGODB_URI: string;
  VAULT_ADDR: string;
  VAULT_TOKEN: string;
  ZIPKIN_URL: string;
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: string;
  AIS_STACK_DIR: string;
  [key: string]: string;
}

export const STACK_KEYS = ['KAFKA_BROKERS', 'MONGODB_URI', 'VAULT_ADDR', 'VAULT_TOKEN', 'ZIPKIN_URL', 'OTEL_EXPORTER_ZIPKIN_ENDPOINT'] as const;

/** The stack's connection settings the integration globalSetup put into process.env (throws outside an integration run). */
export function integrationEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of STACK_KEYS) {
    const v = process.env[k];
    if (!v) throw new Error(`${k} missing: integration globalSetup did not run`);
    out[k] = v;
  }
  return out;
}

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1);
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) value = value.slice(1, -1);
    out[line.slice(0, eq)] = value;
  }
  return out;
}

export function readStackEnv(file: string): StackEnv {
  const env = parseEnvFile(readFileSync(file, 'utf8'));
  for (const key of STACK_KEYS) if (!env[key]) throw new Error(`${file} lacks ${key}`);
  return env as StackEnv;
}

function tcpOpen(hostPort: string, timeoutMs = 1500): Promise<boolean> {
  const m = /^(.*):(\d+)$/.exec(hostPort);
  if (!m) return Promise.resolve(false);
  return new Promise((res) => {
    const socket = connect({ host: m[1], port: Number(m[2]) });
    const done = (ok: boolean) => {
      socket.destroy();
      res(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The low end of the kernel's ephemeral port range. The kernel hands those ports out for bind(0) and for the local
 * end of every outgoing connection, so a port picked from it may be taken by some client socket between our release
 * and the server's bind (seen in CI: EADDRINUSE on a port freePort had just returned). Ports below it are never
 * assigned by the kernel.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 15_100 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => res(true)));
  });
}

/**
 * The ports `freePort` gave this process. A port is free until its server binds, so a second caller in between (the
 * services start-local starts at once, each with its metrics port) could be given it again: one of the two servers
 * then failed with EADDRINUSE. A port is handed out once per process (the range holds some 17,000).
 */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 for a server whose address must be known before it starts (e.g. redirect URIs),
 * chosen below the ephemeral range so that no outgoing connection or bind(0) can take it before the server binds.
 */
export async function freePort(): Promise<number> {
  const lo = 15_000;
  const hi = ephemeralLow() - 1;
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on 127.0.0.1 between ${String(lo)} and ${String(hi)}`);
}

/** True when every server of the stack accepts connections. */
export async function stackAlive(env: StackEnv): Promise<boolean> {
  const hostPorts = [
    ...env.KAFKA_BROKERS.split(','),
    new URL(env.MONGODB_URI).host,
    new URL(env.VAULT_ADDR).host,
    new URL(env.ZIPKIN_URL).host,
    ...(env['PROMETHEUS_URL'] ? [new URL(env['PROMETHEUS_URL']).host] : []),
  ];
  const results = await Promise.all(hostPorts.map((hp) => tcpOpen(hp)));
  return results.every(Boolean);
}

export interface StackHandle {
  env: StackEnv;
  /** Whether this process started it (and so must stop it). */
  owned: boolean;
  dir: string;
  /** The provider that started it (absent for a reused stack; stopStack then looks at the dir). */
  provider?: StackProviderName;
}

/** A way to start and stop a private stack in a dir: both write DIR/stack.env with STACK_ENV_FILE_KEYS. */
export interface StackProvider {
  start(dir: string, log: (msg: string) => void): Promise<StackEnv>;
  stop(dir: string, log: (msg: string) => void): Promise<void>;
}

export const STACK_PROVIDERS: Record<StackProviderName, StackProvider> = {
  native: {
    start(dir) {
      try {
        execFileSync('bash', [join(REPO_ROOT, 'infra/stack.sh'), 'up', '--dir', dir], { stdio: 'inherit' });
      } catch (error) {
        return Promise.reject(new Error(`could not start the test servers with infra/stack.sh (see its output above): ${String(error)}`));
      }
      return Promise.resolve(readStackEnv(join(dir, 'stack.env')));
    },
    stop(dir) {
      execFileSync('bash', [join(REPO_ROOT, 'infra/stack.sh'), 'down', '--dir', dir], { stdio: 'inherit' });
      return Promise.resolve();
    },
  },
  // loaded on demand: testcontainers takes seconds to load and the native path never needs it
  containers: {
    start: async (dir, log) => (await import('./stack-containers')).startContainerStack(dir, log),
    stop: async (dir, log) => (await import('./stack-containers')).stopContainerStack(dir, log),
  },
};

export async function ensureStack(log: (msg: string) => void = () => undefined): Promise<StackHandle> {
  const candidates = [process.env['AIS_STACK_ENV'], join(REPO_ROOT, '.infra/stack.env')].filter((x): x is string => Boolean(x));
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const env = readStackEnv(file);
    if (await stackAlive(env)) {
      log(`[stack] reusing running stack from ${file}`);
      return { env, owned: false, dir: env.AIS_STACK_DIR };
    }
  }
  const t0 = Date.now();
  const choice = await chooseStackProvider({
    request: parseProviderRequest(process.env[STACK_PROVIDER_VARIABLE]),
    detect: async () => (await import('./stack-containers')).detectContainerEngine(),
    timeoutMs: parseEngineTimeout(process.env[ENGINE_TIMEOUT_VARIABLE]),
  });
  log(`[stack] provider: ${choice.provider} (${choice.reason}; decided in ${String(Date.now() - t0)} ms)`);
  const dir = mkdtempSync(join(tmpdir(), 'ais-stack-'));
  log(`[stack] starting a private stack in ${dir}`);
  const env = await STACK_PROVIDERS[choice.provider].start(dir, log);
  return { env, owned: true, dir, provider: choice.provider };
}

/** Stops a stack this process started (a reused one is left running). */
export async function stopStack(handle: StackHandle): Promise<void> {
  if (!handle.owned) return;
  // a handle rebuilt from the dir (global teardown) names no provider: the containers one leaves containers.json
  const provider = handle.provider ?? (existsSync(join(handle.dir, CONTAINERS_FILE)) ? 'containers' : 'native');
  await STACK_PROVIDERS[provider].stop(handle.dir, (m) => process.stdout.write(`${m}\n`));
}
