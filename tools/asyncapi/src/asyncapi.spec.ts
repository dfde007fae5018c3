/**
 * docs/asyncapi.json against the contracts it documents:
 * - the committed file is exactly what `npm run docs:asyncapi` generates now (it cannot drift from /proto or
 *   libs/contracts/events);
 * - @asyncapi/parser (the official parser, with its spectral ruleset) reads it with no error diagnostics;
 * - every topic, event type and header key of the contracts is in it, and each channel's message is the protobuf
 *   message its producers encode with (the `bindings` codecs);
 * - real events, encoded the way producers build them and turned into the proto3 JSON mapping with ts-proto's
 *   `toJSON`, validate against the payload schemas (the document's own examples too, with their headers); a wrong
 *   type or an unknown field does not.
 */
import { bindings, EVENT_TYPES, HEADERS, TOPICS } from '@ais/contracts-events';
import { eventsV1, reconciliationV1 } from '@ais/contracts-proto-ts';
import { Parser } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asyncApiDocument, asyncApiText, eventTypesOf, TOPIC_DOCS } from './document';
import { ASYNCAPI_FILE } from './main';
import { buildDescriptorSet, WORKSPACE_ROOT } from './proto-schema';

jest.setTimeout(60_000);

type Json = Record<string, unknown>;
const generated = asyncApiDocument(buildDescriptorSet());
const doc = generated as { channels: Record<string, Json & { address: string; messages: Record<string, Json> }>; components: { messages: Record<string, Json & { headers: Json }>; schemas: Record<string, Json> } };

