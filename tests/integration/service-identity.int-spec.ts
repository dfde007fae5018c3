/**
 * Service identity on the real stack (issue 11 §1): token-vault's gRPC port is mTLS with certificates from the
 * stack's Vault PKI, and each method answers only the workload its access policy names. Certificates renew
 * without a restart; a Vault token that may not issue the service's certificate, or GRPC_TLS=insecure outside
 * development, stops the service at start with one clear line.
 */
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { createGrpcClient, type GrpcTls } from '@ais/platform-grpc';
import { Vault } from '@ais/platform-vault';
import { runToExit, stackGrpcTls, startSandboxProcess, startService, type SandboxProcess, type ServiceProcess } from '@ais/testing';
import * as grpc from '@grpc/grpc-js';
import * as tls from 'node:tls';
import { waitFor } from './fetch-harness';
import { stackEnv, tokenVaultAgainst, uniqueSuffix } from './stack-env';

jest.setTimeout(120_000);

const TV = tokenvaultV1.TokenVaultServiceClient;

/** The serial and SPIFFE id of the certificate a TLS server presents to a new connection. */
function presented(port: number, id: GrpcTls, caPem: string): Promise<{ serial: string; san: string }> {
  const pair = (id as unknown as { provider: { latest: { certificate: Buffer; privateKey: Buffer } } }).provider.latest;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: caPem, cert: pair.certificate, key: pair.privateKey, ALPNProtocols: ['h2'], servername: 'token-vault', checkServerIdentity: () => undefined }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve({ serial: cert.serialNumber, san: cert.subjectaltname ?? '' });
    });
    socket.once('error', reject);
  });
}

