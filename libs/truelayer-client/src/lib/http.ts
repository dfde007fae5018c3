import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { errorBodySchema, problemSchema } from './schemas/common';
import { redact, TrueLayerError } from './errors';
import { recordAttempt } from './metrics';
import { DEFAULT_RETRY, defaultSleep, fullJitterDelay, parseRetryAfter, type RetryOptions } from './retry';

export const TRACER_NAME = '@ais/truelayer-client';

/** Span attribute names set by this client. Tokens, codes and secrets are never put on spans. */
export const SPAN_ATTRIBUTES = Object.freeze({
  correlationId: 'truelayer.correlation_id',
  clientCorrelationId: 'truelayer.client_correlation_id',
  credentialsId: 'truelayer.credentials_id',
  errorCode: 'truelayer.error_code',
  errorCategory: 'truelayer.error_category',
  attempts: 'truelayer.attempts',
  userPresent: 'truelayer.user_present',
  httpMethod: 'http.request.method',
  httpStatus: 'http.response.status_code',
  urlTemplate: 'url.template',
  serverAddress: 'server.address',
});

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface TransportOptions {
  /** Per-attempt timeout in ms (AbortSignal.timeout). Default 30000. */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** Defaults to the global (undici) fetch. */
  fetch?: FetchLike;
  /** Injectable for tests. */
  sleep?: SleepFn;
  /** Injectable for tests; returns [0,1). */
  random?: () => number;
  /** Injectable clock (ms since epoch). */
  now?: () => number;
  /** Defaults to `trace.getTracer('@ais/truelayer-client')`. */
  tracer?: Tracer;
  /** Generates `X-Client-Correlation-Id` when the caller supplies none. Default: random UUID. */
  generateCorrelationId?: () => string;
  userAgent?: string;
}

/** Per-call options accepted by every client method. */
export interface CallOptions {
  /**
   * The real end user's IP, ONLY when the user is present and caused this call. Sent as `X-PSU-IP`; such calls do
   * not count towards the bank's 4-unattended-calls-per-day limit. Never fake it; omit it for background jobs.
   */
  psuIp?: string;
  /** Sent as `X-Client-Correlation-Id`; generated when absent. */
  clientCorrelationId?: string;
  /** Overrides the transport's per-attempt timeout. */
  timeoutMs?: number;
  /** Overrides `retry.maxAttempts` for this call. */
  maxAttempts?: number;
  /** Caller cancellation (never retried). */
  signal?: AbortSignal;
  /** The connection's provider id, for the request metrics' `provider` label only (never sent). */
  provider?: string;
}

/**
 * - `idempotent`: retry retriable error responses, timeouts and network errors (GETs, read-only POSTs).
 * - `on-error-response`: retry only when the server answered with a retriable error (the request was not applied),
 *   never after a timeout/network error whose outcome is unknown (refresh grant, delete).
 * - `never`: single attempt (authorization-code exchange: codes are single use; connection extend).
 */
export type RetryPolicy = 'idempotent' | 'on-error-response' | 'never';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Origin or base URL without trailing slash. */
  baseUrl: string;
  /** Concrete path, already encoded. */
  path: string;
  /** Path with `{placeholders}` for span names and errors (low cardinality, no ids). */
  pathTemplate: string;
  query?: Record<string, string | undefined>;
  bearer?: string;
  body?: { kind: 'form'; data: Record<string, string | undefined> } | { kind: 'json'; data: unknown };
  retry: RetryPolicy;
  /** Values to scrub from any server-provided text that ends up in errors. */
  secrets?: (string | undefined)[];
  /** Accepted success statuses. Default [200]. */
  expect?: number[];
  /** Replaces baseUrl+path (used for `results_uri`, already validated by the caller). */
  absoluteUrl?: string;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, `undefined` for an empty body. */
  body: unknown;
  correlationId: string | undefined;
  credentialsId: string | undefined;
  clientCorrelationId: string;
  attempts: number;
}

