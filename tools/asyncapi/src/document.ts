/**
 * The AsyncAPI 3.0 document of the platform's Kafka topics, generated from the contracts so that it cannot drift:
 * topic names, header keys and event types from @ais/contracts-events, payload schemas from /proto (proto-schema.ts).
 * What is written here by hand is what the contracts do not say: which service produces and consumes each topic,
 * and the delivery guarantees (read from libs/platform/kafka and apps/reconciliation/src/data/changefeed.ts).
 * `npm run docs:asyncapi` writes docs/asyncapi.json; asyncapi.spec.ts fails when the committed file differs.
 */
import { EVENT_TYPES, HEADERS, PROTOBUF_CONTENT_TYPE, TOPICS } from '@ais/contracts-events';
import { MESSAGE_EXAMPLES } from './examples';
import { buildDescriptorSet, messageSchemas, ProtoIndex, type JsonSchema } from './proto-schema';

type TopicKey = keyof typeof TOPICS;

export interface TopicDoc {
  /** The protobuf message every value of the topic is (full name). */
  message: string;
  /** What the key is, and so what is ordered. */
  key: string;
  producers: string[];
  consumers: string[];
  summary: string;
  /** What a consumer deduplicates on. */
  dedupe: string;
  /** Extra notes on delivery. */
  delivery?: string;
}

const AT_LEAST_ONCE =
  'At least once: the producer sends with acks=all and retries (no idempotent producer), and consumers commit an offset only after handling the message, so a message can arrive more than once after a retry, a crash or a rebalance; it is never dropped.';
const EVENT_ID_DEDUPE = '`meta.eventId` (the same value as the `ais-event-id` header): a redelivered or re-sent event has the same id.';

/** The topics, in TOPICS order. */
export const TOPIC_DOCS: Record<TopicKey, TopicDoc> = {
  connection: {
    message: 'ais.events.v1.ConnectionEvent',
    key: 'connection id',
    producers: ['token-vault'],
    consumers: ['data-fetcher', 'reconciliation'],
    summary: 'Connection lifecycle: authorized (first consent or re-consent), revoked, token refreshed, consent expiring or expired, reauthentication required.',
    dedupe: EVENT_ID_DEDUPE,
  },
  fetch: {
    message: 'ais.events.v1.FetchEvent',
    key: 'user id',
    producers: ['auth-gateway', 'token-vault', 'data-fetcher'],
    consumers: ['data-fetcher'],
    summary: "Fetch work: TrueLayer webhooks that data-fetcher confirmed (auth-gateway), replayed fetch work (data-fetcher, `npm run dlq`), and a user's erasure on its way (token-vault).",
    dedupe: EVENT_ID_DEDUPE,
  },
  raw: {
    message: 'ais.events.v1.RawDataEvent',
    key: 'user id',
    producers: ['data-fetcher'],
    consumers: ['enrichment'],
    summary: 'Raw TrueLayer data as fetched: transactions, pending transactions, balances, accounts, cards, standing orders, direct debits, identity (at most 1,000 items and 320 KiB of them per message), and erasures.',
    dedupe: `${EVENT_ID_DEDUPE} A re-fetch of the same window is a new event with new ids; the store deduplicates transactions by content.`,
  },
  enriched: {
    message: 'ais.events.v1.EnrichedEvent',
    key: 'user id',
    producers: ['enrichment', 'reconciliation'],
    consumers: ['reconciliation'],
    summary: 'Raw events with the enrichment of each transaction (enrichment), re-enrichment of stored transactions and user edits (reconciliation), and erasures.',
    dedupe: `${EVENT_ID_DEDUPE} An enriched batch's id is derived from its raw event's id; a user edit is applied once per \`userEdit.requestId\`.`,
  },
  ledger: {
    message: 'ais.events.v1.ChangeEvent',
    key: 'user id',
    producers: ['reconciliation'],
    consumers: ['downstream services (the change feed; see examples/change-feed-consumer)'],
    summary:
      "The downstream change feed: one message per stored change of a user's accounts, transactions, balances and edits, in the user's sequence order, with the document's state after the change; an erasure's confirmation (`erasure`, kind REMOVED) tells a downstream copy to delete the user's data.",
    dedupe: '`meta.eventId`, derived from (user id, seq): the same change always has the same id; or (`userId`, `seq`).',
    delivery:
      "After a crash the publisher resumes from the last sequence it recorded as published, so a range of changes can be sent again (same ids, same order), never skipped. Per user, `seq` only grows; a gap in `seq` is normal (a number reserved by a write that crashed, or a change superseded before it was published: the feed carries the document's latest state). The same changes are readable over HTTP: GET /v1/users/{userId}/changes?cursor= on the gateway.",
  },
  diagnostics: {
    message: 'ais.events.v1.DiagnosticsEvent',
    key: 'probe id',
    producers: ['token-vault'],
    consumers: ['data-fetcher'],
    summary: 'Pipeline probes an operator sends through the edge, token-vault and Kafka to data-fetcher to prove the path and its trace.',
    dedupe: EVENT_ID_DEDUPE,
  },
  deadLetter: {
    message: 'ais.events.v1.DeadLetter',
    key: "the original message's key",
    producers: ['data-fetcher', 'enrichment', 'reconciliation'],
    consumers: ['operators (`npm run dlq` lists and replays them onto their source topic)'],
    summary:
      'Messages a consumer could not handle (undecodable, no envelope, a non-retriable error, or retries exhausted), with the reason, the source topic, partition and offset, and the original key, value and headers.',
    dedupe: '`eventId` (the original event id) together with `sourceTopic`, `sourcePartition` and `sourceOffset`.',
    delivery: 'A dead letter has no envelope of its own: its headers are the original message\'s plus `ais-dlq-code` and `ais-dlq-reason`.',
  },
};

