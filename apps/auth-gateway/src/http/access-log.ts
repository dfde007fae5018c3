import type { Logger } from '@ais/platform-logger';
import type { RequestHandler } from 'express';

/** Hosted-page and bounce tokens are bearer-like: never logged. */
export function loggablePath(path: string): string {
  return path.replace(/^\/(connect|bounce)\/[^/]+/, '/$1/:token');
}

/** One log line per request: method, route path (no query string: it may carry codes; no page tokens), status, duration. */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      if (req.path === '/livez' || req.path === '/readyz') return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ method: req.method, path: loggablePath(req.path), status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'http request');
    });
    next();
  };
}
