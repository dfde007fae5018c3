/**
 * enrichment as a real process on the real servers (Kafka, the MongoDB-wire server): raw events of two users in,
 * enriched events out in each user's order, enrichments aligned with the items, pass-through payloads intact, a
 * user rule applied to its user only, poison messages dead-lettered with their reason while later messages flow,
 * deterministic replays, and the gRPC API (batch, user rules CRUD, validation errors). Also measures throughput.
 */
import { bindings, EVENT_TYPES, HEADERS, TOPICS, topicName } from '@ais/contracts-events';
import { enrichmentV1, eventsV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { createGrpcClient, type GrpcClient, type GrpcTls } from '@ais/platform-grpc';
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainUsesIndex, type Connection } from '@ais/platform-mongo';
import { integrationEnv, provisionTopics, stackGrpcTls, startService, type ServiceProcess } from '@ais/testing';
import { Kafka, logLevel, type Consumer, type IHeaders, type Producer } from 'kafkajs';
import { randomBytes, randomUUID } from 'node:crypto';
import { enrichedEventId } from '../src/domain/enrich-raw';
import { USER_RULES_INDEXES, UserRuleStore } from '../src/data/user-rules.store';

jest.setTimeout(240_000);

type Client = GrpcClient<enrichmentV1.EnrichmentServiceClient>;

interface Received {
  event: eventsV1.EnrichedEvent;
  key: string;
  headers: Record<string, string>;
  at: number;
}

const headerRecord = (h: IHeaders | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(h ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]));

const tx = (id: string, description: string, amount: string, over: Partial<eventsV1.RawTransaction> = {}): eventsV1.RawTransaction =>
  eventsV1.RawTransaction.fromPartial({
    transactionId: id,
    description,
    amount,
    currency: 'GBP',
    transactionType: amount.startsWith('-') ? 'DEBIT' : 'CREDIT',
    transactionCategory: 'PURCHASE',
    timestamp: new Date('2026-11-02T10:00:00Z'),
    ...over,
  });

