/** `Authorization: Bearer <api key>` on /v1/users/*, behind a per-address limit, and a per-key rate limit. */
import { registerSecret } from '@ais/platform-logger';
import { AppError } from '@ais/platform-errors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ApiClientRecord, ApiClientStore } from '../data/api-clients';
import { DEFAULT_IP_LIMITS, rateLimited, setRateLimitHeaders, type IpLimits, type RateLimiter } from '../http/rate-limit';
import { clientIdOf, hashApiKey, hashesEqual } from '../security/api-keys';

const unauthenticated = (message: string): AppError => new AppError({ code: 'invalid_api_key', message, kind: 'unauthenticated' });

export function clientOf(res: Response): ApiClientRecord {
  const client = res.locals['apiClient'] as ApiClientRecord | undefined;
  if (!client) throw AppError.internal('route without API-key authentication');
  return client;
}

/**
 * Per client address first (every request, and failed key checks: once an address reached its failures, it gets
 * 429 before any `api_clients` lookup), then the key, then the client's own per-minute limit. Every count is in
 * the shared store (`RateLimiter`), so the limits hold across instances.
 */
export function requireApiKey(store: ApiClientStore, pepper: Buffer, limiter: RateLimiter, ipLimits: IpLimits = DEFAULT_IP_LIMITS): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const ip = req.ip ?? 'unknown';
    const byIp = await limiter.count('api-ip', ip, { n: 1 });
    const requests = byIp.counters['n'] ?? 0;
    if (requests > ipLimits.apiPerMinute) {
      setRateLimitHeaders(res, { allowed: false, limit: ipLimits.apiPerMinute, remaining: 0, resetMs: byIp.resetMs });
      throw rateLimited(`rate limit of ${ipLimits.apiPerMinute} requests per minute from one address exceeded`, byIp.resetMs);
    }
    if ((byIp.counters['f'] ?? 0) >= ipLimits.authFailuresPerMinute) {
      throw rateLimited(`too many requests with an invalid API key from this address; retry after the window`, byIp.resetMs);
    }
    const refuse = async (message: string, header: string): Promise<never> => {
      await limiter.count('api-ip', ip, { f: 1 });
      res.setHeader('WWW-Authenticate', header);
      throw unauthenticated(message);
    };
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) return refuse('an API key is required: Authorization: Bearer <key>', 'Bearer realm="ais"');
    const key = match[1];
    const clientId = clientIdOf(key);
    const hash = hashApiKey(pepper, key);
    const client = clientId ? await store.get(clientId) : null;
    // Compare even when the client is unknown so the timing does not tell which part was wrong.
    const ok = hashesEqual(hash, client?.keyHash ?? 'x'.repeat(hash.length)) && client !== null;
    if (!ok || !client) return refuse('the API key is not valid', 'Bearer realm="ais", error="invalid_token"');
    // a valid key is a secret this process now knows: masked wherever it might appear in a log line or span
    registerSecret(key);
    if (client.disabledAt) throw new AppError({ code: 'api_client_disabled', message: 'this API client is disabled', kind: 'permission_denied' });
    const verdict = await limiter.take('api-key', client._id, client.rateLimitPerMinute);
    setRateLimitHeaders(res, verdict);
    if (!verdict.allowed) throw rateLimited(`rate limit of ${client.rateLimitPerMinute} requests per minute exceeded`, verdict.resetMs);
    res.locals['apiClient'] = client;
    next();
  };
}
