/**
 * Every example in TrueLayer's two OpenAPI documents (all response examples, success and error) must parse through
 * the client. Success examples of Data API endpoints are served through a fake fetch and read with the real client
 * methods; error examples must become a TrueLayerError with a code from ERROR_HANDLING.
 */
import type { z } from 'zod';
import { deref, isObj, loadOpenApi, type Json } from '../../test/support/reference';
import { scriptedFetch } from '../../test/support/fakes';
import { createTrueLayerClient } from './client';
import { customEnvironment } from './environment';
import { isKnownErrorCode, TrueLayerError } from './errors';
import { errorBodySchema, problemSchema } from './schemas/common';
import { asyncResponseSchema, batchResultsSchema, extendResponseSchema } from './schemas/data';
import {
  authUriResponseSchema,
  debugResponseSchema,
  providersResponseSchema,
  tokenResponseSchema,
} from './schemas/auth';
import type { DataRequest } from './data-client';

interface ExampleCase {
  doc: 'data' | 'auth';
  path: string;
  method: string;
  status: string;
  mediaType: string;
  exampleName: string;
  ref: string | undefined;
  value: Json;
}

function collect(docName: 'data' | 'auth', doc: { [k: string]: Json }): ExampleCase[] {
  const out: ExampleCase[] = [];
  const paths = doc['paths'];
  if (!isObj(paths)) throw new Error('no paths');
  for (const [path, ops] of Object.entries(paths)) {
    if (!isObj(ops)) continue;
    for (const [method, op] of Object.entries(ops)) {
      if (!isObj(op) || !isObj(op['responses'])) continue;
      for (const [status, rawResp] of Object.entries(op['responses'])) {
        const resp = deref(doc, rawResp);
        if (!isObj(resp) || !isObj(resp['content'])) continue;
        for (const [mediaType, media] of Object.entries(resp['content'])) {
          if (!isObj(media)) continue;
          if (isObj(media['examples'])) {
            for (const [exampleName, rawEx] of Object.entries(media['examples'])) {
              const ex = deref(doc, rawEx);
              const ref = isObj(rawEx) && typeof rawEx['$ref'] === 'string' ? rawEx['$ref'] : undefined;
              if (isObj(ex) && ex['value'] !== undefined) {
                out.push({ doc: docName, path, method, status, mediaType, exampleName, ref, value: ex['value'] });
              }
            }
          }
          if (media['example'] !== undefined) {
            out.push({ doc: docName, path, method, status, mediaType, exampleName: 'example', ref: undefined, value: media['example'] });
          }
        }
      }
    }
  }
  return out;
}

const dataDoc = loadOpenApi('data-api-v1.json');
const authDoc = loadOpenApi('authentication-server.json');
const dataCases = collect('data', dataDoc);
const authCases = collect('auth', authDoc);

const ACCOUNT = 'f1234560abf9f57287637624def390871';
const RANGE = { from: '2018-01-01', to: '2018-03-31' };
const DATA_REQUESTS: Record<string, DataRequest> = {
  '/me': { resource: 'me' },
  '/info': { resource: 'info' },
  '/accounts': { resource: 'accounts' },
  '/accounts/{account_id}': { resource: 'account', accountId: ACCOUNT },
  '/accounts/{account_id}/balance': { resource: 'balance', accountId: ACCOUNT },
  '/accounts/{account_id}/transactions': { resource: 'transactions', accountId: ACCOUNT, range: RANGE },
  '/accounts/{account_id}/transactions/pending': { resource: 'pendingTransactions', accountId: ACCOUNT, range: RANGE },
  '/accounts/{account_id}/standing_orders': { resource: 'standingOrders', accountId: ACCOUNT },
  '/accounts/{account_id}/direct_debits': { resource: 'directDebits', accountId: ACCOUNT },
  '/cards': { resource: 'cards' },
  '/cards/{account_id}': { resource: 'card', cardId: ACCOUNT },
  '/cards/{account_id}/balance': { resource: 'cardBalance', cardId: ACCOUNT },
  '/cards/{account_id}/transactions': { resource: 'cardTransactions', cardId: ACCOUNT, range: RANGE },
  '/cards/{account_id}/transactions/pending': { resource: 'cardPendingTransactions', cardId: ACCOUNT, range: RANGE },
};

