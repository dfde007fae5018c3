import {
  ERROR_HANDLING,
  handlingFor,
  isKnownErrorCode,
  redact,
  SYNTHETIC_ERROR_CODES,
  TrueLayerError,
  type ErrorCategory,
} from './errors';
import { isObj, loadOpenApi, loadReferenceMarkdown, type Json } from '../../test/support/reference';

/** `| 401 | \`invalid_token\` | ...` rows of the reference's error tables (§3.4 and §10.2). */
function tableCodes(md: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of md.matchAll(/^\|\s*(\d{3})\s*\|\s*`([a-z_]+)`\s*\|/gm)) {
    const [, status, code] = m;
    if (status && code && !out.has(code)) out.set(code, Number(status));
  }
  return out;
}

/** Backticked codes in the sentence that starts with `lead` (runs to the next blank line). */
function sentenceCodes(md: string, lead: string): string[] {
  const start = md.indexOf(lead);
  if (start < 0) throw new Error(`reference no longer contains: ${lead}`);
  const end = md.indexOf('\n\n', start);
  const chunk = md.slice(start + lead.length, end < 0 ? undefined : end);
  return [...chunk.matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string);
}

function exampleErrorCodes(doc: Json): string[] {
  const codes: string[] = [];
  const walk = (j: Json) => {
    if (Array.isArray(j)) j.forEach(walk);
    else if (isObj(j)) {
      const v = j['value'];
      if (isObj(v) && typeof v['error'] === 'string') codes.push(v['error']);
      Object.values(j).forEach(walk);
    }
  };
  const comps = isObj(doc) ? doc['components'] : undefined;
  if (isObj(comps)) walk(comps['examples'] ?? null);
  return codes;
}

describe('ERROR_HANDLING covers every code in the reference', () => {
  const md = loadReferenceMarkdown();
  const table = tableCodes(md);
  const authEnum = sentenceCodes(md, 'Auth-server `error` enum in the spec:');
  const mockCodes = sentenceCodes(md, 'Sandbox mock-user error codes (§11):');
  const mockUsers = [...md.matchAll(/`error\.([a-z_]+)`/g)].map((m) => m[1] as string);
  const dataExamples = exampleErrorCodes(loadOpenApi('data-api-v1.json'));
  const authExamples = exampleErrorCodes(loadOpenApi('authentication-server.json'));
  const authSchemaEnum = (() => {
    const doc = loadOpenApi('authentication-server.json');
    const comps = doc['components'];
    const schemas = isObj(comps) ? comps['schemas'] : undefined;
    const err = isObj(schemas) ? schemas['Error'] : undefined;
    const props = isObj(err) ? err['properties'] : undefined;
    const e = isObj(props) ? props['error'] : undefined;
    return isObj(e) && Array.isArray(e['enum']) ? (e['enum'] as string[]) : [];
  })();

  it('found the lists it parses (guards against a silently empty parse)', () => {
    expect(table.size).toBeGreaterThanOrEqual(23);
    expect(authEnum).toHaveLength(7);
    expect(mockCodes).toHaveLength(6);
    expect(mockUsers.length).toBeGreaterThanOrEqual(6);
    expect(dataExamples.length).toBeGreaterThanOrEqual(13);
    expect(authExamples.length).toBeGreaterThanOrEqual(5);
    expect(authSchemaEnum).toHaveLength(7);
  });

  it.each([...table.keys()])('table code %s is handled', (code) => {
    expect(isKnownErrorCode(code)).toBe(true);
  });

  it('uses the HTTP status the first reference table row gives for each code', () => {
    for (const [code, status] of table) {
      if (!isKnownErrorCode(code)) throw new Error(code);
      expect({ code, status: ERROR_HANDLING[code].httpStatus }).toEqual({ code, status });
    }
  });

  it('handles the auth-server enum (prose and OpenAPI schema), mock-user codes and every OpenAPI error example', () => {
    const all = new Set([...authEnum, ...authSchemaEnum, ...mockCodes, ...mockUsers, ...dataExamples, ...authExamples]);
    const missing = [...all].filter((c) => !isKnownErrorCode(c));
    expect(missing).toEqual([]);
  });

  it('has no code that is neither in the reference nor declared synthetic', () => {
    const referenced = new Set([
      ...table.keys(),
      ...authEnum,
      ...authSchemaEnum,
      ...mockCodes,
      ...dataExamples,
      ...authExamples,
    ]);
    const extra = Object.keys(ERROR_HANDLING).filter(
      (c) => !referenced.has(c) && !SYNTHETIC_ERROR_CODES.includes(c as never),
    );
    expect(extra).toEqual([]);
  });

  it('retries only where the reference says retrying helps', () => {
    const retriable = Object.entries(ERROR_HANDLING)
      .filter(([, h]) => h.retriable)
      .map(([c]) => c)
      .sort();
    expect(retriable).toEqual(
      [
        'connector_overload',
        'connector_timeout',
        'internal_error',
        'internal_server_error',
        'network_error',
        'provider_error',
        'provider_timeout',
        'provider_too_many_requests',
        'request_timeout',
        'temporarily_unavailable',
      ].sort(),
    );
    for (const [code, h] of Object.entries(ERROR_HANDLING)) {
      if (h.httpStatus >= 400 && h.httpStatus < 500 && code !== 'provider_too_many_requests') {
        expect({ code, retriable: h.retriable }).toEqual({ code, retriable: false });
      }
    }
  });

  it.each<[string, ErrorCategory]>([
    ['invalid_token', 'token_expired'],
    ['access_denied', 'consent_gone'],
    ['invalid_grant', 'consent_gone'],
    ['sca_exceeded', 'sca_window_passed'],
    ['provider_request_limit_exceeded', 'unattended_limit'],
    ['provider_too_many_requests', 'provider_rate_limited'],
    ['provider_error', 'provider_down'],
    ['temporarily_unavailable', 'provider_down'],
    ['connector_timeout', 'provider_down'],
    ['endpoint_not_supported', 'not_supported'],
    ['validation_error', 'invalid_request'],
    ['invalid_date_range', 'invalid_request'],
    ['account_not_found', 'invalid_request'],
  ])('%s -> %s', (code, category) => {
    expect(handlingFor(code, 0).category).toBe(category);
  });
});