/** Event types of a topic: the EVENT_TYPES whose prefix is the topic's middle name (`ais.<name>.v1`). */
export function eventTypesOf(topic: string): string[] {
  const middle = topic.split('.')[1];
  return Object.values(EVENT_TYPES)
    .filter((t) => t.split('.')[0] === middle)
    .sort();
}

const PRODUCER_SERVICES = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'];

function headersSchema(key: TopicKey, doc: TopicDoc): JsonSchema {
  const trace = {
    [HEADERS.traceparent]: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$', description: "W3C trace context of the producer's span: continue the trace from it." },
    [HEADERS.tracestate]: { type: 'string', description: 'W3C trace state, when the trace has one.' },
    [HEADERS.baggage]: { type: 'string', description: 'W3C baggage, when set (never a secret).' },
  };
  if (key === 'deadLetter') {
    return {
      type: 'object',
      description: "The original message's headers, plus the two below.",
      required: [HEADERS.deadLetterCode, HEADERS.deadLetterReason],
      properties: {
        [HEADERS.deadLetterCode]: { type: 'string', description: 'Error code (e.g. `decode_failed`, `missing_envelope`, or the handler\'s error code).' },
        [HEADERS.deadLetterReason]: { type: 'string', maxLength: 500, description: 'Error message, at most 500 characters.' },
        [HEADERS.eventId]: { type: 'string', description: "The original's event id, when it had one." },
        ...trace,
      },
    };
  }
  const types = eventTypesOf(TOPICS[key]);
  return {
    type: 'object',
    description: 'Kafka headers (UTF-8 strings). The envelope fields are copied into headers so that a tool can route or dead-letter a message without decoding it.',
    required: [HEADERS.eventId, HEADERS.eventType, HEADERS.schemaVersion, HEADERS.producer, HEADERS.contentType],
    properties: {
      [HEADERS.eventId]: { type: 'string', format: 'uuid', description: 'Equals `meta.eventId`: deduplicate on it.' },
      [HEADERS.eventType]: { type: 'string', enum: types, description: 'Equals `meta.eventType`: which payload case the value carries.' },
      [HEADERS.schemaVersion]: { type: 'string', pattern: '^[0-9]+$', description: 'Equals `meta.schemaVersion`: bumped on any incompatible change of the payload.' },
      [HEADERS.producer]: { type: 'string', enum: doc.producers.filter((p) => PRODUCER_SERVICES.includes(p)), description: 'Equals `meta.producer`: the producing service.' },
      [HEADERS.contentType]: { type: 'string', const: PROTOBUF_CONTENT_TYPE },
      ...trace,
    },
  };
}

