import type { fetcherV1 } from '@ais/contracts-proto-ts';
import { AppError, requireIds } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import type { ProbeRepository } from '../data/probe.model';

export function fetcherHandlers(deps: { probes: ProbeRepository }): ServiceHandlers<typeof fetcherV1.FetcherServiceService> {
  return {
    async getProbe(req) {
      requireIds({ probe_id: req.probeId });
      const doc = await deps.probes.get(req.probeId);
      if (!doc) throw AppError.notFound('probe_not_found', `probe ${req.probeId} has not reached data-fetcher`);
      return { probeId: doc._id, origin: doc.origin, eventId: doc.eventId, requestedAt: doc.requestedAt, receivedAt: doc.receivedAt, deliveries: doc.deliveries };
    },
  };
}