describe('handlingFor unknown codes (reference §10.2 "Unknown codes")', () => {
  it.each<[number, ErrorCategory, boolean]>([
    [500, 'unknown', true],
    [502, 'provider_down', true],
    [503, 'provider_down', true],
    [504, 'provider_down', true],
    [429, 'provider_rate_limited', true],
    [400, 'invalid_request', false],
    [401, 'token_expired', false],
    [403, 'consent_gone', false],
    [501, 'not_supported', false],
    [302, 'unknown', false],
  ])('HTTP %i -> %s retriable=%s', (status, category, retriable) => {
    expect(handlingFor('some_new_code', status)).toEqual({ category, retriable });
  });
});

describe('TrueLayerError', () => {
  it('carries the fields and derives category/retriable from the code', () => {
    const e = new TrueLayerError({
      httpStatus: 429,
      code: 'provider_too_many_requests',
      description: 'Provider rate limit exceeded.',
      correlationId: 'c-1',
      retryAfterMs: 2000,
      operation: 'GET /data/v1/accounts',
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('TrueLayerError');
    expect(e.category).toBe('provider_rate_limited');
    expect(e.retriable).toBe(true);
    expect(e.retryAfterMs).toBe(2000);
    expect(e.message).toBe(
      'TrueLayer provider_too_many_requests (HTTP 429) on GET /data/v1/accounts: Provider rate limit exceeded.',
    );
    expect(e.toJSON()).toMatchObject({ code: 'provider_too_many_requests', correlationId: 'c-1', httpStatus: 429 });
  });

  it('redact() removes secret values', () => {
    expect(redact('token abc123secret was bad', ['abc123secret', undefined, ''])).toBe('token [REDACTED] was bad');
  });
});
