/**
 * Lanes (kafka/lanes.ts) against real Kafka and the real MongoDB-wire server: two users' events on one partition,
 * fetched as one batch, are applied at the same time, each user's in order. User A's first data message is held
 * (its `afterEvent` waits) until user B, whose events come after all of A's on the partition, has had a message
 * applied: without lanes B waits behind A and the hold times out. Then everything is stored, each user's sequence
 * numbers follow its messages' order, the group's offset is at the end, and a second group member started after it
 * applies nothing again. An event whose Kafka key is not its user is dead-lettered (`key_mismatch`), since the key
 * chose its partition, and so its writer, and its lane.
 */
import { bindings, HEADERS, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { createKafka, EventProducer } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { connectMongo, type Connection } from '@ais/platform-mongo';
import { provisionTopics } from '@ais/testing';
import type { Consumer, Kafka } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { ReconciliationStore } from '../src/data/store';
import { EnrichedConsumer, type EnrichedConsumerHooks } from '../src/kafka/enriched.consumer';
import { DAY, enrichedEvent, shopRows, T, waitFor } from './feed-fixtures';

const logger = createLogger({ service: 'reconciliation-lanes-int', level: 'warn' });
type RawPayload = NonNullable<eventsV1.RawDataEvent['payload']>;

function accounts(userId: string): eventsV1.EnrichedEvent {
  const account = { accountId: `tl-${userId}`, accountType: 'TRANSACTION', displayName: 'Club Lloyds', currency: 'GBP', accountNumber: { iban: '', swiftBic: '', number: '12345678', sortCode: '30-94-57', routingNumber: '', bsb: '' }, providerId: 'ob-lloyds', updateTimestamp: T } as eventsV1.RawAccount;
  return enrichedEvent({ userId, accountId: '', payload: { $case: 'accounts', accounts: { accounts: [account] } }, fetchedAt: T, fetchId: `fetch-${userId}-accounts`, window: { from: T, to: T } });
}

/** A fetch result of `n` rows for the user's account, window `w` (rows of 30 days apart windows never overlap). */
function transactions(userId: string, w: number, n: number): eventsV1.EnrichedEvent {
  const to = new Date(T.getTime() - w * 30 * DAY);
  const rows = shopRows(n, `${userId}-${w}`).map((r, i) => ({ ...r, timestamp: new Date(to.getTime() - (i % 25) * DAY - i * 1000) }));
  const payload: RawPayload = { $case: 'transactions', transactions: { transactions: rows as eventsV1.RawTransaction[] } };
  return enrichedEvent({ userId, accountId: `tl-${userId}`, payload, fetchedAt: T, fetchId: `fetch-${userId}-${w}`, window: { from: new Date(to.getTime() - 30 * DAY), to } });
}

describe('lanes: the users of one partition are applied at the same time, each in order (real Kafka and store)', () => {
  const prefix = `it${randomBytes(3).toString('hex')}`;
  const groupId = `reconciliation-${prefix}`;
  let kafka: Kafka;
  let producer: EventProducer;
  let conn: Connection;
  let store: ReconciliationStore;
  const consumers: EnrichedConsumer[] = [];
  let dlqConsumer: Consumer | undefined;
  const dlq: eventsV1.DeadLetter[] = [];
  const A = `ua-${prefix}`;
  const B = `ub-${prefix}`;

  beforeAll(async () => {
    const brokers = process.env['KAFKA_BROKERS']!;
    await provisionTopics({ brokers, prefix, partitions: 1, topics: [TOPICS.enriched, TOPICS.connection, TOPICS.ledger, TOPICS.deadLetter] });
    kafka = createKafka({ brokers: brokers.split(','), clientId: `it-${prefix}`, logger, connectionTimeoutMs: 10_000 });
    producer = new EventProducer(kafka, { service: 'it' });
    await producer.connect();
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_lanes_${randomBytes(4).toString('hex')}`, logger });
    store = new ReconciliationStore(conn);
    await store.ensureIndexes();
    dlqConsumer = kafka.consumer({ groupId: `it-dlq-${prefix}`, maxWaitTimeInMs: 200 });
    await dlqConsumer.connect();
    await dlqConsumer.subscribe({ topics: [topicName(TOPICS.deadLetter, prefix)], fromBeginning: true });
    await dlqConsumer.run({ eachMessage: async ({ message }) => void dlq.push(eventsV1.DeadLetter.decode(message.value!)) });
  });

  afterAll(async () => {
    for (const c of consumers) await c.stop();
    await dlqConsumer?.disconnect();
    await producer.disconnect();
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
  });

  const start = async (hooks: EnrichedConsumerHooks): Promise<EnrichedConsumer> => {
    const c = new EnrichedConsumer({ kafka, store, producer, logger, hooks, groupId, topicPrefix: prefix, fromBeginning: true, maxWaitTimeMs: 200, partitionsConsumedConcurrently: 3 });
    consumers.push(c);
    await c.start({ budgetMs: 30_000 });
    return c;
  };

  it('holds user A\u2019s message until user B, queued behind all of A\u2019s, has one applied', async () => {
    const applied: string[] = [];
    let bApplied!: () => void;
    const bReached = new Promise<'b'>((r) => (bApplied = () => r('b')));
    let held: 'b' | 'timeout' | undefined;
    await start({
      afterEvent: async (userId, { data }) => {
        applied.push(`${userId === A ? 'A' : 'B'}:${data?.kind ?? '-'}`);
        if (userId === B) bApplied();
        if (userId === A && data?.kind === 'transactions' && held === undefined) {
          let timer: NodeJS.Timeout | undefined;
          held = await Promise.race([bReached, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 20_000)))]);
          clearTimeout(timer);
        }
      },
    });
    // one request, one partition: A's accounts and three results, then B's accounts and one result
    const events = [accounts(A), transactions(A, 0, 40), transactions(A, 1, 40), transactions(A, 2, 40), accounts(B), transactions(B, 0, 30)];
    await producer.publish(bindings.enriched(prefix), events);
    await waitFor('both users stored', async () => (await store.userState(A))?.committedSeq === 121 && (await store.userState(B))?.committedSeq === 31, 60_000);

    expect(held).toBe('b');
    // each user's messages in its own order; B's ran while A's were held
    expect(applied.filter((a) => a.startsWith('A'))).toEqual(['A:accounts', 'A:transactions', 'A:transactions', 'A:transactions']);
    expect(applied.filter((a) => a.startsWith('B'))).toEqual(['B:accounts', 'B:transactions']);
    const aTransactions = applied.flatMap((a, i) => (a === 'A:transactions' ? [i] : []));
    expect(applied.indexOf('B:accounts')).toBeLessThan(aTransactions[1]!);
    expect(await store.transactions.countDocuments({ userId: A })).toBe(120);
    expect(await store.transactions.countDocuments({ userId: B })).toBe(30);
    // numbers follow each user's message order: window 0's rows first
    const firstOfWindow = async (w: number) => (await store.transactions.find({ userId: A, transactionId: { $regex: `^tl-${A}-${w}-` } }).sort({ seq: 1 }).limit(1).toArray())[0]!.seq;
    expect(await firstOfWindow(0)).toBeLessThan(await firstOfWindow(1));
    expect(await firstOfWindow(1)).toBeLessThan(await firstOfWindow(2));

    // the group committed the end of the partition: a second member (after the first leaves) applies nothing again
    await waitFor('offset committed', async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [topic] = await admin.fetchOffsets({ groupId, topics: [topicName(TOPICS.enriched, prefix)] });
        return topic!.partitions[0]!.offset === String(events.length);
      } finally {
        await admin.disconnect();
      }
    });
    await consumers.shift()!.stop();
    const again: string[] = [];
    await start({ afterEvent: async (userId) => void again.push(userId) });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(again).toEqual([]);
    expect((await store.userState(A))?.seq).toBe(121);
  });

  it('dead-letters an event whose key is not its user, and applies nothing of it', async () => {
    const C = `uc-${prefix}`;
    const event = accounts(C);
    await producer.sendRaw(topicName(TOPICS.enriched, prefix), [{ key: A, value: Buffer.from(eventsV1.EnrichedEvent.encode(event).finish()), headers: { [HEADERS.eventId]: event.meta!.eventId } }]);
    await waitFor('dead letter', () => dlq.some((d) => d.errorCode === 'key_mismatch'), 30_000);
    expect(await store.userState(C)).toBeNull();
    expect(await store.accounts.countDocuments({ userId: C })).toBe(0);
  });
});
