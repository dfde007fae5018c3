import { AppError, isAppError, type ErrorKind, PROBLEM_CONTENT_TYPE, toAppError, toProblem } from '@ais/platform-errors';
import { scrubText, type Logger } from '@ais/platform-logger';
import { trace } from '@opentelemetry/api';
import type { ErrorRequestHandler, RequestHandler, Router } from 'express';
import { loggablePath } from './access-log';

export const notFound: RequestHandler = (req, _res, next) => {
  next(AppError.notFound('route_not_found', `no route for ${req.method} ${loggablePath(req.path)}`));
};

/**
 * Ends a router: a path it routes, asked with a method none of its routes has, answers a 405 problem with `Allow`
 * (HEAD rides on GET; OPTIONS answers 204 with the same header). Call once the router's routes are added.
 */
export function otherMethodsNotAllowed(router: Router): Router {
  const byPath = new Map<string, Set<string>>();
  for (const layer of router.stack) {
    if (!layer.route) continue;
    const methods = byPath.get(layer.route.path) ?? new Set<string>();
    for (const l of layer.route.stack) if (l.method) methods.add(l.method.toUpperCase());
    byPath.set(layer.route.path, methods);
  }
  for (const [path, methods] of byPath) {
    if (methods.has('GET')) methods.add('HEAD');
    const allow = [...methods].sort().join(', ');
    router.all(path, (req, res, next) => {
      res.setHeader('Allow', allow);
      if (req.method === 'OPTIONS') return void res.status(204).end();
      next(new AppError({ code: 'method_not_allowed', message: `this path allows ${allow}`, kind: 'method_not_allowed' }));
    });
  }
  return router;
}

/** body-parser's error types (http-errors) that are the client's fault, with a detail that never echoes the input. */
const BODY_ERRORS: Record<string, { code: string; message: string; kind: ErrorKind }> = {
  'entity.parse.failed': { code: 'malformed_json', message: 'request body is not valid JSON', kind: 'invalid_argument' },
  'entity.too.large': { code: 'body_too_large', message: 'request body too large', kind: 'payload_too_large' },
  'parameters.too.many': { code: 'too_many_parameters', message: 'the form has too many fields', kind: 'invalid_argument' },
  'encoding.unsupported': { code: 'unsupported_content_encoding', message: 'unsupported Content-Encoding (use identity, gzip, deflate or br)', kind: 'unsupported_media_type' },
  'charset.unsupported': { code: 'unsupported_charset', message: 'unsupported charset (use utf-8)', kind: 'unsupported_media_type' },
};

/**
 * A request the gateway could not read (body-parser, or the router's URIError on a bad %-escape) as a 4xx AppError:
 * 413 for a body over the limit, 415 for an encoding or charset it does not read, 400 otherwise.
 */
export function clientErrorOf(error: unknown): AppError | undefined {
  if (isAppError(error) || typeof error !== 'object' || error === null) return undefined;
  const e = error as { type?: unknown; status?: unknown; expose?: unknown };
  const known = typeof e.type === 'string' ? BODY_ERRORS[e.type] : undefined;
  if (known) return new AppError({ code: known.code, message: known.message, kind: known.kind });
  if (error instanceof URIError && e.status === 400) return AppError.invalid('malformed_path', 'the path is not valid percent-encoded UTF-8');
  // e.g. a body that does not match its Content-Encoding, or a request aborted mid-body
  if (e.expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500) return AppError.invalid('unreadable_body', 'the request body could not be read');
  return undefined;
}

/** A request with a body whose Content-Type is not `type` is a 415 problem (a request without a body passes). */
export function requireBodyType(type: string): RequestHandler {
  return (req, _res, next) => {
    // req.is: null without a body, false for another type; an empty body (Content-Length: 0) is no body
    const empty = req.headers['content-length'] === '0' && req.headers['transfer-encoding'] === undefined;
    if (!empty && req.is(type) === false) {
      return next(new AppError({ code: 'unsupported_media_type', message: `the request body must be ${type}`, kind: 'unsupported_media_type' }));
    }
    next();
  };
}

/** body-parser attaches the raw request body to its errors (`err.body`): never logged. */
function loggableError(error: unknown): unknown {
  if (error instanceof Error && Object.prototype.hasOwnProperty.call(error, 'body')) Object.defineProperty(error, 'body', { enumerable: false });
  return error;
}

/**
 * What a caller reads for a server-side failure: the message of a 5xx names internal addresses and driver errors
 * (`connect ECONNREFUSED 10.0.0.7:50051`), so it stays in the log and the span.
 */
const SERVER_DETAIL: Partial<Record<ErrorKind, string>> = {
  unavailable: 'A service behind the gateway is unavailable; retry later and quote the trace id if it persists.',
  deadline_exceeded: 'A service behind the gateway did not answer in time; retry later and quote the trace id if it persists.',
  not_implemented: 'This operation is not available; quote the trace id when reporting it.',
};

/** Every error leaves the gateway as RFC 9457 problem JSON with the trace id to quote. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const app = clientErrorOf(error) ?? toAppError(error);
    const path = loggablePath(req.originalUrl.split('?')[0] ?? '');
    const span = trace.getActiveSpan();
    if (app.kind === 'internal') logger.error({ err: loggableError(error), path }, 'unhandled error');
    else if (app.httpStatus >= 500) logger.warn({ code: app.code, status: app.httpStatus, path, detail: scrubText(app.message) }, 'request failed');
    if (app.httpStatus >= 500) span?.recordException(app.kind === 'internal' && error instanceof Error ? error : app);
    const traceId = span?.spanContext().traceId;
    if (app.retryAfterMs !== undefined) res.setHeader('Retry-After', Math.ceil(app.retryAfterMs / 1000));
    const problem = toProblem(app, { instance: path, ...(traceId ? { traceId } : {}) });
    const generic = SERVER_DETAIL[app.kind];
    if (generic) problem.detail = generic;
    res.status(app.httpStatus).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  };
}
