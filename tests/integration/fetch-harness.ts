/**
 * The data plane's front half on the real stack, for integration tests: the TrueLayer simulator, token-vault,
 * one or more data-fetcher instances and auth-gateway as child processes (each on its own databases and topic
 * prefix), an API client, and a Kafka reader that collects every raw event.
 */
import { bindings, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { ClockSpecError, formatClockSpec, parseClockSpec, scaledClockSpec } from '@ais/platform-config';
import { Vault } from '@ais/platform-vault';
import { freePort, provisionTopics, recordSecret, startSandboxProcess, startService as startTestService, type SandboxProcess, type ServiceProcess, type StartServiceOptions } from '@ais/testing';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import mongoose from 'mongoose';
import { stackEnv, uniqueSuffix } from './stack-env';

export interface FetchStackOptions {
  fetchers?: number;
  sandboxEnv?: Record<string, string>;
  fetcherEnv?: Record<string, string>;
  tokenVaultEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  /** Export spans to the stack's Zipkin (each span as it ends). */
  tracing?: boolean;
  /** Each service serves /metrics on a free loopback port (`ready['metricsPort']`); default true. */
  metrics?: boolean;
  /** Also run enrichment and reconciliation (the whole data plane); the gateway then serves the read API. */
  pipeline?: boolean;
  enrichmentEnv?: Record<string, string>;
  reconciliationEnv?: Record<string, string>;
  /**
   * One business clock for the simulator (SANDBOX_CLOCK), token-vault and data-fetcher (CLOCK): `real` (the
   * default) or `scaled:<realAnchorMs>:<simAnchorMs>:<rate>` (@ais/platform-config). `advanceClock` moves the
   * three together.
   */
  clock?: string;
  /** How long each service may take to log `service ready` (default startService's 60 s). */
  startTimeoutMs?: number;
  /**
   * Whether `raw` decodes and keeps every raw event (default true). A benchmark that only needs the dead letters
   * turns it off: decoding a heavy backfill's events in the harness takes CPU from the services it measures.
   */
  collectRawEvents?: boolean;
}

export interface FetchStack {
  ns: string;
  prefix: string;
  sandbox: SandboxProcess;
  tokenVault: ServiceProcess;
  fetchers: ServiceProcess[];
  gateway: ServiceProcess;
  /** With `pipeline`: the enrichment and reconciliation processes and reconciliation's database. */
  enrichment?: ServiceProcess;
  reconciliation?: ServiceProcess;
  reconDb?: mongoose.Connection;
  base: string;
  admin: string;
  apiKey: string;
  /** data-fetcher's database (shared by its instances). */
  fetcherDb: mongoose.Connection;
  raw: RawCollector;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }>;
  /**
   * Moves the business clock of the simulator, token-vault and data-fetcher forward by `ms`, together: stops
   * token-vault and every data-fetcher (a process reads its clock spec only at start), advances the simulator's
   * clock offset (admin API), and starts them again on the same ports, databases and group ids with the spec
   * shifted by the same amount. `tokenVault` and `fetchers` then name the new processes. Call it when the stack is
   * idle: a run in flight is cut short by the stop.
   */
  advanceClock(ms: number): Promise<void>;
  /**
   * Stops one service process (`signal` SIGKILL: a crash, nothing flushed; SIGTERM: the graceful shutdown), waits
   * `downMs`, and starts it again with the same environment on the same ports (gRPC, HTTP, admin, metrics), as an
   * orchestrator restarts a container. The stack's field (`tokenVault`, `fetchers[i]`, `enrichment`,
   * `reconciliation`, `gateway`) then names the new process. Resolves with when it was stopped and when the new one
   * was ready (epoch ms).
   */
  restartService(name: RestartableService, o?: { signal?: 'SIGKILL' | 'SIGTERM'; downMs?: number; index?: number }): Promise<{ stoppedAt: number; readyAt: number }>;
  stop(): Promise<void>;
}

export type RestartableService = 'token-vault' | 'data-fetcher' | 'enrichment' | 'reconciliation' | 'auth-gateway';

