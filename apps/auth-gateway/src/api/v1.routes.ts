/** The caller API under /v1 (API key required). Every gRPC call carries the caller's client id. */
import { fetcherV1, tokenvaultV1 } from '@ais/contracts-proto-ts';
import { z } from '@ais/platform-config';
import { AppError } from '@ais/platform-errors';
import { Router, type Request } from 'express';
import { BlockList, isIPv4 } from 'node:net';
import type { Downstreams } from '../clients/grpc-clients';
import type { ConnectService } from '../connect/service';
import { clientOf } from './auth';

// Path parameters, headers and bodies as zod schemas: they validate here and are the OpenAPI document's schemas (openapi.ts).
export const userIdParam = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/).describe("The product's own user id.").meta({ examples: ['user-8412'] });
export const connectionIdParam = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).meta({ examples: ['conn_6c1f9a2e'] });

export function userIdOf(req: Request): string {
  const id = String(req.params['userId'] ?? '');
  if (!userIdParam.safeParse(id).success) throw AppError.invalid('invalid_user_id', 'userId must be 1-128 characters of [A-Za-z0-9._:@-]', [{ field: 'userId', description: 'pattern' }]);
  return id;
}

export function connectionIdOf(req: Request): string {
  const id = String(req.params['connectionId'] ?? '');
  if (!connectionIdParam.safeParse(id).success) throw AppError.invalid('invalid_connection_id', 'connectionId is malformed', [{ field: 'connectionId', description: 'pattern' }]);
  return id;
}

function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    throw AppError.invalid(
      'invalid_body',
      'the request body is invalid',
      r.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', description: i.message })),
    );
  }
  return r.data;
}

const listOf = (re: RegExp) => z.array(z.string().regex(re)).min(1).max(50);

export const connectSessionBody = z.strictObject({
  dialog: z.enum(['truelayer', 'hosted']).describe("`truelayer`: TrueLayer's auth dialog. `hosted`: our hosted bank picker and permission screen."),
  providers: listOf(/^[a-z0-9-]{1,64}$/).optional().describe('TrueLayer provider families or ids; default from configuration.'),
  scopes: listOf(/^[a-z_:]{1,40}$/).optional().describe('TrueLayer scopes; default from configuration.'),
  return_url: z.string().max(2000).optional().describe("Universal link / app link / web URL of the product; must start with one of the client's allowed return URLs."),
  web_fallback_url: z.string().max(2000).optional().describe('Web fallback shown on the bounce page (default: return_url).'),
  response_mode: z.enum(['query', 'form_post']).optional(),
});

/** An end user's IP address (IPv4 or IPv6), as the product saw it. */
const ipAddress = z.union([z.ipv4(), z.ipv6()]);
/** An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`), which the refresh route unwraps to its IPv4 address. */
const MAPPED_V4 = /^::ffff:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/i;
/** The present end user's IP on a SYNC refresh (X-PSU-IP or body user_ip). */
export const psuIp = z.union([z.ipv4(), z.ipv6(), z.string().regex(MAPPED_V4)]).describe("The present end user's IPv4 or IPv6 address.").meta({ examples: ['203.0.113.9'] });

export const reconsentBody = z.strictObject({
  user_reconfirmed: z.boolean().optional().describe('The user reconfirmed consent on your screen (required for extend).'),
  /** The end user's IP when they are present (TrueLayer's extend requires a present user). */
  user_ip: ipAddress.optional().describe("The end user's IPv4 or IPv6 address when present."),
  return_url: z.string().max(2000).optional(),
  dialog: z
    .enum(['truelayer', 'hosted'])
    .optional()
    .describe('`hosted` without `user_reconfirmed`: returns our re-consent page (outcome `confirm`). Otherwise the dialog used when a new auth is needed (default truelayer).'),
});

export const refreshBody = z.strictObject({
  /** The end user's IP (alternative to the X-PSU-IP header). */
  user_ip: psuIp.optional().describe("The present end user's IPv4 or IPv6 address (or the X-PSU-IP header). Required by one of the two."),
});

/** Whether two IP addresses are one address (`::` and `0:0:0:0:0:0:0:0` are). */
function sameAddress(a: string, b: string): boolean {
  const family = (ip: string) => (isIPv4(ip) ? 'ipv4' : 'ipv6');
  if (family(a) !== family(b)) return false;
  const one = new BlockList();
  one.addAddress(a, family(a));
  return one.check(b, family(b));
}

/**
 * The present end user's IP for a SYNC refresh, from `X-PSU-IP` or the body's `user_ip` (one of them; both must agree
 * when both are sent). IPv4-mapped IPv6 is unwrapped. Required: without a present user there is no SYNC refresh.
 */
export function psuIpOf(req: Request): string {
  const parsed = refreshBody.safeParse(req.body ?? {});
  if (!parsed.success) {
    if (parsed.error.issues.every((i) => i.path[0] === 'user_ip')) throw AppError.invalid('invalid_psu_ip', 'user_ip is not an IPv4 or IPv6 address', [{ field: 'user_ip', description: 'IPv4 or IPv6 address' }]);
    parseBody(refreshBody, req.body);
  }
  const header = req.get('x-psu-ip')?.trim() || undefined;
  const fromBody = parsed.data?.user_ip;
  const raw = header ?? fromBody;
  if (raw === undefined) {
    throw AppError.invalid(
      'psu_ip_required',
      "the end user's IP is required (X-PSU-IP header or body user_ip): a refresh through this route is a SYNC refresh for a user who is present and asked for it. Do not call it for background updates: data-fetcher refreshes connections on its own schedule.",
      [{ field: 'X-PSU-IP', description: 'required: IPv4 or IPv6 address of the present end user' }],
    );
  }
  if (header !== undefined && !psuIp.safeParse(header).success) {
    throw AppError.invalid('invalid_psu_ip', 'X-PSU-IP is not an IPv4 or IPv6 address', [{ field: 'X-PSU-IP', description: 'IPv4 or IPv6 address' }]);
  }
  const unwrap = (ip: string) => ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (header !== undefined && fromBody !== undefined && !sameAddress(unwrap(header), unwrap(fromBody))) {
    throw AppError.invalid('psu_ip_conflict', 'X-PSU-IP and user_ip name different addresses; send one', [{ field: 'user_ip', description: 'same as X-PSU-IP' }]);
  }
  return unwrap(raw);
}

