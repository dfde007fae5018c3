/**
 * Kafka topic names, header keys and event-type names: the one place they are spelled.
 * Payloads are the protobuf messages in /proto/ais/events/v1 (see @ais/contracts-proto-ts).
 */

export const TOPICS = {
  /** Connection lifecycle; key = connection_id. */
  connection: 'ais.connection.v1',
  /** Fetch work (FetchEvent: accepted TrueLayer webhooks, replayed fetch work); key = **user id**. */
  fetch: 'ais.fetch.v1',
  /**
   * Raw TrueLayer data (RawDataEvent: transactions, pending, balances, accounts, cards, standing orders, direct
   * debits, identity); key = **user id**, so everything of one user is in order on one partition and one consumer
   * at a time writes a user's data.
   */
  raw: 'ais.raw.v1',
  /** Enriched batches; key = user id (same partitioning as raw). */
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
  rawTransactions: 'raw.transactions',
  rawPendingTransactions: 'raw.pending_transactions',
  rawBalance: 'raw.balance',
  rawAccounts: 'raw.accounts',
  rawCards: 'raw.cards',
  rawStandingOrders: 'raw.standing_orders',
  rawDirectDebits: 'raw.direct_debits',
  rawIdentity: 'raw.identity',
  fetchTaskWebhook: 'fetch.task_webhook',
  fetchRequested: 'fetch.requested',
  enrichedBatch: 'enriched.batch',
  reEnrichment: 'enriched.re_enrichment',
  userEdit: 'enriched.user_edit',
  ledgerChange: 'ledger.change',
  /** An erasure on its way through the user-keyed topics (erasure.proto); one type per hop. */
  fetchUserErasure: 'fetch.user_erasure',
  rawErasure: 'raw.erasure',
  enrichedErasure: 'enriched.erasure',
  ledgerErasure: 'ledger.erasure',
} as const;

/**
 * A UUID (version 8 layout, RFC 9562) derived from `text` by SHA-256: ids that must come out the same whenever the
 * same thing is published again (change-feed events, retention erasures).
 */
