/**
 * Error catalogue. Codes, statuses and descriptions are the wire facts from TrueLayer's OpenAPI examples and the
 * reference's error table. Where the reference marks a status as UNCONFIRMED, the choice is noted.
 */
export interface TlErrorBody {
  error: string;
  error_description?: string;
  error_details?: Record<string, unknown>;
}

export class TlError extends Error {
  constructor(
    readonly status: number,
    readonly body: TlErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${status} ${body.error}`);
    this.name = 'TlError';
  }
}

/** Data API v1 error codes → status and sample description. */
export const DATA_ERRORS: Readonly<Record<string, { status: number; description: string }>> = {
  validation_error: { status: 400, description: 'The supplied parameters are not valid.' },
  invalid_date_range: { status: 400, description: 'Invalid date range provided.' },
  deprecated_provider: { status: 400, description: 'The provider has been deprecated.' },
  invalid_token: { status: 401, description: 'Invalid access token.' },
  access_denied: { status: 403, description: 'Access to a specific resource has been denied.' },
  sca_exceeded: {
    status: 403,
    description:
      'SCA exemption has expired. This resource is protected and should be accessed shortly after PSU Authentication. In order to access this resource, please have the PSU re-authenticate.',
  },
  invalid_credentials_key: { status: 403, description: 'Invalid credentials key.' },
  account_not_found: { status: 404, description: 'account not found' },
  task_not_found: { status: 404, description: 'task not found' },
  provider_too_many_requests: { status: 429, description: 'Provider rate limit exceeded.' },
  provider_request_limit_exceeded: {
    status: 429,
    description: 'Maximum number of requests per user allowed by provider exceeded.',
  },
  internal_server_error: { status: 500, description: 'Internal server error.' },
  endpoint_not_supported: { status: 501, description: 'Feature not supported by the provider' },
  provider_error: { status: 503, description: 'The provider service is unavailable.' },
  temporarily_unavailable: { status: 503, description: 'The provider service is unavailable.' },
  connector_overload: { status: 503, description: 'The connector service is currently overloaded.' },
  connector_timeout: { status: 504, description: 'The connector service timed out.' },
  provider_timeout: { status: 504, description: 'The provider service timed out.' },
  // Mock-user error codes: statuses are UNCONFIRMED; mapping suggested by the reference (§10.2).
  account_permanently_locked: { status: 403, description: 'The account is permanently locked.' },
  account_temporarily_locked: { status: 403, description: 'The account is temporarily locked.' },
  internal_error: { status: 500, description: 'Internal error.' },
  user_input_required: { status: 403, description: 'User input is required by the provider.' },
  wrong_credentials: { status: 401, description: 'The provided credentials are wrong.' },
};

export function dataError(code: string, overrides: { status?: number; description?: string } = {}): TlError {
  const known = DATA_ERRORS[code];
  const status = overrides.status ?? known?.status ?? 500;
  const description = overrides.description ?? known?.description ?? 'Error.';
  return new TlError(status, { error: code, error_description: description, error_details: {} });
}

/** Auth-server errors (shape: `error` required, optional description and `error_details.reason`). */
export const authErrors = {
  invalidGrant: (): TlError => new TlError(400, { error: 'invalid_grant' }),
  invalidRequest: (reason: string, status = 400): TlError =>
    new TlError(status, { error: 'invalid_request', error_description: 'Invalid request', error_details: { reason } }),
  invalidRefreshToken: (): TlError =>
    new TlError(401, {
      error: 'invalid_request',
      error_description: 'Invalid request',
      error_details: { reason: 'Invalid refresh_token' },
    }),
  unauthorizedClient: (): TlError =>
    new TlError(401, {
      error: 'unauthorized_client',
      error_description: 'The client credentials you have entered are incorrect. Please check and try again.',
      error_details: {},
    }),
  unauthorized: (reason = 'Invalid token'): TlError =>
    new TlError(401, { error: 'unauthorized', error_description: 'Unauthorized.', error_details: { reason } }),
  consentExpiredOrRevoked: (): TlError =>
    new TlError(400, {
      error: 'invalid_request',
      error_description: 'Invalid request',
      error_details: { reason: 'Consent expired or revoked' },
    }),
  internal: (): TlError =>
    new TlError(500, {
      error: 'internal_server_error',
      error_description: 'Sorry, we are experiencing technical difficulties. Please try again later.',
      error_details: {},
    }),
  notFound: (): TlError => new TlError(404, { error: 'not_found', error_description: 'Not found.', error_details: {} }),
};

/** RFC 7807 problem, used only by POST /data/v1/connections/extend. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: Record<string, string[]>,
  ) {
    super(title);
    this.name = 'ProblemError';
  }
}
