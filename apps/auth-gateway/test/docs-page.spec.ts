/**
 * The API reference page's routes (the browser test is tests/integration/api-docs.int-spec.ts): the page and its
 * start-up script under a CSP that allows this origin only, Swagger UI's files from swagger-ui-dist, and nothing
 * else of that package (its own index.html and initializer point at a public demo document).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import request from 'supertest';
import { DOCS_INIT } from '../src/docs/docs.routes';
import { harness } from './harness';

const dist = dirname(require.resolve('swagger-ui-dist/package.json'));

describe('GET /docs', () => {
  it('is an HTML page with no inline script, loading Swagger UI and its start-up from this origin, under a strict CSP', async () => {
    const res = await request(harness().pub).get('/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'"]) expect(csp).toContain(d);
    expect(csp).not.toMatch(/unsafe-|https?:|\*/);
    const scripts = [...res.text.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)];
    expect(scripts.map((m) => m[1]!.trim())).toEqual(['src="/docs/assets/swagger-ui-bundle.js"', 'src="/docs/init.js"']);
    expect(scripts.every((m) => m[2] === '')).toBe(true);
    expect(res.text).not.toMatch(/https?:\/\//);
  });

  it('its start-up script reads our own document, with the public validator off', async () => {
    const res = await request(harness().pub).get('/docs/init.js');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/javascript/);
    expect(res.text).toBe(DOCS_INIT);
    expect(res.text).toContain("url: '/v1/openapi.json'");
    expect(res.text).toContain('validatorUrl: null');
    expect(res.text).not.toMatch(/https?:\/\//);
  });

  it.each([
    ['swagger-ui-bundle.js', /javascript/],
    ['swagger-ui.css', /^text\/css/],
    ['favicon-32x32.png', /^image\/png/],
  ])('serves %s from swagger-ui-dist', async (file, type) => {
    const res = await request(harness().pub).get(`/docs/assets/${file}`).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(type);
    expect((res.body as Buffer).equals(readFileSync(join(dist, file)))).toBe(true);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  });

  it.each(['index.html', 'swagger-initializer.js', 'package.json', '..%2Fpackage.json', '.env'])('does not serve %s (404 problem)', async (file) => {
    const res = await request(harness().pub).get(`/docs/assets/${file}`);
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('answers other methods with 405 and Allow', async () => {
    const res = await request(harness().pub).post('/docs').send({});
    expect(res.status).toBe(405);
    expect(res.headers['allow']).toBe('GET, HEAD');
  });
});