const CORRELATION_ID_RE = /^[\x21-\x7e]{1,200}$/;

export class HttpTransport {
  private readonly timeoutMs: number;
  private readonly retry: Required<RetryOptions>;
  private readonly fetchFn: FetchLike;
  private readonly sleep: SleepFn;
  private readonly random: () => number;
  readonly now: () => number;
  private readonly tracer: Tracer;
  private readonly genId: () => string;
  private readonly userAgent: string | undefined;

  constructor(opts: TransportOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retry = { ...DEFAULT_RETRY, ...stripUndefined(opts.retry ?? {}) };
    if (!Number.isInteger(this.retry.maxAttempts) || this.retry.maxAttempts < 1) {
      throw new TypeError('retry.maxAttempts must be an integer >= 1');
    }
    if (!(this.timeoutMs > 0)) throw new TypeError('timeoutMs must be > 0');
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = opts.sleep ?? defaultSleep;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.tracer = opts.tracer ?? trace.getTracer(TRACER_NAME);
    this.genId = opts.generateCorrelationId ?? randomUUID;
    this.userAgent = opts.userAgent;
  }

  async request(req: HttpRequest, call: CallOptions = {}): Promise<HttpResponse> {
    if (call.psuIp !== undefined && isIP(call.psuIp) === 0) {
      throw new TypeError('psuIp must be the end user\'s real IPv4 or IPv6 address');
    }
    const clientCorrelationId = call.clientCorrelationId ?? this.genId();
    if (!CORRELATION_ID_RE.test(clientCorrelationId)) {
      throw new TypeError('clientCorrelationId must be 1-200 printable ASCII characters without spaces');
    }
    const maxAttempts = call.maxAttempts ?? this.retry.maxAttempts;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new TypeError('maxAttempts must be an integer >= 1');
    const timeoutMs = call.timeoutMs ?? this.timeoutMs;
    const url = req.absoluteUrl ?? buildUrl(req.baseUrl, req.path, req.query);
    const operation = `${req.method} ${req.pathTemplate}`;

    return this.tracer.startActiveSpan(
      `truelayer ${operation}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          [SPAN_ATTRIBUTES.httpMethod]: req.method,
          [SPAN_ATTRIBUTES.urlTemplate]: req.pathTemplate,
          [SPAN_ATTRIBUTES.serverAddress]: safeHost(url),
          [SPAN_ATTRIBUTES.clientCorrelationId]: clientCorrelationId,
          [SPAN_ATTRIBUTES.userPresent]: call.psuIp !== undefined,
        },
      },
      async (span) => {
        try {
          const res = await this.attemptLoop(req, call, span, {
            url,
            operation,
            clientCorrelationId,
            maxAttempts,
            timeoutMs,
          });
          span.setStatus({ code: SpanStatusCode.OK });
          return res;
        } catch (err) {
          if (err instanceof TrueLayerError) {
            span.setAttribute(SPAN_ATTRIBUTES.errorCode, err.code);
            span.setAttribute(SPAN_ATTRIBUTES.errorCategory, err.category);
            if (err.correlationId) span.setAttribute(SPAN_ATTRIBUTES.correlationId, err.correlationId);
            if (err.attempts !== undefined) span.setAttribute(SPAN_ATTRIBUTES.attempts, err.attempts);
            span.setStatus({ code: SpanStatusCode.ERROR, message: err.code });
          } else {
            span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
          }
          throw err;
        } finally {
          span.end();
        }
      },
    );
  }

  private async attemptLoop(
    req: HttpRequest,
    call: CallOptions,
    span: Span,
    ctx: { url: string; operation: string; clientCorrelationId: string; maxAttempts: number; timeoutMs: number },
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'x-client-correlation-id': ctx.clientCorrelationId,
    };
    if (call.psuIp !== undefined) headers['x-psu-ip'] = call.psuIp;
    if (req.bearer !== undefined) headers.authorization = `Bearer ${req.bearer}`;
    if (this.userAgent) headers['user-agent'] = this.userAgent;
    let body: string | undefined;
    if (req.body?.kind === 'form') {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = formEncode(req.body.data);
    } else if (req.body?.kind === 'json') {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.body.data);
    }
    const expect = req.expect ?? [200];
    const secrets = [...(req.secrets ?? []), req.bearer];

    for (let attempt = 1; ; attempt++) {
      let error: TrueLayerError;
      let serverAnswered = false;
      const timeoutSignal = AbortSignal.timeout(ctx.timeoutMs);
      const signals = [timeoutSignal];
      if (call.signal) signals.push(call.signal);
      const signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
      const started = performance.now();
      // One sample per attempt, once its body is read (or it failed): the HTTP status, else why there is none.
      const measure = (status: number | 'timeout' | 'network_error' | 'cancelled'): void =>
        recordAttempt({ endpoint: req.pathTemplate, method: req.method, status, provider: call.provider, seconds: (performance.now() - started) / 1000 });
      try {
        const res = await this.fetchFn(ctx.url, { method: req.method, headers, body, signal, redirect: 'manual' });
        const text = await res.text();
        measure(res.status);
        const parsed = parseJson(text);
        const correlationId = res.headers.get('x-tl-correlation-id') ?? undefined;
        const credentialsId = res.headers.get('x-credentials-id') ?? undefined;
        span.setAttribute(SPAN_ATTRIBUTES.httpStatus, res.status);
        if (correlationId) span.setAttribute(SPAN_ATTRIBUTES.correlationId, correlationId);
        if (credentialsId) span.setAttribute(SPAN_ATTRIBUTES.credentialsId, credentialsId);
        span.setAttribute(SPAN_ATTRIBUTES.attempts, attempt);
        if (expect.includes(res.status)) {
          if (parsed.ok === false) {
            throw new TrueLayerError({
              httpStatus: res.status,
              code: 'invalid_response',
              description: 'response body is not valid JSON',
              correlationId,
              clientCorrelationId: ctx.clientCorrelationId,
              credentialsId,
              operation: ctx.operation,
              attempts: attempt,
            });
          }
          return {
            status: res.status,
            headers: res.headers,
            body: parsed.value,
            correlationId,
            credentialsId,
            clientCorrelationId: ctx.clientCorrelationId,
            attempts: attempt,
          };
        }
        // Only a complete error answer proves the request was not applied (a body cut off by a timeout does not).
        serverAnswered = true;
        error = errorFromResponse({
          status: res.status,
          body: parsed.ok ? parsed.value : undefined,
          correlationId,
          credentialsId,
          clientCorrelationId: ctx.clientCorrelationId,
          retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), this.now()),
          operation: ctx.operation,
          attempts: attempt,
          secrets,
        });
      } catch (err) {
        if (err instanceof TrueLayerError) throw err;
        const timedOut = timeoutSignal.aborted || isTimeout(err);
        measure(call.signal?.aborted ? 'cancelled' : timedOut ? 'timeout' : 'network_error');
        if (call.signal?.aborted) throw call.signal.reason ?? err;
        error = new TrueLayerError({
          httpStatus: 0,
          code: timedOut ? 'request_timeout' : 'network_error',
          description: timedOut ? `no response within ${ctx.timeoutMs} ms` : 'request failed before a response arrived',
          clientCorrelationId: ctx.clientCorrelationId,
          operation: ctx.operation,
          attempts: attempt,
          cause: timedOut ? undefined : sanitiseCause(err),
        });
      }

      const policyAllows =
        req.retry === 'idempotent' || (req.retry === 'on-error-response' && serverAnswered);
      const retryAfterTooLong =
        error.retryAfterMs !== undefined && error.retryAfterMs > this.retry.maxRetryAfterMs;
      if (!error.retriable || !policyAllows || attempt >= ctx.maxAttempts || retryAfterTooLong) {
        throw error;
      }
      const delay = Math.max(fullJitterDelay(attempt, this.retry, this.random), error.retryAfterMs ?? 0);
      span.addEvent('truelayer.retry', {
        attempt,
        'truelayer.error_code': error.code,
        delay_ms: delay,
        ...(error.correlationId ? { [SPAN_ATTRIBUTES.correlationId]: error.correlationId } : {}),
      });
      await this.sleep(delay, call.signal);
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function isTimeout(err: unknown): boolean {
  // DOMException may come from another realm (jest, undici), so check the name rather than instanceof.
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
  return name === 'TimeoutError';
}

/** Keep only the error class and a code-ish field from network errors (messages can contain URLs). */
function sanitiseCause(err: unknown): Error {
  if (typeof err !== 'object' || err === null) return new Error('unknown network error');
  const { name, cause } = err as { name?: unknown; cause?: unknown };
  const causeCode = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  const e = new Error(typeof causeCode === 'string' ? causeCode : typeof name === 'string' ? name : 'network error');
  if (typeof name === 'string') e.name = name;
  return e;
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid';
  }
}

export function formEncode(data: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(data)) if (v !== undefined) p.append(k, v);
  return p.toString();
}

export function buildUrl(base: string, path: string, query?: Record<string, string | undefined>): string {
  const qs = query
    ? Object.entries(query)
        .filter((e): e is [string, string] => e[1] !== undefined)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
        .join('&')
    : '';
  return `${base}${path}${qs ? `?${qs}` : ''}`;
}

const EXTEND_PROBLEM_CODES: Record<number, string> = {
  400: 'extend_validation_error',
  401: 'extend_unauthorized',
  422: 'extend_not_possible',
};

export function errorFromResponse(r: {
  status: number;
  body: unknown;
  correlationId: string | undefined;
  credentialsId: string | undefined;
  clientCorrelationId: string | undefined;
  retryAfterMs: number | undefined;
  operation: string;
  attempts: number;
  secrets: (string | undefined)[];
}): TrueLayerError {
  const base = {
    httpStatus: r.status,
    correlationId: r.correlationId,
    credentialsId: r.credentialsId,
    clientCorrelationId: r.clientCorrelationId,
    retryAfterMs: r.retryAfterMs,
    operation: r.operation,
    attempts: r.attempts,
  };
  const scrub = (s: string | undefined) => (s === undefined ? undefined : redact(s, r.secrets));
  const oauth = errorBodySchema.safeParse(r.body);
  if (oauth.success) {
    return new TrueLayerError({
      ...base,
      code: oauth.data.error,
      description: scrub(oauth.data.error_description),
      details: scrubDetails(oauth.data.error_details, r.secrets),
    });
  }
  const problem = problemSchema.safeParse(r.body);
  if (problem.success) {
    const p = problem.data;
    const errors = p.errors;
    return new TrueLayerError({
      ...base,
      code: EXTEND_PROBLEM_CODES[r.status] ?? (r.status >= 500 ? 'internal_server_error' : 'extend_validation_error'),
      description: scrub([p.title, p.detail].filter(Boolean).join(': ')),
      traceId: p.trace_id,
      details: errors === undefined ? undefined : (scrubDetails({ errors }, r.secrets) ?? undefined),
    });
  }
  return new TrueLayerError({
    ...base,
    code: r.status >= 300 && r.status < 400 ? 'unexpected_redirect' : `http_${r.status}`,
    description: 'response without a TrueLayer error body',
  });
}

function scrubDetails(
  details: Record<string, unknown> | undefined,
  secrets: (string | undefined)[],
): Record<string, unknown> | undefined {
  if (details === undefined) return undefined;
  return JSON.parse(redact(JSON.stringify(details), secrets)) as Record<string, unknown>;
}

