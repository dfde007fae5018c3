/**
 * Every method Node's HTTP server accepts, on every documented path, over a real listener (as main.ts serves the
 * app): a documented method is served (never 405), any other is 405 with an Allow header naming exactly the
 * documented methods (HEAD with GET). CONNECT included: Node gives it to a separate 'connect' listener.
 */
import { METHODS, request as httpRequest } from 'node:http';
import { openApiDocument } from '../src/api/openapi';
import { listen } from '../src/http/listen';
import { harness } from './harness';

function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; allow: string | undefined; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, connection: 'close' }, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers['allow'], type: res.headers['content-type'] }));
    });
    // a CONNECT answer arrives as 'connect' (with the socket), not as 'response'
    req.on('connect', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, allow: res.headers['allow'], type: res.headers['content-type'] });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

jest.setTimeout(60_000);

describe('methods on documented paths over a real listener', () => {
  it('documented methods are served; every other method Node accepts is 405 with Allow (CONNECT too)', async () => {
    const h = harness();
    const { key } = await h.newClient({ rate: 100_000 });
    const server = await listen(h.pub, '127.0.0.1', 0);
    try {
      const ids: Record<string, string> = { userId: 'user-1', connectionId: 'conn-1', accountId: 'acc_1', transactionId: 'txn_1', erasureId: '0b7c3f4e-2a1d-4c5b-9e8f-7a6b5c4d3e2f' };
      const seen: string[] = [];
      for (const [template, ops] of Object.entries(openApiDocument.paths as Record<string, Record<string, unknown>>)) {
        const path = template.replace(/\{(\w+)\}/g, (_m, n: string) => ids[n]!);
        const documented = new Set(Object.keys(ops).map((m) => m.toUpperCase()));
        if (documented.has('GET')) documented.add('HEAD');
        const allow = [...documented].sort().join(', ');
        for (const method of METHODS) {
          const res = await send(server.port, method, path, { authorization: `Bearer ${key}` });
          if (documented.has(method)) {
            expect([template, method, res.status]).not.toEqual([template, method, 405]);
          } else if (method === 'OPTIONS') {
            expect([template, method, res.status, res.allow]).toEqual([template, method, 204, allow]);
          } else {
            expect([template, method, res.status, res.allow]).toEqual([template, method, 405, allow]);
            expect(res.type).toContain('application/problem+json');
          }
          seen.push(method);
        }
      }
      expect(seen).toContain('CONNECT');
      expect(seen).toContain('TRACE');
      // CONNECT to an authority (a proxy request) is no path of ours
      expect((await send(server.port, 'CONNECT', 'example.test:443', {})).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
