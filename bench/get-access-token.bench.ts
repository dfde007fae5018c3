/**
 * Benchmark: token-vault GetAccessToken on the cached path (token valid, decrypted copy in memory; one MongoDB
 * read per call to see revocations and refreshes at once) next to a bare grpc-js echo, same client, same
 * concurrency, same mTLS (certificates from the stack's Vault PKI), same run. Writes bench/results/get-access-token.json and prints both side by side.
 *
 * token-vault runs with its image's memory settings (bench/proc.ts `runEnv`; BENCH_IMAGE_ENV=0: V8's defaults).
 *
 * Run: npm run bench   (reuses a running stack from .infra/stack.env, or starts a private one)
 */
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { Vault } from '@ais/platform-vault';
import { ensureStack, stackGrpcTls, startSandboxProcess, stopStack, REPO_ROOT } from '@ais/testing';
import { buildAuthLink, createPkcePair, parseAuthRedirect } from '@ais/truelayer-client';
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startService } from '@ais/testing';
import { ECHO_DEFINITION } from './echo-server';
import { resultsDir, runEnv, servicesRuntime } from './proc';

const DURATION_MS = Number(process.env['BENCH_DURATION_MS'] ?? 10_000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 32);
const WARMUP_MS = 2_000;

interface Result {
  name: string;
  calls: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function load(name: string, call: () => Promise<unknown>): Promise<Result> {
  const warmEnd = Date.now() + WARMUP_MS;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < warmEnd) await call();
  }));
  const latencies: number[] = [];
  let errors = 0;
  const start = process.hrtime.bigint();
  const end = Date.now() + DURATION_MS;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < end) {
      const t = process.hrtime.bigint();
      try {
        await call();
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      } catch {
        errors += 1;
      }
    }
  }));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  latencies.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { name, calls: latencies.length, errors, seconds: r(seconds), throughput: Math.round(latencies.length / seconds), p50_ms: r(pct(latencies, 50)), p90_ms: r(pct(latencies, 90)), p99_ms: r(pct(latencies, 99)), max_ms: r(latencies.at(-1) ?? NaN) };
}

