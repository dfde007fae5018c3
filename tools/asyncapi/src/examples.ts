/**
 * One example message per topic for the AsyncAPI document: built with the ts-proto contracts the producers use
 * (`fromPartial`, then `toJSON`: the proto3 JSON mapping the payload schemas describe), with the headers the
 * producers write. Fixed ids and times, so the generated document is the same on every run.
 */
import { HEADERS, PROTOBUF_CONTENT_TYPE, TOPICS } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';

type TopicKey = keyof typeof TOPICS;

export interface MessageExample {
  name: string;
  summary: string;
  headers: Record<string, string>;
  payload: unknown;
}

const AT = new Date('2026-02-04T06:00:00.000Z');
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function envelope(eventId: string, eventType: string, producer: string): { meta: eventsV1.EventMeta; headers: Record<string, string> } {
  const meta = { eventId, occurredAt: AT, schemaVersion: 1, producer, eventType, correlationId: '' };
  return {
    meta,
    headers: {
      [HEADERS.eventId]: eventId,
      [HEADERS.eventType]: eventType,
      [HEADERS.schemaVersion]: '1',
      [HEADERS.producer]: producer,
      [HEADERS.contentType]: PROTOBUF_CONTENT_TYPE,
      [HEADERS.traceparent]: TRACEPARENT,
    },
  };
}

function connection(): MessageExample {
  const { meta, headers } = envelope('6f1c2a5e-8b3d-4e7f-9a1b-2c3d4e5f6a7b', 'connection.authorized', 'token-vault');
  const event = eventsV1.ConnectionEvent.fromPartial({
    meta,
    payload: {
      $case: 'authorized',
      authorized: { connectionId: 'conn_6c1f9a2e', userId: 'user-8412', clientId: 'budgetly', providerId: 'ob-lloyds', scopes: ['info', 'accounts', 'balance', 'transactions', 'offline_access'], consentCreatedAt: AT, consentExpiresAt: new Date('2026-05-05T06:00:00.000Z'), credentialsId: 'cred-1' },
    },
  });
  return { name: 'connectionAuthorized', summary: 'A user consented (first connection)', headers, payload: eventsV1.ConnectionEvent.toJSON(event) };
}

function fetchWork(): MessageExample {
  const { meta, headers } = envelope('0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70', 'fetch.requested', 'data-fetcher');
  const event = eventsV1.FetchEvent.fromPartial({ meta, payload: { $case: 'fetchRequested', fetchRequested: { connectionId: 'conn_6c1f9a2e', userId: 'user-8412', kind: eventsV1.FetchKind.FETCH_KIND_BALANCE, accountId: 'tl-acc-1', mode: eventsV1.FetchMode.FETCH_MODE_SCHEDULED, reason: 'replay' } } });
  return { name: 'fetchRequested', summary: 'Replayed fetch work', headers, payload: eventsV1.FetchEvent.toJSON(event) };
}

function raw(): MessageExample {
  const { meta, headers } = envelope('1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', 'raw.transactions', 'data-fetcher');
  const event = eventsV1.RawDataEvent.fromPartial({
    meta: { ...meta, correlationId: 'f_7d2c' },
    userId: 'user-8412',
    clientId: 'budgetly',
    connectionId: 'conn_6c1f9a2e',
    providerId: 'ob-lloyds',
    accountId: 'tl-acc-1',
    fetchId: 'f_7d2c',
    mode: eventsV1.FetchMode.FETCH_MODE_BACKFILL,
    window: { from: new Date('2024-02-04T00:00:00.000Z'), to: AT },
    batch: { index: 0, count: 1 },
    fetchedAt: AT,
    payload: {
      $case: 'transactions',
      transactions: { transactions: [{ transactionId: 'tl-tx-1', normalisedProviderTransactionId: 'txn-1b4f2e9a0c', timestamp: new Date('2026-02-03T00:00:00.000Z'), description: 'PRET A MANGER LONDON', amount: '-4.20', currency: 'GBP', transactionType: 'DEBIT', transactionCategory: 'PURCHASE', transactionClassification: ['Food & Dining', 'Coffee shops'], merchantName: 'Pret A Manger' }] },
    },
  });
  return { name: 'rawTransactions', summary: 'A batch of booked transactions of one account', headers, payload: eventsV1.RawDataEvent.toJSON(event) };
}

