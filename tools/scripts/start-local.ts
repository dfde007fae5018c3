/*
 * The main job: the whole platform on embedded defaults against the TrueLayer simulator.
 * Starts the simulator and the five services against the local stack (.infra/stack.env), seeds Vault with the
 * simulator's client credentials, creates an API client, connects a mock bank user end to end (auth link →
 * simulator dialog → callback → token-vault), sends a pipeline probe, and prints every URL to open.
 */
import { freePort, readStackEnv, startSandboxProcess, startService, type SandboxProcess, type ServiceProcess } from '@ais/testing';
import { Vault } from '@ais/platform-vault';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const once = process.argv.includes('--once');
const root = join(__dirname, '../..');

async function main(): Promise<void> {
  const stack = readStackEnv(join(root, '.infra/stack.env'));
  const procs: Array<ServiceProcess | SandboxProcess> = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
  try {
    const gwPort = await freePort();
    const gwBase = `http://127.0.0.1:${gwPort}`;
    const sandbox = await startSandboxProcess({ SANDBOX_REDIRECT_URIS: `${gwBase}/v1/callback` });
    procs.push(sandbox);
    const vault = new Vault({ addr: stack.VAULT_ADDR, token: stack.VAULT_TOKEN });
    await vault.kvWrite('ais/truelayer', { client_id: sandbox.clientId, client_secret: sandbox.clientSecret });

    const common: Record<string, string> = { ...stack, OTEL_TRACES_EXPORTER: 'zipkin', LOG_LEVEL: 'info' };
    const [tv, df, en, rc] = await Promise.all([
      startService('token-vault', { ...common, TRUELAYER_ENV: 'custom', TRUELAYER_AUTH_URL: sandbox.url, TRUELAYER_API_URL: sandbox.url }),
      startService('data-fetcher', common),
      startService('enrichment', common),
      startService('reconciliation', common),
    ]);
    procs.push(tv!, df!, en!, rc!);
    const gw = await startService('auth-gateway', {
      ...common,
      HTTP_PORT: String(gwPort),
      PUBLIC_BASE_URL: gwBase,
      TOKEN_VAULT_ADDR: `127.0.0.1:${String(tv!.ready['grpcPort'])}`,
      DATA_FETCHER_ADDR: `127.0.0.1:${String(df!.ready['grpcPort'])}`,
      TRUELAYER_CLIENT_ID: sandbox.clientId,
      TRUELAYER_AUTH_BASE_URL: sandbox.url,
      TRUELAYER_PROVIDERS: 'uk-cs-mock,uk-ob-all',
    });
    procs.push(gw);
    const admin = `http://127.0.0.1:${String(gw.ready['adminPort'])}`;
    for (const p of [tv!, df!, en!, rc!, gw]) {
      console.log(`${p.name.padEnd(15)} pid ${p.pid}  ${JSON.stringify({ grpcPort: p.ready['grpcPort'], httpPort: p.ready['httpPort'], adminPort: p.ready['adminPort'] })}`);
    }
    console.log(`truelayer-sandbox ${sandbox.url}`);

    // An API client (the product's backend) and one connected mock-bank user, through the real redirect.
    const created = (await (await fetch(`${admin}/admin/api-clients`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'local-demo', allowed_return_urls: ['http://127.0.0.1/return'] }) })).json()) as { api_key: string };
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${gwBase}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${created.api_key}`, ...(init.headers ?? {}) } });
    const session = (await (await api('/v1/users/demo-user/connect-sessions', { method: 'POST', body: JSON.stringify({ dialog: 'truelayer', return_url: 'http://127.0.0.1/return' }) })).json()) as { url: string };
    const authorized = (await (await fetch(`${sandbox.url}/__admin/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth_url: session.url, username: 'john', password: 'doe', provider_id: 'ob-barclays' }) })).json()) as { redirect_url: string };
    const callback = await fetch(authorized.redirect_url, { redirect: 'manual' });
    const connections = (await (await api('/v1/users/demo-user/connections')).json()) as unknown;
    console.log(`connect journey: callback HTTP ${callback.status}; connections of demo-user: ${JSON.stringify(connections)}`);

    const res = await fetch(`${admin}/diagnostics/probes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ origin: 'start-local' }) });
    const probe = (await res.json()) as { probe_id: string; trace_id: string };
    let recorded: unknown;
    for (let i = 0; i < 80 && !recorded; i += 1) {
      const r = await fetch(`${admin}/diagnostics/probes/${probe.probe_id}`);
      if (r.ok) recorded = await r.json();
      else await new Promise((r2) => setTimeout(r2, 250));
    }
    console.log(`probe ${probe.probe_id} recorded by data-fetcher: ${JSON.stringify(recorded)}`);
    console.log(`trace of the probe: ${stack.ZIPKIN_URL}/zipkin/traces/${probe.trace_id}`);
    console.log(`traces UI:          ${stack.ZIPKIN_URL}/zipkin/`);
    const keyFile = join(root, '.infra/demo-api-key');
    writeFileSync(keyFile, `${created.api_key}\n`, { mode: 0o600 });
    console.log(`gateway:            ${gwBase}/v1/openapi.json   (API key of the local-demo client: ${keyFile})`);
    if (!recorded) throw new Error('the probe did not reach data-fetcher');
    if (once) {
      await stop();
      return;
    }
    console.log('running; Ctrl-C stops the services (the servers keep running: npm run stack:down stops them)');
    await new Promise(() => undefined);
  } catch (error) {
    console.error(error);
    await stop();
    process.exit(1);
  }
}

void main();
