/** Operator route: provision an API client. The key is returned ONCE; only its HMAC is stored. */
import { z } from '@ais/platform-config';
import { AppError } from '@ais/platform-errors';
import { Router } from 'express';
import type { ApiClientStore } from '../data/api-clients';
import { hashApiKey, keyPrefixOf, newApiKey, newClientId } from '../security/api-keys';

const body = z.strictObject({
  name: z.string().min(1).max(100),
  rate_limit_per_minute: z.number().int().positive().max(100_000).optional(),
  allowed_return_urls: z.array(z.url().max(2000)).max(20).optional(),
});

export function apiClientAdminRoutes(store: ApiClientStore, pepper: Buffer, defaultRateLimit: number): Router {
  const router = Router({ caseSensitive: true });
  router.post('/admin/api-clients', async (req, res) => {
    const r = body.safeParse(req.body ?? {});
    if (!r.success) throw AppError.invalid('invalid_body', 'the request body is invalid', r.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', description: i.message })));
    const clientId = newClientId();
    const apiKey = newApiKey(clientId);
    const record = {
      _id: clientId,
      name: r.data.name,
      keyHash: hashApiKey(pepper, apiKey),
      keyPrefix: keyPrefixOf(clientId),
      rateLimitPerMinute: r.data.rate_limit_per_minute ?? defaultRateLimit,
      allowedReturnUrls: (r.data.allowed_return_urls ?? []).map((u) => new URL(u).toString()),
      createdAt: new Date(),
      disabledAt: null,
    };
    await store.insert(record);
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({
      client_id: clientId,
      name: record.name,
      api_key: apiKey,
      key_prefix: record.keyPrefix,
      rate_limit_per_minute: record.rateLimitPerMinute,
      allowed_return_urls: record.allowedReturnUrls,
      created_at: record.createdAt.toISOString(),
    });
  });
  return router;
}
