/**
 * One error model for the whole platform. Code raises {@link AppError}s; only the edges translate them:
 * gRPC handlers to a status with details ({@link toGrpcStatus}), Express to problem JSON ({@link toProblem}),
 * Kafka consumers to retry-or-dead-letter ({@link dispositionOf}).
 *
 * gRPC status numbers are written out here so this library stays free of transport imports.
 */

export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

export type ErrorKind =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'conflict'
  | 'failed_precondition'
  | 'rate_limited'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'not_implemented'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'internal';

interface KindSpec {
  grpc: GrpcCode;
  http: number;
  retriable: boolean;
  title: string;
}

const KINDS: Record<ErrorKind, KindSpec> = {
  invalid_argument: { grpc: GrpcCode.INVALID_ARGUMENT, http: 400, retriable: false, title: 'Invalid request' },
  unauthenticated: { grpc: GrpcCode.UNAUTHENTICATED, http: 401, retriable: false, title: 'Unauthenticated' },
  permission_denied: { grpc: GrpcCode.PERMISSION_DENIED, http: 403, retriable: false, title: 'Forbidden' },
  not_found: { grpc: GrpcCode.NOT_FOUND, http: 404, retriable: false, title: 'Not found' },
  conflict: { grpc: GrpcCode.ALREADY_EXISTS, http: 409, retriable: false, title: 'Conflict' },
  failed_precondition: { grpc: GrpcCode.FAILED_PRECONDITION, http: 409, retriable: false, title: 'Precondition failed' },
  rate_limited: { grpc: GrpcCode.RESOURCE_EXHAUSTED, http: 429, retriable: true, title: 'Too many requests' },
  unavailable: { grpc: GrpcCode.UNAVAILABLE, http: 503, retriable: true, title: 'Service unavailable' },
  deadline_exceeded: { grpc: GrpcCode.DEADLINE_EXCEEDED, http: 504, retriable: true, title: 'Timed out' },
  not_implemented: { grpc: GrpcCode.UNIMPLEMENTED, http: 501, retriable: false, title: 'Not implemented' },
  // HTTP only: a known path asked with a method it does not have (405 with Allow)
  method_not_allowed: { grpc: GrpcCode.UNIMPLEMENTED, http: 405, retriable: false, title: 'Method not allowed' },
  // HTTP only: a body over the limit (413); a body of a type, encoding or charset the route does not read (415)
  payload_too_large: { grpc: GrpcCode.INVALID_ARGUMENT, http: 413, retriable: false, title: 'Payload too large' },
  unsupported_media_type: { grpc: GrpcCode.INVALID_ARGUMENT, http: 415, retriable: false, title: 'Unsupported media type' },
  internal: { grpc: GrpcCode.INTERNAL, http: 500, retriable: false, title: 'Internal error' },
};

export interface FieldViolation {
  field: string;
  description: string;
}

export interface AppErrorOptions {
  /** Stable, machine-readable code, e.g. `connection_not_found`. */
  code: string;
  message: string;
  kind: ErrorKind;
  /** Overrides the kind's default. */
  retriable?: boolean;
  retryAfterMs?: number;
  violations?: FieldViolation[];
  /** Safe, non-secret key/values for clients (never tokens). */
  details?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly retriable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly violations: FieldViolation[];
  readonly details: Record<string, string>;

  constructor(options: AppErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = options.code;
    this.kind = options.kind;
    this.retriable = options.retriable ?? KINDS[options.kind].retriable;
    this.retryAfterMs = options.retryAfterMs;
    this.violations = options.violations ?? [];
    this.details = options.details ?? {};
  }

  get grpcCode(): GrpcCode {
    return KINDS[this.kind].grpc;
  }

  get httpStatus(): number {
    return KINDS[this.kind].http;
  }

