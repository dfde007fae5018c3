/**
 * Kafka topic names, header keys and event-type names: the one place they are spelled.
 * Payloads are the protobuf messages in /proto/ais/events/v1 (see @ais/contracts-proto-ts).
 */

export const TOPICS = {
  /** Connection lifecycle; key = connection_id. */
  connection: 'ais.connection.v1',
  /** Fetch requests (webhooks, schedules, user refresh); key = connection_id. */
  fetch: 'ais.fetch.v1',
  /** Raw TrueLayer data batches; key = account id. */
  raw: 'ais.raw.v1',
  /** Enriched batches; key = account id. */
  enriched: 'ais.enriched.v1',
  /** Downstream change feed; key = user id. */
  ledger: 'ais.ledger.v1',
  /** Pipeline probes for operators; key = probe id. */
  diagnostics: 'ais.diagnostics.v1',
  /** Poison messages with the reason; key = original key. */
  deadLetter: 'ais.dlq.v1',
} as const;
export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

/** Every topic of the platform (what a deployment provisions before services start). */
export const ALL_TOPICS: readonly TopicName[] = Object.values(TOPICS);

/** Header keys. Trace context travels as W3C `traceparent` / `tracestate` / `baggage`. */
export const HEADERS = {
  eventId: 'ais-event-id',
  eventType: 'ais-event-type',
  schemaVersion: 'ais-schema-version',
  producer: 'ais-producer',
  contentType: 'content-type',
  deadLetterReason: 'ais-dlq-reason',
  deadLetterCode: 'ais-dlq-code',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  baggage: 'baggage',
} as const;

export const PROTOBUF_CONTENT_TYPE = 'application/x-protobuf';

export const EVENT_TYPES = {
  probeRequested: 'diagnostics.probe_requested',
  connectionAuthorized: 'connection.authorized',
  connectionRevoked: 'connection.revoked',
  tokenRefreshed: 'connection.token_refreshed',
  consentExpiring: 'connection.consent_expiring',
  consentExpired: 'connection.consent_expired',
  reauthRequired: 'connection.reauth_required',
} as const;

/** Topic name with an optional deployment prefix (several stacks can share one cluster). */
export function topicName(topic: TopicName, prefix = ''): string {
  return prefix ? `${prefix}.${topic}` : topic;
}

import { eventsV1 } from '@ais/contracts-proto-ts';

/** How one topic's events are encoded and keyed (structurally the Kafka library's TopicBinding). */
export interface EventBinding<T> {
  topic: string;
  codec: { encode(message: T): { finish(): Uint8Array }; decode(input: Uint8Array): T };
  keyOf(event: T): string;
}

export const bindings = {
  diagnostics: (prefix = ''): EventBinding<eventsV1.DiagnosticsEvent> => ({
    topic: topicName(TOPICS.diagnostics, prefix),
    codec: eventsV1.DiagnosticsEvent,
    keyOf: (e) => (e.payload?.$case === 'probeRequested' ? e.payload.probeRequested.probeId : ''),
  }),
  connection: (prefix = ''): EventBinding<eventsV1.ConnectionEvent> => ({
    topic: topicName(TOPICS.connection, prefix),
    codec: eventsV1.ConnectionEvent,
    keyOf: (e) => {
      const p = e.payload;
      if (!p) return '';
      switch (p.$case) {
        case 'authorized':
          return p.authorized.connectionId;
        case 'revoked':
          return p.revoked.connectionId;
        case 'tokenRefreshed':
          return p.tokenRefreshed.connectionId;
        case 'consentExpiring':
          return p.consentExpiring.connectionId;
        case 'consentExpired':
          return p.consentExpired.connectionId;
        case 'reauthRequired':
          return p.reauthRequired.connectionId;
      }
    },
  }),
};
