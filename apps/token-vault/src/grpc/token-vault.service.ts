import { bindings, EVENT_TYPES } from '@ais/contracts-events';
import type { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { requireIds } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import { newMeta, type EventProducer } from '@ais/platform-kafka';
import type { ConnectionRepository } from '../data/connection.model';

export function tokenVaultHandlers(deps: {
  connections: ConnectionRepository;
  producer: EventProducer;
  topicPrefix: string;
}): ServiceHandlers<typeof tokenvaultV1.TokenVaultServiceService> {
  const diagnostics = bindings.diagnostics(deps.topicPrefix);
  return {
    async listConnections(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId });
      const docs = await deps.connections.listForUser(req.clientId, req.userId);
      return {
        connections: docs.map((d) => ({
          connectionId: d._id,
          userId: d.userId,
          providerId: d.providerId,
          status: d.status,
          consentCreatedAt: d.consentCreatedAt,
          consentExpiresAt: d.consentExpiresAt,
        })),
      };
    },

    async startProbe(req) {
      requireIds({ probe_id: req.probeId });
      const meta = newMeta(deps.producer.service, EVENT_TYPES.probeRequested, 1, req.probeId);
      await deps.producer.publish(diagnostics, [
        {
          meta,
          payload: { $case: 'probeRequested', probeRequested: { probeId: req.probeId, origin: req.origin.slice(0, 200), requestedAt: meta.occurredAt } },
        },
      ]);
      return { probeId: req.probeId, eventId: meta.eventId };
    },
  };
}
