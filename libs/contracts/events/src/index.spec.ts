import { eventsV1 } from '@ais/contracts-proto-ts';
import { createHash, randomBytes } from 'node:crypto';
import { bindings, derivedUuid, EVENT_TYPES, listItemBytes, RAW_EVENT_MAX_BYTES, RAW_EVENT_MAX_ITEMS, RAW_EVENT_SCHEMA_VERSION, rawItemCount, splitRawItems, toDecimalString, TOPICS, topicName } from './index';

describe('event contracts', () => {
  it('keeps topic names unique, versioned and prefixable', () => {
    const names = Object.values(TOPICS);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^ais\.[a-z]+\.v\d+$/);
    expect(topicName(TOPICS.raw, 'staging')).toBe('staging.ais.raw.v1');
    expect(topicName(TOPICS.raw)).toBe('ais.raw.v1');
  });

  it('round-trips an event with its envelope through protobuf bytes', () => {
    const occurredAt = new Date('2026-01-02T03:04:05.678Z');
    const event: eventsV1.DiagnosticsEvent = {
      meta: {
        eventId: 'e-1',
        occurredAt,
        schemaVersion: 1,
        producer: 'token-vault',
        eventType: EVENT_TYPES.probeRequested,
        correlationId: 'c-1',
      },
      payload: { $case: 'probeRequested', probeRequested: { probeId: 'p-1', origin: 'test', requestedAt: occurredAt } },
    };
    const bytes = eventsV1.DiagnosticsEvent.encode(event).finish();
    expect(eventsV1.DiagnosticsEvent.decode(bytes)).toEqual(event);
  });
});

