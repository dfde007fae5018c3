/**
 * Erasure of a user (API key required):
 *
 * - `DELETE /v1/users/{userId}`: deletes the gateway's own data of the user (connect sessions), then token-vault
 *   deletes every connection at TrueLayer and locally and starts the erasure downstream (data-fetcher → enrichment
 *   → reconciliation, in the user's order on the user-keyed topics; see proto/ais/erasure/v1/erasure.proto). 202
 *   with the erasure id. Idempotent: repeating it is harmless and answers 202 again (a new erasure id, which finds
 *   nothing left to delete).
 * - `GET /v1/users/{userId}/erasures/{erasureId}`: `completed` with each service's step once reconciliation (the
 *   last hop) logged it, `in_progress` while it travels, 404 for an id this client never got for this user.
 *
 * The confirmation for downstream systems is the ChangeEvent with `erasure` on ais.ledger.v1.
 */
import type { erasureV1 } from '@ais/contracts-proto-ts';
import { z } from '@ais/platform-config';
import { AppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import { Router } from 'express';
import type { Downstreams } from '../clients/grpc-clients';
import type { AuthSessionStore } from '../data/auth-sessions';
import type { ErasureRequestStore } from '../data/erasure-requests';
import { clientOf } from './auth';
import { userIdOf } from './v1.routes';

/** The erasure id this gateway answered DELETE with (a lower-case UUID); the OpenAPI document's schema too. */
export const erasureIdParam = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/).describe('The erasure_id of the DELETE answer.').meta({ examples: ['5b0c8f7e-3d2a-4c1b-9e8f-7a6b5c4d3e2f'] });

export function erasureJson(e: erasureV1.UserErasure): Record<string, unknown> {
  return {
    erasure_id: e.erasureId,
    status: 'completed',
    reason: e.reason,
    requested_at: e.requestedAt?.toISOString() ?? null,
    connection_ids: e.connectionIds,
    account_ids: e.accountIds,
    steps: e.steps.map((s) => ({ service: s.service, documents_deleted: Number(s.documentsDeleted), completed_at: s.completedAt?.toISOString() ?? null, detail: s.detail })),
  };
}

export function erasureRoutes(deps: { downstreams: Downstreams; sessions: AuthSessionStore; requests: ErasureRequestStore; logger: Logger; now?: () => Date }): Router {
  const router = Router({ caseSensitive: true });
  const now = deps.now ?? (() => new Date());

  router.delete('/users/:userId', async (req, res) => {
    const clientId = clientOf(res)._id;
    const userId = userIdOf(req);
    const sessions = await deps.sessions.deleteForUser(clientId, userId);
    const out = await deps.downstreams.tokenVault.eraseUser({ clientId, userId });
    await deps.requests.record(out.erasureId, clientId, userId, out.requestedAt ?? now());
    deps.logger.info({ erasureId: out.erasureId, connections: out.connectionsDeleted, sessions }, 'user erasure accepted');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Location', `/v1/users/${encodeURIComponent(userId)}/erasures/${out.erasureId}`);
    res.status(202).json({
      erasure_id: out.erasureId,
      status: 'in_progress',
      requested_at: out.requestedAt?.toISOString() ?? null,
      connections_deleted: out.connectionsDeleted,
      deleted_at_truelayer: out.deletedAtTruelayer,
    });
  });

  router.get('/users/:userId/erasures/:erasureId', async (req, res) => {
    const clientId = clientOf(res)._id;
    const userId = userIdOf(req);
    const erasureId = String(req.params['erasureId'] ?? '');
    if (!erasureIdParam.safeParse(erasureId).success) throw AppError.invalid('invalid_erasure_id', 'erasureId is not an erasure id', [{ field: 'erasureId', description: 'a UUID' }]);
    res.setHeader('Cache-Control', 'no-store');
    const recon = deps.downstreams.reconciliation;
    if (!recon) throw AppError.unavailable('reconciliation_unavailable', 'erasure status needs RECONCILIATION_ADDR on this gateway');
    try {
      const out = await recon.getErasure({ clientId, erasureId });
      if (out.erasure && out.erasure.userId === userId) {
        res.json(erasureJson(out.erasure));
        return;
      }
    } catch (error) {
      if (!(error instanceof AppError && error.kind === 'not_found')) throw error;
    }
    if (await deps.requests.accepted(erasureId, clientId, userId)) {
      res.json({ erasure_id: erasureId, status: 'in_progress' });
      return;
    }
    throw AppError.notFound('erasure_not_found', 'no erasure with this id for this user');
  });

  return router;
}
