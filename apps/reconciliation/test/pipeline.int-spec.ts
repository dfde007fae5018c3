/**
 * reconciliation's pipeline against real Kafka and the real MongoDB-wire server: EnrichedEvents for two users go
 * through the consumer into the store, and the change-feed publisher puts exactly the expected ChangeEvents on
 * ais.ledger.v1 (added / modified on settle and on new enrichment / removed after the pending grace), once each,
 * in strictly increasing seq per user. Redelivery of the same events changes nothing and publishes nothing; one
 * edit request id is applied once; data for an unknown account, an undecodable message and an event keyed by another
 * user than its own are dead-lettered with their reasons while later messages flow; after a crash (publishedSeq
 * behind committedSeq) the sweep publishes the rest with the same event ids; a replay of the topic into a fresh
 * database gives the same checksum (invariant 6).
 */
import { bindings, EVENT_TYPES, HEADERS, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1, type enrichmentV1 } from '@ais/contracts-proto-ts';
import { createKafka, EventProducer, newMeta } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainUsesIndex, type Connection } from '@ais/platform-mongo';
import { provisionTopics } from '@ais/testing';
import type { Consumer, Kafka } from 'kafkajs';
import { mongo } from 'mongoose';
import { randomBytes } from 'node:crypto';
import { ChangeFeedPublisher, changeEventId } from '../src/data/changefeed';
import { reenrichUser, type CategorizeClient } from '../src/data/reenrich';
import { RECON_INDEXES, ReconciliationStore, type ApplyResult, type Batch } from '../src/data/store';
import { EnrichedConsumer, toBatchPayload, type UserBatchResult } from '../src/kafka/enriched.consumer';
import { enrichedEvent } from './feed-fixtures';

const logger = createLogger({ service: 'reconciliation-pipeline-int', level: 'warn' });
const DAY = 86_400_000;
const T = new Date('2026-03-25T12:00:00Z');
const at = (days: number): Date => new Date(T.getTime() + days * DAY);
const K = eventsV1.ChangeKind;

async function waitFor<V>(what: string, check: () => Promise<V | undefined>, timeoutMs = 60_000): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The test's categoriser: the same function decides the enrichment at fetch time and on re-enrichment. */
function enrich(description: string, changed = false): eventsV1.TransactionEnrichment {
  const key = description.toLowerCase().replace(/[^a-z]+/g, '-');
  return {
    primaryCategory: changed ? 'FOOD_AND_DRINK' : 'GENERAL_MERCHANDISE',
    detailedCategory: changed ? 'FOOD_AND_DRINK_GROCERIES' : 'GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE',
    merchantName: description,
    merchantKey: key,
    source: changed ? 'user' : 'rule',
    reason: changed ? 'user-rule:r1' : 'rule:test',
    confidence: 0.8,
    version: '1.0.0',
    taxonomy: 'plaid-pfc-v1',
  };
}

function row(over: Partial<eventsV1.RawTransaction>): eventsV1.RawTransaction {
  return {
    transactionId: `tid-${randomBytes(3).toString('hex')}`,
    normalisedProviderTransactionId: '',
    providerTransactionId: '',
    timestamp: T,
    description: 'X',
    amount: '-1',
    currency: 'GBP',
    transactionType: 'DEBIT',
    transactionCategory: 'PURCHASE',
    transactionClassification: [],
    merchantName: '',
    meta: {},
    ...over,
  };
}

const booked = (n: number, day: number): eventsV1.RawTransaction => row({ normalisedProviderTransactionId: `txn-${n}`, description: `SHOP ${['ONE', 'TWO', 'THREE'][n - 1]}`, amount: `-${n}0.00`, timestamp: at(day - n) });

type RawPayload = NonNullable<eventsV1.RawDataEvent['payload']>;

function enriched(userId: string, fetchedAt: Date, accountId: string, payload: RawPayload, enrichments: eventsV1.TransactionEnrichment[] = []): eventsV1.EnrichedEvent {
  return enrichedEvent({ userId, accountId, payload, fetchedAt, fetchId: `fetch-${fetchedAt.toISOString()}`, window: { from: at(-30), to: at(5) }, enrichments });
}

function txBatch(userId: string, fetchedAt: Date, accountId: string, kind: 'transactions' | 'pendingTransactions', rows: eventsV1.RawTransaction[], enrichments = rows.map((r) => enrich(r.description))): eventsV1.EnrichedEvent {
  const payload = (kind === 'transactions' ? { $case: 'transactions', transactions: { transactions: rows } } : { $case: 'pendingTransactions', pendingTransactions: { transactions: rows } }) as RawPayload;
  return enriched(userId, fetchedAt, accountId, payload, enrichments);
}

