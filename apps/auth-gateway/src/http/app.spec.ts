import request from 'supertest';
import { harness } from '../../test/harness';
import { publicApp } from './app';

describe('auth-gateway HTTP surface', () => {
  it('serves liveness always and readiness from its dependencies', async () => {
    const h = harness();
    await request(h.pub).get('/livez').expect(200, { status: 'ok' });
    await request(h.pub).get('/readyz').expect(200);
    h.deps.ready = () => false;
    await request(publicApp(h.deps)).get('/readyz').expect(503, { status: 'not_ready' });
  });

  it('answers unknown routes, bad JSON and oversized bodies with problem JSON', async () => {
    const app = harness().admin;
    const nf = await request(app).get('/nope').expect(404);
    expect(nf.headers['content-type']).toContain('application/problem+json');
    expect(nf.body).toMatchObject({ status: 404, code: 'route_not_found', instance: '/nope' });
    const bad = await request(app).post('/diagnostics/probes').set('content-type', 'application/json').send('{"origin":').expect(400);
    expect(bad.body.code).toBe('malformed_json');
    const big = await request(app).post('/diagnostics/probes').send({ origin: 'x'.repeat(5000) }).expect(413);
    expect(big.body.code).toBe('body_too_large');
    const wrongType = await request(app).post('/diagnostics/probes').send({ origin: 42 }).expect(400);
    expect(wrongType.body).toMatchObject({ code: 'invalid_origin', errors: [{ field: 'origin' }] });
  });

  it('maps downstream gRPC errors to their HTTP status', async () => {
    const res = await request(harness().admin).get('/diagnostics/probes/p1').expect(404);
    expect(res.body).toMatchObject({ code: 'probe_not_found', detail: 'probe x has not reached data-fetcher' });
  });

  it('does not serve operator routes on the public listener', async () => {
    const h = harness();
    await request(h.pub).post('/diagnostics/probes').send({}).expect(404);
    await request(h.pub).post('/admin/api-clients').send({ name: 'x' }).expect(404);
  });
});
