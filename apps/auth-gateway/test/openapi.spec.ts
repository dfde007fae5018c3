/**
 * The OpenAPI document against the server it describes:
 * - every /v1 route the public app registers (its router stacks walked) is documented with its methods, and every
 *   documented path and method is routed;
 * - the document is well-formed OpenAPI 3.1 as far as can be checked here (no OpenAPI validator package is
 *   installed; the fuzz run validates it against the official 3.1 schema): operations, path parameters, $refs and
 *   every schema compiling as JSON Schema 2020-12;
 * - its constraints are the server's: for each request below, the document's schemas accept it exactly when the
 *   server does not refuse it with a 400 problem.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request from 'supertest';
import { openApiDocument } from '../src/api/openapi';
import { harness, stateOf } from './harness';

type Json = Record<string, unknown>;
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Json;
}
interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, unknown>;
  security?: unknown[];
}

const doc = openApiDocument as unknown as { openapi: string; info: Json; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json>; responses: Record<string, Json>; securitySchemes: Record<string, Json> } };
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string | string[];
}

/** "METHOD /path/{param}" of every route in an Express app, walking mounted routers (prefix: their mount path). */
function routesOf(app: { router: { stack: Layer[] } }): Set<string> {
  const out = new Set<string>();
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const path = (prefix + layer.route.path).replace(/:(\w+)/g, '{$1}');
        const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all');
        for (const m of methods) out.add(`${m.toUpperCase()} ${path}`);
      } else if (layer.handle.stack) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  walk(app.router.stack, '');
  return out;
}

describe('the OpenAPI document and the router describe the same /v1 API', () => {
  it('every /v1 route is documented with its methods, and every documented operation is routed', () => {
    const routed = [...routesOf(harness().pub as unknown as { router: { stack: Layer[] } })].filter((r) => r.split(' ')[1]!.startsWith('/v1/'));
    // HEAD rides on GET (the callback's own HEAD only keeps GET's side effects away); the document lists GET.
    const withoutHead = routed.filter((r) => !(r.startsWith('HEAD ') && routed.includes(`GET ${r.slice(5)}`))).sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(withoutHead).toEqual(documented);
    expect(documented.length).toBeGreaterThanOrEqual(20);
    expect(documented).toContain('POST /v1/callback');
    expect(documented).toContain('DELETE /v1/users/{userId}');
  });

  it('the walk sees a route added after the document was written (so the comparison can fail)', () => {
    const h = harness();
    const app = h.pub as unknown as { router: { stack: Layer[] } } & { get: (p: string, f: () => void) => void };
    app.get('/v1/users/:userId/undocumented', () => undefined);
    expect(routesOf(app)).toContain('GET /v1/users/{userId}/undocumented');
  });
});

describe('the document is well-formed OpenAPI 3.1', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);

  it('has a 3.1 header, unique operation ids, status-code responses and declared security schemes', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(typeof doc.info['title']).toBe('string');
    expect(typeof doc.info['version']).toBe('string');
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    for (const [path, ops] of Object.entries(doc.paths)) {
      expect(path).toMatch(/^\/v1\//);
      for (const [method, op] of Object.entries(ops)) {
        expect(METHODS).toContain(method);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const code of Object.keys(op.responses)) expect([path, method, code]).toEqual([path, method, expect.stringMatching(/^[1-5]\d\d$/)]);
        for (const s of op.security ?? []) for (const name of Object.keys(s as Json)) expect(doc.components.securitySchemes[name]).toBeDefined();
      }
    }
  });

  it('every path template parameter is a required path parameter, and there are no others', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      const inTemplate = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const op of Object.values(ops)) {
        const params = op.parameters ?? [];
        expect([path, params.filter((p) => p.in === 'path').map((p) => p.name).sort()]).toEqual([path, inTemplate]);
        for (const p of params) expect([path, p.name, p.in === 'path' ? p.required : true]).toEqual([path, p.name, true]);
        expect(new Set(params.map((p) => `${p.in}:${p.name}`)).size).toBe(params.length);
      }
    }
  });

  it('every $ref resolves and every schema compiles as JSON Schema 2020-12', () => {
    const refs: string[] = [];
    const schemas: Json[] = [];
    const visit = (v: unknown, key: string | undefined) => {
      if (Array.isArray(v)) return v.forEach((x) => visit(x, undefined));
      if (typeof v !== 'object' || v === null) return;
      const o = v as Json;
      if (typeof o['$ref'] === 'string') refs.push(o['$ref']);
      if (key === 'schema') schemas.push(o);
      for (const [k, x] of Object.entries(o)) visit(x, k);
    };
    visit(doc, undefined);
    const resolve = (ref: string) => ref.replace(/^#\//, '').split('/').reduce<unknown>((o, k) => (o as Json | undefined)?.[k], doc);
    for (const ref of refs) expect([ref, resolve(ref) !== undefined]).toEqual([ref, true]);
    const withComponents = (s: Json) => ({ ...s, $defs: undefined, components: doc.components });
    for (const [name, s] of Object.entries(doc.components.schemas)) expect(() => ajv.compile(withComponents({ ...s, $id: `urn:schema:${name}` }))).not.toThrow();
    schemas.forEach((s, i) => expect(() => ajv.compile(withComponents({ ...s, $id: `urn:inline:${i}` }))).not.toThrow());
    expect(schemas.length).toBeGreaterThan(40);
  });
});