describe('docs/asyncapi.json', () => {
  it('is the generated document (run `npm run docs:asyncapi` and commit when this fails)', () => {
    expect(readFileSync(ASYNCAPI_FILE, 'utf8')).toBe(asyncApiText(generated));
  });

  it('parses with @asyncapi/parser without error diagnostics', async () => {
    const { document, diagnostics } = await new Parser().parse(readFileSync(ASYNCAPI_FILE, 'utf8'));
    const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`);
    expect(errors).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toBe('3.0.0');
    expect(document!.channels().all().map((c) => c.address()).sort()).toEqual(Object.values(TOPICS).sort());
  });

  it('the parser reports an error for a broken document (so the check above can fail)', async () => {
    const broken = JSON.parse(asyncApiText(generated)) as Json & { operations: Record<string, Json> };
    broken.operations['sendChangeEvent']!['action'] = 'publish';
    const { diagnostics } = await new Parser().parse(JSON.stringify(broken));
    expect(diagnostics.some((d) => d.severity === 0)).toBe(true);
  });
});

describe('the document covers the contracts', () => {
  it('one channel per topic, every event type on exactly one channel', () => {
    expect(Object.values(doc.channels).map((c) => c.address).sort()).toEqual(Object.values(TOPICS).sort());
    const listed = Object.values(doc.components.messages).flatMap((m) => ((m.headers['properties'] as Json)[HEADERS.eventType] as { enum?: string[] } | undefined)?.enum ?? []);
    expect(listed.sort()).toEqual(Object.values(EVENT_TYPES).sort());
    expect(eventTypesOf(TOPICS.ledger)).toEqual([EVENT_TYPES.ledgerErasure, EVENT_TYPES.ledgerChange].sort());
  });

  it("each channel's message is the protobuf message its producers encode with", () => {
    const codecs: Record<string, unknown> = {
      connection: bindings.connection().codec,
      fetch: bindings.fetch().codec,
      raw: bindings.raw().codec,
      enriched: bindings.enriched().codec,
      ledger: bindings.ledger().codec,
      diagnostics: bindings.diagnostics().codec,
      deadLetter: eventsV1.DeadLetter,
    };
    for (const [key, topic] of Object.entries(TOPICS)) {
      const name = TOPIC_DOCS[key as keyof typeof TOPICS].message;
      expect({ topic, codec: codecs[key] }).toEqual({ topic, codec: (eventsV1 as Record<string, unknown>)[name.split('.').at(-1)!] });
      expect(doc.channels[key]!.address).toBe(topic);
    }
  });

  it("each service named as a topic's producer or consumer uses that topic in its source", () => {
    const services = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'];
    const sourceOf = (service: string): string => {
      const out: string[] = [];
      const walk = (dir: string): void => {
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(dir, e.name));
          else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')) out.push(readFileSync(join(dir, e.name), 'utf8'));
        }
      };
      walk(join(WORKSPACE_ROOT, 'apps', service, 'src'));
      return out.join('\n');
    };
    const sources = new Map(services.map((s) => [s, sourceOf(s)]));
    for (const [key, topic] of Object.entries(TOPIC_DOCS)) {
      const uses = new RegExp(`bindings\\.${key}\\(|TOPICS\\.${key}\\b`);
      for (const service of [...topic.producers, ...topic.consumers].filter((s) => services.includes(s))) {
        expect({ key, service, uses: uses.test(sources.get(service)!) }).toEqual({ key, service, uses: true });
      }
    }
  });

  it('every header key producers write is documented on each envelope topic', () => {
    for (const [key, message] of Object.entries(doc.components.messages)) {
      const props = Object.keys(message.headers['properties'] as Json);
      const expected = key === 'DeadLetter' ? [HEADERS.deadLetterCode, HEADERS.deadLetterReason, HEADERS.traceparent] : [HEADERS.eventId, HEADERS.eventType, HEADERS.schemaVersion, HEADERS.producer, HEADERS.contentType, HEADERS.traceparent, HEADERS.tracestate];
      for (const h of expected) expect({ key, h, documented: props.includes(h) }).toEqual({ key, h, documented: true });
    }
  });
});

describe('the payload schemas accept real events in the proto3 JSON mapping', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'asyncapi', components: { schemas: doc.components.schemas } });
  const validate = (message: string, value: unknown) => {
    const v = ajv.getSchema(`asyncapi#/components/schemas/${message}`)!;
    return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };
  const meta = (eventType: string) => ({ eventId: '0b8a4c0e-2a31-4d5e-9a7c-6f1d2e3b4a5c', occurredAt: new Date('2026-02-04T06:00:00Z'), schemaVersion: 1, producer: 'reconciliation', eventType, correlationId: 'c-1' });

  const transaction = reconciliationV1.Transaction.fromPartial({
    transactionId: 'txn_5f2c0a',
    accountId: 'acc_91b7',
    status: 'booked',
    bookedAt: new Date('2026-02-03T00:00:00Z'),
    amount: '-4.20',
    currency: 'GBP',
    providerClassification: ['Shopping', 'Groceries'],
    category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', confidence: 0.95 },
    runningBalance: { amount: '100.00', currency: 'GBP' },
    seq: '42',
  });
  const samples: [string, unknown][] = [
    ['ais.events.v1.ChangeEvent', eventsV1.ChangeEvent.toJSON({ meta: meta(EVENT_TYPES.ledgerChange), userId: 'u-1', clientId: 'c-1', seq: '42', kind: eventsV1.ChangeKind.CHANGE_KIND_ADDED, entity: { $case: 'transaction', transaction }, reason: 'content' })],
    [
      'ais.events.v1.ChangeEvent',
      eventsV1.ChangeEvent.toJSON(
        eventsV1.ChangeEvent.fromPartial({ meta: meta(EVENT_TYPES.ledgerErasure), userId: 'u-1', seq: '43', kind: eventsV1.ChangeKind.CHANGE_KIND_REMOVED, entity: { $case: 'erasure', erasure: { erasureId: 'e-1', userId: 'u-1', connectionIds: ['conn-1'], steps: [{ service: 'reconciliation', documentsDeleted: '12', completedAt: new Date() }] } } }),
      ),
    ],
    [
      'ais.events.v1.RawDataEvent',
      eventsV1.RawDataEvent.toJSON(
        eventsV1.RawDataEvent.fromPartial({
          meta: meta(EVENT_TYPES.rawTransactions),
          userId: 'u-1',
          mode: eventsV1.FetchMode.FETCH_MODE_BACKFILL,
          window: { from: new Date('2024-02-01T00:00:00Z'), to: new Date('2026-02-04T00:00:00Z') },
          correlationIds: ['tl-1'],
          payload: { $case: 'transactions', transactions: { transactions: [{ transactionId: 't1', amount: '-1.00', meta: { provider_category: 'POS' }, runningBalance: { amount: '1', currency: 'GBP' } }] } },
        }),
      ),
    ],
    ['ais.events.v1.FetchEvent', eventsV1.FetchEvent.toJSON(eventsV1.FetchEvent.fromPartial({ meta: meta(EVENT_TYPES.fetchRequested), payload: { $case: 'fetchRequested', fetchRequested: { userId: 'u-1', kind: eventsV1.FetchKind.FETCH_KIND_TRANSACTIONS, isCard: true } } }))],
    ['ais.events.v1.ConnectionEvent', eventsV1.ConnectionEvent.toJSON(eventsV1.ConnectionEvent.fromPartial({ meta: meta(EVENT_TYPES.connectionAuthorized), payload: { $case: 'authorized', authorized: { connectionId: 'conn-1', scopes: ['info', 'accounts'], consentExpiresAt: new Date() } } }))],
    ['ais.events.v1.EnrichedEvent', eventsV1.EnrichedEvent.toJSON(eventsV1.EnrichedEvent.fromPartial({ meta: meta(EVENT_TYPES.reEnrichment), userId: 'u-1', payload: { $case: 'reEnrichment', reEnrichment: { items: [{ transactionId: 'txn_1', enrichment: { primaryCategory: 'FOOD_AND_DRINK', confidence: 0.5 } }], reason: 'replay:3' } } }))],
    ['ais.events.v1.DiagnosticsEvent', eventsV1.DiagnosticsEvent.toJSON(eventsV1.DiagnosticsEvent.fromPartial({ meta: meta(EVENT_TYPES.probeRequested), payload: { $case: 'probeRequested', probeRequested: { probeId: 'p-1', requestedAt: new Date() } } }))],
    ['ais.events.v1.DeadLetter', eventsV1.DeadLetter.toJSON(eventsV1.DeadLetter.fromPartial({ sourceTopic: TOPICS.raw, sourcePartition: 2, sourceOffset: '1234', attempts: 3, originalKey: Buffer.from('u-1'), originalValue: Buffer.from([1, 2, 3]), originalHeaders: { [HEADERS.eventId]: 'x' }, failedAt: new Date() }))],
  ];

  it.each(samples.map(([m, v], i) => [i, m, v] as const))('sample %i: %s', (_i, message, value) => {
    expect(validate(message, value)).toEqual([]);
  });

  it.each(Object.entries(doc.components.messages))("%s's example: headers and payload valid against the message's schemas", (_name, message) => {
    const examples = message['examples'] as { headers: Json; payload: Json }[];
    expect(examples).toHaveLength(1);
    const payloadRef = String((message['payload'] as Json)['$ref']).split('/').pop()!;
    expect(validate(payloadRef, examples[0]!.payload)).toEqual([]);
    const headers = ajv.compile(message.headers);
    expect(headers(examples[0]!.headers) ? [] : headers.errors).toEqual([]);
  });

  it('refuses a wrong type and an unknown field', () => {
    const good = samples[0]![1] as Json;
    expect(validate('ais.events.v1.ChangeEvent', { ...good, seq: 42 })).not.toEqual([]);
    expect(validate('ais.events.v1.ChangeEvent', { ...good, sequence: '42' })).not.toEqual([]);
    expect(validate('ais.events.v1.ChangeEvent', { ...good, kind: 'ADDED' })).not.toEqual([]);
  });
});
