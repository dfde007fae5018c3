import { AppError, PROBLEM_CONTENT_TYPE, toAppError, toProblem } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import { trace } from '@opentelemetry/api';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { loggablePath } from './access-log';

export const notFound: RequestHandler = (req, _res, next) => {
  next(AppError.notFound('route_not_found', `no route for ${req.method} ${req.path}`));
};

/** Every error leaves the gateway as RFC 9457 problem JSON with the trace id to quote. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    let app = toAppError(error);
    const e = error as { type?: string; status?: number };
    if (e.type === 'entity.parse.failed') app = AppError.invalid('malformed_json', 'request body is not valid JSON');
    else if (e.type === 'entity.too.large') app = new AppError({ code: 'body_too_large', message: 'request body too large', kind: 'invalid_argument' });
    if (app.kind === 'internal') logger.error({ err: error, path: req.path }, 'unhandled error');
    const traceId = trace.getActiveSpan()?.spanContext().traceId;
    if (app.retryAfterMs !== undefined) res.setHeader('Retry-After', Math.ceil(app.retryAfterMs / 1000));
    res
      .status(app.httpStatus)
      .type(PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify(toProblem(app, { instance: loggablePath(req.originalUrl.split('?')[0] ?? ''), ...(traceId ? { traceId } : {}) })));
  };
}
