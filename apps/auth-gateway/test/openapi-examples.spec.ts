/**
 * Every operation of the OpenAPI document (what the /docs page shows) carries examples: a request example (each
 * request body media type, each path and header parameter) and a response example (each success or redirect
 * response: its body in each media type, or the Location header of a body-less redirect), plus the shared problem
 * response. Every example is valid against the schema next to it, so the docs never show a request the server
 * would refuse for its shape or an answer the document does not allow.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { openApiDocument } from '../src/api/openapi';

type Json = Record<string, unknown>;
interface Media {
  schema: Json;
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}
interface Response {
  $ref?: string;
  content?: Record<string, Media>;
  headers?: Record<string, { schema: Json; example?: unknown }>;
}
interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; schema: Json; example?: unknown }[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, Response>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Response> };
}

const doc = openApiDocument as unknown as Doc;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([m]) => METHODS.includes(m)).map(([m, op]) => ({ where: `${m.toUpperCase()} ${path}`, op })));
const examplesOf = (m: Media): unknown[] => [...(m.example !== undefined ? [m.example] : []), ...Object.values(m.examples ?? {}).map((e) => e.value)];

/** What an operation lacks: `[]` when it has every example. */
export function missingExamples(op: Operation): string[] {
  const missing: string[] = [];
  for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) if (examplesOf(media).length === 0) missing.push(`request body ${type}`);
  for (const p of op.parameters ?? []) if ((p.in === 'path' || p.in === 'header') && p.example === undefined) missing.push(`${p.in} parameter ${p.name}`);
  const success = Object.entries(op.responses).filter(([status]) => /^[23]\d\d$/.test(status));
  if (success.length === 0) missing.push('a success response');
  for (const [status, r] of success) {
    if (r.content) {
      for (const [type, media] of Object.entries(r.content)) if (examplesOf(media).length === 0) missing.push(`response ${status} ${type}`);
    } else if (!Object.values(r.headers ?? {}).some((h) => h.example !== undefined)) {
      missing.push(`response ${status} (no body: a header example)`);
    }
  }
  return missing;
}

describe('every operation of the OpenAPI document has examples', () => {
  it.each(operations.map(({ where, op }) => [where, op] as const))('%s', (_where, op) => {
    expect(missingExamples(op)).toEqual([]);
  });

  it('covers all operations, and a bare operation is reported (so the check can fail)', () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    expect(
      missingExamples({
        operationId: 'bare',
        parameters: [{ name: 'userId', in: 'path', schema: { type: 'string' } }],
        requestBody: { content: { 'application/json': { schema: {} } } },
        responses: { '200': { content: { 'application/json': { schema: {} } } }, '303': {} },
      }),
    ).toEqual(['request body application/json', 'path parameter userId', 'response 200 application/json', 'response 303 (no body: a header example)']);
  });

  it('the shared problem response has an example', () => {
    expect(examplesOf(doc.components.responses['Problem']!.content!['application/problem+json']!)).toHaveLength(1);
  });
});

describe('every example is valid against its schema', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'urn:ais:openapi', components: doc.components });
  /** Schemas refer to '#/components/schemas/X': resolved against the document. */
  const check = (schema: Json, value: unknown): string => {
    const rooted = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"urn:ais:openapi#/components/')) as Json;
    const v = ajv.compile(rooted);
    return v(value) ? '' : ajv.errorsText(v.errors);
  };
  const resolve = (r: Response): Response => (r.$ref ? doc.components.responses[r.$ref.split('/').pop()!]! : r);
  const cases: [string, Json, unknown][] = [];
  for (const { where, op } of operations) {
    for (const p of op.parameters ?? []) if (p.example !== undefined) cases.push([`${where} ${p.in} ${p.name}`, p.schema, p.example]);
    for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) for (const e of examplesOf(media)) cases.push([`${where} request ${type}`, media.schema, e]);
    for (const [status, r] of Object.entries(op.responses)) {
      const res = resolve(r);
      for (const [type, media] of Object.entries(res.content ?? {})) for (const e of examplesOf(media)) cases.push([`${where} ${status} ${type}`, media.schema, e]);
      for (const [name, h] of Object.entries(res.headers ?? {})) if (h.example !== undefined) cases.push([`${where} ${status} header ${name}`, h.schema, h.example]);
    }
  }

  it('there are examples to check', () => {
    expect(cases.length).toBeGreaterThan(60);
  });

  it.each(cases)('%s', (_where, schema, example) => {
    expect(check(schema, example)).toBe('');
  });

  it('a wrong example is refused (so the check can fail)', () => {
    expect(check({ $ref: '#/components/schemas/Connection' }, { status: 'sleeping' })).not.toBe('');
  });
});
