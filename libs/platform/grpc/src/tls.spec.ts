import { enrichmentV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { createLogger } from '@ais/platform-logger';
import { OpensslCa } from './openssl-ca';
import * as grpc from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as tls from 'node:tls';
import { createGrpcClient, filesTls, GrpcServer, identityOfUris, renewalDelayMs, vaultTls, type CertificateIssuer, type GrpcTls } from './index';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    service: 'test',
    level: 'info',
    destination: new Writable({
      write: (c: Buffer, _e, cb) => {
        for (const l of c.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  });
  return { logger, lines };
}

const handlers = {
  categorize: async (req: enrichmentV1.CategorizeRequest) => enrichmentV1.CategorizeResponse.fromPartial({ category: 'Groceries', merchant: req.merchantName }),
  categorizeBatch: async () => ({ results: [] }),
  putUserRule: async () => ({}),
  listUserRules: async () => ({ rules: [] }),
  deleteUserRule: async () => ({ deleted: false }),
};
const req = enrichmentV1.CategorizeRequest.fromPartial({ description: 'TESCO', amount: '-1', currency: 'GBP', merchantName: 'Tesco' });

/** The serial of the certificate a TLS server presents to a new connection. */
function serverSerial(port: number, id: GrpcTls, ca: string): Promise<string> {
  const pair = (id as unknown as { provider: { latest: { certificate: Buffer; privateKey: Buffer } } }).provider.latest;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, cert: pair.certificate, key: pair.privateKey, ALPNProtocols: ['h2'], servername: 'enrichment', checkServerIdentity: () => undefined }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

describe('gRPC mTLS and per-caller permissions', () => {
  const ca = new OpensslCa();
  const { logger, lines } = capture();
  let server: GrpcServer;
  let address: string;
  let port: number;
  const renewals: string[] = [];
  let serverTls: GrpcTls;

  // A CA whose certificates claim to live 1.5 s, so renewal (at two thirds) happens during the test.
  const shortLived: CertificateIssuer = {
    issueCertificate: async (m, r, q) => ({ ...(await ca.issueCertificate(m, r, q)), expiresAt: Date.now() + 1_500 }),
  };

  beforeAll(async () => {
    serverTls = await vaultTls({ issuer: shortLived, identity: 'enrichment', trustDomain: 'ais-platform', mount: 'pki', role: 'enrichment', ttlMs: 1_500, ipSans: ['127.0.0.1'], logger, onRenew: (s) => renewals.push(s) });
    server = new GrpcServer({ logger, tls: serverTls }).add('ais.enrichment.v1.EnrichmentService', enrichmentV1.EnrichmentServiceService, handlers);
    port = await server.listen('127.0.0.1', 0);
    address = `127.0.0.1:${port}`;
    server.setServing('SERVING');
  });

  afterAll(async () => {
    serverTls.close();
    await server.shutdown();
    ca.dispose();
  });

  const client = (id: GrpcTls, target = 'enrichment') => createGrpcClient(enrichmentV1.EnrichmentServiceClient, address, 3_000, id.channel(target));

  it('serves the caller its policy allows (reconciliation → enrichment)', async () => {
    const c = client(await ca.tls('reconciliation'));
    await expect(c.categorize(req)).resolves.toMatchObject({ category: 'Groceries' });
    c.close();
  });

  it('refuses a certificate of another service with PERMISSION_DENIED and logs the caller', async () => {
    const c = client(await ca.tls('auth-gateway'));
    const err = (await c.categorize(req).catch((e: unknown) => e)) as AppError;
    c.close();
    expect(err).toBeInstanceOf(AppError);
    expect(err.kind).toBe('permission_denied');
    expect(err.message).toContain("'auth-gateway'");
    const denied = lines.find((l) => l['msg'] === 'gRPC call denied');
    expect(denied).toMatchObject({ caller: 'auth-gateway', method: '/ais.enrichment.v1.EnrichmentService/Categorize', reason: 'not_allowed' });
  });

  it('refuses a connection without a client certificate', async () => {
    const sec = await ca.tls('reconciliation');
    const pem = Buffer.from(ca.caPem);
    // TLS that trusts the CA but presents no certificate
    const c = createGrpcClient(enrichmentV1.EnrichmentServiceClient, address, 3_000, { credentials: grpc.credentials.createSsl(pem), options: sec.channel('enrichment').options });
    const err = (await c.categorize(req).catch((e: unknown) => e)) as AppError;
    c.close();
    expect(err.kind).toBe('unavailable');
  });

  it('refuses a client certificate from another CA, and a plaintext client', async () => {
    const other = new OpensslCa('/CN=someone else');
    try {
      const c = client(await other.tls('reconciliation'));
      expect(((await c.categorize(req).catch((e: unknown) => e)) as AppError).kind).toBe('unavailable');
      c.close();
    } finally {
      other.dispose();
    }
    const plain = createGrpcClient(enrichmentV1.EnrichmentServiceClient, address, 3_000, { credentials: grpc.credentials.createInsecure(), options: {} });
    expect(((await plain.categorize(req).catch((e: unknown) => e)) as AppError).kind).toBe('unavailable');
    plain.close();
  });

  it('a client refuses a server whose certificate is not the target it asked for', async () => {
    // reconciliation dialling "token-vault" at this address finds enrichment's certificate: no call is sent
    const c = client(await ca.tls('reconciliation'), 'token-vault');
    const err = (await c.categorize(req).catch((e: unknown) => e)) as AppError;
    c.close();
    expect(err.kind).toBe('unavailable');
  });

  it('renews its certificate before expiry without a restart: new connections get the new one, calls go on', async () => {
    const caller = await ca.tls('reconciliation');
    const c = client(caller);
    await c.categorize(req);
    const before = await serverSerial(port, caller, ca.caPem);
    const deadline = Date.now() + 10_000;
    while (renewals.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(renewals.length).toBeGreaterThanOrEqual(2);
    const after = await serverSerial(port, caller, ca.caPem);
    expect(after).not.toBe(before);
    expect(after).toBe(renewals[renewals.length - 1]);
    await expect(c.categorize(req)).resolves.toMatchObject({ category: 'Groceries' });
    const fresh = client(caller);
    await expect(fresh.categorize(req)).resolves.toMatchObject({ category: 'Groceries' });
    fresh.close();
    c.close();
    expect(lines.filter((l) => l['msg'] === 'gRPC certificate renewed').length).toBeGreaterThanOrEqual(2);
  });

  it('files mode: loads a mesh-style certificate and checks that it carries the service identity', async () => {
    const leaf = ca.leaf('reconciliation', { uri: 'spiffe://ais-platform/ns/prod/sa/reconciliation' });
    const files = { cert: join(ca.dir, 'f.crt'), key: join(ca.dir, 'f.key'), ca: join(ca.dir, 'f-ca.crt') };
    writeFileSync(files.cert, leaf.certificate);
    writeFileSync(files.key, leaf.privateKey);
    writeFileSync(files.ca, ca.caPem);
    const id = await filesTls({ identity: 'reconciliation', trustDomain: 'ais-platform', certFile: files.cert, keyFile: files.key, caFile: files.ca, refreshMs: 1_000, logger });
    const c = client(id);
    await expect(c.categorize(req)).resolves.toMatchObject({ category: 'Groceries' });
    c.close();
    id.close();
    await expect(filesTls({ identity: 'data-fetcher', trustDomain: 'ais-platform', certFile: files.cert, keyFile: files.key, caFile: files.ca, refreshMs: 1_000, logger })).rejects.toThrow(/carries identity reconciliation, expected spiffe:\/\/ais-platform\/data-fetcher/);
  });

  it('a Vault refusal at start-up is an error, not an insecure fallback', async () => {
    const refusing: CertificateIssuer = { issueCertificate: () => Promise.reject(new Error('vault: issue certificate from pki/issue/x: permission denied')) };
    await expect(vaultTls({ issuer: refusing, identity: 'x', trustDomain: 'ais-platform', mount: 'pki', role: 'x', ttlMs: 60_000, logger })).rejects.toThrow(/permission denied/);
  });
});

describe('identities and renewal timing', () => {
  it('reads spiffe://<td>/<name> and the Kubernetes service-account form, only in the trust domain', () => {
    expect(identityOfUris(['spiffe://ais-platform/token-vault'], 'ais-platform')).toBe('token-vault');
    expect(identityOfUris(['spiffe://ais-platform/ns/prod/sa/data-fetcher'], 'ais-platform')).toBe('data-fetcher');
    expect(identityOfUris(['spiffe://evil.example/token-vault'], 'ais-platform')).toBeUndefined();
    expect(identityOfUris(['spiffe://ais-platform/a/b'], 'ais-platform')).toBeUndefined();
    expect(identityOfUris(['spiffe://ais-platform/'], 'ais-platform')).toBeUndefined();
    expect(identityOfUris([], 'ais-platform')).toBeUndefined();
  });

  it('renews at two thirds of the life, never in less than a second', () => {
    expect(renewalDelayMs(0, 24 * 3_600_000, 0)).toBe(16 * 3_600_000);
    expect(renewalDelayMs(0, 3_000, 2_500)).toBe(1_000);
  });
});
