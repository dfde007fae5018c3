import { AppError } from '@ais/platform-errors';
import { trace } from '@opentelemetry/api';
import { Router } from 'express';
import { randomUUID } from 'node:crypto';
import type { Downstreams } from '../clients/grpc-clients';

/**
 * Operator routes (admin listener only). A pipeline probe travels edge → token-vault (gRPC) → Kafka →
 * data-fetcher → MongoDB; the response carries the trace id to open in the trace UI.
 */
export function adminRoutes(downstreams: Downstreams): Router {
  const router = Router();

  router.post('/diagnostics/probes', async (req, res) => {
    const body = (req.body ?? {}) as { origin?: unknown };
    if (body.origin !== undefined && (typeof body.origin !== 'string' || body.origin.length > 200)) {
      throw AppError.invalid('invalid_origin', 'origin must be a string of at most 200 characters', [{ field: 'origin', description: 'string ≤ 200' }]);
    }
    const probeId = randomUUID();
    const result = await downstreams.tokenVault.startProbe({ probeId, origin: typeof body.origin === 'string' ? body.origin : 'admin-api' });
    const traceId = trace.getActiveSpan()?.spanContext().traceId ?? '';
    res.status(202).location(`/diagnostics/probes/${probeId}`).json({ probe_id: result.probeId, event_id: result.eventId, trace_id: traceId });
  });

  router.get('/diagnostics/probes/:probeId', async (req, res) => {
    const probe = await downstreams.fetcher.getProbe({ probeId: req.params.probeId });
    res.json({
      probe_id: probe.probeId,
      origin: probe.origin,
      event_id: probe.eventId,
      requested_at: probe.requestedAt?.toISOString(),
      received_at: probe.receivedAt?.toISOString(),
      deliveries: probe.deliveries,
    });
  });

  return router;
}
