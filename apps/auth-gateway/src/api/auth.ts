/** `Authorization: Bearer <api key>` on /v1/* and a per-key rate limit. */
import { AppError } from '@ais/platform-errors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ApiClientRecord, ApiClientStore } from '../data/api-clients';
import { clientIdOf, hashApiKey, hashesEqual } from '../security/api-keys';

const unauthenticated = (message: string): AppError => new AppError({ code: 'invalid_api_key', message, kind: 'unauthenticated' });

export function clientOf(res: Response): ApiClientRecord {
  const client = res.locals['apiClient'] as ApiClientRecord | undefined;
  if (!client) throw AppError.internal('route without API-key authentication');
  return client;
}

export function requireApiKey(store: ApiClientStore, pepper: Buffer, limiter: RateLimiter): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="ais"');
      throw unauthenticated('an API key is required: Authorization: Bearer <key>');
    }
    const key = match[1];
    const clientId = clientIdOf(key);
    const hash = hashApiKey(pepper, key);
    const client = clientId ? await store.get(clientId) : null;
    // Compare even when the client is unknown so the timing does not tell which part was wrong.
    const ok = hashesEqual(hash, client?.keyHash ?? 'x'.repeat(hash.length)) && client !== null;
    if (!ok || !client) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="ais", error="invalid_token"');
      throw unauthenticated('the API key is not valid');
    }
    if (client.disabledAt) throw new AppError({ code: 'api_client_disabled', message: 'this API client is disabled', kind: 'permission_denied' });
    const verdict = limiter.take(client._id, client.rateLimitPerMinute);
    res.setHeader('RateLimit-Limit', String(client.rateLimitPerMinute));
    res.setHeader('RateLimit-Remaining', String(verdict.remaining));
    res.setHeader('RateLimit-Reset', String(Math.ceil(verdict.resetMs / 1000)));
    if (!verdict.allowed) {
      throw new AppError({ code: 'rate_limited', message: `rate limit of ${client.rateLimitPerMinute} requests per minute exceeded`, kind: 'rate_limited', retryAfterMs: Math.max(1000, verdict.resetMs) });
    }
    res.locals['apiClient'] = client;
    next();
  };
}

/**
 * Fixed one-minute windows per API client, in process memory: with N gateway instances a client gets up to N× its
 * limit. (A shared limiter in the database or a cache is the follow-up for horizontal scaling.)
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly windowMs = 60_000,
  ) {}

  take(key: string, limit: number): { allowed: boolean; remaining: number; resetMs: number } {
    const t = this.now();
    const start = t - (t % this.windowMs);
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      w = { start, count: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 10_000) this.sweep(start);
    }
    const resetMs = start + this.windowMs - t;
    if (w.count >= limit) return { allowed: false, remaining: 0, resetMs };
    w.count += 1;
    return { allowed: true, remaining: limit - w.count, resetMs };
  }

  private sweep(current: number): void {
    for (const [k, w] of this.windows) if (w.start !== current) this.windows.delete(k);
  }
}