function clientServing(status: number, body: Json) {
  const f = scriptedFetch([{ status, body }]);
  const client = createTrueLayerClient({
    environment: customEnvironment({ authBaseUrl: 'https://auth.example', apiBaseUrl: 'https://api.truelayer.com' }),
    clientId: 'cid',
    clientSecret: 'csecret',
    fetch: f.fetch,
    retry: { maxAttempts: 1 },
  });
  return { client, calls: f.calls };
}

function expectParses(schema: z.ZodType, value: Json) {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(JSON.stringify(r.error.issues, null, 1));
  return r.data;
}

describe('OpenAPI example inventory', () => {
  it('finds the 40 Data API examples (README count) and walks every response that uses one', () => {
    const comps = dataDoc['components'];
    expect(isObj(comps) && isObj(comps['examples']) ? Object.keys(comps['examples']) : []).toHaveLength(40);
    // Every (path, method, status, media type, example) occurrence is tested below.
    expect(dataCases.length).toBeGreaterThan(150);
    expect(authCases.length).toBeGreaterThanOrEqual(15);
  });

  it('covers every components.examples entry (unreferenced ones parse with the matching shape)', () => {
    for (const doc of [dataDoc, authDoc]) {
      const comps = doc['components'];
      const examples = isObj(comps) && isObj(comps['examples']) ? comps['examples'] : {};
      for (const [name, ex] of Object.entries(examples)) {
        const value = isObj(ex) ? ex['value'] : undefined;
        expect(value).toBeDefined();
        const referenced = [...dataCases, ...authCases].some((c) => c.ref === `#/components/examples/${name}`);
        if (referenced) continue;
        // Not referenced from any response (document bugs, noted in the report): classify by shape.
        const v = value as Json;
        if (isObj(v) && 'error' in v) expectParses(errorBodySchema, v);
        else if (isObj(v) && 'trace_id' in v) expectParses(problemSchema, v);
        else throw new Error(`unclassified unreferenced example ${name}`);
      }
    }
  });
});

describe('Data API v1 examples parse through the client', () => {
  const success = dataCases.filter((c) => c.status.startsWith('2'));
  const errors = dataCases.filter((c) => !c.status.startsWith('2'));

  it.each(success.map((c) => [`${c.method.toUpperCase()} ${c.path} ${c.status} ${c.exampleName}`, c] as const))(
    '%s',
    async (_n, c) => {
      const request = DATA_REQUESTS[c.path];
      if (c.status === '202') {
        expectParses(asyncResponseSchema, c.value);
        if (request) {
          const { client } = clientServing(202, c.value);
          const task = await client.data.startTask('tok', request, {});
          expect(task.taskId).toMatch(/[0-9a-f-]{36}/);
        }
        return;
      }
      if (c.path === '/batch/results') {
        expectParses(batchResultsSchema, c.value);
        return;
      }
      if (c.path === '/connections/extend') {
        expectParses(extendResponseSchema, c.value);
        const { client } = clientServing(200, c.value);
        const r = await client.data.extendConnection({
          refreshToken: 'rt',
          redirectUri: 'https://app/cb',
          user: { id: 'u1', name: 'A', email: 'a@b.c' },
          userHasReconfirmedConsent: true,
        });
        expect(r.action).toBe((c.value as { action_needed: string }).action_needed);
        return;
      }
      if (!request) throw new Error(`no client mapping for ${c.path}`);
      const { client, calls } = clientServing(200, c.value);
      const res = await client.data.get('tok', request);
      const expected = (c.value as { results: unknown[] }).results;
      expect(res.results).toHaveLength(expected.length);
      expect(res.status).toBe('Succeeded');
      expect(res.correlationId).toBe('tl-1');
      expect(calls[0]?.url.startsWith(`https://api.truelayer.com/data/v1${c.path.replace('{account_id}', ACCOUNT)}`)).toBe(true);
      // Unknown fields are kept: every key of the example is still present on the parsed item.
      (expected as Record<string, unknown>[]).forEach((item, i) => {
        expect(Object.keys(res.results[i] as object).sort()).toEqual(expect.arrayContaining(Object.keys(item)));
      });
    },
  );

  it.each(errors.map((c) => [`${c.method.toUpperCase()} ${c.path} ${c.status} ${c.exampleName}`, c] as const))(
    '%s',
    async (_n, c) => {
      const request = DATA_REQUESTS[c.path];
      if (c.mediaType === 'application/problem+json') {
        expectParses(problemSchema, c.value);
        const { client } = clientServing(Number(c.status), c.value);
        const err = await client.data
          .extendConnection({
            refreshToken: 'rt',
            redirectUri: 'https://app/cb',
            user: { id: 'u1' },
            userHasReconfirmedConsent: true,
          })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TrueLayerError);
        expect(isKnownErrorCode((err as TrueLayerError).code)).toBe(true);
        expect((err as TrueLayerError).traceId).toBeDefined();
        return;
      }
      const body = expectParses(errorBodySchema, c.value) as { error: string };
      if (!request) return; // batch endpoints: shape checked above
      const { client } = clientServing(Number(c.status), c.value);
      const err = await client.data.get('tok', request).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TrueLayerError);
      const e = err as TrueLayerError;
      expect(e.code).toBe(body.error);
      expect(isKnownErrorCode(e.code)).toBe(true);
      expect(e.httpStatus).toBe(Number(c.status));
      expect(e.correlationId).toBe('tl-1');
    },
  );
});

