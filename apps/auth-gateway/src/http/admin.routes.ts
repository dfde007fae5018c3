import { AppError } from '@ais/platform-errors';
import { trace } from '@opentelemetry/api';
import { Router } from 'express';
import { randomUUID } from 'node:crypto';
import { connectionIdOf } from '../api/v1.routes';
import type { Downstreams } from '../clients/grpc-clients';
import { supportReportJson, supportReportPage } from './support-report';

/**
 * Operator routes (admin listener only). A pipeline probe travels edge → token-vault (gRPC) → Kafka →
 * data-fetcher → MongoDB; the response carries the trace id to open in the trace UI.
 */
export function adminRoutes(downstreams: Downstreams): Router {
  const router = Router({ caseSensitive: true });

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

  // What data-fetcher knows about one connection, for support: JSON, or a readable page for a browser / ?format=html.
  router.get('/admin/connections/:connectionId/support-report', async (req, res) => {
    const connectionId = connectionIdOf(req);
    const rawLimit = typeof req.query['limit'] === 'string' ? req.query['limit'] : undefined;
    const limit = rawLimit === undefined ? 0 : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 0 || limit > 5000) {
      throw AppError.invalid('invalid_limit', 'limit must be an integer from 0 (the default of data-fetcher) to 5000', [{ field: 'limit', description: 'integer 0-5000' }]);
    }
    const report = await downstreams.fetcher.getSupportReport({ connectionId, limit });
    const format = req.query['format'];
    const html = format === 'html' || (format !== 'json' && req.accepts(['application/json', 'text/html']) === 'text/html');
    res.setHeader('Cache-Control', 'no-store');
    res.vary('Accept');
    if (html) res.type('html').send(supportReportPage(report));
    else res.json(supportReportJson(report));
  });

  return router;
}
