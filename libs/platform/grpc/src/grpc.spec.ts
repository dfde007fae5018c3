import { enrichmentV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { createLogger } from '@ais/platform-logger';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { OpensslCa } from './openssl-ca';
import { checkHealth, createGrpcClient, GrpcServer, type GrpcTls } from './index';

const logger = createLogger({ service: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('GrpcServer + createGrpcClient', () => {
  let server: GrpcServer;
  let address: string;
  let client: ReturnType<typeof createGrpcClient<enrichmentV1.EnrichmentServiceClient>>;
  const ca = new OpensslCa();
  let operator: GrpcTls;

  beforeAll(async () => {
    // enrichment's server, called as reconciliation (the caller its access policy allows), over mTLS
    const [serverTls, clientTls] = await Promise.all([ca.tls('enrichment'), ca.tls('reconciliation')]);
    operator = await ca.tls('operator');
    server = enrichmentServer(serverTls);
    const port = await server.listen('127.0.0.1', 0);
    address = `127.0.0.1:${port}`;
    client = createGrpcClient(enrichmentV1.EnrichmentServiceClient, address, 2000, clientTls.channel('enrichment'));
  });

  /** enrichment's server, with a categorize that answers by its description. */
  function enrichmentServer(tls: GrpcTls): GrpcServer {
    const s = new GrpcServer({ logger, tls, reflectionProtoRoot: join(__dirname, '../../../../proto') });
    s.add('ais.enrichment.v1.EnrichmentService', enrichmentV1.EnrichmentServiceService, {
      categorize: async (req) => {
        if (req.description === '') throw AppError.invalid('empty_description', 'description is required', [{ field: 'description', description: 'empty' }]);
        if (req.description === 'slow') await new Promise((r) => setTimeout(r, 500));
        if (req.description === 'boom') throw new Error('secret internals');
        return enrichmentV1.CategorizeResponse.fromPartial({ category: 'Groceries', subcategory: '', merchant: req.merchantName, source: 'fallback' });
      },
      // not exercised here: the server needs every method of the service
      categorizeBatch: async () => ({ results: [] }),
      putUserRule: async () => ({}),
      listUserRules: async () => ({ rules: [] }),
      deleteUserRule: async () => ({ deleted: false }),
    });
    return s;
  }

  afterAll(async () => {
    client.close();
    await server.shutdown();
    ca.dispose();
  });

  const req = (description: string) => enrichmentV1.CategorizeRequest.fromPartial({ description, amount: '-120', currency: 'GBP', providerClassification: [], merchantName: 'Tesco' });

  it('serves a unary call', async () => {
    await expect(client.categorize(req('TESCO STORES'))).resolves.toMatchObject({ category: 'Groceries', merchant: 'Tesco' });
  });

  it('maps an AppError to INVALID_ARGUMENT with code and field violations the client gets back', async () => {
    const err = await client.categorize(req('')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'empty_description', kind: 'invalid_argument', violations: [{ field: 'description', description: 'empty' }] });
  });

  it('hides unknown errors behind INTERNAL', async () => {
    const err = (await client.categorize(req('boom')).catch((e: unknown) => e)) as AppError;
    expect(err.kind).toBe('internal');
    expect(err.message).not.toContain('secret internals');
  });

  it('a peer that restarts: a call that waits for ready gets through within its deadline, one that does not fails at once', async () => {
    const [serverTls, clientTls] = await Promise.all([ca.tls('enrichment'), ca.tls('reconciliation')]);
    let peer = enrichmentServer(serverTls);
    const port = await peer.listen('127.0.0.1', 0);
    const c = createGrpcClient(enrichmentV1.EnrichmentServiceClient, `127.0.0.1:${port}`, 8000, clientTls.channel('enrichment'));
    try {
      await expect(c.categorize(req('TESCO STORES'))).resolves.toMatchObject({ category: 'Groceries' });
      await peer.shutdown();
      const t0 = Date.now();
      const failed = (await c.categorize(req('TESCO STORES')).catch((e: unknown) => e)) as AppError;
      expect(failed).toBeInstanceOf(AppError);
      expect(failed.kind).toBe('unavailable');
      expect(Date.now() - t0).toBeLessThan(4000); // not the 8 s deadline
      const waiting = c.categorize(req('TESCO STORES'), { waitForReady: true });
      await new Promise((r) => setTimeout(r, 1500));
      peer = enrichmentServer(serverTls);
      await peer.listen('127.0.0.1', port);
      await expect(waiting).resolves.toMatchObject({ category: 'Groceries' });
    } finally {
      c.close();
      await peer.shutdown();
    }
    // two certificates, a restart 1.5 s long and the channel's reconnect backoff (0.5 s, then 1.6x, with jitter) took
    // 5 s on a busy machine (the unit tests run two projects at once): the call's own 8 s deadline is what it must beat
  }, 15_000);

  it('a call that waits for a peer stops waiting when its signal aborts (a service shutting down)', async () => {
    const [serverTls, clientTls] = await Promise.all([ca.tls('enrichment'), ca.tls('reconciliation')]);
    const peer = enrichmentServer(serverTls);
    const port = await peer.listen('127.0.0.1', 0);
    await peer.shutdown(); // nobody listens there now
    const c = createGrpcClient(enrichmentV1.EnrichmentServiceClient, `127.0.0.1:${port}`, 30_000, clientTls.channel('enrichment'));
    try {
      const stopping = new AbortController();
      const t0 = Date.now();
      const waiting = c.categorize(req('TESCO STORES'), { waitForReady: true, signal: stopping.signal, retries: 3 }).catch((e: unknown) => e);
      setTimeout(() => stopping.abort(), 300);
      const err = (await waiting) as AppError;
      expect(err).toBeInstanceOf(AppError);
      expect(err.code).toBe(`grpc_${grpc.status.CANCELLED}`);
      expect(err.retriable).toBe(false);
      expect(Date.now() - t0).toBeLessThan(5_000); // not the 30 s deadline
      // aborted already: not sent at all
      await expect(c.categorize(req('TESCO STORES'), { waitForReady: true, signal: stopping.signal })).rejects.toMatchObject({ code: `grpc_${grpc.status.CANCELLED}` });
    } finally {
      c.close();
    }
  });

  it('enforces the deadline', async () => {
    const err = (await client.categorize(req('slow'), { deadlineMs: 100 }).catch((e: unknown) => e)) as AppError;
    expect(err.kind).toBe('deadline_exceeded');
  });

  it('reports health per service and flips it', async () => {
    const creds = operator.channel('enrichment');
    await expect(checkHealth(address, creds, 'ais.enrichment.v1.EnrichmentService')).resolves.toBe('NOT_SERVING');
    server.setServing('SERVING');
    await expect(checkHealth(address, creds, '')).resolves.toBe('SERVING');
    await expect(checkHealth(address, creds, 'ais.enrichment.v1.EnrichmentService')).resolves.toBe('SERVING');
  });

  it('answers reflection with the registered services', async () => {
    const def = await import('@grpc/proto-loader').then((pl) =>
      pl.loadSync(require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto'), { keepCase: true }),
    );
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const sec = operator.channel('enrichment');
    const refl = new pkg.grpc.reflection.v1.ServerReflection(address, sec.credentials, sec.options);
    const services = await new Promise<string[]>((resolve, reject) => {
      const stream = refl.serverReflectionInfo!();
      stream.on('data', (msg: { list_services_response?: { service: { name: string }[] } }) => {
        resolve((msg.list_services_response?.service ?? []).map((s) => s.name));
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ list_services: '*' });
    });
    refl.close();
    expect(services).toContain('ais.enrichment.v1.EnrichmentService');
  });
});