describe('enrichment stage (ais.raw.v1 -> ais.enriched.v1) and gRPC API', () => {
  const ns = randomBytes(4).toString('hex');
  const infra = integrationEnv();
  const prefix = `enr${ns}`;
  const db = `enrichment_it_${ns}`;
  const brokers = infra['KAFKA_BROKERS']!.split(',');
  const raw = bindings.raw(prefix);
  const enrichedTopic = topicName(TOPICS.enriched, prefix);
  const dlqTopic = topicName(TOPICS.deadLetter, prefix);
  let svc: ServiceProcess;
  let grpc: Client;
  let asReconciliation: GrpcTls;
  let producer: Producer;
  let collector: Consumer;
  let mongo: Connection;
  const received: Received[] = [];
  const deadLetters: Array<{ record: eventsV1.DeadLetter; headers: Record<string, string> }> = [];
  const clientId = 'client-it';
  const userA = `user-a-${ns}`;
  const userB = `user-b-${ns}`;
  const serviceEnv = { ...infra, MONGODB_DB: db, KAFKA_TOPIC_PREFIX: prefix, KAFKA_GROUP_ID: `enrichment-${ns}`, OTEL_TRACES_EXPORTER: 'zipkin', LOG_LEVEL: 'info' };

  const rawEvent = (userId: string, eventType: string, payload: eventsV1.RawDataEvent['payload'], accountId = 'acc-1'): eventsV1.RawDataEvent => ({
    ...eventsV1.RawDataEvent.fromPartial({
      meta: { eventId: randomUUID(), occurredAt: new Date(), schemaVersion: 1, producer: 'data-fetcher', eventType, correlationId: `corr-${userId}` },
      userId,
      clientId,
      connectionId: `conn-${userId}`,
      providerId: 'ob-barclays',
      accountId,
      fetchId: `fetch-${userId}`,
      batch: { index: 0, count: 1, complete: true },
    }),
    payload,
  });

  /** Publishes with a W3C traceparent of its own, as data-fetcher does; returns the trace id. */
  const publish = async (events: eventsV1.RawDataEvent[]): Promise<string[]> => {
    const traceIds = events.map(() => randomBytes(16).toString('hex'));
    await producer.send({
      topic: raw.topic,
      acks: -1,
      messages: events.map((e, i) => ({
        key: e.userId,
        value: Buffer.from(raw.codec.encode(e).finish()),
        headers: { [HEADERS.eventId]: e.meta!.eventId, [HEADERS.eventType]: e.meta!.eventType, traceparent: `00-${traceIds[i]}-${randomBytes(8).toString('hex')}-01` },
      })),
    });
    return traceIds;
  };

  const waitFor = async <T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (Date.now() > until) {
        const errors = svc.logs.filter((l) => Number(l['level']) >= 40 || ['warn', 'error', 'fatal'].includes(String(l['level']))).slice(-5);
        throw new Error(`timed out waiting for ${what} (received ${received.length} enriched, ${deadLetters.length} dead letters); service warnings: ${JSON.stringify(errors).slice(0, 3000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const forUser = (userId: string) => received.filter((r) => r.event.userId === userId);

  beforeAll(async () => {
    await provisionTopics({ brokers: infra['KAFKA_BROKERS']!, prefix, topics: [TOPICS.raw, TOPICS.enriched, TOPICS.deadLetter] });
    svc = await startService('enrichment', serviceEnv);
    // called as reconciliation, the one caller enrichment's access policy allows
    asReconciliation = await stackGrpcTls(infra, 'reconciliation');
    grpc = createGrpcClient(enrichmentV1.EnrichmentServiceClient, `127.0.0.1:${String(svc.ready['grpcPort'])}`, 20_000, asReconciliation.channel('enrichment'));
    const kafka = new Kafka({ clientId: `enrichment-it-${ns}`, brokers, logLevel: logLevel.NOTHING });
    producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 });
    await producer.connect();
    collector = kafka.consumer({ groupId: `enrichment-it-collector-${ns}`, maxWaitTimeInMs: 100 });
    await collector.connect();
    await collector.subscribe({ topics: [enrichedTopic, dlqTopic], fromBeginning: true });
    await collector.run({
      eachMessage: async ({ topic, message }) => {
        if (!message.value) return;
        const headers = headerRecord(message.headers);
        if (topic === dlqTopic) deadLetters.push({ record: eventsV1.DeadLetter.decode(message.value), headers });
        else received.push({ event: eventsV1.EnrichedEvent.decode(message.value), key: message.key?.toString() ?? '', headers, at: Date.now() });
      },
    });
    mongo = await connectMongo({ uri: infra['MONGODB_URI']!, db, logger: createLogger({ service: 'enrichment-it', level: 'warn' }) });
  });

  afterAll(async () => {
    grpc?.close();
    await collector?.disconnect();
    await producer?.disconnect();
    const code = await svc?.stop();
    if (code !== undefined && code !== 0) console.warn(`enrichment exited with ${String(code)}`);
    await mongo?.db?.dropDatabase().catch(() => undefined);
    await mongo?.close();
  });

  const items = [
    tx('t1', 'CRD 4417 TESCO STORES 2341 LONDON GB', '-23.45'),
    tx('t2', 'LINK ATM 23 HIGH STREET', '-20.00', { transactionCategory: 'ATM' }),
    tx('t3', 'ACME LTD SALARY', '1850.00', { transactionCategory: 'CREDIT' }),
    tx('t4', 'PRET A MANGER 0123', '-4.10', { merchantName: 'Pret A Manger' }),
  ];
  let ruleId = '';
  const published: Record<string, eventsV1.RawDataEvent[]> = {};
  let traceIdsA: string[] = [];

  it('pipeline: order per user, aligned enrichments, pass-through intact, user rule for its user only, poison dead-lettered', async () => {
    // A rule of user A only: Tesco is entertainment (for the test's sake).
    const put = await grpc.putUserRule({ rule: enrichmentV1.UserRule.fromPartial({ clientId, userId: userA, detailedCategory: 'ENTERTAINMENT_OTHER_ENTERTAINMENT', merchantKey: 'Tesco' }) });
    ruleId = put.rule!.ruleId;
    expect(ruleId).toMatch(/^[0-9a-f-]{36}$/);
    expect(put.rule).toMatchObject({ merchantKey: 'tesco', direction: '', descriptionContains: '' });

    for (const user of [userA, userB]) {
      published[user] = [
        rawEvent(user, EVENT_TYPES.rawAccounts, { $case: 'accounts', accounts: { accounts: [eventsV1.RawAccount.fromPartial({ accountId: 'acc-1', accountType: 'TRANSACTION', displayName: 'Current', currency: 'GBP', providerId: 'ob-barclays' })] } }, ''),
        rawEvent(user, EVENT_TYPES.rawTransactions, { $case: 'transactions', transactions: { transactions: items } }),
        rawEvent(user, EVENT_TYPES.rawPendingTransactions, { $case: 'pendingTransactions', pendingTransactions: { transactions: [] } }),
        rawEvent(user, EVENT_TYPES.rawBalance, { $case: 'balance', balance: eventsV1.RawBalance.fromPartial({ currency: 'GBP', current: '1234.56', available: '1200.00' }) }),
      ];
    }
    const [a, b] = [published[userA]!, published[userB]!];
    // Interleaved users; poison messages in the middle of each user's stream.
    const badAmount = rawEvent(userB, EVENT_TYPES.rawTransactions, { $case: 'transactions', transactions: { transactions: [items[0]!, tx('t9', 'X', '12,50')] } });
    traceIdsA = await publish([a[0]!, b[0]!, a[1]!, b[1]!]);
    await producer.send({ topic: raw.topic, acks: -1, messages: [{ key: userA, value: Buffer.from('not a protobuf \xff\xff\xff'), headers: { [HEADERS.eventId]: 'poison-1' } }] });
    await publish([badAmount, a[2]!, b[2]!, a[3]!, b[3]!]);

    await waitFor('4 enriched events per user and 2 dead letters', () => (forUser(userA).length >= 4 && forUser(userB).length >= 4 && deadLetters.length >= 2 ? true : undefined));

    // Order per user, keys and envelope.
    for (const user of [userA, userB]) {
      const got = forUser(user);
      expect(got).toHaveLength(4);
      expect(got.map((r) => r.event.payload?.$case === 'batch' && r.event.payload.batch.raw?.meta?.eventId)).toEqual(published[user]!.map((e) => e.meta!.eventId));
      for (const [i, r] of got.entries()) {
        expect(r.key).toBe(user);
        expect(r.event).toMatchObject({ userId: user, clientId, meta: { eventType: EVENT_TYPES.enrichedBatch, producer: 'enrichment', correlationId: `corr-${user}`, schemaVersion: 1 } });
        expect(r.event.meta!.eventId).toBe(enrichedEventId(published[user]![i]!.meta!.eventId));
        expect(r.headers[HEADERS.eventType]).toBe(EVENT_TYPES.enrichedBatch);
        // Pass-through: the raw event arrives unchanged (every payload, including transactions).
        expect(r.event.payload?.$case === 'batch' && r.event.payload.batch.raw).toEqual(published[user]![i]);
      }
      const enrichments = got.map((r) => (r.event.payload?.$case === 'batch' ? r.event.payload.batch.enrichments : undefined));
      expect(enrichments.map((e) => e?.length)).toEqual([0, items.length, 0, 0]);
    }
    // Trace context carried over: the enriched event continues the raw event's trace.
    expect(forUser(userA)[0]!.headers['traceparent']).toContain(traceIdsA[0]);
    expect(forUser(userA)[1]!.headers['traceparent']).toContain(traceIdsA[2]);

    // Enrichments aligned with the items; the rule applies to A only.
    const enr = (user: string) => {
      const p = forUser(user)[1]!.event.payload;
      return p?.$case === 'batch' ? p.batch.enrichments : [];
    };
    expect(enr(userB).map((e) => [e.detailedCategory, e.source, e.merchantKey])).toEqual([
      ['FOOD_AND_DRINK_GROCERIES', 'merchant', 'tesco'],
      ['TRANSFER_OUT_WITHDRAWAL', 'rule', expect.any(String)],
      ['INCOME_WAGES', 'rule', expect.any(String)],
      ['FOOD_AND_DRINK_COFFEE', 'merchant', 'pret'],
    ]);
    expect(enr(userA)[0]).toMatchObject({ detailedCategory: 'ENTERTAINMENT_OTHER_ENTERTAINMENT', primaryCategory: 'ENTERTAINMENT', source: 'user', reason: `user-rule:${ruleId}`, confidence: 0.95 });
    expect(enr(userA).slice(1)).toEqual(enr(userB).slice(1));
    for (const e of [...enr(userA), ...enr(userB)]) expect(e).toMatchObject({ version: '1.0.0', taxonomy: 'plaid-pfc-v1' });

    // Poison: dead-lettered with the reason; later messages of the same users flowed (balances above).
    const byCode = Object.fromEntries(deadLetters.map((d) => [d.record.errorCode, d]));
    expect(Object.keys(byCode).sort()).toEqual(['decode_failed', 'invalid_amount']);
    expect(byCode['decode_failed']!.record).toMatchObject({ sourceTopic: raw.topic, consumerGroup: `enrichment-${ns}`, eventId: 'poison-1' });
    expect(byCode['decode_failed']!.record.originalKey.toString()).toBe(userA);
    expect(byCode['invalid_amount']!.record).toMatchObject({ eventId: badAmount.meta!.eventId, errorMessage: expect.stringContaining('transactions[1].amount') });
    expect(byCode['invalid_amount']!.headers[HEADERS.deadLetterCode]).toBe('invalid_amount');
    expect(eventsV1.RawDataEvent.decode(byCode['invalid_amount']!.record.originalValue)).toEqual(badAmount);
  });

  it('replaying the same raw event gives identical enrichments and the same enriched event id', async () => {
    const before = forUser(userB).length;
    const again = published[userB]![1]!;
    await publish([again]);
    await waitFor('the replayed event', () => (forUser(userB).length > before ? true : undefined));
    const [first, second] = forUser(userB).filter((r) => r.event.payload?.$case === 'batch' && r.event.payload.batch.raw?.meta?.eventId === again.meta!.eventId);
    expect(second!.event.meta!.eventId).toBe(first!.event.meta!.eventId);
    const batchOf = (r: Received) => (r.event.payload?.$case === 'batch' ? r.event.payload.batch : undefined);
    expect(eventsV1.EnrichedBatch.encode(batchOf(second!)!).finish()).toEqual(eventsV1.EnrichedBatch.encode(batchOf(first!)!).finish());
  });

  it('throughput (measured, not asserted)', async () => {
    const users = 40;
    const perEvent = 250;
    const eventsPerUser = 4;
    const descriptions = ['CRD 4417 TESCO STORES 2341 LONDON GB', 'SAINSBURYS SMKT 0128 BRIGHTON', 'TFL TRAVEL CH', 'NETFLIX.COM', 'J BLOGGS FPO', 'UBER *TRIP HELP.UBER.COM', 'COSTA COFFEE 4432', 'SHELL PETROL STATION 12'];
    const events: eventsV1.RawDataEvent[] = [];
    for (let u = 0; u < users; u += 1) {
      for (let e = 0; e < eventsPerUser; e += 1) {
        const txs = Array.from({ length: perEvent }, (_, i) => tx(`p${u}-${e}-${i}`, `${descriptions[i % descriptions.length]} ${i}`, `-${(i % 97) + 1}.${String(i % 100).padStart(2, '0')}`));
        events.push(rawEvent(`perf-${ns}-${u}`, EVENT_TYPES.rawTransactions, { $case: 'transactions', transactions: { transactions: txs } }));
      }
    }
    const total = users * eventsPerUser * perEvent;
    const start = Date.now();
    for (let i = 0; i < events.length; i += 20) await publish(events.slice(i, i + 20));
    const published = Date.now();
    const perf = () => received.filter((r) => r.event.userId.startsWith(`perf-${ns}-`));
    await waitFor('every perf event', () => (perf().length >= events.length ? true : undefined), 120_000);
    const done = Date.now();
    const items = perf().reduce((n, r) => n + (r.event.payload?.$case === 'batch' ? r.event.payload.batch.enrichments.length : 0), 0);
    expect(items).toBe(total);
    const arrivals = perf().map((r) => r.at);
    const first = Math.min(...arrivals);
    const last = Math.max(...arrivals);
    console.log(
      `enrichment throughput: ${total} transactions in ${events.length} raw events: published in ${published - start} ms, all enriched after ${done - start} ms ` +
        `=> ${Math.round(total / ((done - start) / 1000))} transactions/s end to end (publish + enrich + produce + collect, 2 shared cores); ` +
        `first to last enriched event: ${last - first} ms => ${Math.round(total / (Math.max(1, last - first) / 1000))} transactions/s while enrichment ran`,
    );
  });

  it('graceful shutdown commits what it enriched: a restarted instance of the group continues after it, without redoing it', async () => {
    expect(await svc.stop()).toBe(0);
    const later = rawEvent(userA, EVENT_TYPES.rawBalance, { $case: 'balance', balance: eventsV1.RawBalance.fromPartial({ currency: 'GBP', current: '1.00' }) });
    await publish([later]);
    svc = await startService('enrichment', { ...serviceEnv });
    grpc.close();
    grpc = createGrpcClient(enrichmentV1.EnrichmentServiceClient, `127.0.0.1:${String(svc.ready['grpcPort'])}`, 20_000, asReconciliation.channel('enrichment'));
    await waitFor('the event published while enrichment was down', () => (forUser(userA).length >= 5 ? true : undefined));
    // Give a wrongly uncommitted batch time to be redelivered before counting.
    await new Promise((r) => setTimeout(r, 2_000));
    const ids = forUser(userA).map((r) => (r.event.payload?.$case === 'batch' ? r.event.payload.batch.raw?.meta?.eventId : ''));
    expect(ids).toEqual([...published[userA]!.map((e) => e.meta!.eventId), later.meta!.eventId]);
  });

  describe('gRPC', () => {
    const reqOf = (over: Partial<enrichmentV1.CategorizeRequest>) => enrichmentV1.CategorizeRequest.fromPartial({ description: 'CRD 4417 TESCO STORES 2341 LONDON GB', amount: '-2.99', currency: 'GBP', ...over });
    const fails = async (p: Promise<unknown>): Promise<AppError> => {
      const e = await p.then(
        () => undefined,
        (err: unknown) => err,
      );
      if (!(e instanceof AppError)) throw new Error(`expected an AppError, got ${String(e)}`);
      return e;
    };

    it('Categorize: amounts in major units, every field filled, the user rules when client and user are given', async () => {
      expect(await grpc.categorize(reqOf({}))).toEqual({ category: 'FOOD_AND_DRINK', subcategory: 'FOOD_AND_DRINK_GROCERIES', merchant: 'Tesco', merchantKey: 'tesco', source: 'merchant', reason: 'merchant:tesco', confidence: 0.9, version: '1.0.0', taxonomy: 'plaid-pfc-v1' });
      expect(await grpc.categorize(reqOf({ clientId, userId: userA }))).toMatchObject({ subcategory: 'ENTERTAINMENT_OTHER_ENTERTAINMENT', source: 'user', reason: `user-rule:${ruleId}` });
      expect(await grpc.categorize(reqOf({ clientId: 'other-client', userId: userA }))).toMatchObject({ source: 'merchant' });
      const bad = await fails(grpc.categorize(reqOf({ amount: '-2,99' })));
      expect(bad).toMatchObject({ kind: 'invalid_argument', violations: [{ field: 'amount', description: expect.stringContaining('major units') }] });
    });

    it('CategorizeBatch: results in order, per-user rules, at most 1000 items, violations name the item', async () => {
      const res = await grpc.categorizeBatch({ transactions: [reqOf({ clientId, userId: userA }), reqOf({ clientId, userId: userB }), reqOf({ description: 'LINK ATM 1', transactionCategory: 'ATM', amount: '-10' })] });
      expect(res.results.map((r) => [r.subcategory, r.source])).toEqual([
        ['ENTERTAINMENT_OTHER_ENTERTAINMENT', 'user'],
        ['FOOD_AND_DRINK_GROCERIES', 'merchant'],
        ['TRANSFER_OUT_WITHDRAWAL', 'rule'],
      ]);
      expect((await grpc.categorizeBatch({ transactions: Array.from({ length: 1000 }, () => reqOf({})) })).results).toHaveLength(1000);
      const tooMany = await fails(grpc.categorizeBatch({ transactions: Array.from({ length: 1001 }, () => reqOf({})) }));
      expect(tooMany).toMatchObject({ kind: 'invalid_argument', violations: [{ field: 'transactions', description: expect.stringContaining('1001') }] });
      const badItem = await fails(grpc.categorizeBatch({ transactions: [reqOf({}), reqOf({ amount: 'abc' }), reqOf({ clientId })] }));
      expect(badItem.violations.map((v) => v.field)).toEqual(['transactions[1].amount', 'transactions[2].user_id']);
    });

    it('user rules: validated, idempotent replace, listed per user, deleted', async () => {
      const invalid = await fails(grpc.putUserRule({ rule: enrichmentV1.UserRule.fromPartial({ clientId, userId: userB, detailedCategory: 'NOT_A_CATEGORY', direction: 'up' }) }));
      expect(invalid.kind).toBe('invalid_argument');
      expect(invalid.violations.map((v) => v.field).sort()).toEqual(['rule.detailed_category', 'rule.direction', 'rule.merchant_key']);

      const rule = enrichmentV1.UserRule.fromPartial({ ruleId: 'gym-rule', clientId, userId: userB, detailedCategory: 'PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS', descriptionContains: 'PURE GYM', direction: 'out' });
      expect((await grpc.putUserRule({ rule })).rule).toEqual(rule);
      await grpc.putUserRule({ rule: { ...rule, detailedCategory: 'ENTERTAINMENT_OTHER_ENTERTAINMENT' } });
      const listed = await grpc.listUserRules({ clientId, userId: userB });
      expect(listed.rules).toEqual([{ ...rule, detailedCategory: 'ENTERTAINMENT_OTHER_ENTERTAINMENT' }]);
      expect((await grpc.listUserRules({ clientId, userId: userA })).rules.map((r) => r.ruleId)).toEqual([ruleId]);
      expect((await grpc.listUserRules({ clientId: 'other-client', userId: userB })).rules).toEqual([]);
      // The rule is consulted for out only.
      expect(await grpc.categorize(reqOf({ description: 'PURE GYM LTD', amount: '-19.99', clientId, userId: userB }))).toMatchObject({ source: 'user', reason: 'user-rule:gym-rule' });
      expect((await grpc.categorize(reqOf({ description: 'PURE GYM LTD', amount: '19.99', clientId, userId: userB }))).source).not.toBe('user');

      expect(await fails(grpc.listUserRules({ clientId: '', userId: userB }))).toMatchObject({ kind: 'invalid_argument', violations: [{ field: 'client_id' }] });
      expect(await fails(grpc.deleteUserRule({ clientId, userId: userB, ruleId: '' }))).toMatchObject({ kind: 'invalid_argument', violations: [{ field: 'rule_id' }] });
      // Another user cannot delete B's rule through its own id.
      expect(await grpc.deleteUserRule({ clientId, userId: userA, ruleId: 'gym-rule' })).toEqual({ deleted: false });
      expect(await grpc.deleteUserRule({ clientId, userId: userB, ruleId: 'gym-rule' })).toEqual({ deleted: true });
      expect(await grpc.deleteUserRule({ clientId, userId: userB, ruleId: 'gym-rule' })).toEqual({ deleted: false });
      expect((await grpc.listUserRules({ clientId, userId: userB })).rules).toEqual([]);
    });

    it('the rules query is served by its named index', async () => {
      const store = new UserRuleStore(mongo);
      const docs = Array.from({ length: 600 }, (_, i) => ({
        _id: JSON.stringify([clientId, `seed-${i % 60}`, `r${i}`]),
        ruleId: `r${i}`,
        clientId,
        userId: `seed-${i % 60}`,
        detailed: 'FOOD_AND_DRINK_GROCERIES' as const,
        merchantKey: `m${i}`,
        updatedAt: new Date(),
      }));
      await store.collection.insertMany(docs);
      const plan = await store.cursorFor(clientId, 'seed-7').explain();
      if (!explainUsesIndex(plan, USER_RULES_INDEXES.byUser)) throw new Error(`expected ${USER_RULES_INDEXES.byUser}, got ${JSON.stringify(plan).slice(0, 1500)}`);
      expect((await store.rulesFor(clientId, 'seed-7')).map((r) => r.id)).toEqual(docs.filter((d) => d.userId === 'seed-7').map((d) => d.ruleId).sort());
    });
  });
});
