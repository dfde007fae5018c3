/**
 * The walking skeleton end to end, on the real servers, with every service a real process:
 * HTTP → auth-gateway → gRPC → token-vault → Kafka → data-fetcher → MongoDB, found as ONE trace in Zipkin.
 * Also: every service boots, reports health, and exits 0 on SIGTERM.
 */
import { checkHealth } from '@ais/platform-grpc';
import { stackGrpcTls } from '@ais/testing';
import { freePort, provisionTopics, REPO_ROOT, servicesIn, startService, waitForTrace, type ServiceProcess } from '@ais/testing';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stackEnv, uniqueSuffix } from './stack-env';

/** grpcurl as infra/install.sh installs it (`npm test` and CI run `infra/install.sh grpcurl` first). */
function grpcurlBin(): string {
  const version = /^GRPCURL_VERSION=(\S+)$/m.exec(readFileSync(join(REPO_ROOT, 'infra/versions.env'), 'utf8'))![1]!;
  return join(process.env['AIS_INFRA_HOME'] ?? join(homedir(), '.cache/ais-platform'), `grpcurl-${version}`, 'bin/grpcurl');
}

jest.setTimeout(180_000);

describe('traced path across services', () => {
  const ns = uniqueSuffix();
  const infra = stackEnv();
  const common = {
    ...infra,
    LOG_LEVEL: 'info',
    OTEL_TRACES_EXPORTER: 'zipkin',
    KAFKA_TOPIC_PREFIX: `t${ns}`,
    SHUTDOWN_TIMEOUT_MS: '15000',
  };
  const procs: ServiceProcess[] = [];
  let tokenVault: ServiceProcess;
  let fetcher: ServiceProcess;
  let enrichment: ServiceProcess;
  let reconciliation: ServiceProcess;
  let gateway: ServiceProcess;
  let probeId = '';

  beforeAll(async () => {
    await provisionTopics({ brokers: infra['KAFKA_BROKERS']!, prefix: `t${ns}` });
    const tvPort = await freePort();
    [tokenVault, fetcher, enrichment, reconciliation] = await Promise.all([
      startService('token-vault', { ...common, MONGODB_DB: `tv_${ns}`, GRPC_PORT: String(tvPort) }),
      startService('data-fetcher', { ...common, MONGODB_DB: `df_${ns}`, KAFKA_GROUP_ID: `data-fetcher-${ns}`, TOKEN_VAULT_ADDR: `127.0.0.1:${String(tvPort)}` }),
      startService('enrichment', { ...common, MONGODB_DB: `en_${ns}` }),
      startService('reconciliation', { ...common, MONGODB_DB: `rc_${ns}` }),
    ]);
    procs.push(tokenVault, fetcher, enrichment, reconciliation);
    gateway = await startService('auth-gateway', {
      ...common,
      MONGODB_DB: `gw_${ns}`,
      TOKEN_VAULT_ADDR: `127.0.0.1:${String(tokenVault.ready['grpcPort'])}`,
      DATA_FETCHER_ADDR: `127.0.0.1:${String(fetcher.ready['grpcPort'])}`,
      RECONCILIATION_ADDR: `127.0.0.1:${String(reconciliation.ready['grpcPort'])}`,
    });
    procs.push(gateway);
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
  });

  it('every gRPC service reports SERVING and the gateway is live and ready', async () => {
    // health is open to any certificate of the platform's CA: an operator's here
    const operator = await stackGrpcTls(common, 'operator');
    for (const svc of [tokenVault, fetcher, enrichment, reconciliation]) {
      await expect(checkHealth(`127.0.0.1:${String(svc.ready['grpcPort'])}`, operator.channel(svc.name))).resolves.toBe('SERVING');
    }
    operator.close();
    const base = `http://127.0.0.1:${String(gateway.ready['httpPort'])}`;
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const missing = await fetch(`${base}/v1/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect(await missing.json()).toMatchObject({ status: 404, code: 'route_not_found' });
  });

  it('a probe crosses gateway → token-vault → Kafka → data-fetcher → MongoDB in one trace', async () => {
    const admin = `http://127.0.0.1:${String(gateway.ready['adminPort'])}`;
    const res = await fetch(`${admin}/diagnostics/probes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ origin: 'integration-test' }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { probe_id: string; event_id: string; trace_id: string };
    expect(body.trace_id).toMatch(/^[0-9a-f]{32}$/);
    probeId = body.probe_id;

    // data-fetcher recorded it in MongoDB (read back through its gRPC API via the gateway)
    let probe: Record<string, unknown> | undefined;
    for (let i = 0; i < 120 && !probe; i += 1) {
      const r = await fetch(`${admin}/diagnostics/probes/${body.probe_id}`);
      if (r.status === 200) probe = (await r.json()) as Record<string, unknown>;
      else {
        expect(r.status).toBe(404);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    expect(probe).toMatchObject({ probe_id: body.probe_id, origin: 'integration-test', event_id: body.event_id, deliveries: 1 });

    const want = ['auth-gateway', 'token-vault', 'data-fetcher'];
    const spans = await waitForTrace(
      infra['ZIPKIN_URL']!,
      body.trace_id,
      (s) => want.every((svc) => servicesIn(s).has(svc)) && s.some((x) => x.localEndpoint?.serviceName === 'data-fetcher' && /mongoose|update/i.test(x.name ?? '')),
      60_000,
    );
    const services = servicesIn(spans);
    for (const svc of want) expect(services).toContain(svc);
    const names = spans.map((s) => `${s.localEndpoint?.serviceName}:${s.kind ?? ''}:${s.name}`);
    // the gateway's server span, the gRPC hop, the Kafka send, the consumer's processing and its Mongo write
    expect(names.some((n) => n.startsWith('auth-gateway:SERVER'))).toBe(true);
    expect(names.some((n) => n.startsWith('token-vault:SERVER') && n.includes('startprobe'))).toBe(true);
    expect(names.some((n) => n.startsWith('token-vault:PRODUCER'))).toBe(true);
    expect(names.some((n) => n.startsWith('data-fetcher:CONSUMER') && n.includes('process'))).toBe(true);
    expect(names.some((n) => n.startsWith('data-fetcher:CLIENT') && /mongoose|update/i.test(n))).toBe(true);
    // one trace: every span shares the id and (but the root) has its parent inside the trace
    const ids = new Set(spans.map((s) => s.id));
    expect(spans.every((s) => s.traceId === body.trace_id)).toBe(true);
    expect(spans.filter((s) => !s.parentId || !ids.has(s.parentId)).length).toBe(1);
  });

  it('grpcurl through reflection under mTLS: list, describe, health and one allowed call per service; an operator reaches no business method', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grpcurl-'));
    const run = promisify(execFile);
    /** Certificate files for `identity` from the stack's Vault PKI (what docs/SECURITY.md tells an operator to do). */
    const certs = async (identity: string): Promise<string[]> => {
      const r = await fetch(`${infra['VAULT_ADDR']}/v1/pki/issue/${identity}`, {
        method: 'POST',
        headers: { 'X-Vault-Token': infra['VAULT_TOKEN']! },
        body: JSON.stringify({ common_name: identity, uri_sans: `spiffe://ais-platform/${identity}`, ttl: '10m' }),
      });
      const d = ((await r.json()) as { data: { certificate: string; private_key: string; issuing_ca: string } }).data;
      for (const [f, v] of [[`${identity}.crt`, d.certificate], [`${identity}.key`, d.private_key], ['ca.crt', d.issuing_ca]] as const) writeFileSync(join(dir, f), v, { mode: 0o600 });
      return ['-cacert', join(dir, 'ca.crt'), '-cert', join(dir, `${identity}.crt`), '-key', join(dir, `${identity}.key`), '-authority', 'localhost'];
    };
    const grpcurl = async (args: string[]): Promise<{ ok: boolean; out: string }> =>
      run(grpcurlBin(), ['-max-time', '10', ...args], { timeout: 20_000 }).then(
        (r) => ({ ok: true, out: r.stdout }),
        (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
      );
    try {
      const operator = await certs('operator');
      const calls = [
        { svc: tokenVault, name: 'ais.tokenvault.v1.TokenVaultService', as: 'auth-gateway', method: 'ListConnections', body: { client_id: 'c', user_id: 'u' }, expect: '{}' },
        { svc: fetcher, name: 'ais.fetcher.v1.FetcherService', as: 'auth-gateway', method: 'GetProbe', body: { probe_id: probeId }, expect: `"${probeId}"` },
        { svc: enrichment, name: 'ais.enrichment.v1.EnrichmentService', as: 'reconciliation', method: 'Categorize', body: { description: 'TESCO STORES 2041', amount: '-12.40', currency: 'GBP' }, expect: '"category"' },
        // served: the handler answers for a user it holds no data of
        { svc: reconciliation, name: 'ais.reconciliation.v1.ReconciliationService', as: 'auth-gateway', method: 'ListAccounts', body: { client_id: 'c', user_id: 'u' }, expect: 'no data for this user', fails: true },
      ];
      expect(probeId).not.toBe('');
      for (const c of calls) {
        const addr = `127.0.0.1:${String(c.svc.ready['grpcPort'])}`;
        // reflection lists what this server serves (and health), nothing of the other services
        const list = await grpcurl([...operator, addr, 'list']);
        expect({ svc: c.name, ok: list.ok, services: list.out.trim().split('\n').sort() }).toEqual({ svc: c.name, ok: true, services: [c.name, 'grpc.health.v1.Health'].sort() });
        // describe resolves every type, the well-known ones included
        const described = await grpcurl([...operator, addr, 'describe', c.name]);
        expect({ svc: c.name, ok: described.ok }).toEqual({ svc: c.name, ok: true });
        expect(described.out).toContain(`rpc ${c.method} (`);
        const health = await grpcurl([...operator, '-d', JSON.stringify({ service: c.name }), addr, 'grpc.health.v1.Health/Check']);
        expect(health.out).toContain('"status": "SERVING"');
        // the allowed caller's certificate gets an answer; the operator's gets PermissionDenied
        const served = await grpcurl([...(await certs(c.as)), '-d', JSON.stringify(c.body), addr, `${c.name}/${c.method}`]);
        expect({ svc: c.name, ok: served.ok, out: served.out.includes(c.expect), denied: served.out.includes('PermissionDenied') }).toEqual({ svc: c.name, ok: !c.fails, out: true, denied: false });
        const refused = await grpcurl([...operator, '-d', JSON.stringify(c.body), addr, `${c.name}/${c.method}`]);
        expect(refused.ok).toBe(false);
        expect(refused.out).toContain('PermissionDenied');
        // and plaintext does not get past the handshake
        expect((await grpcurl(['-plaintext', addr, 'list'])).ok).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a probe id that never existed is a clean 404 problem, not an error', async () => {
    const admin = `http://127.0.0.1:${String(gateway.ready['adminPort'])}`;
    const r = await fetch(`${admin}/diagnostics/probes/does-not-exist`);
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ code: 'probe_not_found' });
    const bad = await fetch(`${admin}/diagnostics/probes/${'x'.repeat(300)}`);
    expect(bad.status).toBe(400);
  });

  it('a read-API request: its server span is named by its route, with no span per Express router it passed through', async () => {
    const admin = `http://127.0.0.1:${String(gateway.ready['adminPort'])}`;
    const created = await fetch(`${admin}/admin/api-clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `traced-${ns}`, allowed_return_urls: ['http://127.0.0.1/return'] }),
    });
    expect(created.status).toBe(201);
    const { api_key: apiKey } = (await created.json()) as { api_key: string };
    const traceId = randomBytes(16).toString('hex');
    // the transactions route is in the last of the gateway's four routers mounted at /v1: the request passes the others
    const res = await fetch(`http://127.0.0.1:${String(gateway.ready['httpPort'])}/v1/users/nobody-${ns}/transactions`, {
      headers: { authorization: `Bearer ${apiKey}`, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'user_not_found' });
    const spans = await waitForTrace(
      infra['ZIPKIN_URL']!,
      traceId,
      (s) => ['auth-gateway', 'reconciliation'].every((svc) => s.some((x) => x.localEndpoint?.serviceName === svc && x.kind === 'SERVER')),
      60_000,
    );
    const server = spans.filter((s) => s.localEndpoint?.serviceName === 'auth-gateway' && s.kind === 'SERVER');
    expect(server.map((s) => [s.name, s.tags?.['http.route']])).toEqual([['get /v1/users/:userid/transactions', '/v1/users/:userId/transactions']]);
    expect(spans.filter((s) => s.tags?.['express.type'] === 'request_handler').map((s) => s.tags?.['http.route'])).toEqual(['/v1/users/:userId/transactions']);
    expect(spans.filter((s) => s.tags?.['express.type'] === 'router')).toEqual([]);
  });

  it('every service shuts down gracefully on SIGTERM (exit 0, shutdown logged)', async () => {
    const codes = await Promise.all(procs.map((p) => p.stop()));
    expect(codes).toEqual([0, 0, 0, 0, 0]);
    for (const p of procs) expect(p.logs.some((l) => l['msg'] === 'shutdown complete')).toBe(true);
  });
});
