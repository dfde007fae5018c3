/**
 * A service image's entry points without a container engine: enrichment's esbuild bundle (what its Dockerfile
 * copies into the image) started with the image's CMD and its ENV, on the real stack, with gRPC mTLS from files as
 * the Kubernetes manifests give it (here issued by the stack's Vault PKI instead of a Vault Agent). The Dockerfile's
 * HEALTHCHECK command, run as written, must answer healthy only while the service serves.
 * Not covered: the image build itself, the pruned node_modules (the bundle resolves the repo's), a container runtime.
 */
import { dockerfileEnv, freePort, REPO_ROOT, startService, type ServiceProcess } from '@ais/testing';
import { Vault } from '@ais/platform-vault';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    await run(process.execPath, ['tools/scripts/build-app.mjs', SERVICE], { cwd: REPO_ROOT });
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
      OTEL_TRACES_EXPORTER: 'none',
    };
  });

  afterAll(async () => {
    await svc?.stop();
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

  it('exits 0 on SIGTERM, after which the HEALTHCHECK fails', async () => {
    await expect(svc!.stop()).resolves.toBe(0);
    const r = await probe();
    expect(r.code).toBe(1);
  });
});