  static invalid(code: string, message: string, violations: FieldViolation[] = []): AppError {
    return new AppError({ code, message, kind: 'invalid_argument', violations });
  }
  static notFound(code: string, message: string): AppError {
    return new AppError({ code, message, kind: 'not_found' });
  }
  static unavailable(code: string, message: string, cause?: unknown): AppError {
    return new AppError({ code, message, kind: 'unavailable', cause });
  }
  static internal(message: string, cause?: unknown): AppError {
    return new AppError({ code: 'internal', message, kind: 'internal', cause });
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** Wraps anything thrown into an AppError; unknown errors become `internal` and keep the original as `cause`. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  return AppError.internal('Internal error', error);
}

/** RFC 9457 problem details. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  trace_id?: string;
  errors?: FieldViolation[];
  retry_after_ms?: number;
  [key: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem JSON for an error. Internal errors never leak their message or cause. */
export function toProblem(error: unknown, extra: { instance?: string; traceId?: string } = {}): Problem {
  const app = toAppError(error);
  const spec = KINDS[app.kind];
  const problem: Problem = {
    type: `https://docs.ais-platform.dev/problems/${app.code}`,
    title: spec.title,
    status: app.httpStatus,
    detail: app.kind === 'internal' ? 'An internal error occurred; quote the trace id when reporting it.' : app.message,
    code: app.code,
  };
  if (extra.instance) problem.instance = extra.instance;
  if (extra.traceId) problem.trace_id = extra.traceId;
  if (app.violations.length > 0) problem.errors = app.violations;
  if (app.retryAfterMs !== undefined) problem.retry_after_ms = app.retryAfterMs;
  return problem;
}

export interface GrpcStatusShape {
  code: GrpcCode;
  details: string;
  /** Metadata entries (ASCII) the transport layer attaches: error code, retriable, violations as JSON. */
  metadata: Record<string, string>;
}

export const ERROR_CODE_METADATA_KEY = 'ais-error-code';
export const ERROR_RETRIABLE_METADATA_KEY = 'ais-retriable';
export const ERROR_VIOLATIONS_METADATA_KEY = 'ais-violations';
export const ERROR_DETAILS_METADATA_KEY = 'ais-details';

export function toGrpcStatus(error: unknown): GrpcStatusShape {
  const app = toAppError(error);
  const metadata: Record<string, string> = {
    [ERROR_CODE_METADATA_KEY]: app.code,
    [ERROR_RETRIABLE_METADATA_KEY]: String(app.retriable),
  };
  if (app.violations.length > 0) metadata[ERROR_VIOLATIONS_METADATA_KEY] = JSON.stringify(app.violations);
  if (Object.keys(app.details).length > 0) metadata[ERROR_DETAILS_METADATA_KEY] = JSON.stringify(app.details);
  return {
    code: app.grpcCode,
    details: app.kind === 'internal' ? 'internal error' : app.message,
    metadata,
  };
}

const GRPC_TO_KIND: Partial<Record<number, ErrorKind>> = {
  [GrpcCode.INVALID_ARGUMENT]: 'invalid_argument',
  [GrpcCode.OUT_OF_RANGE]: 'invalid_argument',
  [GrpcCode.UNAUTHENTICATED]: 'unauthenticated',
  [GrpcCode.PERMISSION_DENIED]: 'permission_denied',
  [GrpcCode.NOT_FOUND]: 'not_found',
  [GrpcCode.ALREADY_EXISTS]: 'conflict',
  [GrpcCode.FAILED_PRECONDITION]: 'failed_precondition',
  [GrpcCode.ABORTED]: 'conflict',
  [GrpcCode.RESOURCE_EXHAUSTED]: 'rate_limited',
  [GrpcCode.UNAVAILABLE]: 'unavailable',
  [GrpcCode.DEADLINE_EXCEEDED]: 'deadline_exceeded',
  [GrpcCode.UNIMPLEMENTED]: 'not_implemented',
};

/** Rebuilds an AppError on the client side of a gRPC call from its status code and metadata. */
export function fromGrpcStatus(code: number, details: string, metadata: Record<string, string | undefined>): AppError {
  const kind = GRPC_TO_KIND[code] ?? 'internal';
  const parse = <T>(raw: string | undefined, fallback: T): T => {
    if (!raw) return fallback;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return fallback;
    }
  };
  const retriable = metadata[ERROR_RETRIABLE_METADATA_KEY];
  return new AppError({
    code: metadata[ERROR_CODE_METADATA_KEY] ?? `grpc_${code}`,
    message: details,
    kind,
    ...(retriable === undefined ? {} : { retriable: retriable === 'true' }),
    violations: parse<FieldViolation[]>(metadata[ERROR_VIOLATIONS_METADATA_KEY], []),
    details: parse<Record<string, string>>(metadata[ERROR_DETAILS_METADATA_KEY], {}),
  });
}

export type Disposition = 'retry' | 'dead-letter';

/** What a consumer does with a message whose handler threw. */
export function dispositionOf(error: unknown): Disposition {
  return isAppError(error) && error.retriable ? 'retry' : 'dead-letter';
}

const OPAQUE_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** True for an opaque identifier: 1-128 characters of A-Z a-z 0-9 . _ : @ - (no operators, no spaces). */
export function isOpaqueId(value: string): boolean {
  return OPAQUE_ID.test(value);
}

/** Validates caller-supplied ids, listing every bad field in one INVALID_ARGUMENT error. */
export function requireIds(fields: Record<string, string>): void {
  const violations: FieldViolation[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (!OPAQUE_ID.test(value)) violations.push({ field, description: 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -' });
  }
  if (violations.length > 0) throw AppError.invalid('invalid_argument', `invalid ${violations.map((v) => v.field).join(', ')}`, violations);
}
