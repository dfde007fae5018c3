/**
 * Loads TrueLayer's OpenAPI 3.0 documents, applies the documented corrections below and compiles response
 * validators with ajv (OpenAPI `nullable` converted, `$ref`s inlined, strict: false).
 */
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import path from 'node:path';

type Json = Record<string, unknown>;

const OPENAPI_DIR = path.resolve(__dirname, '../../../../shared/truelayer/openapi');

function load(name: string): Json {
  return JSON.parse(readFileSync(path.join(OPENAPI_DIR, name), 'utf8')) as Json;
}

function at(doc: Json, pointer: string): Json {
  let node: unknown = doc;
  for (const raw of pointer.replace(/^#\//, '').split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = (node as Json)[key];
    if (node === undefined) throw new Error(`unresolvable pointer ${pointer}`);
  }
  return node as Json;
}

/**
 * Places where the OpenAPI documents contradict their own examples and the reference (data-api-v1.md).
 * The sandbox follows the examples / observed behaviour; the schema is widened here, and each case is listed.
 */
export const SPEC_CORRECTIONS: ReadonlyArray<{ doc: 'auth' | 'data'; what: string; apply: (doc: Json) => void }> = [
  {
    doc: 'auth',
    what: 'GET /api/providers returns a bare array of providers (example, reference §4); the schema describes one object with `scopes` as a single string, `steps[]` as bare AuthInputStep items (the example nests them as {title, fields[]}) and additionalProperties:false although the example carries `availability`.',
    apply: (doc) => {
      const p = at(doc, '#/components/schemas/GetProvidersResponse');
      const props = p['properties'] as Json;
      props['scopes'] = { type: 'array', items: (props['scopes'] as Json)['enum'] ? { type: 'string', enum: (props['scopes'] as Json)['enum'] } : { type: 'string' } };
      // `steps[]` items are {title, fields: AuthInputStep[]} in the example; the schema puts AuthInputStep directly.
      props['steps'] = { type: 'array', items: { type: 'object', properties: { title: { type: 'string' }, fields: { type: 'array', items: { $ref: '#/components/schemas/AuthInputStep' } } } } };
      props['availability'] = { type: 'object', properties: { recommended_status: { type: 'string' }, updated_at: { type: 'string' } } };
      const content = at(doc, '#/paths/~1api~1providers/get/responses/200/content/application~1json');
      content['schema'] = { type: 'array', items: { $ref: '#/components/schemas/GetProvidersResponse' } };
    },
  },
  {
    doc: 'auth',
    what: 'POST /connect/token answers wrong client credentials and malformed refresh tokens with 401 (examples UnauthorizedClient401Response, InvalidRefreshToken401Response; reference §3.4) but the path lists only 200/400/500.',
    apply: (doc) => {
      (at(doc, '#/paths/~1connect~1token/post/responses') as Json)['401'] = { $ref: '#/components/responses/401' };
    },
  },
  {
    doc: 'auth',
    what: 'DELETE /api/delete with a missing/invalid bearer token: the path documents only 200/500; the sandbox answers 401 with the auth-server Error shape.',
    apply: (doc) => {
      (at(doc, '#/paths/~1api~1delete/delete/responses') as Json)['401'] = { $ref: '#/components/responses/401' };
    },
  },
  {
    doc: 'data',
    what: '`Me.scopes` enum lists six scopes; direct_debits and standing_orders appear when granted (reference §5.3).',
    apply: (doc) => {
      const items = at(doc, '#/components/schemas/Me/properties/scopes/items');
      items['enum'] = [...(items['enum'] as string[]), 'direct_debits', 'standing_orders'];
    },
  },
  {
    doc: 'data',
    what: '`CardBalance.available` is typed string but every example returns a number (reference §5.3).',
    apply: (doc) => {
      at(doc, '#/components/schemas/CardBalance/properties/available')['type'] = ['number', 'string'];
    },
  },
  {
    doc: 'data',
    what: 'Standing-order `*_amount` fields are typed string but the examples return numbers (reference §5.3).',
    apply: (doc) => {
      for (const f of ['next_payment_amount', 'first_payment_amount', 'final_payment_amount']) {
        at(doc, `#/components/schemas/AccountStandingOrder/properties/${f}`)['type'] = ['number', 'string'];
      }
    },
  },
  {
    doc: 'data',
    what: '`Problem.errors` is typed array but the validation example (and ASP.NET problem details) uses an object keyed by field.',
    apply: (doc) => {
      at(doc, '#/components/schemas/Problem/properties/errors')['type'] = ['object', 'array'];
    },
  },
];

export interface SpecValidator {
  /** Status codes documented for the operation. */
  statuses(pathTemplate: string, method: string): string[];
  /** Validator for the response body, or undefined when the response has no body. */
  validator(pathTemplate: string, method: string, status: number): ValidateFunction | undefined;
  operations(): Array<{ path: string; method: string }>;
}

function inline(node: unknown, doc: Json, depth = 0): unknown {
  if (depth > 40) throw new Error('$ref nesting too deep');
  if (Array.isArray(node)) return node.map((n) => inline(n, doc, depth + 1));
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Json;
  if (typeof obj['$ref'] === 'string') return inline(at(doc, obj['$ref']), doc, depth + 1);
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'example' || k === 'examples' || k === 'discriminator') continue;
    out[k] = inline(v, doc, depth + 1);
  }
  if (out['nullable'] === true) {
    const t = out['type'];
    if (typeof t === 'string') out['type'] = [t, 'null'];
    delete out['nullable'];
  }
  return out;
}

function makeAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('datetime', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) });
  ajv.addFormat('phone_number', /^\+?[0-9 ()-]{5,20}$/);
  return ajv;
}

export function loadSpec(name: 'authentication-server.json' | 'data-api-v1.json'): SpecValidator {
  const doc = load(name);
  const which = name.startsWith('auth') ? 'auth' : 'data';
  for (const c of SPEC_CORRECTIONS) if (c.doc === which) c.apply(doc);
  const ajv = makeAjv();
  const cache = new Map<string, ValidateFunction | undefined>();
  const op = (p: string, m: string): Json => {
    const paths = doc['paths'] as Json;
    const item = paths[p] as Json | undefined;
    const o = item?.[m.toLowerCase()] as Json | undefined;
    if (!o) throw new Error(`operation ${m} ${p} not in ${name}`);
    return o;
  };
  return {
    statuses: (p, m) => Object.keys(op(p, m)['responses'] as Json),
    validator(p, m, status) {
      const key = `${m} ${p} ${status}`;
      if (cache.has(key)) return cache.get(key);
      let response = (op(p, m)['responses'] as Json)[String(status)] as Json | undefined;
      if (!response) throw new Error(`status ${status} is not documented for ${m} ${p}`);
      if (typeof response['$ref'] === 'string') response = at(doc, response['$ref']);
      const content = response['content'] as Json | undefined;
      const media = (content?.['application/json'] ?? content?.['application/problem+json']) as Json | undefined;
      const schema = media?.['schema'];
      const fn = schema ? ajv.compile(inline(schema, doc) as Json) : undefined;
      cache.set(key, fn);
      return fn;
    },
    operations() {
      const out: Array<{ path: string; method: string }> = [];
      for (const [p, item] of Object.entries(doc['paths'] as Json)) {
        for (const m of Object.keys(item as Json)) if (['get', 'post', 'put', 'delete', 'patch'].includes(m)) out.push({ path: p, method: m });
      }
      return out;
    },
  };
}
