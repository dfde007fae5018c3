import { createLogger } from '@ais/platform-logger';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { OpensslCa } from './openssl-ca';
import { GrpcServer, healthy, probePlan, runProbe } from './index';

const logger = createLogger({ service: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('probePlan (what a container health check asks, from the service settings)', () => {
  it('needs a fixed port', () => {
    expect(() => probePlan('enrichment', { GRPC_TLS: 'insecure' })).toThrow(/GRPC_PORT must be a fixed port/);
    expect(() => probePlan('enrichment', { GRPC_TLS: 'insecure', GRPC_PORT: '0' })).toThrow(/GRPC_PORT/);
  });

  it('reaches a wildcard bind on loopback and keeps a specific bind address', () => {
    expect(probePlan('enrichment', { GRPC_TLS: 'insecure', GRPC_PORT: '50054', GRPC_HOST: '0.0.0.0' })).toMatchObject({ kind: 'health', address: '127.0.0.1:50054' });
    expect(probePlan('enrichment', { GRPC_TLS: 'insecure', GRPC_PORT: '50054', GRPC_HOST: '10.1.2.3' })).toMatchObject({ address: '10.1.2.3:50054' });
  });

  it('uses the service certificate files in files mode and refuses a half-set', () => {
    expect(() => probePlan('enrichment', { GRPC_TLS: 'files', GRPC_PORT: '50054', GRPC_TLS_CERT_FILE: '/c' })).toThrow(/GRPC_TLS_KEY_FILE/);
    expect(probePlan('enrichment', { GRPC_TLS: 'files', GRPC_PORT: '50054', GRPC_TLS_CERT_FILE: '/c', GRPC_TLS_KEY_FILE: '/k', GRPC_TLS_CA_FILE: '/a' })).toMatchObject({
      kind: 'health',
      mode: 'files',
      files: { cert: '/c', key: '/k', ca: '/a' },
    });
  });

  it('falls back to a TLS connect check in vault mode (the default) and rejects an unknown mode', () => {
    expect(probePlan('enrichment', { GRPC_PORT: '50054' })).toEqual({ kind: 'tls-connect', host: '127.0.0.1', port: 50054 });
    expect(() => probePlan('enrichment', { GRPC_PORT: '50054', GRPC_TLS: 'plain' })).toThrow(/unknown GRPC_TLS mode/);
  });
});

describe('runProbe against a running server over mTLS from files', () => {
  const ca = new OpensslCa();
  let server: GrpcServer;
  let port: number;
  const files = { GRPC_TLS: 'files', GRPC_TLS_CERT_FILE: join(ca.dir, 'probe.crt'), GRPC_TLS_KEY_FILE: join(ca.dir, 'probe.key'), GRPC_TLS_CA_FILE: join(ca.dir, 'ca.crt') };

  beforeAll(async () => {
    server = new GrpcServer({ logger, tls: await ca.tls('enrichment') });
    port = await server.listen('127.0.0.1', 0);
    // the files a Vault Agent renders for the service: its own leaf, its key, the CA
    const leaf = ca.leaf('enrichment', { uri: 'spiffe://ais-platform/enrichment' });
    writeFileSync(files.GRPC_TLS_CERT_FILE, leaf.certificate);
    writeFileSync(files.GRPC_TLS_KEY_FILE, leaf.privateKey);
  });

  afterAll(async () => {
    await server.shutdown();
    ca.dispose();
  });

  it('is unhealthy until the server is SERVING, then healthy', async () => {
    const plan = probePlan('enrichment', { ...files, GRPC_PORT: String(port) });
    const before = await runProbe(plan);
    expect(before).toBe('NOT_SERVING');
    expect(healthy(before)).toBe(false);
    server.setServing('SERVING');
    const after = await runProbe(plan);
    expect(after).toBe('SERVING');
    expect(healthy(after)).toBe(true);
  });

  it("refuses a server that does not carry the probed service's identity", async () => {
    await expect(runProbe(probePlan('token-vault', { ...files, GRPC_PORT: String(port) }), 1_000)).rejects.toThrow();
  });

  it('in vault mode sees only that the port answers TLS', async () => {
    await expect(runProbe(probePlan('enrichment', { GRPC_PORT: String(port) }))).resolves.toBe('TLS_ACCEPTED');
  });

  it('fails when nothing listens', async () => {
    await server.shutdown();
    await expect(runProbe(probePlan('enrichment', { GRPC_PORT: String(port) }), 500)).rejects.toThrow();
  });
});
