/**
 * Typed TrueLayer errors and the handling table every caller uses to decide what to do next.
 *
 * Sources: reference §3.4 (token errors), §10.2 (Data API codes), §11 (sandbox mock-user codes), the auth-server
 * `Error.error` enum and the Data API `components.examples` error samples, plus the `/connections/extend` RFC 7807
 * problems (§9.3), which carry no `error` code and are mapped onto synthetic `extend_*` codes here.
 */

export type ErrorCategory =
  | 'token_expired'
  | 'consent_gone'
  | 'sca_window_passed'
  | 'unattended_limit'
  | 'provider_rate_limited'
  | 'provider_down'
  | 'not_supported'
  | 'invalid_request'
  | 'unknown';

export interface ErrorHandling {
  readonly category: ErrorCategory;
  /** True when repeating the *same* request later can succeed without any change (backoff applies). */
  readonly retriable: boolean;
  /** Usual HTTP status for the code (informational; several codes are seen with more than one). */
  readonly httpStatus: number;
}

const h = (httpStatus: number, category: ErrorCategory, retriable: boolean): ErrorHandling => ({
  httpStatus,
  category,
  retriable,
});

/**
 * Every error code in the reference, with its handling. `retriable` follows the docs table where it has a value and
 * the reference's inferences otherwise. Notes on the less obvious choices:
 * - `validation_error`: the docs table says "retry: yes", but only after fixing the parameters, so not retriable as-is.
 * - `invalid_token` / `unauthorized`: the access token is bad or expired: refresh, then repeat (not a blind retry).
 * - `invalid_request`: at `/connect/token` a malformed refresh token; at `/api/debug` "Consent expired or revoked".
 *   Either way the stored credential cannot be used again, so the user has to authenticate again.
 * - `invalid_grant` / `invalid_authorization_code`: code or refresh token invalid/used/expired, or consent expired.
 * - `account_temporarily_locked` (sandbox mock user): HTTP status unconfirmed; the user must act at the bank.
 */
export const ERROR_HANDLING = {
  // 400
  validation_error: h(400, 'invalid_request', false),
  invalid_date_range: h(400, 'invalid_request', false),
  deprecated_provider: h(400, 'not_supported', false),
  invalid_grant: h(400, 'consent_gone', false),
  invalid_client: h(400, 'invalid_request', false),
  invalid_authorization_code: h(400, 'consent_gone', false),
  // 401
  invalid_token: h(401, 'token_expired', false),
  unauthorized: h(401, 'token_expired', false),
  unauthorized_client: h(401, 'invalid_request', false),
  invalid_request: h(401, 'consent_gone', false),
  // 403
  access_denied: h(403, 'consent_gone', false),
  sca_exceeded: h(403, 'sca_window_passed', false),
  invalid_credentials_key: h(403, 'consent_gone', false),
  // 404
  account_not_found: h(404, 'invalid_request', false),
  not_found: h(404, 'invalid_request', false),
  // 429
  provider_too_many_requests: h(429, 'provider_rate_limited', true),
  provider_request_limit_exceeded: h(429, 'unattended_limit', false),
  // 5xx
  internal_server_error: h(500, 'unknown', true),
  endpoint_not_supported: h(501, 'not_supported', false),
  provider_error: h(503, 'provider_down', true),
  temporarily_unavailable: h(503, 'provider_down', true),
  connector_overload: h(503, 'provider_down', true),
  connector_timeout: h(504, 'provider_down', true),
  provider_timeout: h(504, 'provider_down', true),
  // Sandbox mock-user codes (§11); statuses follow the reference's suggested simulator mapping.
  account_permanently_locked: h(403, 'consent_gone', false),
  account_temporarily_locked: h(403, 'consent_gone', false),
  internal_error: h(500, 'unknown', true),
  user_input_required: h(403, 'consent_gone', false),
  wrong_credentials: h(401, 'consent_gone', false),
  // Synthetic codes for the RFC 7807 problems of POST /connections/extend (§9.3).
  extend_validation_error: h(400, 'invalid_request', false),
  extend_unauthorized: h(401, 'consent_gone', false),
  extend_not_possible: h(422, 'consent_gone', false),
  // Synthetic client-side codes (never sent by TrueLayer).
  request_timeout: h(0, 'unknown', true),
  network_error: h(0, 'unknown', true),
  invalid_response: h(0, 'unknown', false),
} as const satisfies Record<string, ErrorHandling>;