describe('derived event ids (derivedUuid)', () => {
  // change-feed event ids and retention erasure ids: a change published again must carry the id it had, across releases
  it('gives the ids it always gave', () => {
    expect(derivedUuid('ais.ledger.v1\u0000user-1\u00001')).toBe('3d5f353b-6561-8921-a1c1-9602785c99c7');
    expect(derivedUuid('ais.ledger.v1\u0000bench-consent-22094096-1\u000031647')).toBe('e9ee6ea5-df7b-83ac-aec3-aa0389a10bfa');
    expect(derivedUuid('retention\u0000conn_abc')).toBe('1dae8c61-0be0-8abf-8131-fd400c9249ca');
    expect(derivedUuid('')).toBe('e3b0c442-98fc-8c14-9afb-f4c8996fb924');
    expect(derivedUuid('ü\u0000€')).toBe('ef5f51e7-256f-80d5-99da-db4894d986f3');
  });

  it('is the first 128 bits of the SHA-256 digest with the version 8 and RFC 9562 variant bits, for any text', () => {
    const reference = (text: string) => {
      const h = createHash('sha256').update(text).digest();
      h[6] = (h[6]! & 0x0f) | 0x80;
      h[8] = (h[8]! & 0x3f) | 0x80;
      const x = h.subarray(0, 16).toString('hex');
      return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
    };
    for (let i = 0; i < 2_000; i++) {
      const text = randomBytes(i % 64).toString(i % 3 === 0 ? 'latin1' : 'base64');
      const id = derivedUuid(text);
      expect([text, id]).toEqual([text, reference(text)]);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });
});

describe('raw data events (ais.raw.v1)', () => {
  const at = (iso: string) => new Date(iso);
  const transaction = (i: number): eventsV1.RawTransaction => ({
    transactionId: `03c333979b729315545816aaa365c3${String(i).padStart(2, '0')}`,
    normalisedProviderTransactionId: `txn-ajdifh38fheu5hgue${i}`,
    providerTransactionId: `9882ks-00js${i}`,
    timestamp: at('2018-03-06T00:00:00Z'),
    description: 'GOOGLE PLAY STORE',
    amount: toDecimalString(-2.99),
    currency: 'GBP',
    transactionType: 'DEBIT',
    transactionCategory: 'PURCHASE',
    transactionClassification: ['Entertainment', 'Games'],
    merchantName: 'Google play',
    runningBalance: { amount: toDecimalString(1238.6), currency: 'GBP' },
    meta: { bank_transaction_id: '9882ks-00js', provider_transaction_category: 'DEB', address: JSON.stringify({ city: 'London' }) },
  });
  const envelope = (payload: eventsV1.RawDataEvent['payload'], eventType: string): eventsV1.RawDataEvent => ({
    meta: { eventId: 'e-raw-1', occurredAt: at('2026-01-02T03:04:05.678Z'), schemaVersion: RAW_EVENT_SCHEMA_VERSION, producer: 'data-fetcher', eventType, correlationId: 'job-1' },
    userId: 'user-42',
    clientId: 'client-7',
    connectionId: 'conn-1',
    providerId: 'ob-monzo',
    credentialsId: '6L7RxyPKX0THy1tw93PB4V+8DB+KjnX9Pxa451yXPu0=',
    accountId: 'f1234560abf9f57287637624def390871',
    isCard: false,
    fetchId: 'fetch-9',
    mode: eventsV1.FetchMode.FETCH_MODE_SCHEDULED,
    window: { from: at('2025-10-01T00:00:00Z'), to: at('2026-01-02T00:00:00Z') },
    batch: { index: 0, count: 1, complete: true },
    correlationIds: ['tl-corr-1', 'tl-corr-2'],
    fetchedAt: at('2026-01-02T03:04:05Z'),
    moreWindowsFollow: true,
    payload,
  });

  it('binds RawDataEvent to ais.raw.v1, keyed by user id, and round-trips a transactions batch with every field', () => {
    const binding = bindings.raw();
    expect(binding.topic).toBe('ais.raw.v1');
    expect(bindings.raw('staging').topic).toBe('staging.ais.raw.v1');
    const event = envelope({ $case: 'transactions', transactions: { transactions: [transaction(1), transaction(2)] } }, EVENT_TYPES.rawTransactions);
    const decoded = binding.codec.decode(binding.codec.encode(event).finish());
    expect(decoded).toEqual(event);
    expect(binding.keyOf(decoded)).toBe('user-42');
    // two users' events never share a key; two accounts of one user always do
    expect(binding.keyOf({ ...event, accountId: 'other-account', isCard: true })).toBe('user-42');
    expect(binding.keyOf({ ...event, userId: 'user-43' })).toBe('user-43');
  });

  it('round-trips every other payload kind', () => {
    const binding = bindings.raw();
    const payloads: [eventsV1.RawDataEvent['payload'], string][] = [
      [{ $case: 'pendingTransactions', pendingTransactions: { transactions: [{ ...transaction(3), normalisedProviderTransactionId: '', merchantName: '', transactionClassification: [] }] } }, EVENT_TYPES.rawPendingTransactions],
      [
        {
          $case: 'balance',
          balance: {
            currency: 'GBP',
            current: '1161.2',
            available: '3279',
            overdraft: '1000',
            creditLimit: '',
            lastStatementBalance: '',
            lastStatementDate: undefined,
            paymentDue: '',
            paymentDueDate: undefined,
            updateTimestamp: at('2017-02-07T17:33:30.001Z'),
          },
        },
        EVENT_TYPES.rawBalance,
      ],
      [
        {
          $case: 'accounts',
          accounts: {
            accounts: [
              {
                accountId: 'f1234560abf9f57287637624def390871',
                accountType: 'TRANSACTION',
                displayName: 'Current Account',
                currency: 'GBP',
                accountNumber: { number: '12345678', sortCode: '12-34-56', swiftBic: 'LOYDGB2L', iban: 'GB35LOYD12345612345678', routingNumber: '', bsb: '' },
                providerId: 'lloyds',
                updateTimestamp: at('2017-02-07T17:29:24.740Z'),
              },
            ],
          },
        },
        EVENT_TYPES.rawAccounts,
      ],
      [
        {
          $case: 'cards',
          cards: {
            cards: [
              {
                accountId: 'c1',
                cardNetwork: 'VISA',
                cardType: 'CREDIT',
                currency: 'GBP',
                displayName: 'Club Lloyds Platinum Visa',
                partialCardNumber: '1234',
                nameOnCard: 'Bruce Wayne',
                validFrom: '2017-01',
                validTo: '2022-01',
                providerId: 'lloyds',
                updateTimestamp: at('2017-02-07T17:29:24.740Z'),
              },
            ],
          },
        },
        EVENT_TYPES.rawCards,
      ],
      [
        {
          $case: 'standingOrders',
          standingOrders: {
            standingOrders: [
              {
                frequency: 'IntrvlMnthDay:01:26',
                status: 'Active',
                timestamp: at('2020-01-01T00:00:00Z'),
                currency: 'GBP',
                nextPaymentDate: at('2020-01-26T00:00:00Z'),
                nextPaymentAmount: '50',
                firstPaymentDate: at('2019-01-26T00:00:00Z'),
                firstPaymentAmount: '50',
                finalPaymentDate: at('9999-12-31T00:00:00Z'),
                finalPaymentAmount: '50',
                payee: 'Landlord',
                reference: 'Rent',
                meta: { provider_account_id: 'p-1' },
              },
            ],
          },
        },
        EVENT_TYPES.rawStandingOrders,
      ],
      [
        {
          $case: 'directDebits',
          directDebits: {
            directDebits: [
              {
                directDebitId: 'dd-1',
                timestamp: at('2020-01-01T00:00:00Z'),
                name: 'EE',
                status: 'Active',
                previousPaymentTimestamp: at('2019-12-01T00:00:00Z'),
                previousPaymentAmount: '23.49',
                currency: 'GBP',
                meta: { provider_mandate_identification: 'm-1', provider_account_id: 'p-1', provider_direct_debit_id: 'd-1' },
              },
            ],
          },
        },
        EVENT_TYPES.rawDirectDebits,
      ],
      [
        {
          $case: 'identity',
          identity: {
            identities: [
              {
                fullName: 'John Doe',
                branchId: '',
                emails: ['john@doe.test'],
                phones: ['+447700900000'],
                dateOfBirth: at('1980-01-01T00:00:00Z'),
                addresses: [{ address: '1 Market Street', city: 'San Francisco', state: 'CA', zip: '94103', country: 'US' }],
                updateTimestamp: at('2020-01-01T00:00:00Z'),
              },
            ],
          },
        },
        EVENT_TYPES.rawIdentity,
      ],
    ];
    expect(new Set(payloads.map(([p]) => p?.$case)).size).toBe(7);
    for (const [payload, type] of payloads) {
      const event = { ...envelope(payload, type), accountId: '', window: undefined };
      const decoded = binding.codec.decode(binding.codec.encode(event).finish());
      expect(decoded).toEqual(event);
      expect(binding.keyOf(decoded)).toBe('user-42');
      expect(rawItemCount(decoded)).toBe(1);
    }
  });

  it('splits a result into messages of at most RAW_EVENT_MAX_ITEMS items, and an empty result into one empty message', () => {
    const items = Array.from({ length: 2 * RAW_EVENT_MAX_ITEMS + 201 }, (_, i) => i);
    const parts = splitRawItems(items);
    expect(parts.map((p) => p.length)).toEqual([RAW_EVENT_MAX_ITEMS, RAW_EVENT_MAX_ITEMS, 201]);
    expect(parts.flat()).toEqual(items);
    expect(splitRawItems(items.slice(0, RAW_EVENT_MAX_ITEMS)).map((p) => p.length)).toEqual([RAW_EVENT_MAX_ITEMS]);
    expect(splitRawItems([])).toEqual([[]]);
    expect(() => splitRawItems(items, 0)).toThrow(RangeError);
  });

  it('with sizeOf, also splits by bytes: in order, each part at most maxBytes, an item larger than that alone', () => {
    const sizes = [100, 200, 150, 600, 50, 50, 50, 400, 100, 1];
    const parts = splitRawItems(sizes, 3, (n) => n, 500);
    expect(parts).toEqual([[100, 200, 150], [600], [50, 50, 50], [400, 100], [1]]);
    expect(parts.flat()).toEqual(sizes);
    // the count still bounds parts of small items; an empty result is still one empty message
    expect(splitRawItems([1, 1, 1, 1, 1], 2, (n) => n, 500).map((p) => p.length)).toEqual([2, 2, 1]);
    expect(splitRawItems([], 2, (n: number) => n, 500)).toEqual([[]]);
  });

  it('keeps a full message of ordinary transactions under RAW_EVENT_MAX_BYTES, so the byte bound leaves it at RAW_EVENT_MAX_ITEMS', () => {
    const part = splitRawItems(Array.from({ length: 2400 }, (_, i) => transaction(i)), RAW_EVENT_MAX_ITEMS, listItemBytes(eventsV1.RawTransaction))[0]!;
    const event = envelope({ $case: 'transactions', transactions: { transactions: part } }, EVENT_TYPES.rawTransactions);
    expect(rawItemCount(event)).toBe(RAW_EVENT_MAX_ITEMS);
    expect(eventsV1.RawDataEvent.encode(event).finish().length).toBeLessThan(RAW_EVENT_MAX_BYTES);
  });

  it('writes amounts as decimal strings without exponent or float noise', () => {
    const cases: [number | string, string][] = [
      [-2.99, '-2.99'],
      [1238.6, '1238.6'],
      [5.551115123125783e-17, '0.00000000000000005551115123125783'],
      [1e21, '1000000000000000000000'],
      [1.5e-7, '0.00000015'],
      [-1.25e-7, '-0.000000125'],
      [123456789.12, '123456789.12'],
      [0, '0'],
      [-0, '0'],
      ['12.50', '12.50'],
      [' +3 ', '3'],
      ['-0.01', '-0.01'],
    ];
    for (const [input, text] of cases) expect({ input, text: toDecimalString(input) }).toEqual({ input, text });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '1e5', '', '1,5', '.5', 'abc']) expect(() => toDecimalString(bad)).toThrow(RangeError);
  });
});
