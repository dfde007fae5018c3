/*
 * Property-based fuzzing of the auth-gateway from its own OpenAPI document (run by tools/scripts/fuzz-gateway.sh,
 * which installs schemathesis and passes `--st <path>`; the integration spec calls runFuzz()).
 *
 * Starts the TrueLayer simulator and token-vault, data-fetcher, enrichment, reconciliation and the gateway against
 * the stack's servers (KAFKA_BROKERS, MONGODB_URI, VAULT_ADDR, VAULT_TOKEN, ZIPKIN_URL in the environment) in a
 * namespace of their own (topics, databases, Vault paths), creates an API client, connects one mock-bank user (so
 * the caller API has a real user and connection to answer about), checks the served document against the official
 * OpenAPI 3.1 schema (bundled with schemathesis), then runs schemathesis with a fixed seed and example count and the
 * checks in CHECKS.
 * Everything it started is stopped by PID (also on SIGINT/SIGTERM). The gateway's log lines of level error are
 * counted too: a 5xx the fuzzer did not see as one must not hide there.
 */
import { connectMockUser, freePort, pidAlive, provisionTopics, startSandboxProcess, startService, type ServiceProcess } from '@ais/testing';
import { Vault } from '@ais/platform-vault';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface FuzzOptions {
  /** The schemathesis `st` binary. */
  st: string;
  maxExamples: number;
  seed: number;
  /** Where schemathesis' reports, its output and the summary go. */
  reportDir: string;
  /** The stack's servers (KAFKA_BROKERS, MONGODB_URI, VAULT_ADDR, VAULT_TOKEN, ZIPKIN_URL, ...). */
  stack: Record<string, string>;
  log?: (line: string) => void;
}

export interface FuzzResult {
  exitCode: number;
  /** Requests schemathesis sent, by status code class. */
  requests: number;
  statuses: Record<string, number>;
  /** Failed checks, by check name (empty when all passed). */
  failures: Record<string, number>;
  /** Results of each check, by check name. */
  checked: Record<string, { success: number; failure: number; skip: number }>;
  /** Operations schemathesis tested. */
  operations: number;
  /** Gateway log lines at error level or above during the run. */
  gatewayErrors: number;
  /** Errors of the OpenAPI 3.1 schema validation of the served document. */
  documentErrors: string[];
  seconds: number;
  output: string;
}

/** No 5xx; status, content type and body as documented; an undocumented method is a 405 with Allow; OPTIONS' Allow is the documented set. */
export const CHECKS = ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance', 'unsupported_method', 'allow_header_conformance'];
const STACK_KEYS = ['KAFKA_BROKERS', 'MONGODB_URI', 'VAULT_ADDR', 'VAULT_TOKEN', 'ZIPKIN_URL', 'OTEL_EXPORTER_ZIPKIN_ENDPOINT'];
const RETURN_URL = 'https://app.fuzz.test/connected';

function run(cmd: string, args: string[], opts: { input?: string; onLine?: (l: string) => void; cwd?: string } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', PYTHONUNBUFFERED: '1' } });
    let out = '';
    let partial = '';
    const take = (chunk: Buffer) => {
      const text = chunk.toString();
      out += text;
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) opts.onLine?.(l);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, out }));
    child.stdin.end(opts.input ?? '');
  });
}

/** Validates `doc` against the OpenAPI 3.1 schema schemathesis bundles (with the venv's jsonschema_rs). */
async function documentErrors(st: string, doc: unknown): Promise<string[]> {
  const python = join(dirname(st), 'python');
  const script = [
    'import json, sys, jsonschema_rs',
    'from schemathesis.specs.openapi.definitions import OPENAPI_31',
    'doc = json.load(sys.stdin)',
    'errors = [f"{\'/\'.join(map(str, e.instance_path))}: {e.message}" for e in jsonschema_rs.validator_for(OPENAPI_31).iter_errors(doc)]',
    'print(json.dumps(errors))',
  ].join('\n');
  const r = await run(python, ['-c', script], { input: JSON.stringify(doc) });
  if (r.code !== 0) return [`validator failed: ${r.out.trim().split('\n').slice(-1)[0] ?? ''}`];
  return JSON.parse(r.out.trim().split('\n').slice(-1)[0] ?? '[]') as string[];
}