const REF = '#/components/schemas/';

/** The whole document (plain JSON). */
export function asyncApiDocument(descriptorSet = buildDescriptorSet()): Record<string, unknown> {
  const index = new ProtoIndex(descriptorSet);
  const keys = Object.keys(TOPICS) as TopicKey[];
  const schemas = messageSchemas(
    index,
    keys.map((k) => TOPIC_DOCS[k].message),
    REF,
  );
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const key of keys) {
    const topic = TOPICS[key];
    const doc = TOPIC_DOCS[key];
    const short = doc.message.split('.').at(-1)!;
    messages[short] = {
      name: short,
      title: `${short} (${topic})`,
      summary: doc.summary,
      contentType: PROTOBUF_CONTENT_TYPE,
      description: `The value is the binary protobuf encoding of \`${doc.message}\` (${index.message(doc.message).file}); the payload schema is that message in the proto3 JSON mapping (what ts-proto's \`toJSON\` from @ais/contracts-proto-ts gives).`,
      headers: headersSchema(key, doc),
      payload: { $ref: `${REF}${doc.message}` },
      bindings: { kafka: { key: { type: 'string', description: `The ${doc.key} (UTF-8).` }, bindingVersion: '0.5.0' } },
      examples: [MESSAGE_EXAMPLES[key]()],
    };
    channels[key] = {
      address: topic,
      title: topic,
      summary: doc.summary,
      description: [
        `**Key:** ${doc.key}; messages with the same key are on one partition, in the order they were produced.`,
        `**Delivery:** ${AT_LEAST_ONCE}${doc.delivery ? ` ${doc.delivery}` : ''}`,
        `**Deduplicate on:** ${doc.dedupe}`,
        `**Produced by:** ${doc.producers.join(', ')}. **Consumed by:** ${doc.consumers.join(', ')}.`,
      ].join('\n\n'),
      messages: { [short]: { $ref: `#/components/messages/${short}` } },
      bindings: { kafka: { topic, partitions: 3, bindingVersion: '0.5.0' } },
      'x-ais-delivery': { guarantee: 'at-least-once', orderedBy: doc.key, dedupeOn: doc.dedupe },
    };
    operations[`send${short}`] = {
      action: 'send',
      title: `${doc.producers.join(', ')} → ${topic}`,
      summary: `Produced by ${doc.producers.join(', ')}; consumed by ${doc.consumers.join(', ')}.`,
      channel: { $ref: `#/channels/${key}` },
      messages: [{ $ref: `#/channels/${key}/messages/${short}` }],
    };
  }
  return {
    asyncapi: '3.0.0',
    id: 'urn:ais-platform:kafka',
    info: {
      title: 'AIS platform Kafka topics',
      version: '1.0.0',
      description: [
        'Every Kafka topic of the account-information platform. Generated from libs/contracts/events (topic names, header keys, event types) and /proto (payloads) by `npm run docs:asyncapi`; a unit test fails when this file is stale.',
        'Values are binary protobuf (`content-type: application/x-protobuf`); each payload schema below is the message in the proto3 JSON mapping. Every value except a dead letter starts with the envelope `meta` (`ais.events.v1.EventMeta`), whose fields are also sent as headers. W3C trace context travels in `traceparent` / `tracestate` headers.',
        'Topic names can carry a deployment prefix: with `KAFKA_TOPIC_PREFIX=p` the topic `ais.ledger.v1` is `p.ais.ledger.v1`.',
        'Delivery is at least once everywhere: deduplicate on the event id. Order holds per key (one partition per key, one in-flight request per broker at the producer), never across keys.',
      ].join('\n\n'),
      license: { name: 'Apache-2.0' },
    },
    defaultContentType: PROTOBUF_CONTENT_TYPE,
    servers: {
      local: {
        host: '127.0.0.1:{port}',
        protocol: 'kafka',
        description: 'The local stack (`npm run stack:up`; KAFKA_BROKERS in its stack.env).',
        variables: { port: { default: '9092', description: 'The broker port of your stack.' } },
      },
    },
    channels,
    operations,
    components: { messages, schemas },
  };
}

/** The document as the committed file holds it. */
export function asyncApiText(document = asyncApiDocument()): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