/** `spec` with its simulated time moved `offsetMs` ahead (a `real` spec becomes a rate-1 scaled one). */
export function shiftedClockSpec(spec: string, offsetMs: number, realNow: number = Date.now()): string {
  const parsed = parseClockSpec(spec);
  if (parsed instanceof ClockSpecError) throw parsed;
  if (parsed.kind === 'real') return scaledClockSpec(realNow + offsetMs, 1, realNow);
  return formatClockSpec({ ...parsed, simAnchorMs: parsed.simAnchorMs + Math.round(offsetMs) });
}

/** Every raw event (unless `withRawEvents` is false) and every dead letter of the stack's topics, decoded, in arrival order. */
export class RawCollector {
  readonly events: eventsV1.RawDataEvent[] = [];
  readonly deadLetters: eventsV1.DeadLetter[] = [];
  private consumer: Consumer | undefined;
  private stopping = false;

  constructor(private readonly withRawEvents = true) {}

  async start(brokers: string[], prefix: string): Promise<void> {
    const binding = bindings.raw(prefix);
    const dlq = topicName(TOPICS.deadLetter, prefix);
    const kafka = new Kafka({ clientId: `raw-collector-${prefix}`, brokers, logLevel: logLevel.NOTHING });
    // A consumer that crashed (a broker restart) restarts itself on a timer; not once it is being stopped, or the
    // restart outlives the test that owns it.
    this.consumer = kafka.consumer({ groupId: `raw-collector-${prefix}`, maxWaitTimeInMs: 200, retry: { restartOnFailure: async () => !this.stopping } });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.withRawEvents ? [binding.topic, dlq] : [dlq], fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (!message.value) return;
        if (topic === dlq) this.deadLetters.push(eventsV1.DeadLetter.decode(message.value));
        else this.events.push(binding.codec.decode(message.value));
      },
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect();
  }
}

