import type { z } from 'zod';
import { TrueLayerError } from './errors';
import type { HttpResponse } from './http';

/**
 * Validates a response body. On failure throws `invalid_response` listing issue paths and zod messages only:
 * never body values (token responses contain secrets).
 */
export function parseBody<S extends z.ZodType>(schema: S, res: HttpResponse, operation: string): z.output<S> {
  const parsed = schema.safeParse(res.body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.code}`)
    .join('; ');
  throw new TrueLayerError({
    httpStatus: res.status,
    code: 'invalid_response',
    description: `response does not match the expected schema (${issues})`,
    correlationId: res.correlationId,
    clientCorrelationId: res.clientCorrelationId,
    credentialsId: res.credentialsId,
    operation,
    attempts: res.attempts,
  });
}

/** `Cache-Control: max-age=<n>` in seconds, when present. */
export function cacheMaxAge(headers: Headers): number | undefined {
  const cc = headers.get('cache-control');
  const m = cc ? /max-age=(\d+)/i.exec(cc) : null;
  return m ? Number(m[1]) : undefined;
}
