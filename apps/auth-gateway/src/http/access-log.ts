import type { Logger } from '@ais/platform-logger';
import type { RequestHandler } from 'express';

/** Hosted-page, bounce and overview-link tokens are bearer-like: never logged (whatever the case of the prefix, even on a 404). */
export function loggablePath(path: string): string {
  return path.replace(/^\/(connect|bounce|overview)\/[^/]+/i, '/$1/:token');
}

/** One log line per request: method, route path (no query string: it may carry codes; no page tokens), status, duration. */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    // The path as received: at 'finish', req.path is relative to the router that answered (no /v1).
    const path = req.path;
    res.on('finish', () => {
      if (path === '/livez' || path === '/readyz') return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ method: req.method, path: loggablePath(path), status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'http request');
    });
    next();
  };
}
