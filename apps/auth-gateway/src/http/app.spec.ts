import { AppError } from '@ais/platform-errors';
import { createLogger } from '@ais/platform-logger';
import { Writable } from 'node:stream';
import request from 'supertest';
import type { Downstreams } from '../clients/grpc-clients';
import { adminApp, publicApp, type AppDeps } from './app';

const logger = createLogger({ service: 'gw-test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function deps(overrides: Partial<Downstreams> = {}, ready = true): AppDeps {
  const downstreams = {
    tokenVault: { startProbe: jest.fn(async (r: { probeId: string }) => ({ probeId: r.probeId, eventId: 'e-1' })) },
    fetcher: {
      getProbe: jest.fn(async () => {
        throw AppError.notFound('probe_not_found', 'probe x has not reached data-fetcher');
      }),
    },
    close: () => undefined,
    ...overrides,
  } as unknown as Downstreams;
  return { logger, downstreams, ready: () => ready, bodyLimit: '1kb', trustProxy: 'loopback' };
}

describe('auth-gateway HTTP surface', () => {
  it('serves liveness always and readiness from its dependencies', async () => {
    await request(publicApp(deps())).get('/livez').expect(200, { status: 'ok' });
    await request(publicApp(deps())).get('/readyz').expect(200);
    await request(publicApp(deps({}, false))).get('/readyz').expect(503, { status: 'not_ready' });
  });

  it('answers unknown routes, bad JSON and oversized bodies with problem JSON', async () => {
    const app = adminApp(deps());
    const nf = await request(app).get('/nope').expect(404);
    expect(nf.headers['content-type']).toContain('application/problem+json');
    expect(nf.body).toMatchObject({ status: 404, code: 'route_not_found', instance: '/nope' });
    const bad = await request(app).post('/diagnostics/probes').set('content-type', 'application/json').send('{"origin":').expect(400);
    expect(bad.body.code).toBe('malformed_json');
    const big = await request(app).post('/diagnostics/probes').send({ origin: 'x'.repeat(5000) }).expect(400);
    expect(big.body.code).toBe('body_too_large');
    const wrongType = await request(app).post('/diagnostics/probes').send({ origin: 42 }).expect(400);
    expect(wrongType.body).toMatchObject({ code: 'invalid_origin', errors: [{ field: 'origin' }] });
  });

  it('maps downstream gRPC errors to their HTTP status', async () => {
    const res = await request(adminApp(deps())).get('/diagnostics/probes/p1').expect(404);
    expect(res.body).toMatchObject({ code: 'probe_not_found', detail: 'probe x has not reached data-fetcher' });
  });

  it('does not serve operator routes on the public listener', async () => {
    await request(publicApp(deps())).post('/diagnostics/probes').send({}).expect(404);
  });
});
