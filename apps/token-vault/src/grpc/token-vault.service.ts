import { bindings, EVENT_TYPES } from '@ais/contracts-events';
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { AppError, requireIds } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import { newMeta, type EventProducer } from '@ais/platform-kafka';
import { isIP } from 'node:net';
import type { ConnectionDoc } from '../data/connection.model';
import type { ConnectionService } from '../domain/connection-service';

const STATUS: Record<ConnectionDoc['status'], tokenvaultV1.ConnectionStatus> = {
  active: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_ACTIVE,
  reauth_required: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_REAUTH_REQUIRED,
  expired: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_EXPIRED,
  revoked: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_REVOKED,
};

/**
 * The present user's IP from ExchangeCode.psu_ip or StartReconsent.user_ip, or undefined when absent or not an IP
 * address (then TrueLayer is called without X-PSU-IP; a bad value never fails the call). IPv4-mapped IPv6 is unwrapped.
 */
export function psuIpOf(raw: string): string | undefined {
  const ip = raw.trim().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  return ip.length <= 45 && isIP(ip) !== 0 ? ip : undefined;
}

export function toProto(doc: ConnectionDoc, service: ConnectionService): tokenvaultV1.Connection {
  return {
    connectionId: doc._id,
    clientId: doc.clientId,
    userId: doc.userId,
    providerId: doc.providerId,
    status: STATUS[doc.status],
    consentCreatedAt: doc.consentCreatedAt,
    consentExpiresAt: doc.consentExpiresAt,
    scopes: doc.scopes,
    daysLeft: service.daysLeft(doc),
    reconsentDue: service.reconsentDue(doc),
    previousConnectionId: doc.previousConnectionId,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

export function tokenVaultHandlers(deps: {
  connections: ConnectionService;
  producer: EventProducer;
  topicPrefix: string;
}): ServiceHandlers<typeof tokenvaultV1.TokenVaultServiceService> {
  const diagnostics = bindings.diagnostics(deps.topicPrefix);
  const svc = deps.connections;
  return {
    async listConnections(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId });
      return { connections: (await svc.list(req.clientId, req.userId)).map((d) => toProto(d, svc)) };
    },

    async getConnection(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId, connection_id: req.connectionId });
      return { connection: toProto(await svc.get(req.clientId, req.userId, req.connectionId), svc) };
    },

    async exchangeCode(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId });
      if (req.previousConnectionId) requireIds({ previous_connection_id: req.previousConnectionId });
      if (!req.authorizationCode || req.authorizationCode.length > 4096) {
        throw AppError.invalid('invalid_argument', 'authorization_code is required', [{ field: 'authorization_code', description: 'required' }]);
      }
      if (!/^https?:\/\//.test(req.redirectUri)) {
        throw AppError.invalid('invalid_argument', 'redirect_uri must be an http(s) URL', [{ field: 'redirect_uri', description: 'absolute URL' }]);
      }
      const psuIp = psuIpOf(req.psuIp);
      const doc = await svc.exchangeCode({
        clientId: req.clientId,
        userId: req.userId,
        authCode: req.authorizationCode,
        redirectUri: req.redirectUri,
        codeVerifier: req.codeVerifier,
        previousConnectionId: req.previousConnectionId,
        ...(psuIp ? { psuIp } : {}),
      });
      return { connection: toProto(doc, svc) };
    },

    async getAccessToken(req) {
      requireIds({ connection_id: req.connectionId });
      const token = await svc.getAccessToken(req.connectionId, req.forceRefresh);
      return { accessToken: token.accessToken, expiresAt: token.expiresAt, providerId: token.providerId, scopes: token.scopes };
    },

    async startReconsent(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId, connection_id: req.connectionId });
      const psuIp = psuIpOf(req.userIp);
      const outcome = await svc.startReconsent({
        clientId: req.clientId,
        userId: req.userId,
        connectionId: req.connectionId,
        redirectUri: req.redirectUri,
        userReconfirmed: req.userReconfirmed,
        state: req.state,
        ...(psuIp ? { psuIp } : {}),
      });
      switch (outcome.kind) {
        case 'extended':
          return { outcome: { $case: 'extended', extended: toProto(outcome.doc, svc) } };
        case 'reauth_uri':
          return { outcome: { $case: 'reauthUri', reauthUri: outcome.url } };
        case 'new_auth_required':
          return { outcome: { $case: 'newAuthRequired', newAuthRequired: outcome.reason } };
      }
    },

    async revokeConnection(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId, connection_id: req.connectionId });
      const doc = await svc.revoke({ clientId: req.clientId, userId: req.userId, connectionId: req.connectionId, reason: req.reason.slice(0, 200) });
      return { connection: toProto(doc, svc) };
    },

    async eraseUser(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId });
      const out = await svc.eraseUser({ clientId: req.clientId, userId: req.userId });
      return {
        erasureId: out.erasure.erasureId,
        connectionsDeleted: out.erasure.connectionIds.length,
        deletedAtTruelayer: out.deletedAtTrueLayer,
        requestedAt: out.erasure.requestedAt,
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