/** Counts from schemathesis' ndjson event stream: requests by status class, check results, operations. */
export function summarise(ndjson: string): Pick<FuzzResult, 'requests' | 'statuses' | 'failures' | 'checked' | 'operations'> {
  const statuses: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const operations = new Set<string>();
  let requests = 0;
  const walk = (v: unknown, visit: (o: Record<string, unknown>) => void): void => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, visit));
    else if (v && typeof v === 'object') {
      visit(v as Record<string, unknown>);
      Object.values(v).forEach((x) => walk(x, visit));
    }
  };
  const checked: Record<string, { success: number; failure: number; skip: number }> = {};
  const seenInteractions = new Set<string>();
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as Record<string, unknown>;
    walk(event, (o) => {
      if (typeof o['label'] === 'string' && /^(GET|POST|PUT|PATCH|DELETE) \//.test(o['label'])) operations.add(o['label']);
      const response = o['response'] as Record<string, unknown> | undefined;
      const req = o['request'] as Record<string, unknown> | undefined;
      if (response && req && typeof response['status_code'] === 'number') {
        const key = `${String(req['method'])} ${String(req['uri'])} ${String(o['recorded_at'] ?? '')} ${String(response['elapsed'] ?? '')}`;
        if (!seenInteractions.has(key)) {
          seenInteractions.add(key);
          requests += 1;
          const cls = `${String(response['status_code']).slice(0, 1)}xx`;
          statuses[cls] = (statuses[cls] ?? 0) + 1;
        }
      }
      if (typeof o['name'] === 'string' && CHECKS.includes(o['name']) && typeof o['status'] === 'string') {
        const done = (checked[o['name']] ??= { success: 0, failure: 0, skip: 0 });
        if (o['status'] === 'success' || o['status'] === 'failure' || o['status'] === 'skip') done[o['status']] += 1;
        if (o['status'] === 'failure') failures[o['name']] = (failures[o['name']] ?? 0) + 1;
      }
    });
  }
  return { requests, statuses, failures, checked, operations: operations.size };
}