async function main(): Promise<void> {
  const stack = await ensureStack((m) => console.log(m));
  const sandbox = await startSandboxProcess();
  const ns = Date.now().toString(36);
  const vault = new Vault({ addr: stack.env.VAULT_ADDR, token: stack.env.VAULT_TOKEN });
  await vault.kvWrite(`bench/${ns}/truelayer`, { client_id: sandbox.clientId, client_secret: sandbox.clientSecret });
  const tv = await startService('token-vault', {
    ...runEnv('token-vault'),
    ...stack.env,
    MONGODB_DB: `bench_${ns}`,
    KAFKA_TOPIC_PREFIX: `bench${ns}`,
    OTEL_TRACES_EXPORTER: 'none',
    LOG_LEVEL: 'info',
    TRUELAYER_ENV: 'custom',
    TRUELAYER_AUTH_URL: sandbox.url,
    TRUELAYER_API_URL: sandbox.url,
    TRUELAYER_CREDENTIALS_PATH: `bench/${ns}/truelayer`,
    JOBS_INTERVAL_MS: '0',
  });
  const echo = spawn(process.execPath, ['--require', 'tsx/cjs', join(REPO_ROOT, 'bench/echo-server.ts')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, VAULT_ADDR: stack.env.VAULT_ADDR, VAULT_TOKEN: stack.env.VAULT_TOKEN } });
  // GetAccessToken is data-fetcher's; the exchange that makes the connection is auth-gateway's
  const [asFetcher, asGateway] = await Promise.all([stackGrpcTls(stack.env as unknown as Record<string, string>, 'data-fetcher'), stackGrpcTls(stack.env as unknown as Record<string, string>, 'auth-gateway')]);
  const toVault = asFetcher.channel('token-vault');
  const gw = asGateway.channel('token-vault');
  const echoPort = await new Promise<number>((resolve) => echo.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString())['grpcPort'] as number)));
  try {
    const client = new tokenvaultV1.TokenVaultServiceClient(`127.0.0.1:${String(tv.ready['grpcPort'])}`, toVault.credentials, toVault.options);
    const gateway = new tokenvaultV1.TokenVaultServiceClient(`127.0.0.1:${String(tv.ready['grpcPort'])}`, gw.credentials, gw.options);
    const unary = <Req, Res>(fn: (r: Req, cb: (e: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req) =>
      new Promise<Res>((resolve, reject) => fn(req, (e, res) => (e ? reject(e) : resolve(res))));
    const pkce = createPkcePair();
    const url = buildAuthLink(sandbox.url, { clientId: sandbox.clientId, redirectUri: sandbox.redirectUri, scope: ['info', 'accounts', 'offline_access'], providers: ['uk-ob-all'], providerId: 'ob-barclays', state: 's', codeChallenge: pkce.codeChallenge, codeChallengeMethod: 'S256' });
    const done = (await (await fetch(`${sandbox.url}/__admin/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth_url: url, username: 'john', password: 'doe' }) })).json()) as { redirect_url: string };
    const redirect = parseAuthRedirect(done.redirect_url, 's');
    if (!redirect.ok) throw new Error('authorize failed');
    const ex = await unary<tokenvaultV1.ExchangeCodeRequest, tokenvaultV1.ExchangeCodeResponse>(gateway.exchangeCode.bind(gateway), { clientId: 'bench', userId: 'u', authorizationCode: redirect.code, redirectUri: sandbox.redirectUri, codeVerifier: pkce.codeVerifier, previousConnectionId: '', psuIp: '' });
    const connectionId = ex.connection!.connectionId;

    const echoClient = new (grpc.makeGenericClientConstructor(ECHO_DEFINITION, 'Echo'))(`127.0.0.1:${echoPort}`, toVault.credentials, toVault.options) as unknown as { Echo: (r: Buffer, cb: (e: grpc.ServiceError | null, r: Buffer) => void) => void };
    const payload = tokenvaultV1.GetAccessTokenRequest.encode({ connectionId, forceRefresh: false }).finish();
    const results: Result[] = [];
    // alternate B A B A: the pair's ratio holds even if the machine's speed drifts
    for (let round = 0; round < 2; round += 1) {
      results.push(await load('bare gRPC echo', () => unary<Buffer, Buffer>(echoClient.Echo.bind(echoClient), Buffer.from(payload))));
      results.push(await load('GetAccessToken (cached)', () => unary(client.getAccessToken.bind(client), { connectionId, forceRefresh: false })));
    }
    client.close();
    gateway.close();
    const best = (name: string) => results.filter((r) => r.name === name).sort((a, b) => b.throughput - a.throughput)[0]!;
    const rows = [best('bare gRPC echo'), best('GetAccessToken (cached)')];
    const out = {
      benchmark: 'token-vault GetAccessToken, cached path, vs bare gRPC echo',
      at: new Date().toISOString(),
      machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
      services_runtime: servicesRuntime(),
      concurrency: CONCURRENCY,
      duration_ms: DURATION_MS,
      runs: results,
      best: rows,
      ratio_throughput: Math.round((rows[1]!.throughput / rows[0]!.throughput) * 1000) / 1000,
    };
    writeFileSync(join(resultsDir(), 'get-access-token.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nconcurrency ${CONCURRENCY}, ${DURATION_MS / 1000}s per run, best of 2 runs each (alternating)`);
    console.log('name                       calls/s   p50 ms   p90 ms   p99 ms   errors');
    for (const r of rows) console.log(`${r.name.padEnd(26)} ${String(r.throughput).padStart(7)} ${String(r.p50_ms).padStart(8)} ${String(r.p90_ms).padStart(8)} ${String(r.p99_ms).padStart(8)} ${String(r.errors).padStart(8)}`);
    console.log(`GetAccessToken / echo throughput: ${out.ratio_throughput}`);
  } finally {
    echo.kill('SIGTERM');
    await tv.stop();
    await sandbox.stop();
    await stopStack(stack);
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