export async function startFetchStack(o: FetchStackOptions = {}): Promise<FetchStack> {
  const infra = stackEnv();
  const ns = uniqueSuffix();
  const prefix = `df${ns}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const procs: { pid: number; stop(graceMs?: number): Promise<number | string> }[] = [];
  const clock = o.clock ?? 'real';
  const sandbox = await startSandboxProcess({ SANDBOX_REDIRECT_URIS: `${base}/v1/callback`, ...(o.clock ? { SANDBOX_CLOCK: o.clock } : {}), ...(o.sandboxEnv ?? {}) });
  const credentialsPath = `ais/truelayer-${ns}`;
  await new Vault({ addr: infra['VAULT_ADDR']!, token: infra['VAULT_TOKEN']! }).kvWrite(credentialsPath, { client_id: sandbox.clientId, client_secret: sandbox.clientSecret });
  const tracing: Record<string, string> = o.tracing ? { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_SIMPLE_SPAN_PROCESSOR: 'true' } : { OTEL_TRACES_EXPORTER: 'none' };
  const common = { ...infra, LOG_LEVEL: 'info', KAFKA_TOPIC_PREFIX: prefix, KAFKA_CREATE_TOPICS: 'false', SHUTDOWN_TIMEOUT_MS: '10000', ...tracing };
  await provisionTopics({ brokers: infra['KAFKA_BROKERS']!, prefix });
  const raw = new RawCollector(o.collectRawEvents ?? true);
  await raw.start(infra['KAFKA_BROKERS']!.split(','), prefix);
  const stopAll = async (): Promise<void> => {
    await raw.stop().catch(() => undefined);
    await Promise.all(procs.map((p) => p.stop(5_000).catch(() => undefined)));
    await sandbox.stop();
  };
  /** The environment each running service process was started with (by PID), for `restartService`. */
  const envOf = new Map<number, Record<string, string>>();
  const startService = async (name: string, env: Record<string, string>, options: StartServiceOptions = {}): Promise<ServiceProcess> => {
    const p = await startTestService(name, env, { metrics: o.metrics ?? true, ...(o.startTimeoutMs ? { timeoutMs: o.startTimeoutMs } : {}), ...options });
    envOf.set(p.pid, env);
    return p;
  };
  try {
    const tvPort = await freePort();
    // CLOCK only when a clock is asked for (without the option, callers may pass CLOCK in tokenVaultEnv/fetcherEnv;
    // with it, the option wins)
    const clockEnv = (spec: string): Record<string, string> => (o.clock || spec !== clock ? { CLOCK: spec } : {});
    const tokenVaultEnv = (spec: string): Record<string, string> => ({
      ...common,
      MONGODB_DB: `tv_${ns}`,
      GRPC_PORT: String(tvPort),
      TRUELAYER_ENV: 'custom',
      TRUELAYER_AUTH_URL: sandbox.url,
      TRUELAYER_API_URL: sandbox.url,
      TRUELAYER_CREDENTIALS_PATH: credentialsPath,
      JOBS_INTERVAL_MS: '0',
      ...(o.tokenVaultEnv ?? {}),
      ...clockEnv(spec),
    });
    const fetcherEnv = (spec: string, grpcPort?: string): Record<string, string> => ({
      ...common,
      MONGODB_DB: `df_${ns}`,
      KAFKA_GROUP_ID: `data-fetcher-${ns}`,
      TOKEN_VAULT_ADDR: `127.0.0.1:${tvPort}`,
      TRUELAYER_ENV: 'custom',
      TRUELAYER_API_URL: sandbox.url,
      WEBHOOK_URI: `${base}/v1/webhooks/truelayer`,
      SCHEDULER_TICK_MS: '200',
      ...(o.fetcherEnv ?? {}),
      ...clockEnv(spec),
      ...(grpcPort ? { GRPC_PORT: grpcPort } : {}),
    });
    const tokenVault = await startService('token-vault', tokenVaultEnv(clock));
    procs.push(tokenVault);
    const fetchers = await Promise.all(Array.from({ length: o.fetchers ?? 1 }, () => startService('data-fetcher', fetcherEnv(clock))));
    procs.push(...fetchers);
    let enrichment: ServiceProcess | undefined;
    let reconciliation: ServiceProcess | undefined;
    if (o.pipeline) {
      enrichment = await startService('enrichment', { ...common, MONGODB_DB: `en_${ns}`, KAFKA_GROUP_ID: `enrichment-${ns}`, ...(o.enrichmentEnv ?? {}) });
      procs.push(enrichment);
      reconciliation = await startService('reconciliation', {
        ...common,
        MONGODB_DB: `rc_${ns}`,
        KAFKA_GROUP_ID: `reconciliation-${ns}`,
        ENRICHMENT_ADDR: `127.0.0.1:${String(enrichment.ready['grpcPort'])}`,
        ...(o.reconciliationEnv ?? {}),
      });
      procs.push(reconciliation);
    }
    const gateway = await startService('auth-gateway', {
      ...common,
      MONGODB_DB: `gw_${ns}`,
      HTTP_PORT: String(port),
      PUBLIC_BASE_URL: base,
      GATEWAY_KEYS_VAULT_PATH: `ais/auth-gateway-${ns}`,
      TOKEN_VAULT_ADDR: `127.0.0.1:${tvPort}`,
      DATA_FETCHER_ADDR: `127.0.0.1:${String(fetchers[0]!.ready['grpcPort'])}`,
      TRUELAYER_CLIENT_ID: sandbox.clientId,
      TRUELAYER_AUTH_BASE_URL: sandbox.url,
      TRUELAYER_PROVIDERS: 'uk-cs-mock,uk-ob-all',
      ...(reconciliation ? { RECONCILIATION_ADDR: `127.0.0.1:${String(reconciliation.ready['grpcPort'])}` } : {}),
      ...(o.gatewayEnv ?? {}),
    });
    procs.push(gateway);
    const admin = `http://127.0.0.1:${String(gateway.ready['adminPort'])}`;
    const created = await fetch(`${admin}/admin/api-clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `fetch-${ns}`, allowed_return_urls: ['https://app.example.test/done'] }),
    });
    if (created.status !== 201) throw new Error(`api client: HTTP ${created.status}`);
    const apiKey = ((await created.json()) as { api_key: string }).api_key;
    recordSecret('api-key', apiKey);
    const fetcherDb = mongoose.createConnection(infra['MONGODB_URI']!, { dbName: `df_${ns}` });
    await fetcherDb.asPromise();
    const reconDb = o.pipeline ? mongoose.createConnection(infra['MONGODB_URI']!, { dbName: `rc_${ns}` }) : undefined;
    await reconDb?.asPromise();
    const api: FetchStack['api'] = async (method, path, body, headers = {}) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    };
    let offsetMs = 0;
    /** Starts a replacement process, tracked for `stop` from its spawn on (also when it never gets ready). */
    const restart = async (old: ServiceProcess, name: string, env: Record<string, string>): Promise<ServiceProcess> => {
      await old.stop(10_000);
      const at = procs.findIndex((p) => p.pid === old.pid);
      if (at >= 0) procs.splice(at, 1);
      return startService(name, env, { onSpawn: (p) => procs.push(p) });
    };
    const stack: FetchStack = {
      ns,
      prefix,
      sandbox,
      tokenVault,
      fetchers,
      gateway,
      ...(enrichment ? { enrichment } : {}),
      ...(reconciliation ? { reconciliation } : {}),
      ...(reconDb ? { reconDb } : {}),
      base,
      admin,
      apiKey,
      fetcherDb,
      raw,
      api,
      async advanceClock(ms: number) {
        if (!Number.isFinite(ms) || ms <= 0) throw new RangeError('advanceClock(ms) needs a positive number of milliseconds');
        const ports = stack.fetchers.map((f) => String(f.ready['grpcPort']));
        // nothing may fetch while the simulator's time and theirs differ: both stopped first
        await Promise.all(stack.fetchers.map((f) => f.stop(10_000)));
        await stack.tokenVault.stop(10_000);
        await sandbox.admin('POST', '/clock/advance', { ms });
        offsetMs += ms;
        const spec = shiftedClockSpec(clock, offsetMs);
        stack.tokenVault = await restart(stack.tokenVault, 'token-vault', tokenVaultEnv(spec));
        for (const [i, port] of ports.entries()) stack.fetchers[i] = await restart(stack.fetchers[i]!, 'data-fetcher', fetcherEnv(spec, port));
      },
      async restartService(name, { signal = 'SIGKILL', downMs = 0, index = 0 } = {}) {
        const current = (): ServiceProcess | undefined =>
          ({ 'token-vault': stack.tokenVault, 'data-fetcher': stack.fetchers[index], enrichment: stack.enrichment, reconciliation: stack.reconciliation, 'auth-gateway': stack.gateway })[name];
        const old = current();
        if (!old) throw new Error(`restartService: no ${name} process${name === 'data-fetcher' ? ` #${index}` : ''} in this stack`);
        const env = envOf.get(old.pid);
        if (!env) throw new Error(`restartService: the environment of ${name} (pid ${old.pid}) is unknown`);
        // the same ports: clients hold the gRPC address, the gateway's public and admin URLs are the stack's
        const r = old.ready;
        const ports: Record<string, string> = {
          ...(r['grpcPort'] ? { GRPC_PORT: String(r['grpcPort']) } : {}),
          ...(r['httpPort'] ? { HTTP_PORT: String(r['httpPort']) } : {}),
          ...(r['adminPort'] ? { ADMIN_PORT: String(r['adminPort']) } : {}),
          ...(r['metricsPort'] ? { METRICS_PORT: String(r['metricsPort']) } : {}),
        };
        if (signal === 'SIGKILL') {
          // our own child, by its PID
          process.kill(old.pid, 'SIGKILL');
          await old.exited;
        } else {
          await old.stop(10_000);
        }
        const stoppedAt = Date.now();
        const at = procs.findIndex((p) => p.pid === old.pid);
        if (at >= 0) procs.splice(at, 1);
        envOf.delete(old.pid);
        if (downMs > 0) await new Promise((res) => setTimeout(res, downMs));
        // a consumer's replacement joins its group only once the killed member is gone from it (session and
        // rebalance timeouts of up to a minute): more than startService's default wait
        const next = await startService(name, { ...env, ...ports }, { onSpawn: (p) => procs.push(p), timeoutMs: 180_000 });
        const readyAt = Date.now();
        if (name === 'token-vault') stack.tokenVault = next;
        else if (name === 'data-fetcher') stack.fetchers[index] = next;
        else if (name === 'enrichment') stack.enrichment = next;
        else if (name === 'reconciliation') stack.reconciliation = next;
        else stack.gateway = next;
        return { stoppedAt, readyAt };
      },
      async stop() {
        await fetcherDb.close().catch(() => undefined);
        await reconDb?.close().catch(() => undefined);
        await stopAll();
      },
    };
    return stack;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until data-fetcher's post-consent fetch of `connectionId` has ended (`done` or `partial` in its support report). */
export async function waitForBackfill(s: Pick<FetchStack, 'admin'>, connectionId: string, timeoutMs: number): Promise<void> {
  await waitFor(
    'the post-consent fetch',
    async () => {
      const res = await fetch(`${s.admin}/admin/connections/${encodeURIComponent(connectionId)}/support-report`, { headers: { accept: 'application/json' } });
      const r = (await res.json()) as Record<string, unknown>;
      return r['backfill'] === 'done' || r['backfill'] === 'partial' ? true : undefined;
    },
    timeoutMs,
    1_000,
  );
}

/**
 * Waits until reconciliation has applied and published everything the fetcher produced so far for `userId`: its
 * user state's seq, committed and published seq agree, and they and the raw-event count have not moved for 3 s.
 */
export async function waitForStoreSettled(
  store: { userState(userId: string): Promise<{ seq?: number; committedSeq?: number } | null> },
  userId: string,
  rawEvents: () => number,
  what: string,
  timeoutMs: number,
): Promise<void> {
  let last = '';
  let stableSince = 0;
  await waitFor(
    what,
    async () => {
      const st = await store.userState(userId);
      const published = (st as { publishedSeq?: number } | null)?.publishedSeq ?? 0;
      const sig = `${st?.seq ?? 0}/${st?.committedSeq ?? 0}/${published}/${rawEvents()}`;
      if (sig !== last) {
        last = sig;
        stableSince = Date.now();
        return undefined;
      }
      return st && st.committedSeq === st.seq && published === st.committedSeq && Date.now() - stableSince > 3_000 ? true : undefined;
    },
    timeoutMs,
    500,
  );
}

type Json = Record<string, unknown>;

/** The read API as a test walks it for one user: GET that throws on non-200, every page of transactions, the feed. */
export function readApi(s: Pick<FetchStack, 'api'>, userId: string) {
  const user = encodeURIComponent(userId);
  const get = async (path: string): Promise<Json> => {
    const r = await s.api('GET', path);
    if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  /** Every page of the user's live transactions (the read API's keyset pagination); `query` starts with `&`. */
  const allTransactions = async (query = ''): Promise<Json[]> => {
    const out: Json[] = [];
    let token = '';
    for (let i = 0; i < 1000; i += 1) {
      const page = await get(`/v1/users/${user}/transactions?page_size=500${query}${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
      out.push(...(page['transactions'] as Json[]));
      token = String(page['next_page_token'] ?? '');
      if (!token) return out;
    }
    throw new Error('pagination did not end');
  };
  /** Follows the change feed from `cursor` to its end. */
  const changesSince = async (cursor: string): Promise<{ added: Json[]; modified: Json[]; removed: Json[]; accounts: Json[]; cursor: string }> => {
    const acc = { added: [] as Json[], modified: [] as Json[], removed: [] as Json[], accounts: [] as Json[], cursor };
    for (let i = 0; i < 1000; i += 1) {
      const page = await get(`/v1/users/${user}/changes?count=500${acc.cursor ? `&cursor=${encodeURIComponent(acc.cursor)}` : ''}`);
      acc.added.push(...(page['added'] as Json[]));
      acc.modified.push(...(page['modified'] as Json[]));
      acc.removed.push(...(page['removed'] as Json[]));
      acc.accounts.push(...((page['accounts'] as Json[] | undefined) ?? []));
      acc.cursor = String(page['next_cursor']);
      if (page['has_more'] !== true) return acc;
    }
    throw new Error('the change feed did not end');
  };
  return { get, allTransactions, changesSince };
}
