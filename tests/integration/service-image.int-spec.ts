/**
 * A service image's entry points without a container engine: enrichment's esbuild bundle (what its Dockerfile
 * copies into the image) started with the image's CMD and its ENV, on the real stack, with gRPC mTLS from files as
 * the Kubernetes manifests give it (here issued by the stack's Vault PKI instead of a Vault Agent). The Dockerfile's
 * HEALTHCHECK command, run as written, must answer healthy only while the service serves. On SIGTERM the bundle
 * must flush the spans it still holds to the trace collector (a loopback stand-in for Zipkin's span API here).
 * Not covered: the image build itself, the pruned node_modules (the bundle resolves the repo's), a container runtime.
 */
import { enrichmentV1 } from '@ais/contracts-proto-ts';
import { createGrpcClient } from '@ais/platform-grpc';
import { buildServiceBundle, dockerfileEnv, freePort, REPO_ROOT, stackGrpcTls, startService, type ServiceProcess } from '@ais/testing';
import { Vault } from '@ais/platform-vault';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stackEnv, uniqueSuffix } from './stack-env';

const run = promisify(execFile);
jest.setTimeout(180_000);

const SERVICE = 'enrichment';
const dockerfile = readFileSync(join(REPO_ROOT, 'apps', SERVICE, 'Dockerfile'), 'utf8');

/** The exec-form command of the Dockerfile's HEALTHCHECK. */
function healthcheckCommand(text: string): string[] {
  const m = /^HEALTHCHECK[^\n]*?(?:\\\n\s*)?CMD\s+(\[.*\])\s*$/m.exec(text);
  if (!m) throw new Error('no exec-form HEALTHCHECK CMD in the Dockerfile');
  return JSON.parse(m[1]!) as string[];
}

describe(`${SERVICE} image entry points on its bundle`, () => {
  const ns = uniqueSuffix();
  const infra = stackEnv();
  const bundle = join(REPO_ROOT, 'dist/apps', SERVICE);
  const certs = mkdtempSync(join(tmpdir(), 'image-certs-'));
  let env: Record<string, string>;
  let svc: ServiceProcess | undefined;
  /** A trace collector on loopback (Zipkin's span API): what the service exported, span by span. */
  const exported: Array<{ name: string; kind?: string; localEndpoint?: { serviceName?: string } }> = [];
  let collector: Server | undefined;

  const probe = async (): Promise<{ code: number; out: string }> => {
    const [cmd, ...args] = healthcheckCommand(dockerfile);
    expect(cmd).toBe('node');
    try {
      const r = await run(process.execPath, args, { cwd: bundle, env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 10_000 });
      return { code: 0, out: `${r.stdout}${r.stderr}`.trim() };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
    }
  };

  beforeAll(async () => {
    collector = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/api/v2/spans') exported.push(...(JSON.parse(body) as typeof exported));
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => collector!.listen(0, '127.0.0.1', r));
    await buildServiceBundle(SERVICE);
    // what the Vault Agent renders in a pod (infra/k8s/<service>/deployment.yaml), from the stack's PKI
    const vault = new Vault({ addr: infra['VAULT_ADDR']!, token: infra['VAULT_TOKEN']! });
    const leaf = await vault.issueCertificate('pki', SERVICE, { common_name: SERVICE, uri_sans: `spiffe://ais-platform/${SERVICE}`, ttl: '1h' });
    writeFileSync(join(certs, 'grpc-cert.pem'), leaf.certificate);
    writeFileSync(join(certs, 'grpc-key.pem'), leaf.privateKey, { mode: 0o600 });
    writeFileSync(join(certs, 'grpc-ca.pem'), leaf.caChain.join('\n'));
    env = {
      ...infra,
      // the image's ENV, then what a deployment sets (loopback only on this machine)
      ...dockerfileEnv(dockerfile),
      OTEL_SERVICE_VERSION: 'test',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(await freePort()),
      GRPC_TLS: 'files',
      GRPC_TLS_CERT_FILE: join(certs, 'grpc-cert.pem'),
      GRPC_TLS_KEY_FILE: join(certs, 'grpc-key.pem'),
      GRPC_TLS_CA_FILE: join(certs, 'grpc-ca.pem'),
      MONGODB_DB: `enrichment_${ns}`,
      KAFKA_TOPIC_PREFIX: `t${ns}`,
      // spans go to the collector above, and only when the service flushes them: the batch processor's timer
      // (5 s by default) would otherwise export them whenever it happens to fire
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/api/v2/spans`,
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    };
  });

  afterAll(async () => {
    await svc?.stop();
    await new Promise((r) => collector?.close(r));
    rmSync(certs, { recursive: true, force: true });
  });

  it('is unhealthy before the service runs', async () => {
    const r = await probe();
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^enrichment: .*UNAVAILABLE/);
  });

  it("starts with the image's CMD and is SERVING to the HEALTHCHECK over mTLS from files", async () => {
    svc = await startService(SERVICE, env, { bundleDir: bundle, timeoutMs: 90_000 });
    expect(svc.ready['grpcPort']).toBe(Number(env['GRPC_PORT']));
    await expect(probe()).resolves.toEqual({ code: 0, out: 'enrichment: SERVING' });
  });

  it('answers its one caller (reconciliation) over mTLS: a traced call', async () => {
    const asReconciliation = await stackGrpcTls(infra, 'reconciliation');
    const grpc = createGrpcClient(enrichmentV1.EnrichmentServiceClient, `127.0.0.1:${env['GRPC_PORT']!}`, 20_000, asReconciliation.channel(SERVICE));
    try {
      const request = enrichmentV1.CategorizeRequest.fromPartial({ description: 'CRD 4417 TESCO STORES 2341 LONDON GB', amount: '-2.99', currency: 'GBP' });
      await expect(grpc.categorize(request)).resolves.toMatchObject({ category: 'FOOD_AND_DRINK', merchantKey: 'tesco' });
    } finally {
      grpc.close();
      asReconciliation.close();
    }
  });

  it('exits 0 on SIGTERM, after which the HEALTHCHECK fails', async () => {
    expect(exported).toEqual([]); // nothing exported yet: the call's span waits in the batch processor
    await expect(svc!.stop()).resolves.toBe(0);
    const r = await probe();
    expect(r.code).toBe(1);
  });

  it('exported the spans still queued at SIGTERM before it exited', () => {
    // The shutdown hook in main.js flushes the SDK that register.js, a bundle of its own, started. Before `Symbol.for`
    // held it, main.js's copy of @ais/platform-telemetry saw no SDK: nothing was flushed, and the span was lost.
    const server = exported.filter((s) => s.name === 'grpc.ais.enrichment.v1.EnrichmentService/Categorize' && s.kind === 'SERVER');
    expect(server).toHaveLength(1);
    expect(server[0]!.localEndpoint?.serviceName).toBe(SERVICE);
  });
});