export type KnownErrorCode = keyof typeof ERROR_HANDLING;

/** Codes TrueLayer itself can send (excludes the synthetic client-side and extend codes). */
export const SYNTHETIC_ERROR_CODES: readonly KnownErrorCode[] = [
  'extend_validation_error',
  'extend_unauthorized',
  'extend_not_possible',
  'request_timeout',
  'network_error',
  'invalid_response',
];

export function isKnownErrorCode(code: string): code is KnownErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_HANDLING, code);
}

/**
 * Handling for any code, including unknown ones: the reference says treat unknown 5xx as retriable with backoff,
 * 4xx as not retriable, and 429 by its code (unknown 429 = rate limited, retriable).
 */
export function handlingFor(code: string, httpStatus: number): { category: ErrorCategory; retriable: boolean } {
  if (isKnownErrorCode(code)) {
    const known = ERROR_HANDLING[code];
    return { category: known.category, retriable: known.retriable };
  }
  if (httpStatus === 429) return { category: 'provider_rate_limited', retriable: true };
  if (httpStatus === 401) return { category: 'token_expired', retriable: false };
  if (httpStatus === 403) return { category: 'consent_gone', retriable: false };
  if (httpStatus === 501) return { category: 'not_supported', retriable: false };
  if (httpStatus === 503 || httpStatus === 504 || httpStatus === 502) return { category: 'provider_down', retriable: true };
  if (httpStatus >= 500) return { category: 'unknown', retriable: true };
  if (httpStatus >= 400) return { category: 'invalid_request', retriable: false };
  return { category: 'unknown', retriable: false };
}

export interface TrueLayerErrorInit {
  httpStatus: number;
  code: string;
  description?: string | undefined;
  correlationId?: string | undefined;
  clientCorrelationId?: string | undefined;
  credentialsId?: string | undefined;
  retryAfterMs?: number | undefined;
  /** `error_details` (auth server) or RFC 7807 `errors`; never contains request secrets. */
  details?: Record<string, unknown> | undefined;
  /** RFC 7807 `trace_id` of `/connections/extend` problems. */
  traceId?: string | undefined;
  /** Logical operation, e.g. `GET /data/v1/accounts/{account_id}` (templated: no ids, no query). */
  operation?: string | undefined;
  attempts?: number | undefined;
  cause?: unknown;
}

export class TrueLayerError extends Error {
  override readonly name = 'TrueLayerError';
  readonly httpStatus: number;
  readonly code: string;
  readonly description: string | undefined;
  readonly correlationId: string | undefined;
  readonly clientCorrelationId: string | undefined;
  readonly credentialsId: string | undefined;
  readonly category: ErrorCategory;
  readonly retriable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly traceId: string | undefined;
  readonly operation: string | undefined;
  readonly attempts: number | undefined;

  constructor(init: TrueLayerErrorInit) {
    const where = init.operation ? ` on ${init.operation}` : '';
    const status = init.httpStatus ? ` (HTTP ${init.httpStatus})` : '';
    super(
      `TrueLayer ${init.code}${status}${where}${init.description ? `: ${init.description}` : ''}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    const handling = handlingFor(init.code, init.httpStatus);
    this.httpStatus = init.httpStatus;
    this.code = init.code;
    this.description = init.description;
    this.correlationId = init.correlationId;
    this.clientCorrelationId = init.clientCorrelationId;
    this.credentialsId = init.credentialsId;
    this.category = handling.category;
    this.retriable = handling.retriable;
    this.retryAfterMs = init.retryAfterMs;
    this.details = init.details;
    this.traceId = init.traceId;
    this.operation = init.operation;
    this.attempts = init.attempts;
  }

  /** Plain object for structured logs (no secrets: the error never holds tokens, codes or client secrets). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      httpStatus: this.httpStatus,
      code: this.code,
      description: this.description,
      category: this.category,
      retriable: this.retriable,
      retryAfterMs: this.retryAfterMs,
      correlationId: this.correlationId,
      clientCorrelationId: this.clientCorrelationId,
      credentialsId: this.credentialsId,
      traceId: this.traceId,
      operation: this.operation,
      attempts: this.attempts,
      details: this.details,
    };
  }
}

export function isTrueLayerError(err: unknown): err is TrueLayerError {
  return err instanceof TrueLayerError;
}

/** Replaces every occurrence of the given secret values in `text` with `[REDACTED]`. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('[REDACTED]');
  }
  return out;
}