async function vaultApi<T>(env: Record<string, string>, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${env['VAULT_ADDR']}/v1/${path}`, { method, headers: { 'X-Vault-Token': env['VAULT_TOKEN']!, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) throw new Error(`vault ${method} ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

describe('service identity: mTLS from Vault PKI with per-caller permissions', () => {
  const ns = uniqueSuffix();
  const infra = stackEnv();
  const credentialsPath = `it/${ns}/truelayer`;
  let sandbox: SandboxProcess;
  let tv: ServiceProcess;
  let caPem: string;
  const env = (): Record<string, string> => ({
    ...infra,
    MONGODB_DB: `tv_id_${ns}`,
    KAFKA_TOPIC_PREFIX: `id${ns}`,
    OTEL_TRACES_EXPORTER: 'none',
    LOG_LEVEL: 'info',
    ...tokenVaultAgainst(sandbox.url, credentialsPath, ns),
    // short-lived certificates so that renewal happens during the test: renewed at two thirds, about every 8 s
    GRPC_TLS_CERT_TTL_MS: '12000',
  });

  beforeAll(async () => {
    sandbox = await startSandboxProcess();
    const vault = new Vault({ addr: infra['VAULT_ADDR']!, token: infra['VAULT_TOKEN']! });
    await vault.kvWrite(credentialsPath, { client_id: sandbox.clientId, client_secret: sandbox.clientSecret });
    caPem = (await (await fetch(`${infra['VAULT_ADDR']}/v1/pki/ca/pem`)).text()).trim();
    tv = await startService('token-vault', env());
  });

  afterAll(async () => {
    await tv?.stop();
    await sandbox?.stop();
  });

  const address = () => `127.0.0.1:${String(tv.ready['grpcPort'])}`;

  it('refuses a caller without a client certificate, and a plaintext one', async () => {
    const noCert = createGrpcClient(TV, address(), 5_000, { credentials: grpc.credentials.createSsl(Buffer.from(caPem)), options: { 'grpc.ssl_target_name_override': 'token-vault' } });
    const plain = createGrpcClient(TV, address(), 5_000, { credentials: grpc.credentials.createInsecure(), options: {} });
    for (const c of [noCert, plain]) {
      const err = (await c.getAccessToken({ connectionId: 'x', forceRefresh: false }).catch((e: unknown) => e)) as AppError;
      expect(err).toBeInstanceOf(AppError);
      expect(err.kind).toBe('unavailable');
      c.close();
    }
  });

  it("refuses another service's certificate with PERMISSION_DENIED, logged with the caller and never a token", async () => {
    const asGateway = await stackGrpcTls(infra, 'auth-gateway');
    const c = createGrpcClient(TV, address(), 5_000, asGateway.channel('token-vault'));
    const err = (await c.getAccessToken({ connectionId: `conn-${ns}`, forceRefresh: false }).catch((e: unknown) => e)) as AppError;
    c.close();
    asGateway.close();
    expect(err.kind).toBe('permission_denied');
    expect(err.code).toBe('caller_not_allowed');
    // logged before the refusal is sent, but its pipe and the gRPC socket are read in whichever order they arrive
    const denied = await waitFor('the denial in token-vault’s log', () => Promise.resolve(tv.logs.find((l) => l['msg'] === 'gRPC call denied')), 5_000, 50);
    expect(denied).toMatchObject({ caller: 'auth-gateway', method: '/ais.tokenvault.v1.TokenVaultService/GetAccessToken', reason: 'not_allowed' });
    expect(JSON.stringify(denied)).not.toMatch(/access_token|Bearer/i);
  });

  it('serves the caller its policy names: data-fetcher for GetAccessToken, auth-gateway for connections', async () => {
    const [asFetcher, asGateway] = await Promise.all([stackGrpcTls(infra, 'data-fetcher'), stackGrpcTls(infra, 'auth-gateway')]);
    const df = createGrpcClient(TV, address(), 5_000, asFetcher.channel('token-vault'));
    const gw = createGrpcClient(TV, address(), 5_000, asGateway.channel('token-vault'));
    // served: the handler runs and answers for this (unknown) connection, not the access check
    const err = (await df.getAccessToken({ connectionId: `unknown-${ns}`, forceRefresh: false }).catch((e: unknown) => e)) as AppError;
    expect(err.kind).toBe('not_found');
    await expect(gw.listConnections({ clientId: 'c', userId: 'u' })).resolves.toEqual({ connections: [] });
    // but not the other way round
    expect(((await gw.getAccessToken({ connectionId: 'x', forceRefresh: false }).catch((e: unknown) => e)) as AppError).kind).toBe('permission_denied');
    expect(((await df.listConnections({ clientId: 'c', userId: 'u' }).catch((e: unknown) => e)) as AppError).kind).toBe('permission_denied');
    df.close();
    gw.close();
    asFetcher.close();
    asGateway.close();
  });

  it("a client refuses a server that is not the service it dials (data-fetcher's certificate where token-vault should be)", async () => {
    const asFetcher = await stackGrpcTls(infra, 'data-fetcher');
    const wrongTarget = createGrpcClient(TV, address(), 5_000, asFetcher.channel('reconciliation'));
    expect(((await wrongTarget.getAccessToken({ connectionId: 'x', forceRefresh: false }).catch((e: unknown) => e)) as AppError).kind).toBe('unavailable');
    wrongTarget.close();
    asFetcher.close();
  });

  it('renews its certificate from Vault without a restart; calls keep working past the first one\'s expiry', async () => {
    const asFetcher = await stackGrpcTls(infra, 'data-fetcher', { GRPC_TLS_CERT_TTL_MS: 12_000 });
    const first = await presented(Number(tv.ready['grpcPort']), asFetcher, caPem);
    expect(first.san).toContain('URI:spiffe://ais-platform/token-vault');
    const issued = tv.logs.find((l) => l['msg'] === 'gRPC mTLS certificate issued by Vault');
    expect(issued).toMatchObject({ identity: 'spiffe://ais-platform/token-vault', pkiRole: 'pki/issue/token-vault' });
    const firstExpiry = Date.parse(String(issued!['expiresAt']));
    const df = createGrpcClient(TV, address(), 5_000, asFetcher.channel('token-vault'));
    // wait until the first certificate has expired (both sides renewed meanwhile)
    while (Date.now() < firstExpiry + 1_000) await new Promise((r) => setTimeout(r, 250));
    const renewed = tv.logs.filter((l) => l['msg'] === 'gRPC certificate renewed');
    expect(renewed.length).toBeGreaterThanOrEqual(1);
    const now = await presented(Number(tv.ready['grpcPort']), asFetcher, caPem);
    expect(now.serial).not.toBe(first.serial);
    // the established channel and a brand-new one both still get answers from the same process
    expect(((await df.getAccessToken({ connectionId: `unknown-${ns}`, forceRefresh: false }).catch((e: unknown) => e)) as AppError).kind).toBe('not_found');
    const fresh = createGrpcClient(TV, address(), 5_000, asFetcher.channel('token-vault'));
    expect(((await fresh.getAccessToken({ connectionId: `unknown-${ns}`, forceRefresh: false }).catch((e: unknown) => e)) as AppError).kind).toBe('not_found');
    expect(tv.logs.filter((l) => l['msg'] === 'service ready')).toHaveLength(1);
    df.close();
    fresh.close();
    asFetcher.close();
  });

  it("a Vault token that may issue only another service's certificate stops the service at start, clearly", async () => {
    const token = async (policy: string) =>
      (await vaultApi<{ auth: { client_token: string } }>(infra, 'POST', 'auth/token/create', { policies: [policy], ttl: '5m', no_default_policy: true })).auth.client_token;
    const base = { ...infra, MONGODB_DB: `en_id_${ns}`, KAFKA_TOPIC_PREFIX: `id${ns}`, OTEL_TRACES_EXPORTER: 'none', STARTUP_TIMEOUT_MS: '5000' };
    const wrong = await runToExit('enrichment', { ...base, VAULT_TOKEN: await token('ais-pki-data-fetcher') }, 60_000);
    expect(wrong.code).toBe(1);
    const fatal = wrong.lines.filter((l) => l['level'] === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(String(fatal[0]!['msg'])).toContain('gRPC TLS (vault) could not start: vault: issue certificate from pki/issue/enrichment: permission denied');
    // its own PKI policy is all enrichment needs from Vault
    const own = await startService('enrichment', { ...base, VAULT_TOKEN: await token('ais-pki-enrichment') });
    expect(own.logs.find((l) => l['msg'] === 'gRPC mTLS certificate issued by Vault')).toMatchObject({ identity: 'spiffe://ais-platform/enrichment' });
    await own.stop();
  });

  it('GRPC_TLS=insecure is refused outside development, and files mode without its files (exit 78)', async () => {
    const r = await runToExit('enrichment', { ...infra, NODE_ENV: 'production', GRPC_TLS: 'insecure', OTEL_TRACES_EXPORTER: 'none' });
    expect(r.code).toBe(78);
    expect(r.output).toContain('GRPC_TLS: insecure gRPC is allowed only with NODE_ENV=development');
    const files = await runToExit('enrichment', { ...infra, GRPC_TLS: 'files', OTEL_TRACES_EXPORTER: 'none' });
    expect(files.code).toBe(78);
    expect(files.output).toContain('GRPC_TLS_CERT_FILE: is required but not set');
  });
});