function accounts(userId: string): eventsV1.EnrichedEvent {
  return enriched(userId, T, '', {
    $case: 'accounts',
    accounts: {
      accounts: [
        {
          accountId: `tl-cur-${userId}`,
          accountType: 'TRANSACTION',
          displayName: 'Club Lloyds',
          currency: 'GBP',
          accountNumber: { iban: '', swiftBic: '', number: userId === 'ua' ? '12345678' : '22345678', sortCode: '30-94-57', routingNumber: '', bsb: '' },
          providerId: 'ob-lloyds',
          updateTimestamp: T,
        } as eventsV1.RawAccount,
      ],
    },
  });
}

function cards(userId: string): eventsV1.EnrichedEvent {
  return enriched(userId, T, '', {
    $case: 'cards',
    cards: { cards: [{ accountId: `tl-card-${userId}`, cardNetwork: 'VISA', cardType: 'CREDIT', currency: 'GBP', displayName: 'Credit Card', partialCardNumber: '4242', nameOnCard: 'ANN SMITH', validFrom: '', validTo: '', providerId: 'ob-lloyds', updateTimestamp: T } as eventsV1.RawCard] },
  });
}

function balance(userId: string): eventsV1.EnrichedEvent {
  return enriched(userId, T, `tl-cur-${userId}`, { $case: 'balance', balance: { currency: 'GBP', current: '100.00', available: '1100.00', overdraft: '1000', creditLimit: '', lastStatementBalance: '', paymentDue: '', updateTimestamp: T } as eventsV1.RawBalance });
}

function edit(userId: string, requestId: string, target: 'transaction' | 'account', targetId: string, notes: string): eventsV1.EnrichedEvent {
  return {
    meta: newMeta('reconciliation', EVENT_TYPES.userEdit),
    userId,
    clientId: 'client-1',
    payload: {
      $case: 'userEdit',
      userEdit: { requestId, target, targetId, setCategoryOverride: target === 'transaction', categoryOverride: target === 'transaction' ? 'FOOD_AND_DRINK_COFFEE' : '', setNotes: true, notes, setTags: false, tags: [], setHidden: false, hidden: false, requestedAt: at(5) },
    },
  };
}

interface Received {
  eventId: string;
  event: eventsV1.ChangeEvent;
}