export function derivedUuid(text: string): string {
  // the first 128 bits of the digest, the version nibble (13th hex digit) set to 8 and the variant bits of the 17th
  // to 10; the change feed takes one per change, so slices rather than an array of characters
  const h = hash('sha256', text, 'hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Topic name with an optional deployment prefix (several stacks can share one cluster). */
export function topicName(topic: TopicName, prefix = ''): string {
  return prefix ? `${prefix}.${topic}` : topic;
}

import { encodeBytes, eventsV1, type MessageEncoder } from '@ais/contracts-proto-ts';
import { hash } from 'node:crypto';

/** How one topic's events are encoded and keyed (structurally the Kafka library's TopicBinding). */
export interface EventBinding<T> {
  topic: string;
  codec: MessageEncoder<T> & { decode(input: Uint8Array): T };
  keyOf(event: T): string;
}

export const bindings = {
  diagnostics: (prefix = ''): EventBinding<eventsV1.DiagnosticsEvent> => ({
    topic: topicName(TOPICS.diagnostics, prefix),
    codec: eventsV1.DiagnosticsEvent,
    keyOf: (e) => (e.payload?.$case === 'probeRequested' ? e.payload.probeRequested.probeId : ''),
  }),
  /** Raw data; key = user id (see TOPICS.raw). */
  raw: (prefix = ''): EventBinding<eventsV1.RawDataEvent> => ({
    topic: topicName(TOPICS.raw, prefix),
    codec: eventsV1.RawDataEvent,
    keyOf: (e) => e.userId,
  }),
  /** Enriched batches and user commands; key = user id (see TOPICS.enriched). */
  enriched: (prefix = ''): EventBinding<eventsV1.EnrichedEvent> => ({
    topic: topicName(TOPICS.enriched, prefix),
    codec: eventsV1.EnrichedEvent,
    keyOf: (e) => e.userId,
  }),
  /** The downstream change feed; key = user id (see TOPICS.ledger). */
  ledger: (prefix = ''): EventBinding<eventsV1.ChangeEvent> => ({
    topic: topicName(TOPICS.ledger, prefix),
    codec: eventsV1.ChangeEvent,
    keyOf: (e) => e.userId,
  }),
  /** Fetch work; key = user id (see TOPICS.fetch). */
  fetch: (prefix = ''): EventBinding<eventsV1.FetchEvent> => ({
    topic: topicName(TOPICS.fetch, prefix),
    codec: eventsV1.FetchEvent,
    keyOf: (e) => {
      const p = e.payload;
      if (!p) return '';
      switch (p.$case) {
        case 'taskWebhook':
          return p.taskWebhook.userId;
        case 'fetchRequested':
          return p.fetchRequested.userId;
        case 'userErasure':
          return p.userErasure.userId;
      }
    },
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

/**
 * Most items one RawDataEvent carries (transactions, accounts, cards, standing orders, direct debits or
 * identities). Every message costs its consumers a fixed part besides its rows (reconciliation: the account lookup,
 * the sequence reservation and commit, an analysis check), so a heavy user's 12-month window of about 1,500
 * transactions goes as two messages, not three: docs/BENCHMARKS.md (consent) measured 500 against 1,000.
 */
export const RAW_EVENT_MAX_ITEMS = 1000;

/**
 * Most encoded bytes of the items of one RawDataEvent (`splitRawItems`' `sizeOf`). The broker refuses a record over
 * its `message.max.bytes` (1 MiB by default), and the enriched event made of a raw one is larger: enrichment adds a
 * merchant name and key (each at most as long as a text the item already carries) and a few short fields per
 * transaction, so at most about three times the raw bytes, 960 KiB at this bound. 1,000 of the simulator's
 * transactions encode to 273 KB (415 KB enriched); a bank with long descriptions and meta gets fewer items per
 * message instead of a refused one.
 */
export const RAW_EVENT_MAX_BYTES = 320 * 1024;

/** An item's bytes in the list of a raw event (`splitRawItems`' `sizeOf`): its encoding, plus its field's tag and length. */
export function listItemBytes<T>(codec: MessageEncoder<T>): (item: T) => number {
  return (item) => encodeBytes(codec, item).length + 4;
}

/** The schema version raw events carry in their envelope. */
export const RAW_EVENT_SCHEMA_VERSION = 1;

/**
 * Splits one fetch result into the item lists of its messages, in order: at most `max` items each and, when
 * `sizeOf` (an item's encoded bytes) is given, at most `maxBytes` of them (an item larger than that alone). Always at
 * least one list: an empty result is published as one message with no items, so that a consumer learns that
 * everything it held for the window (e.g. pending transactions) is gone.
 */
export function splitRawItems<T>(items: readonly T[], max = RAW_EVENT_MAX_ITEMS, sizeOf?: (item: T) => number, maxBytes = RAW_EVENT_MAX_BYTES): T[][] {
  if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a positive integer');
  if (items.length === 0) return [[]];
  return consecutiveRuns(items, sizeOf ?? (() => 0), maxBytes, max);
}

/**
 * Consecutive runs of `items`, in order, each of at most `maxItems` items and at most `maxBytes` by `sizeOf` (an
 * item larger than that alone in its run). No runs for no items.
 */
export function consecutiveRuns<T>(items: readonly T[], sizeOf: (item: T) => number, maxBytes: number, maxItems = Infinity): T[][] {
  const out: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = sizeOf(item);
    if (run.length > 0 && (run.length >= maxItems || bytes + n > maxBytes)) {
      out.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += n;
  }
  if (run.length > 0) out.push(run);
  return out;
}

/** Number of items a raw event carries (balance: 1). */
export function rawItemCount(event: eventsV1.RawDataEvent): number {
  const p = event.payload;
  if (!p) return 0;
  switch (p.$case) {
    case 'transactions':
      return p.transactions.transactions.length;
    case 'pendingTransactions':
      return p.pendingTransactions.transactions.length;
    case 'balance':
      return 1;
    case 'accounts':
      return p.accounts.accounts.length;
    case 'cards':
      return p.cards.cards.length;
    case 'standingOrders':
      return p.standingOrders.standingOrders.length;
    case 'directDebits':
      return p.directDebits.directDebits.length;
    case 'identity':
      return p.identity.identities.length;
    case 'erasure':
      return 0;
  }
}

const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * An amount as raw events carry it: a decimal string in major units, never an exponent ("-2.99", "1238.6",
 * "0.0000001"). TrueLayer sends JSON numbers; the shortest representation that reads back as the same double is
 * exactly the text TrueLayer wrote for any amount of up to 15 significant digits. Strings (standing-order amounts
 * are typed as strings in the spec) must already be decimals; a leading "+" is dropped.
 */
export function toDecimalString(value: number | string): string {
  if (typeof value === 'string') {
    const text = value.trim().replace(/^\+/, '');
    if (!DECIMAL.test(text)) throw new RangeError(`not a decimal amount: ${JSON.stringify(value)}`);
    return text;
  }
  if (!Number.isFinite(value)) throw new RangeError(`not a finite amount: ${value}`);
  if (Object.is(value, -0)) return '0';
  const text = String(value);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!m) return text;
  const [, sign, int, frac = '', exp] = m;
  const digits = `${int}${frac}`;
  const point = int!.length + Number(exp);
  const body =
    point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? `${digits}${'0'.repeat(point - digits.length)}` : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return `${sign}${body}`;
}

/** The category taxonomy of enriched transactions and of the read API (Plaid PFC v1). */
export * from './pfc-taxonomy';