export function refreshJson(r: fetcherV1.RefreshConnectionResponse): Record<string, unknown> {
  return {
    connection_id: r.connectionId,
    fetch_id: r.fetchId,
    started_at: r.startedAt?.toISOString() ?? null,
    finished_at: r.finishedAt?.toISOString() ?? null,
    coalesced: r.coalesced,
    items: r.items.map((i) => ({
      kind: i.kind,
      account_id: i.accountId || null,
      is_card: i.isCard,
      outcome: i.outcome,
      items: i.items,
      error_code: i.errorCode || null,
      correlation_id: i.correlationId || null,
    })),
  };
}

const STATUS: Record<number, string> = {
  [tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_ACTIVE]: 'active',
  [tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_REAUTH_REQUIRED]: 'reauth_required',
  [tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_EXPIRED]: 'expired',
  [tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_REVOKED]: 'revoked',
};

export function connectionJson(c: tokenvaultV1.Connection): Record<string, unknown> {
  return {
    connection_id: c.connectionId,
    user_id: c.userId,
    provider_id: c.providerId,
    status: STATUS[c.status] ?? 'unknown',
    scopes: c.scopes,
    consent_created_at: c.consentCreatedAt?.toISOString() ?? null,
    consent_expires_at: c.consentExpiresAt?.toISOString() ?? null,
    days_left: c.daysLeft,
    reconsent_due: c.reconsentDue,
    previous_connection_id: c.previousConnectionId || null,
    created_at: c.createdAt?.toISOString() ?? null,
    updated_at: c.updatedAt?.toISOString() ?? null,
  };
}

export function v1Routes(downstreams: Downstreams, connect: ConnectService, opts: { refreshDeadlineMs: number }): Router {
  const router = Router({ caseSensitive: true });

  router.post('/users/:userId/connect-sessions', async (req, res) => {
    const client = clientOf(res);
    const userId = userIdOf(req);
    const body = parseBody(connectSessionBody, req.body);
    const s = await connect.createSession({
      client,
      userId,
      dialog: body.dialog,
      providers: body.providers,
      scopes: body.scopes,
      returnUrl: body.return_url,
      webFallbackUrl: body.web_fallback_url,
      responseMode: body.response_mode,
    });
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ session_id: s.sessionId, url: s.url, expires_at: s.expiresAt.toISOString() });
  });

  router.get('/users/:userId/connections', async (req, res) => {
    const client = clientOf(res);
    const out = await downstreams.tokenVault.listConnections({ clientId: client._id, userId: userIdOf(req) });
    res.json({ connections: out.connections.map(connectionJson) });
  });

  router.get('/users/:userId/connections/:connectionId', async (req, res) => {
    const client = clientOf(res);
    const out = await downstreams.tokenVault.getConnection({ clientId: client._id, userId: userIdOf(req), connectionId: connectionIdOf(req) });
    if (!out.connection) throw AppError.notFound('connection_not_found', 'no such connection for this user');
    res.json(connectionJson(out.connection));
  });

  router.post('/users/:userId/connections/:connectionId/reconsent', async (req, res) => {
    const client = clientOf(res);
    const body = parseBody(reconsentBody, req.body);
    const r = await connect.reconsent({
      client,
      userId: userIdOf(req),
      connectionId: connectionIdOf(req),
      userReconfirmed: body.user_reconfirmed === true,
      userIp: body.user_ip,
      returnUrl: body.return_url,
      dialog: body.dialog ?? 'truelayer',
    });
    res.setHeader('Cache-Control', 'no-store');
    if (r.outcome === 'extended') {
      res.json({ outcome: 'extended', connection: connectionJson(r.connection) });
      return;
    }
    res.status(201).json({ outcome: r.outcome, session_id: r.sessionId, url: r.url, expires_at: r.expiresAt.toISOString() });
  });

  // SYNC refresh for a present user (X-PSU-IP); data-fetcher coalesces concurrent refreshes of one connection.
  router.post('/users/:userId/connections/:connectionId/refresh', async (req, res) => {
    const client = clientOf(res);
    const userId = userIdOf(req);
    const connectionId = connectionIdOf(req);
    const psuIp = psuIpOf(req);
    const out = await downstreams.fetcher.refreshConnection({ clientId: client._id, userId, connectionId, psuIp }, { deadlineMs: opts.refreshDeadlineMs });
    res.setHeader('Cache-Control', 'no-store');
    res.json(refreshJson(out));
  });

  router.delete('/users/:userId/connections/:connectionId', async (req, res) => {
    const client = clientOf(res);
    const out = await downstreams.tokenVault.revokeConnection({ clientId: client._id, userId: userIdOf(req), connectionId: connectionIdOf(req), reason: 'revoked_by_client' });
    res.json(out.connection ? connectionJson(out.connection) : { connection_id: req.params['connectionId'], status: 'revoked' });
  });

  return router;
}