describe('auth-server examples parse', () => {
  const schemaFor = (c: ExampleCase): z.ZodType => {
    if (!c.status.startsWith('2')) return errorBodySchema;
    switch (c.path) {
      case '/connect/token':
        return tokenResponseSchema;
      case '/v1/authuri':
      case '/v1/reauthuri':
        return authUriResponseSchema;
      case '/api/debug':
        return debugResponseSchema;
      case '/api/providers':
        return providersResponseSchema;
      default:
        throw new Error(`unmapped ${c.path}`);
    }
  };
  it.each(authCases.map((c) => [`${c.method.toUpperCase()} ${c.path} ${c.status} ${c.exampleName}`, c] as const))(
    '%s',
    (_n, c) => {
      const parsed = expectParses(schemaFor(c), c.value);
      if (!c.status.startsWith('2')) expect(isKnownErrorCode((parsed as { error: string }).error)).toBe(true);
      if (c.path === '/api/providers' && c.status.startsWith('2')) {
        for (const p of parsed as { scopes: string[] }[]) expect(Array.isArray(p.scopes)).toBe(true);
      }
    },
  );
});

describe('lenient details of specific examples', () => {
  const find = (name: string) => {
    const c = dataCases.find((x) => x.ref === `#/components/examples/${name}`);
    if (!c) throw new Error(name);
    return c;
  };
  it('normalises timestamps and keeps the malformed card-balance timestamp verbatim', async () => {
    const { client } = clientServing(200, find('GetCardBalance200Response').value);
    const r = await client.data.cardBalance('t', 'c1');
    expect(r.results[0]).toMatchObject({
      available: 3279,
      last_statement_date: '2017-01-28T00:00:00.000Z',
      update_timestamp: '2017-02-247T17:29:24.740802Z',
    });
  });
  it('turns string amounts into numbers (standing orders)', async () => {
    const value = find('GetAccountStandingOrders200Response').value as { results: Record<string, unknown>[] };
    const patched = { results: value.results.map((r) => ({ ...r, next_payment_amount: '500.00' })) };
    const { client } = clientServing(200, patched as Json);
    const r = await client.data.standingOrders('t', 'a1');
    expect(r.results[0]?.next_payment_amount).toBe(500);
    expect(r.results[0]?.final_payment_date).toBe('9999-12-31T00:00:00.000Z');
  });
  it('defaults a missing transaction_classification to [] (AU examples)', async () => {
    const { client } = clientServing(200, find('GetAccountTransactionsAU200Response').value);
    const r = await client.data.transactions('t', 'a1', RANGE);
    expect(r.results.every((t) => Array.isArray(t.transaction_classification))).toBe(true);
  });
});

