/**
 * Which provider starts a private stack of test servers (`ensureStack`): `native` (infra/stack.sh, processes on this
 * machine) or `containers` (testcontainers, stack-containers.ts). AIS_STACK_PROVIDER=native|containers|auto, default
 * auto: containers only when testcontainers finds a reachable container engine within the timeout, else native.
 * Both write the same DIR/stack.env (STACK_ENV_FILE_KEYS), which is all the tests read.
 */
export type StackProviderName = 'native' | 'containers';
export type StackProviderRequest = StackProviderName | 'auto';

export const STACK_PROVIDER_VARIABLE = 'AIS_STACK_PROVIDER';
export const ENGINE_TIMEOUT_VARIABLE = 'AIS_STACK_ENGINE_TIMEOUT_MS';
/** Covers loading testcontainers (about 2.5 s on a busy 2-core machine) and its runtime detection. */
export const DEFAULT_ENGINE_TIMEOUT_MS = 10_000;

/**
 * The keys of DIR/stack.env and which providers write them. The store's PostgreSQL keys exist only under the native
 * store (FerretDB over PostgreSQL); the containers stack runs MongoDB itself, which has none. Prometheus is native only:
 * a Prometheus container would have to reach the services on the host's loopback.
 */
export const STACK_ENV_FILE_KEYS = {
  AIS_STACK_DIR: ['native', 'containers'],
  KAFKA_BROKERS: ['native', 'containers'],
  MONGODB_URI: ['native', 'containers'],
  AIS_STORE_PG_PORT: ['native'],
  AIS_STORE_PSQL: ['native'],
  VAULT_ADDR: ['native', 'containers'],
  VAULT_TOKEN: ['native', 'containers'],
  ZIPKIN_URL: ['native', 'containers'],
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: ['native', 'containers'],
  // the local Prometheus and the file-discovery dir it watches (registerScrapeTarget); a containers stack has none
  PROMETHEUS_URL: ['native'],
  PROMETHEUS_TARGETS_DIR: ['native'],
} as const satisfies Record<string, readonly StackProviderName[]>;

/** In the stack dir of a containers stack: the ids of its containers (teardown may run in another process). */
export const CONTAINERS_FILE = 'containers.json';

export type StackEnvFileKey = keyof typeof STACK_ENV_FILE_KEYS;

/** The stack.env keys a provider writes, in file order. */
export function stackEnvKeys(provider: StackProviderName): StackEnvFileKey[] {
  return (Object.keys(STACK_ENV_FILE_KEYS) as StackEnvFileKey[]).filter((k) => (STACK_ENV_FILE_KEYS[k] as readonly StackProviderName[]).includes(provider));
}

export function parseProviderRequest(value: string | undefined): StackProviderRequest {
  const v = (value ?? '').trim();
  if (v === '') return 'auto';
  if (v === 'native' || v === 'containers' || v === 'auto') return v;
  throw new Error(`${STACK_PROVIDER_VARIABLE}=${v} is not one of native, containers, auto`);
}

export function parseEngineTimeout(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_ENGINE_TIMEOUT_MS;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${ENGINE_TIMEOUT_VARIABLE}=${value} is not a positive whole number of milliseconds`);
  return n;
}

export interface ProviderChoice {
  provider: StackProviderName;
  /** Why, for the log line. */
  reason: string;
}

/** Resolves with a short description of the reachable engine; rejects when there is none. */
export type EngineDetector = () => Promise<string>;

type Detection = { ok: true; engine: string } | { ok: false; why: string };

async function detectWithin(detect: EngineDetector, timeoutMs: number): Promise<Detection> {
  let timer: NodeJS.Timeout | undefined;
  const attempt = detect().then(
    (engine): Detection => ({ ok: true, engine }),
    (error: unknown): Detection => ({ ok: false, why: error instanceof Error ? error.message : String(error) }),
  );
  const timeout = new Promise<Detection>((res) => {
    timer = setTimeout(() => res({ ok: false, why: `no answer within ${String(timeoutMs)} ms` }), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ChooseOptions {
  request: StackProviderRequest;
  detect: EngineDetector;
  timeoutMs?: number;
}

/**
 * native: no detection. containers: detection must succeed (else a clear error: the caller asked for containers).
 * auto: containers when detection succeeds in time, native when it fails or times out.
 */
export async function chooseStackProvider({ request, detect, timeoutMs = DEFAULT_ENGINE_TIMEOUT_MS }: ChooseOptions): Promise<ProviderChoice> {
  if (request === 'native') return { provider: 'native', reason: `${STACK_PROVIDER_VARIABLE}=native` };
  const found = await detectWithin(detect, timeoutMs);
  if (request === 'containers') {
    if (!found.ok) throw new Error(`${STACK_PROVIDER_VARIABLE}=containers, but no container engine is reachable: ${found.why}`);
    return { provider: 'containers', reason: `${STACK_PROVIDER_VARIABLE}=containers; engine: ${found.engine}` };
  }
  return found.ok
    ? { provider: 'containers', reason: `auto: container engine reachable (${found.engine})` }
    : { provider: 'native', reason: `auto: no container engine reachable (${found.why})` };
}