// ---- constraints: the document's verdict against the server's ------------------------------------------------------

const ajv = new Ajv2020({ strict: false, coerceTypes: true });
addFormats(ajv);

/** Resolves `#/components/schemas/X` (request bodies refer to their generated component). */
const deref = (s: Json): Json => (typeof s['$ref'] === 'string' ? doc.components.schemas[s['$ref'].split('/').pop()!]! : s);

interface Case {
  method: 'get' | 'post' | 'patch' | 'delete';
  template: string;
  path?: Record<string, string>;
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  body?: unknown;
}

/** Whether the document accepts a request: each parameter against its schema, the JSON body against its schema. */
function documentAccepts(c: Case): { ok: boolean; why: string[] } {
  const op = doc.paths[c.template]![c.method]!;
  const why: string[] = [];
  for (const p of op.parameters ?? []) {
    const source = p.in === 'path' ? c.path : p.in === 'query' ? c.query : Object.fromEntries(Object.entries(c.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const value = source?.[p.in === 'header' ? p.name.toLowerCase() : p.name];
    if (value === undefined) {
      if (p.required) why.push(`${p.in} ${p.name} missing`);
      continue;
    }
    if (!ajv.validate({ type: 'object', properties: { v: p.schema } }, { v: value })) why.push(`${p.in} ${p.name}`);
  }
  const media = op.requestBody?.content['application/json'];
  if (media && c.body !== undefined && !ajv.validate(deref(media.schema), structuredClone(c.body))) why.push(`body: ${ajv.errorsText()}`);
  return { ok: why.length === 0, why };
}

const U = { userId: 'user-1' };
const UC = { userId: 'user-1', connectionId: 'conn-1' };
const IP = { 'x-psu-ip': '192.0.2.7' };
const CASES: Case[] = [
  // connect sessions: providers / scopes need at least one item matching a pattern; closed bodies
  ...[
    { dialog: 'truelayer' },
    { dialog: 'hosted', providers: ['uk-ob-all', 'ob-barclays'] },
    { dialog: 'truelayer', scopes: ['info', 'accounts'] },
    {},
    { dialog: 'popup' },
    { dialog: 'truelayer', providers: [] },
    { dialog: 'truelayer', providers: ['UK-OB-ALL'] },
    { dialog: 'truelayer', providers: Array.from({ length: 51 }, (_, i) => `p${i}`) },
    { dialog: 'truelayer', scopes: [] },
    { dialog: 'truelayer', scopes: ['info', 'accounts!'] },
    { dialog: 'truelayer', response_mode: 'fragment' },
    { dialog: 'truelayer', extra: true },
  ].map((body): Case => ({ method: 'post', template: '/v1/users/{userId}/connect-sessions', path: U, body })),
  { method: 'post', template: '/v1/users/{userId}/connect-sessions', path: { userId: '-starts-with-dash' }, body: { dialog: 'truelayer' } },
  { method: 'post', template: '/v1/users/{userId}/connect-sessions', path: { userId: 'u'.repeat(129) }, body: { dialog: 'truelayer' } },
  // overview links: ttl_seconds an integer within bounds; closed body
  ...[{}, { ttl_seconds: 60 }, { ttl_seconds: 3600 }, { ttl_seconds: 59 }, { ttl_seconds: 3601 }, { ttl_seconds: 90.5 }, { other: 1 }].map(
    (body): Case => ({ method: 'post', template: '/v1/users/{userId}/overview-links', path: U, body }),
  ),
  { method: 'post', template: '/v1/users/{userId}/overview-links', path: { userId: '-starts-with-dash' }, body: {} },
  // re-consent: user_ip is an IP address
  ...[{}, { user_ip: '192.0.2.1' }, { user_ip: '2001:db8::1' }, { user_ip: '300.1.1.1' }, { user_ip: 'localhost' }, { user_reconfirmed: 'yes' }, { dialog: 'hosted', user_reconfirmed: false }, { dialog: 'x' }].map(
    (body): Case => ({ method: 'post', template: '/v1/users/{userId}/connections/{connectionId}/reconsent', path: UC, body }),
  ),
  { method: 'post', template: '/v1/users/{userId}/connections/{connectionId}/reconsent', path: { ...UC, connectionId: 'conn 1' }, body: {} },
  // refresh: the user's IP in the header or the body (one of them is always sent here: "neither" is a documented 400)
  ...[{ user_ip: '192.0.2.7' }, { user_ip: '::ffff:192.0.2.7' }, { user_ip: '10.0.0.300' }, { user_ip: 42 }, { user_ip: '192.0.2.7', other: 1 }].map(
    (body): Case => ({ method: 'post', template: '/v1/users/{userId}/connections/{connectionId}/refresh', path: UC, body }),
  ),
  ...['192.0.2.7', '2001:db8::7', 'localhost', '192.0.2'].map((ip): Case => ({ method: 'post', template: '/v1/users/{userId}/connections/{connectionId}/refresh', path: UC, headers: { 'x-psu-ip': ip }, body: {} })),
  // read API queries (no reconciliation in the harness: a request the route accepts answers 503)
  ...[
    {},
    { page_size: '1' },
    { page_size: '500' },
    { page_size: '0' },
    { page_size: '501' },
    { page_size: 'ten' },
    { from: '2026-01-31' },
    { from: '2026-01-31T10:00:00Z', to: '2026-02-01T00:00:00+01:00' },
    { from: '2026-13-01' },
    { from: 'yesterday' },
    { to: '2026-01-01T25:00:00Z' },
    { category: 'FOOD_AND_DRINK' },
    { category: 'food' },
    { q: 'pret' },
    { q: '' },
    { q: 'x'.repeat(101) },
    { status: 'booked' },
    { status: 'settled' },
    { include_hidden: 'yes' },
    { account_id: 'acc 1' },
    { merchant: '' },
  ].map((query): Case => ({ method: 'get', template: '/v1/users/{userId}/transactions', path: U, query })),
  ...[{ count: '1' }, { count: '0' }, { count: '1.5' }, { cursor: 'c'.repeat(1001) }].map((query): Case => ({ method: 'get', template: '/v1/users/{userId}/changes', path: U, query })),
  ...[{ from: '2026-01', to: '2026-03' }, { from: '2026-13' }, { to: '2026-1' }].map((query): Case => ({ method: 'get', template: '/v1/users/{userId}/spending-summary', path: U, query })),
  ...[{ page_size: '20' }, { page_token: 't'.repeat(1001) }].map((query): Case => ({ method: 'get', template: '/v1/users/{userId}/accounts', path: U, query })),
  // edits: closed bodies with at least one edit field
  ...[{ notes: null }, { tags: [] }, { category_override: 'FOOD_AND_DRINK_COFFEE', apply_to_merchant: true }, {}, { apply_to_merchant: true }, { tags: [''] }, { category_override: 'coffee' }, { category_override: 'FOOD_AND_DRINK' }, { hidden: 'no' }, { notes: 'n'.repeat(2001) }].map(
    (body): Case => ({ method: 'patch', template: '/v1/users/{userId}/transactions/{transactionId}', path: { ...U, transactionId: 'txn_1' }, body }),
  ),
  { method: 'patch', template: '/v1/users/{userId}/transactions/{transactionId}', path: { ...U, transactionId: 'txn_1' }, headers: { 'idempotency-key': 'edit-1' }, body: { notes: 'x' } },
  { method: 'patch', template: '/v1/users/{userId}/transactions/{transactionId}', path: { ...U, transactionId: 'txn_1' }, headers: { 'idempotency-key': 'edit 1' }, body: { notes: 'x' } },
  ...[{ hidden: true }, { category_override: 'FOOD_AND_DRINK' }, { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }].map(
    (body): Case => ({ method: 'patch', template: '/v1/users/{userId}/accounts/{accountId}', path: { ...U, accountId: 'acc_1' }, body }),
  ),
  // erasure status: a lower-case UUID
  ...['0b7c3f4e-2a1d-4c5b-9e8f-7a6b5c4d3e2f', '0B7C3F4E-2A1D-4C5B-9E8F-7A6B5C4D3E2F', 'er-1'].map((erasureId): Case => ({ method: 'get', template: '/v1/users/{userId}/erasures/{erasureId}', path: { ...U, erasureId } })),
  // the TrueLayer webhook: task_id an opaque id (1-128 characters, as data-fetcher checks it), results_uri at most 2000
  ...[
    { task_id: 'task-9', results_uri: 'https://tl.test/results/9', status: 'Succeeded' },
    { task_id: 't'.repeat(128), results_uri: 'https://tl.test/results/9', status: 'Succeeded' },
    { task_id: '', results_uri: 'https://tl.test/results/9', status: 'Succeeded' },
    { task_id: 't'.repeat(129), results_uri: 'https://tl.test/results/9', status: 'Succeeded' },
    { task_id: 'task 9', results_uri: 'https://tl.test/results/9', status: 'Succeeded' },
    { task_id: 'task-9', status: 'Succeeded' },
    { task_id: 'task-9', results_uri: 'https://tl.test/results/9', credentials_id: 'c'.repeat(201), status: 'Failed' },
  ].map((body): Case => ({ method: 'post', template: '/v1/webhooks/truelayer', body })),
];

describe("the document's constraints are the server's", () => {
  it.each(CASES.map((c) => [`${c.method.toUpperCase()} ${c.template} ${JSON.stringify({ path: c.path, query: c.query, headers: c.headers, body: c.body }).slice(0, 140)}`, c] as const))(
    '%s',
    async (_name, c) => {
      // the production body limit (HTTP_BODY_LIMIT's default): the document's field limits sit well inside it
      const h = harness({ bodyLimit: '100kb' });
      const { key } = await h.newClient();
      const url = c.template.replace(/\{(\w+)\}/g, (_m, n: string) => encodeURIComponent(c.path![n]!));
      let req = request(h.pub)[c.method](url).set('authorization', `Bearer ${key}`);
      if (c.template.endsWith('/refresh') && !c.headers && !(c.body as Json | undefined)?.['user_ip']) req = req.set(IP);
      for (const [k, v] of Object.entries(c.headers ?? {})) req = req.set(k, v);
      if (c.query) req = req.query(c.query);
      const res = c.body === undefined ? await req : await req.send(c.body as object);
      const verdict = documentAccepts(c);
      const refused = res.status === 400;
      if (refused) expect(res.headers['content-type']).toContain('application/problem+json');
      expect({ documentAccepts: verdict.ok, why: verdict.why, serverRefuses: refused, status: res.status, code: res.body?.code }).toEqual({ documentAccepts: !refused, why: verdict.why, serverRefuses: refused, status: res.status, code: res.body?.code });
    },
  );

  it('the callback: a missing or empty state is refused (documented minLength 1); a present one is not refused for that reason', async () => {
    const h = harness();
    const state = doc.paths['/v1/callback']!['get']!.parameters!.find((p) => p.name === 'state')!;
    expect(state).toMatchObject({ required: true, schema: { type: 'string', minLength: 1 } });
    expect(doc.paths['/v1/callback']!['post']!.requestBody!.content['application/x-www-form-urlencoded']!.schema).toMatchObject({ required: ['state'], properties: { state: { minLength: 1 } } });
    const missingText = 'opened without the information';
    for (const q of [{ code: 'c' }, { code: 'c', state: '' }]) {
      const res = await request(h.pub).get('/v1/callback').query(q).expect(400);
      expect(res.text).toContain(missingText);
      const form = await request(h.pub).post('/v1/callback').type('form').send(q).expect(400);
      expect(form.text).toContain(missingText);
    }
    // a state that is there but forged: refused for that, not for being missing
    const forged = await request(h.pub).get('/v1/callback').query({ code: 'c', state: 'x' }).expect(400);
    expect(forged.text).not.toContain(missingText);
    // a real state completes the journey
    const { key } = await h.newClient();
    const s = await request(h.pub).post('/v1/users/user-1/connect-sessions').set('authorization', `Bearer ${key}`).send({ dialog: 'truelayer' }).expect(201);
    await request(h.pub).get('/v1/callback').query({ code: 'c', state: stateOf(s.body.url as string) }).expect(303);
  });

  it('the cases cover both verdicts on every operation they name', () => {
    const byOp = new Map<string, Set<boolean>>();
    for (const c of CASES) {
      const k = `${c.method} ${c.template}`;
      byOp.set(k, (byOp.get(k) ?? new Set()).add(documentAccepts(c).ok));
    }
    for (const [op, verdicts] of byOp) expect([op, [...verdicts].sort()]).toEqual([op, [false, true]]);
  });
});