async function collect<T>(kafka: Kafka, topic: string, decode: (b: Buffer, headers: Record<string, string>) => T, into: T[]): Promise<Consumer> {
  const c = kafka.consumer({ groupId: `it-collect-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 200 });
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await c.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(Array.isArray(v) ? v[0] : v);
      into.push(decode(message.value!, headers));
    },
  });
  return c;
}

describe('reconciliation pipeline (real Kafka and MongoDB-wire server)', () => {
  const prefix = `it${randomBytes(3).toString('hex')}`;
  const groupId = `reconciliation-${prefix}`;
  let kafka: Kafka;
  let producer: EventProducer;
  const conns: Connection[] = [];
  let store: ReconciliationStore;
  let publisher: ChangeFeedPublisher;
  let consumer: EnrichedConsumer | undefined;
  const ledger: Received[] = [];
  const dlq: eventsV1.DeadLetter[] = [];
  const collectors: Consumer[] = [];
  const produced: eventsV1.EnrichedEvent[] = [];
  const enrichedBinding = bindings.enriched(prefix);
  const other: [string, string][] = [];
  const after: [string, UserBatchResult][] = [];
  const hooks = {
    onOtherPayload: async (userId: string, e: eventsV1.EnrichedEvent) => void other.push([userId, e.payload?.$case === 'batch' ? (e.payload.batch.raw?.payload?.$case ?? '') : '']),
    afterUser: async (userId: string, r: UserBatchResult) => void after.push([userId, r]),
  };

  async function freshStore(): Promise<ReconciliationStore> {
    const conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_pipe_${randomBytes(4).toString('hex')}`, logger });
    conns.push(conn);
    const s = new ReconciliationStore(conn);
    await s.ensureIndexes();
    return s;
  }

  async function send(...events: eventsV1.EnrichedEvent[]): Promise<void> {
    produced.push(...events);
    await producer.publish(enrichedBinding, events);
  }

  async function startConsumer(s: ReconciliationStore, options: { publisher?: ChangeFeedPublisher; group?: string } = {}): Promise<EnrichedConsumer> {
    const c = new EnrichedConsumer({ kafka, store: s, producer, logger, hooks, groupId: options.group ?? groupId, topicPrefix: prefix, fromBeginning: true, maxWaitTimeMs: 200, ...(options.publisher ? { publisher: options.publisher } : {}) });
    await c.start({ budgetMs: 30_000 });
    return c;
  }

  /** Waits until the user's changes up to `seq` are committed and published. */
  const published = (userId: string, seq: number): Promise<true> =>
    waitFor(`${userId} published up to ${seq}`, async () => {
      const s = await store.userState(userId);
      return s && s.committedSeq === seq && s.publishedSeq === seq && ledger.filter((l) => l.event.userId === userId && Number(l.event.seq) === seq).length > 0 ? true : undefined;
    });

  const feed = (userId: string): [number, eventsV1.ChangeKind, string, string][] =>
    ledger.filter((l) => l.event.userId === userId).map((l) => [Number(l.event.seq), l.event.kind, l.event.entity?.$case ?? '', l.event.reason]);

  beforeAll(async () => {
    const brokers = process.env['KAFKA_BROKERS']!;
    await provisionTopics({ brokers, prefix, topics: [TOPICS.enriched, TOPICS.connection, TOPICS.ledger, TOPICS.deadLetter] });
    kafka = createKafka({ brokers: brokers.split(','), clientId: `it-${prefix}`, logger, connectionTimeoutMs: 10_000 });
    producer = new EventProducer(kafka, { service: 'it' });
    await producer.connect();
    store = await freshStore();
    publisher = new ChangeFeedPublisher({ store, producer, logger, topicPrefix: prefix, pageSize: 3 });
    collectors.push(await collect(kafka, topicName(TOPICS.ledger, prefix), (b, h) => ({ eventId: h[HEADERS.eventId]!, event: eventsV1.ChangeEvent.decode(b) }), ledger));
    collectors.push(await collect(kafka, topicName(TOPICS.deadLetter, prefix), (b) => eventsV1.DeadLetter.decode(b), dlq));
    consumer = await startConsumer(store, { publisher });
  });

  afterAll(async () => {
    await consumer?.stop();
    await publisher.stop();
    for (const c of collectors) await c.disconnect();
    await producer.disconnect();
    for (const c of conns) {
      await c.dropDatabase().catch(() => undefined);
      await c.close();
    }
  });

  const hold = row({ description: 'HOTEL HOLD', amount: '-200', timestamp: at(-0.5) });
  const tescoPending = row({ description: 'TESCO STORES 3297', amount: '-23.10', timestamp: at(-1) });
  const tescoBooked = row({ normalisedProviderTransactionId: 'txn-tesco', description: 'Tesco Stores 3297 LONDON', amount: '-23.1', timestamp: at(0) });
  const phase1 = (): eventsV1.EnrichedEvent[] => [
    accounts('ua'),
    cards('ua'),
    txBatch('ua', T, 'tl-cur-ua', 'transactions', [booked(1, 0), booked(2, 0), booked(3, 0)]),
    txBatch('ua', T, 'tl-cur-ua', 'pendingTransactions', [tescoPending, hold]),
    balance('ua'),
    enriched('ua', T, '', { $case: 'standingOrders', standingOrders: { standingOrders: [] } }),
    accounts('ub'),
    txBatch('ub', T, 'tl-cur-ub', 'transactions', [booked(1, 0), booked(2, 0)]),
    balance('ub'),
  ];
  // the settled Tesco row; ub's re-fetch with one new enrichment
  const phase2 = (): eventsV1.EnrichedEvent[] => [
    txBatch('ua', at(1), 'tl-cur-ua', 'transactions', [booked(1, 0), booked(2, 0), booked(3, 0), tescoBooked]),
    txBatch('ub', at(1), 'tl-cur-ub', 'transactions', [booked(1, 0), booked(2, 0)], [enrich('SHOP ONE'), { ...enrich('SHOP TWO'), merchantKey: 'shop-two-ltd' }]),
  ];
  // a complete pending result without the hold: missing; three days later: removed. Then data for an unknown account.
  const phase3 = (): eventsV1.EnrichedEvent[] => [txBatch('ua', at(1), 'tl-cur-ua', 'pendingTransactions', [])];
  const phase4 = (): eventsV1.EnrichedEvent[] => [txBatch('ua', at(4), 'tl-cur-ua', 'pendingTransactions', []), txBatch('ua', at(4), 'tl-unknown', 'transactions', [booked(1, 4)])];

  const shopTwoChanged: CategorizeClient = {
    categorizeBatch: async (req: enrichmentV1.CategorizeBatchRequest) => ({
      results: req.transactions.map((t) => {
        const e = enrich(t.description, t.description === 'SHOP TWO');
        expect(t).toMatchObject({ clientId: 'client-1', userId: 'ua' });
        return { category: e.primaryCategory, subcategory: e.detailedCategory, merchant: e.merchantName, source: e.source, merchantKey: e.merchantKey, confidence: e.confidence, version: e.version, reason: e.reason, taxonomy: e.taxonomy };
      }),
    }),
  };
  let firstRun: Received[] = [];

  it('applies both users\u2019 events and publishes exactly the expected change feed', async () => {
    await send(...phase1());
    await published('ua', 8);
    await published('ub', 4);
    await send(...phase2());
    await published('ua', 9);
    await published('ub', 5);
    await send(...phase3());
    await waitFor('hold marked missing', async () => ((await store.transactions.findOne({ userId: 'ua', description: 'HOTEL HOLD', missingSince: { $ne: null } })) ? true : undefined));
    await send(...phase4());
    await published('ua', 10);
    const dead = await waitFor('dead letter', async () => dlq.find((d) => d.errorCode === 'unknown_account'));
    expect(dead).toMatchObject({ sourceTopic: topicName(TOPICS.enriched, prefix), consumerGroup: groupId, errorMessage: expect.stringContaining('no single internal account') });
    expect(eventsV1.EnrichedEvent.decode(dead.originalValue).payload).toMatchObject({ $case: 'batch', batch: { raw: { accountId: 'tl-unknown' } } });
    // an undecodable message is dead-lettered too, and what follows still flows
    await producer.sendRaw(enrichedBinding.topic, [{ key: 'ua', value: Buffer.from([0xff, 0xff, 0xff, 0x07]) }]);
    const garbage = await waitFor('decode dead letter', async () => dlq.find((d) => d.errorCode === 'decode_failed'));
    expect(garbage.errorMessage).not.toBe('');
    // an event keyed by another user than its own too: the key chose its partition, and so its writer
    const stray = accounts('uz');
    await producer.sendRaw(enrichedBinding.topic, [{ key: 'ua', value: Buffer.from(eventsV1.EnrichedEvent.encode(stray).finish()) }]);
    const mismatch = await waitFor('key mismatch dead letter', async () => dlq.find((d) => d.errorCode === 'key_mismatch'));
    expect(Buffer.from(mismatch.originalKey).toString()).toBe('ua');
    expect(await store.userState('uz')).toBeNull();
    // hooks: the standing orders went to onOtherPayload; afterUser ran per user with what was applied
    expect(other).toEqual([['ua', 'standingOrders']]);
    expect(after.filter(([u]) => u === 'ua').reduce((n, [, r]) => n + r.changes, 0)).toBe(10);
    expect(after.filter(([u]) => u === 'ub').reduce((n, [, r]) => n + r.changes, 0)).toBe(5);

    // the same edit request twice: applied once; a later message after the dead letter still flows
    const coffee = (await store.transactions.findOne({ userId: 'ua', normalisedProviderTransactionId: 'txn-1' }))!;
    await send(edit('ua', 'req-1', 'transaction', coffee._id, 'team coffee'), edit('ua', 'req-1', 'transaction', coffee._id, 'changed by a replayed request'));
    await published('ua', 11);
    // a re-enrichment in which only SHOP TWO changes (the removed hold is not sent)
    const report = await reenrichUser({ store, enrichment: shopTwoChanged, producer, logger, topicPrefix: prefix }, 'ua', { pageSize: 2, eventSize: 2 });
    // every live row (4) is sent; a row re-enriched while the pages are read moves to a higher seq and may be sent twice
    expect(report.transactions).toBeGreaterThanOrEqual(4);
    expect(report.events).toBeGreaterThanOrEqual(2);
    await published('ua', 12);
    // a connection renewal is recorded
    await producer.publish(bindings.connection(prefix), [
      { meta: newMeta('token-vault', EVENT_TYPES.connectionAuthorized), payload: { $case: 'authorized', authorized: { connectionId: 'conn-ua-2', userId: 'ua', clientId: 'client-1', providerId: 'ob-lloyds', scopes: [], previousConnectionId: 'conn-ua', credentialsId: 'c2', psuIp: '' } } },
    ]);
    await waitFor('link', async () => ((await store.userState('ua'))?.links.length ? true : undefined));
    expect((await store.userState('ua'))!.links).toEqual([{ connectionId: 'conn-ua-2', previousConnectionId: 'conn-ua' }]);

    // store contents
    expect(await store.accounts.countDocuments({ userId: 'ua' })).toBe(2);
    const rows = await store.transactions.find({ userId: 'ua' }).sort({ seq: 1 }).toArray();
    expect(rows.map((r) => [r.description, r.status, r.removed, r.changeReason])).toEqual([
      ['SHOP ONE', 'booked', false, 'content'],
      ['SHOP THREE', 'booked', false, 'content'],
      ['Tesco Stores 3297 LONDON', 'booked', false, 'settled'],
      ['HOTEL HOLD', 'pending', true, 'pending_gone'],
      ['SHOP TWO', 'booked', false, 'enrichment'],
    ]);
    expect(rows.find((r) => r.description === 'SHOP TWO')!.enrichment).toMatchObject({ primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_GROCERIES', source: 'user' });
    expect(rows.find((r) => r.description === 'SHOP ONE')!.enrichment).toMatchObject({ primary: 'GENERAL_MERCHANDISE', merchantKey: 'shop-one' });
    const [e] = await store.editsOf('ua', 'transaction', [coffee._id]);
    expect(e).toMatchObject({ notes: 'team coffee', categoryOverride: 'FOOD_AND_DRINK_COFFEE', requestIds: ['req-1'], seq: 11 });
    expect(await store.edits.findOne({ _id: `transaction:${coffee._id}`, requestIds: 'req-1' })).not.toBeNull();
    expect((await store.transactions.findOne({ userId: 'ub', normalisedProviderTransactionId: 'txn-2' }))).toMatchObject({ changeReason: 'enrichment', enrichment: { merchantKey: 'shop-two-ltd' } });

    // exactly the expected change feed, once each, in seq order
    await new Promise((r) => setTimeout(r, 1000)); // anything extra would have arrived by now
    expect(feed('ua')).toEqual([
      [1, K.CHANGE_KIND_ADDED, 'account', 'content'],
      [2, K.CHANGE_KIND_ADDED, 'account', 'content'],
      [3, K.CHANGE_KIND_ADDED, 'transaction', 'content'],
      [4, K.CHANGE_KIND_ADDED, 'transaction', 'content'],
      [5, K.CHANGE_KIND_ADDED, 'transaction', 'content'],
      [6, K.CHANGE_KIND_ADDED, 'transaction', 'content'],
      [7, K.CHANGE_KIND_ADDED, 'transaction', 'content'],
      [8, K.CHANGE_KIND_ADDED, 'balance', 'content'],
      [9, K.CHANGE_KIND_MODIFIED, 'transaction', 'settled'],
      [10, K.CHANGE_KIND_REMOVED, 'transaction', 'pending_gone'],
      [11, K.CHANGE_KIND_ADDED, 'userEdit', 'user_edit'],
      [12, K.CHANGE_KIND_MODIFIED, 'transaction', 'enrichment'],
    ]);
    expect(feed('ub')).toEqual([
      [1, K.CHANGE_KIND_ADDED, 'account', 'content'],
      [2, K.CHANGE_KIND_ADDED, 'transaction', 'content'],
      [3, K.CHANGE_KIND_ADDED, 'transaction', 'content'],
      [4, K.CHANGE_KIND_ADDED, 'balance', 'content'],
      [5, K.CHANGE_KIND_MODIFIED, 'transaction', 'enrichment'],
    ]);
    for (const l of ledger) expect(l.eventId).toBe(changeEventId(l.event.userId, Number(l.event.seq)));
    // the settled row is the pending row (same internal id), and the coffee carries the user's category
    const pendingAdded = ledger.find((l) => l.event.userId === 'ua' && l.event.seq === '6')!.event;
    const settled = ledger.find((l) => l.event.userId === 'ua' && l.event.seq === '9')!.event;
    expect(settled.entity?.$case === 'transaction' && settled.entity.transaction.transactionId).toBe(pendingAdded.entity?.$case === 'transaction' && pendingAdded.entity.transaction.transactionId);
    const editEvent = ledger.find((l) => l.event.userId === 'ua' && l.event.seq === '11')!.event;
    expect(editEvent.entity).toMatchObject({ $case: 'userEdit', userEdit: { target: 'transaction', targetId: coffee._id, edit: { categoryOverride: 'FOOD_AND_DRINK_COFFEE', notes: 'team coffee' } } });
    firstRun = [...ledger];
  });

  it('redelivery of the same events writes nothing and publishes nothing', async () => {
    const snapshot = async (): Promise<unknown[]> =>
      Promise.all([
        store.accounts.find({}).sort({ _id: 1 }).toArray(),
        store.transactions.find({}).sort({ _id: 1 }).toArray(),
        store.balances.find({}).sort({ _id: 1 }).toArray(),
        store.edits.find({ target: 'transaction' }).sort({ _id: 1 }).toArray(),
      ]);
    const before = await snapshot();
    // the same events again (new envelopes: idempotency comes from the data and the request ids)
    await send(...phase1(), ...phase2(), ...phase3(), ...phase4());
    const coffee = (await store.transactions.findOne({ userId: 'ua', normalisedProviderTransactionId: 'txn-1' }))!;
    await send(edit('ua', 'req-1', 'transaction', coffee._id, 'again'));
    await reenrichUser({ store, enrichment: shopTwoChanged, producer, logger, topicPrefix: prefix }, 'ua');
    // markers behind them on each user's partition: one new edit each
    const [accA] = await store.accountsPage('client-1', 'ua', 1);
    const [accB] = await store.accountsPage('client-1', 'ub', 1);
    await send(edit('ua', 'marker-a', 'account', accA!._id, 'marker'), edit('ub', 'marker-b', 'account', accB!._id, 'marker'));
    await published('ua', 13);
    await published('ub', 6);
    await new Promise((r) => setTimeout(r, 1000));
    expect(ledger.length).toBe(firstRun.length + 2);
    expect(feed('ua').slice(-1)).toEqual([[13, K.CHANGE_KIND_ADDED, 'userEdit', 'user_edit']]);
    expect(feed('ub').slice(-1)).toEqual([[6, K.CHANGE_KIND_ADDED, 'userEdit', 'user_edit']]);
    for (const u of ['ua', 'ub']) {
      const seqs = feed(u).map(([s]) => s);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
    }
    expect((await store.editsOf('ua', 'transaction', [coffee._id]))[0]).toMatchObject({ notes: 'team coffee', requestIds: ['req-1'] });
    // only the marker edits changed the store
    expect(await snapshot()).toEqual(before);
    expect(dlq.filter((d) => d.errorCode === 'unknown_account').length).toBe(2);
    expect(other).toEqual([['ua', 'standingOrders'], ['ua', 'standingOrders']]);
  });

  it('after a crash between apply and publish, the sweep publishes the rest with the same event ids', async () => {
    // the consumer applies an edit and "crashes" before publishing (no publisher), and the record of the last two
    // published numbers was lost
    await consumer!.stop();
    consumer = await startConsumer(store);
    const [, cardA] = await store.accountsPage('client-1', 'ua', 2); // not the marker's account
    await send(edit('ua', 'crash-1', 'account', cardA!._id, 'after the crash'));
    await waitFor('crash edit applied', async () => ((await store.userState('ua'))?.committedSeq === 14 ? true : undefined));
    await consumer.stop();
    consumer = undefined;
    await store.state.updateOne({ _id: 'ua' }, { $set: { publishedSeq: 11 } });
    expect(await store.userState('ua')).toMatchObject({ committedSeq: 14, publishedSeq: 11, publishPending: true });
    const count = ledger.length;

    // the process that published 12 and 13 knows it did and would go on after them (feed-resume.int-spec.ts); a
    // restarted one without the ledger read-back (no `position`) publishes them again, the same events
    publisher = new ChangeFeedPublisher({ store, producer, logger, topicPrefix: prefix, pageSize: 3 });
    expect(await publisher.sweep(0)).toBeGreaterThanOrEqual(1);
    await waitFor('sweep events', async () => (ledger.length >= count + 3 ? true : undefined));
    const again = ledger.slice(count).filter((l) => l.event.userId === 'ua');
    expect(again.map((l) => Number(l.event.seq))).toEqual([12, 13, 14]);
    const earlier = new Map(ledger.slice(0, count).map((l) => [l.eventId, l]));
    expect(earlier.get(again[0]!.eventId)?.event).toEqual(again[0]!.event);
    expect(earlier.get(again[1]!.eventId)?.event).toEqual(again[1]!.event);
    expect(earlier.has(again[2]!.eventId)).toBe(false);
    expect(again[2]!.event.entity).toMatchObject({ $case: 'userEdit', userEdit: { edit: { notes: 'after the crash' } } });
    expect(await store.userState('ua')).toMatchObject({ committedSeq: 14, publishedSeq: 14, publishPending: false });
    expect(await publisher.sweep(0)).toBe(0);
  });

  it('replaying the topic into a fresh database gives the same checksum (invariant 6)', async () => {
    const replay = await freshStore();
    const c = await startConsumer(replay, { group: `${groupId}-replay` });
    try {
      await waitFor('replay applied', async () => ((await replay.userState('ua'))?.committedSeq === 14 && (await replay.userState('ub'))?.committedSeq === 6 ? true : undefined));
      for (const u of ['ua', 'ub']) {
        const want = await store.checksum(u);
        await waitFor(`checksum of ${u}`, async () => ((await replay.checksum(u)) === want ? true : undefined), 15_000);
      }
    } finally {
      await c.stop();
    }
  });

  it('a transient MongoDB failure is retried in place, never skipped: the store ends identical', async () => {
    /** The real store, whose first writes fail as if the server had gone away. */
    class FlakyStore extends ReconciliationStore {
      failures = 0;
      override async applyBatch(userId: string, batch: Batch): Promise<ApplyResult> {
        if (this.failures < 4) {
          this.failures += 1;
          throw new mongo.MongoNetworkError('connection 3 to 127.0.0.1:27017 closed');
        }
        return super.applyBatch(userId, batch);
      }
    }
    const conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_pipe_${randomBytes(4).toString('hex')}`, logger });
    conns.push(conn);
    const flaky = new FlakyStore(conn);
    await flaky.ensureIndexes();
    const dead = dlq.length;
    const c = new EnrichedConsumer({ kafka, store: flaky, producer, logger, groupId: `${groupId}-flaky`, topicPrefix: prefix, fromBeginning: true, maxWaitTimeMs: 200, retryBackoffMs: 20 });
    await c.start({ budgetMs: 30_000 });
    try {
      await waitFor('flaky replay applied', async () => ((await flaky.userState('ua'))?.committedSeq === 14 && (await flaky.userState('ub'))?.committedSeq === 6 ? true : undefined));
      expect(flaky.failures).toBe(4);
      for (const u of ['ua', 'ub']) {
        const want = await store.checksum(u);
        await waitFor(`checksum of ${u}`, async () => ((await flaky.checksum(u)) === want ? true : undefined), 15_000);
      }
      // the retried messages were not dead-lettered (only the known poison ones of the topic were, again)
      expect(dlq.slice(dead).every((d) => ['unknown_account', 'decode_failed', 'key_mismatch'].includes(d.errorCode))).toBe(true);
    } finally {
      await c.stop();
    }
  });

  it('a user holding many unpublished changes is published after the message, not only at the end of the Kafka batch', async () => {
    const s = await freshStore();
    const events: eventsV1.ChangeEvent[] = [];
    const capture = { publish: async (_b: unknown, list: eventsV1.ChangeEvent[]) => void events.push(...list) } as unknown as EventProducer;
    const early = new ChangeFeedPublisher({ store: s, producer: capture, logger, topicPrefix: prefix });
    const runs = jest.spyOn(early, 'publishUser');
    const applied = jest.spyOn(s, 'applyBatch');
    const c = new EnrichedConsumer({ kafka, store: s, producer, logger, publisher: early, groupId: `${groupId}-early`, topicPrefix: prefix, fromBeginning: true, maxWaitTimeMs: 200, publishEarlyAt: 1 });
    await c.start({ budgetMs: 30_000 });
    try {
      const last = (await store.userState('ua'))!.committedSeq;
      await waitFor('early replay published', async () => ((await s.userState('ua'))?.publishedSeq === last ? true : undefined));
      // each of ua's messages that wrote transaction rows left documents held, so each was published right after it
      // (the whole topic arrives in one to three Kafka batches: publishing per batch alone would be that many runs)
      let held = 0;
      for (const [i, [u, b]] of applied.mock.calls.entries()) {
        const r = (await applied.mock.results[i]!.value.catch(() => undefined)) as ApplyResult | undefined;
        if (u === 'ua' && (b.payload.kind === 'transactions' || b.payload.kind === 'pending_transactions') && r && r.changes > 0) held += 1;
      }
      expect(held).toBeGreaterThanOrEqual(4);
      expect(runs.mock.calls.filter(([u]) => u === 'ua').length).toBeGreaterThanOrEqual(held);
      const seqs = events.filter((e) => e.userId === 'ua').map((e) => Number(e.seq));
      expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
      expect(seqs.at(-1)).toBe(last);
      expect(s.feed.held('ua')).toBe(0);
    } finally {
      await c.stop();
    }
  });

  it('the new hot queries use their named indexes', async () => {
    const s = await freshStore();
    await s.state.insertMany(
      Array.from({ length: 400 }, (_, i) => ({ _id: `u${i}`, seq: 5, committedSeq: 5, links: [], publishedSeq: i % 40 === 0 ? 3 : 5, publishPending: i % 40 === 0, ...(i % 40 === 0 ? { pendingSince: new Date(T.getTime() + i) } : {}) })),
    );
    // re-enrichment and the feed's edits read by _id
    const many = Array.from({ length: 400 }, (_, i) => ({ _id: `txn_${i}`, userId: `u${i % 20}`, dedupeKey: `k${i}`, seq: i }));
    await s.transactions.insertMany(many as never[]);
    await s.edits.insertMany(many.map((d) => ({ ...d, _id: `transaction:${d._id}` })) as never[]);
    const ids = ['txn_3', 'txn_23', 'txn_43'];
    expect(explainUsesIndex(await s.transactions.find({ _id: { $in: ids }, userId: 'u3' }).explain(), '_id_')).toBe(true);
    expect(explainUsesIndex(await s.edits.find({ _id: { $in: ids.map((i) => `transaction:${i}`) }, userId: 'u3' }).explain(), '_id_')).toBe(true);
    expect((await s.editsOf('u3', 'transaction', ids)).length).toBe(3);
    const sweep = await s.cursors.publishPending(new Date(), 100).explain();
    expect(explainUsesIndex(sweep, RECON_INDEXES.statePublishPending)).toBe(true);
    expect((await s.cursors.publishPending(new Date(), 100).toArray()).map((d) => d._id).sort()).toEqual(Array.from({ length: 10 }, (_, k) => `u${k * 40}`).sort());
  });
});

describe('a result of several messages through the consumer (real Kafka and MongoDB-wire server)', () => {
  const prefix = `it${randomBytes(3).toString('hex')}`;
  let kafka: Kafka;
  let producer: EventProducer;
  const conns: Connection[] = [];
  afterAll(async () => {
    await producer?.disconnect();
    for (const c of conns) {
      await c.dropDatabase().catch(() => undefined);
      await c.close();
    }
  });

  it('the consumer tells the store which message comes next: each part after the first is reconciled during the write before it, and the store is the one applying each message alone gives', async () => {
    const brokers = process.env['KAFKA_BROKERS']!;
    await provisionTopics({ brokers, prefix, topics: [TOPICS.enriched, TOPICS.connection, TOPICS.ledger, TOPICS.deadLetter] });
    kafka = createKafka({ brokers: brokers.split(','), clientId: `it-${prefix}`, logger, connectionTimeoutMs: 10_000 });
    producer = new EventProducer(kafka, { service: 'it' });
    await producer.connect();
    const stores: ReconciliationStore[] = [];
    for (let i = 0; i < 2; i += 1) {
      const conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_pipe_${randomBytes(4).toString('hex')}`, logger });
      conns.push(conn);
      const s = new ReconciliationStore(conn);
      await s.ensureIndexes();
      stores.push(s);
    }
    const [viaConsumer, alone] = stores as [ReconciliationStore, ReconciliationStore];
    // one fetch's result of 1,200 rows as data-fetcher splits it (500, 500, 200), after the account list
    const rows = Array.from({ length: 1_200 }, (_, i) => row({ normalisedProviderTransactionId: `big-${i}`, description: `SHOP ${i % 9}`, amount: `-${i + 1}.00`, timestamp: at(-(i % 25)) }));
    const parts = [0, 1, 2].map((k) => {
      const e = txBatch('uc', at(1), 'tl-cur-uc', 'transactions', rows.slice(k * 500, (k + 1) * 500));
      if (e.payload?.$case === 'batch' && e.payload.batch.raw) e.payload.batch.raw.batch = { index: k, count: 3, complete: true };
      return e;
    });
    const events = [accounts('uc'), ...parts];
    await producer.publish(bindings.enriched(prefix), events);

    const c = new EnrichedConsumer({ kafka, store: viaConsumer, producer, logger, groupId: `reconciliation-${prefix}`, topicPrefix: prefix, fromBeginning: true, maxWaitTimeMs: 200 });
    await c.start({ budgetMs: 30_000 });
    try {
      await waitFor('the result applied', async () => ((await viaConsumer.userState('uc'))?.committedSeq === 1_201 ? true : undefined));
    } finally {
      await c.stop();
    }
    // the four messages arrive in one Kafka batch: parts 1 and 2 were reconciled ahead
    expect(viaConsumer.lookahead).toEqual({ used: 2, discarded: 0 });

    for (const e of events) {
      if (e.payload?.$case !== 'batch' || !e.payload.batch.raw) throw new Error('not a fetch result');
      const raw = e.payload.batch.raw;
      const payload = toBatchPayload(raw, e.payload.batch.enrichments)!;
      await alone.applyBatch('uc', { eventId: e.meta!.eventId, clientId: e.clientId, connectionId: raw.connectionId, providerId: raw.providerId, fetchId: raw.fetchId, fetchedAt: raw.fetchedAt!, payload });
    }
    expect(alone.lookahead).toEqual({ used: 0, discarded: 0 });
    expect(await viaConsumer.transactions.countDocuments({ userId: 'uc' })).toBe(1_200);
    expect(await viaConsumer.checksum('uc')).toBe(await alone.checksum('uc'));
  });
});
