import { bindings, EVENT_TYPES } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { newMeta, type EventProducer } from '@ais/platform-kafka';
import type { ConnectionEventPayload, ConnectionEvents } from '../domain/connection-service';

type Payload = NonNullable<eventsV1.ConnectionEvent['payload']>;

function toPayload(e: Exclude<ConnectionEventPayload, { kind: 'erasure' }>): { type: string; payload: Payload } {
  const d = e.doc;
  const who = { connectionId: d._id, userId: d.userId, clientId: d.clientId };
  switch (e.kind) {
    case 'authorized':
      return {
        type: EVENT_TYPES.connectionAuthorized,
        payload: {
          $case: 'authorized',
          authorized: {
            ...who,
            providerId: d.providerId,
            scopes: d.scopes,
            consentCreatedAt: d.consentCreatedAt,
            consentExpiresAt: d.consentExpiresAt,
            previousConnectionId: e.previousConnectionId ?? d.previousConnectionId,
            credentialsId: d.credentialsId,
            psuIp: e.psuIp ?? '',
            authenticatedAt: e.authenticatedAt,
          },
        },
      };
    case 'revoked':
      return { type: EVENT_TYPES.connectionRevoked, payload: { $case: 'revoked', revoked: { ...who, reason: e.reason } } };
    case 'token_refreshed':
      return {
        type: EVENT_TYPES.tokenRefreshed,
        payload: { $case: 'tokenRefreshed', tokenRefreshed: { connectionId: d._id, accessTokenExpiresAt: e.expiresAt, refreshTokenRotated: e.rotated, trigger: e.trigger } },
      };
    case 'consent_expiring':
      return { type: EVENT_TYPES.consentExpiring, payload: { $case: 'consentExpiring', consentExpiring: { ...who, consentExpiresAt: d.consentExpiresAt, horizonDays: e.horizonDays } } };
    case 'consent_expired':
      return { type: EVENT_TYPES.consentExpired, payload: { $case: 'consentExpired', consentExpired: { ...who, consentExpiredAt: d.consentExpiresAt } } };
    case 'reauth_required':
      return { type: EVENT_TYPES.reauthRequired, payload: { $case: 'reauthRequired', reauthRequired: { ...who, errorCode: e.errorCode } } };
  }
}

/**
 * Publishes connection lifecycle events to ais.connection.v1 (key = connection id), and erasures to ais.fetch.v1
 * (key = user id: the first hop of the erasure chain, see erasure.proto). Never carries tokens.
 */
export class KafkaConnectionEvents implements ConnectionEvents {
  private readonly binding;
  private readonly fetchBinding;

  constructor(
    private readonly producer: EventProducer,
    prefix: string,
  ) {
    this.binding = bindings.connection(prefix);
    this.fetchBinding = bindings.fetch(prefix);
  }

  async publish(event: ConnectionEventPayload): Promise<void> {
    if (event.kind === 'erasure') {
      const meta = newMeta(this.producer.service, EVENT_TYPES.fetchUserErasure, 1, event.erasure.erasureId);
      await this.producer.publish(this.fetchBinding, [{ meta, payload: { $case: 'userErasure', userErasure: event.erasure } }]);
      return;
    }
    const { type, payload } = toPayload(event);
    await this.producer.publish(this.binding, [{ meta: newMeta(this.producer.service, type, 1, event.doc._id), payload }]);
  }
}