function enriched(): MessageExample {
  const { meta, headers } = envelope('2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e', 'enriched.re_enrichment', 'reconciliation');
  const event = eventsV1.EnrichedEvent.fromPartial({
    meta,
    userId: 'user-8412',
    clientId: 'budgetly',
    payload: { $case: 'reEnrichment', reEnrichment: { items: [{ transactionId: 'txn_5f2c0a', enrichment: { primaryCategory: 'FOOD_AND_DRINK', detailedCategory: 'FOOD_AND_DRINK_COFFEE', merchantName: 'Pret A Manger', merchantKey: 'pret-a-manger', source: 'user', reason: 'user-rule:r1', confidence: 1, version: '3.0.0', taxonomy: 'plaid-pfc-v1' } }], reason: 'user-rule:r1' } },
  });
  return { name: 'reEnrichment', summary: 'New enrichment for stored transactions', headers, payload: eventsV1.EnrichedEvent.toJSON(event) };
}

function ledger(): MessageExample {
  const { meta, headers } = envelope('3c4d5e6f-7a8b-8c9d-8e0f-1a2b3c4d5e6f', 'ledger.change', 'reconciliation');
  const event = eventsV1.ChangeEvent.fromPartial({
    meta,
    userId: 'user-8412',
    clientId: 'budgetly',
    seq: '42',
    kind: eventsV1.ChangeKind.CHANGE_KIND_ADDED,
    reason: 'content',
    entity: {
      $case: 'transaction',
      transaction: {
        transactionId: 'txn_5f2c0a',
        accountId: 'acc_91b7',
        status: 'booked',
        bookedAt: new Date('2026-02-03T00:00:00.000Z'),
        amount: '-4.20',
        currency: 'GBP',
        description: 'PRET A MANGER LONDON',
        transactionType: 'DEBIT',
        transactionCategory: 'PURCHASE',
        merchantName: 'Pret A Manger',
        merchantKey: 'pret-a-manger',
        category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', source: 'merchant', confidence: 0.95, version: '3.0.0' },
        normalisedProviderTransactionId: 'txn-1b4f2e9a0c',
        updatedAt: AT,
        seq: '42',
      },
    },
  });
  return { name: 'transactionAdded', summary: 'A new booked transaction', headers, payload: eventsV1.ChangeEvent.toJSON(event) };
}

function diagnostics(): MessageExample {
  const { meta, headers } = envelope('4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a', 'diagnostics.probe_requested', 'token-vault');
  const event = eventsV1.DiagnosticsEvent.fromPartial({ meta, payload: { $case: 'probeRequested', probeRequested: { probeId: 'probe-1', origin: 'auth-gateway', requestedAt: AT } } });
  return { name: 'probeRequested', summary: 'An operator probe', headers, payload: eventsV1.DiagnosticsEvent.toJSON(event) };
}

function deadLetter(): MessageExample {
  const original = raw();
  const value = eventsV1.DeadLetter.fromPartial({
    sourceTopic: TOPICS.raw,
    sourcePartition: 1,
    sourceOffset: '1834',
    consumerGroup: 'enrichment',
    errorCode: 'decode_failed',
    errorMessage: 'invalid wire type 7 at offset 3',
    failedAt: AT,
    attempts: 1,
    originalKey: Buffer.from('user-8412'),
    originalValue: Buffer.from([0x0a, 0x24, 0x31]),
    originalHeaders: original.headers,
    eventId: original.headers[HEADERS.eventId]!,
  });
  return {
    name: 'decodeFailed',
    summary: 'A raw event enrichment could not decode',
    headers: { ...original.headers, [HEADERS.deadLetterCode]: 'decode_failed', [HEADERS.deadLetterReason]: 'invalid wire type 7 at offset 3' },
    payload: eventsV1.DeadLetter.toJSON(value),
  };
}

export const MESSAGE_EXAMPLES: Record<TopicKey, () => MessageExample> = { connection, fetch: fetchWork, raw, enriched, ledger, diagnostics, deadLetter };