/** The fuzz user's ids once its bank data has arrived (accounts and transactions may be missing if it did not in time). */
async function knownIds(base: string, apiKey: string, connectionId: string, log: (l: string) => void): Promise<Record<string, string[]>> {
  const get = async (path: string) => {
    const r = await fetch(`${base}/v1/users/fuzz-user${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
    return r.ok ? ((await r.json()) as Record<string, unknown>) : {};
  };
  const ids: Record<string, string[]> = { users: ['fuzz-user'], connections: [connectionId] };
  for (let i = 0; i < 120; i += 1) {
    const txs = ((await get('/transactions?page_size=5'))['transactions'] ?? []) as { transaction_id: string; account_id: string }[];
    if (txs.length > 0) {
      ids['transactions'] = txs.map((t) => t.transaction_id);
      ids['accounts'] = [...new Set(txs.map((t) => t.account_id))];
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  log(ids['transactions'] ? `fuzz-user has data: accounts ${ids['accounts']!.length}, transactions ${ids['transactions'].length} (used as examples)` : 'fuzz-user has no transactions yet: account and transaction ids are generated only');
  return ids;
}

/**
 * schemathesis.toml: reads and edits use the fuzz user's real ids part of the time (the rest generated), so that
 * 2xx answers are checked against the document too; DELETEs only get generated ids (they would erase the fuzz user).
 */
function schemathesisConfig(ids: Record<string, string[]>): string {
  const params = { users: 'userId', connections: 'connectionId', accounts: 'accountId', transactions: 'transactionId' } as const;
  const lines: string[] = [];
  for (const [dict, values] of Object.entries(ids)) lines.push(`[dictionaries.${dict}]`, `values = ${JSON.stringify(values)}`, '');
  const bindings = Object.entries(params)
    .filter(([dict]) => ids[dict])
    .map(([dict, name]) => `"path.${name}" = { dictionary = "${dict}", probability = 0.7 }`);
  lines.push('[[operations]]', 'include-method-regex = "^(GET|POST|PATCH)$"', `parameters = { ${bindings.join(', ')} }`, '');
  return lines.join('\n');
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`[fuzz] ${l}\n`));
  const t0 = Date.now();
  for (const k of STACK_KEYS) if (!opts.stack[k]) throw new Error(`${k} is not set: start the stack (npm run stack:up) and set AIS_STACK_ENV, or export the stack's variables`);
  const stack = Object.fromEntries(STACK_KEYS.map((k) => [k, opts.stack[k]!]));
  mkdirSync(opts.reportDir, { recursive: true });
  const ns = randomBytes(4).toString('hex');
  const started: Array<{ name: string; pid: number; stop(graceMs?: number): Promise<unknown> }> = [];
  const track = (p: { name: string; pid: number; stop(graceMs?: number): Promise<unknown> }) => {
    started.push(p);
    log(`spawned ${p.name} pid ${p.pid}`);
  };
  const stopAll = async () => {
    await Promise.all(started.map((p) => p.stop(15_000).catch(() => undefined)));
    const left = started.filter((p) => pidAlive(p.pid));
    log(left.length > 0 ? `WARNING: still running: ${left.map((p) => `${p.name} pid ${p.pid}`).join(', ')}` : `stopped ${started.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
  };
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let gateway: ServiceProcess | undefined;
  try {
    const prefix = `fz${ns}`;
    await provisionTopics({ brokers: stack['KAFKA_BROKERS']!, prefix });
    const gwPort = await freePort();
    const base = `http://127.0.0.1:${gwPort}`;
    const sandbox = await startSandboxProcess({ SANDBOX_REDIRECT_URIS: `${base}/v1/callback` });
    track({ name: 'truelayer-sandbox', pid: sandbox.pid, stop: () => sandbox.stop() });
    const credentialsPath = `ais/truelayer-fuzz-${ns}`;
    await new Vault({ addr: stack['VAULT_ADDR']!, token: stack['VAULT_TOKEN']! }).kvWrite(credentialsPath, { client_id: sandbox.clientId, client_secret: sandbox.clientSecret });
    const common = { ...stack, LOG_LEVEL: 'info', KAFKA_TOPIC_PREFIX: prefix, OTEL_TRACES_EXPORTER: 'none', SHUTDOWN_TIMEOUT_MS: '10000' };
    const service = (name: string, env: Record<string, string>) => startService(name, { ...common, MONGODB_DB: `${name.replace(/-/g, '_')}_fz_${ns}`, ...env }, { timeoutMs: 90_000, onSpawn: track });
    const tl = { TRUELAYER_ENV: 'custom', TRUELAYER_AUTH_URL: sandbox.url, TRUELAYER_API_URL: sandbox.url, TRUELAYER_CREDENTIALS_PATH: credentialsPath };
    const tv = await service('token-vault', { ...tl, JOBS_INTERVAL_MS: '0' });
    const tvAddr = `127.0.0.1:${String(tv.ready['grpcPort'])}`;
    const en = await service('enrichment', {});
    const [df, rc] = await Promise.all([
      service('data-fetcher', { ...tl, TOKEN_VAULT_ADDR: tvAddr, WEBHOOK_URI: `${base}/v1/webhooks/truelayer` }),
      service('reconciliation', { ENRICHMENT_ADDR: `127.0.0.1:${String(en.ready['grpcPort'])}` }),
    ]);
    gateway = await service('auth-gateway', {
      HTTP_PORT: String(gwPort),
      PUBLIC_BASE_URL: base,
      GATEWAY_KEYS_VAULT_PATH: `ais/auth-gateway-fuzz-${ns}`,
      TOKEN_VAULT_ADDR: tvAddr,
      DATA_FETCHER_ADDR: `127.0.0.1:${String(df.ready['grpcPort'])}`,
      RECONCILIATION_ADDR: `127.0.0.1:${String(rc.ready['grpcPort'])}`,
      TRUELAYER_CLIENT_ID: sandbox.clientId,
      TRUELAYER_AUTH_BASE_URL: sandbox.url,
      TRUELAYER_PROVIDERS: 'uk-cs-mock,uk-ob-all',
    });
    log(`services ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);

    const admin = `http://127.0.0.1:${String(gateway.ready['adminPort'])}`;
    const created = await fetch(`${admin}/admin/api-clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'fuzz', rate_limit_per_minute: 100_000, allowed_return_urls: [RETURN_URL] }),
    });
    if (created.status !== 201) throw new Error(`creating the API client answered ${created.status}`);
    const apiKey = ((await created.json()) as { api_key: string }).api_key;
    const user = await connectMockUser({ gatewayUrl: base, apiKey, simulatorUrl: sandbox.url, userId: 'fuzz-user', username: 'john', password: 'doe', returnUrl: RETURN_URL });
    log(`connected fuzz-user (connection ${user.connectionId})`);

    const ids = await knownIds(base, apiKey, user.connectionId, log);
    const configFile = join(opts.reportDir, 'schemathesis.toml');
    writeFileSync(configFile, schemathesisConfig(ids));

    const doc = (await (await fetch(`${base}/v1/openapi.json`)).json()) as unknown;
    writeFileSync(join(opts.reportDir, 'openapi.json'), JSON.stringify(doc, null, 2));
    const docErrors = await documentErrors(opts.st, doc);
    log(docErrors.length === 0 ? 'the served document is valid OpenAPI 3.1' : `the served document is NOT valid OpenAPI 3.1: ${docErrors.join('; ')}`);

    // Two passes: the DELETEs last, so that erasing or revoking what the first pass found (schemathesis reuses ids
    // from earlier answers) does not leave the reads and edits nothing but 404s.
    const passes = [
      { name: 'reads-and-edits', filter: ['--exclude-method', 'DELETE'] },
      { name: 'deletes', filter: ['--include-method', 'DELETE'] },
    ];
    let exitCode = 0;
    let output = '';
    const counts: Pick<FuzzResult, 'requests' | 'statuses' | 'failures' | 'checked' | 'operations'> = { requests: 0, statuses: {}, failures: {}, checked: {}, operations: 0 };
    for (const pass of passes) {
      const ndjsonPath = join(opts.reportDir, `${pass.name}.ndjson`);
      const args = [
        '--config-file', configFile,
        'run',
        `${base}/v1/openapi.json`,
        ...pass.filter,
        '--checks', CHECKS.join(','),
        '--max-examples', String(opts.maxExamples),
        '--seed', String(opts.seed),
        '--workers', '1',
        '--phases', 'examples,coverage,fuzzing',
        '--request-timeout', '30',
        '--continue-on-failure',
        '--suppress-health-check', 'all',
        '--header', `Authorization: Bearer ${apiKey}`,
        '--report', 'junit,ndjson',
        '--report-junit-path', join(opts.reportDir, `${pass.name}.junit.xml`),
        '--report-ndjson-path', ndjsonPath,
        '--output-sanitize', 'true',
      ];
      log(`schemathesis (${pass.name}): ${args.filter((a) => !a.startsWith('Authorization')).join(' ')}`);
      // in the report directory: schemathesis keeps its cache (.schemathesis/) in the working directory
      const st = await run(opts.st, args, { cwd: opts.reportDir, onLine: (l) => log(`st | ${l}`) });
      output += st.out;
      exitCode = Math.max(exitCode, st.code);
      const c = summarise(readFileSync(ndjsonPath, 'utf8'));
      counts.requests += c.requests;
      counts.operations += c.operations;
      for (const [k, n] of Object.entries(c.statuses)) counts.statuses[k] = (counts.statuses[k] ?? 0) + n;
      for (const [k, n] of Object.entries(c.failures)) counts.failures[k] = (counts.failures[k] ?? 0) + n;
      for (const [k, r] of Object.entries(c.checked)) {
        const t = (counts.checked[k] ??= { success: 0, failure: 0, skip: 0 });
        t.success += r.success;
        t.failure += r.failure;
        t.skip += r.skip;
      }
    }
    writeFileSync(join(opts.reportDir, 'schemathesis.txt'), output);
    const gatewayErrors = gateway.logs.filter((l) => typeof l['level'] === 'string' ? ['error', 'fatal'].includes(l['level']) : Number(l['level']) >= 50).length;
    const result: FuzzResult = { exitCode, ...counts, gatewayErrors, documentErrors: docErrors, seconds: Math.round((Date.now() - t0) / 1000), output };
    writeFileSync(join(opts.reportDir, 'summary.json'), JSON.stringify({ seed: opts.seed, maxExamples: opts.maxExamples, checks: CHECKS, ...result, output: undefined }, null, 2));
    writeFileSync(join(opts.reportDir, 'gateway.log'), gateway.output());
    return result;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopAll();
  }
}

if (require.main === module) {
  const arg = (name: string, fallback: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
  };
  const st = arg('--st', '');
  if (!st) {
    console.error('usage: fuzz-gateway.ts --st <schemathesis st> [--max-examples N] [--seed S] [--report DIR] (use tools/scripts/fuzz-gateway.sh)');
    process.exit(2);
  }
  const opts = {
    st,
    maxExamples: Number(arg('--max-examples', '20')),
    seed: Number(arg('--seed', '20261201')),
    reportDir: resolve(arg('--report', 'tmp/fuzz-gateway')),
    stack: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
  };
  runFuzz(opts)
    .then((r) => {
      const ok = r.exitCode === 0 && Object.keys(r.failures).length === 0 && r.documentErrors.length === 0;
      console.log(
        `[fuzz] seed ${opts.seed}, ${opts.maxExamples} examples per operation: ${r.operations} operations, ${r.requests} requests (${JSON.stringify(r.statuses)}), ` +
          `failed checks ${JSON.stringify(r.failures)}, gateway error lines ${r.gatewayErrors}, ${r.seconds}s; reports in ${opts.reportDir}: ${ok ? 'PASSED' : 'FAILED'}`,
      );
      process.exit(ok ? 0 : 1);
    })
    .catch((error: unknown) => {
      console.error(`[fuzz] FAILED: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    });
}
