/**
 * Two reconciliation instances in one consumer group (real Kafka, one MongoDB-wire database, as two replicas of a
 * deployment): each owns the users of the ais.enriched.v1 partitions it holds, and the change feed's sweep of each
 * publishes only those users. Before, every instance's sweep took every flagged user, so a user whose changes stayed
 * unpublished for the sweep's minimum age went out from two instances, the same sequence numbers twice.
 *
 * The consumers here apply without a publisher, so every user's changes wait for a sweep, as after a crash. One
 * instance sweeps, then the other: each must publish its own users and no other, and the ledger topic must carry
 * every (user, seq) once. And a sweep's run that loses the user to a rebalance stops before its next page.
 */
import { bindings } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { createKafka, EventProducer } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { partitionOfKey } from '@ais/platform-kafka';
import { connectMongo, type Connection } from '@ais/platform-mongo';
import { provisionTopics } from '@ais/testing';
import type { Consumer, Kafka } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { ChangeFeedPublisher } from '../src/data/changefeed';
import { ReconciliationStore } from '../src/data/store';
import { EnrichedConsumer } from '../src/kafka/enriched.consumer';
import { committedUser, DAY, enrichedEvent, shopRows, T, waitFor } from './feed-fixtures';

const logger = createLogger({ service: 'reconciliation-sweep-owner-int', level: 'warn' });
const PARTITIONS = 3;
const ROWS = 3;

const enriched = (userId: string, accountId: string, payload: NonNullable<eventsV1.RawDataEvent['payload']>): eventsV1.EnrichedEvent =>
  enrichedEvent({ userId, accountId, payload, fetchedAt: T, fetchId: `fetch-${userId}`, window: { from: new Date(T.getTime() - 30 * DAY), to: T } });

/** A user's account list, then ROWS booked transactions: ROWS + 1 changes. */
function history(userId: string): eventsV1.EnrichedEvent[] {
  const account = `tl-cur-${userId}`;
  const list = enriched(userId, '', {
    $case: 'accounts',
    accounts: {
      accounts: [
        {
          accountId: account,
          accountType: 'TRANSACTION',
          displayName: 'Club Lloyds',
          currency: 'GBP',
          accountNumber: { iban: '', swiftBic: '', number: '12345678', sortCode: '30-94-57', routingNumber: '', bsb: '' },
          providerId: 'ob-lloyds',
          updateTimestamp: T,
        } as eventsV1.RawAccount,
      ],
    },
  });
  const rows: eventsV1.RawTransaction[] = shopRows(ROWS, userId);
  return [list, enriched(userId, account, { $case: 'transactions', transactions: { transactions: rows } })];
}

describe('change feed sweep: one publisher per user across instances (real Kafka and MongoDB-wire server)', () => {
  const prefix = `it${randomBytes(3).toString('hex')}`;
  const groupId = `reconciliation-${prefix}`;
  const db = `it_sweep_${randomBytes(4).toString('hex')}`;
  let kafka: Kafka;
  let producer: EventProducer;
  const conns: Connection[] = [];
  const consumers: EnrichedConsumer[] = [];
  let collector: Consumer | undefined;

  // users spread over every partition, two or more on each
  const users: string[] = [];
  for (let i = 0; users.length < 4 * PARTITIONS; i += 1) {
    const u = `user-${i}`;
    if (users.filter((x) => partitionOfKey(x, PARTITIONS) === partitionOfKey(u, PARTITIONS)).length < 4) users.push(u);
  }

  beforeAll(async () => {
    const brokers = process.env['KAFKA_BROKERS']!;
    await provisionTopics({ brokers, prefix, partitions: PARTITIONS });
    kafka = createKafka({ brokers: brokers.split(','), clientId: `it-sweep-${prefix}`, logger });
    producer = new EventProducer(kafka, { service: 'reconciliation' });
    await producer.connect();
  }, 60_000);

  afterAll(async () => {
    await collector?.disconnect().catch(() => undefined);
    for (const c of consumers) await c.stop().catch(() => undefined);
    await producer?.disconnect();
    if (conns[0]) await conns[0].dropDatabase().catch(() => undefined);
    for (const c of conns) await c.close();
  });

  async function instance(name: string, appliedBy: Map<string, string>): Promise<{ store: ReconciliationStore; consumer: EnrichedConsumer }> {
    const conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db, logger });
    conns.push(conn);
    const store = new ReconciliationStore(conn);
    await store.ensureIndexes();
    // no publisher: the changes stay flagged publishPending, for the sweep
    const consumer = new EnrichedConsumer({
      kafka,
      store,
      producer,
      logger,
      groupId,
      topicPrefix: prefix,
      fromBeginning: true,
      maxWaitTimeMs: 200,
      sessionTimeoutMs: 10_000,
      hooks: { afterEvent: async (userId) => void appliedBy.set(userId, name) },
    });
    consumers.push(consumer);
    await consumer.start();
    return { store, consumer };
  }

  it('each instance owns the users of its partitions and its sweep publishes only those, every change once', async () => {
    const appliedBy = new Map<string, string>();
    const a = await instance('a', appliedBy);
    const b = await instance('b', appliedBy);
    // both joined and the rebalance settled: every user has exactly one owner, and both own some
    await waitFor('the group to settle on two owners', () => users.every((u) => a.consumer.ownsUser(u) !== b.consumer.ownsUser(u)) && users.some((u) => a.consumer.ownsUser(u)) && users.some((u) => b.consumer.ownsUser(u)));
    const ownerOf = (u: string) => (a.consumer.ownsUser(u) ? 'a' : 'b');

    await producer.publish(bindings.enriched(prefix), users.flatMap(history));
    await waitFor('every user applied', async () => {
      const states = await a.store.state.find({ _id: { $in: users } }).toArray();
      return states.length === users.length && states.every((s) => s.committedSeq === ROWS + 1);
    });
    // the partition each user's events were consumed from is the one its owner holds
    expect(Object.fromEntries(users.map((u) => [u, appliedBy.get(u)]))).toEqual(Object.fromEntries(users.map((u) => [u, ownerOf(u)])));

    const ledger: eventsV1.ChangeEvent[] = [];
    const binding = bindings.ledger(prefix);
    collector = kafka.consumer({ groupId: `it-collect-${prefix}`, maxWaitTimeInMs: 200 });
    await collector.connect();
    await collector.subscribe({ topics: [binding.topic], fromBeginning: true });
    await collector.run({ eachMessage: async ({ message }) => void ledger.push(binding.codec.decode(message.value!)) });

    // what each instance's publisher sent, by user
    const publishedBy = new Map<string, Set<string>>([['a', new Set()], ['b', new Set()]]);
    const publisher = (name: 'a' | 'b', store: ReconciliationStore, consumer: EnrichedConsumer) => {
      const recording = {
        publish: async (bnd: typeof binding, events: eventsV1.ChangeEvent[]) => {
          for (const e of events) publishedBy.get(name)!.add(e.userId);
          await producer.publish(bnd, events);
        },
      } as unknown as EventProducer;
      return new ChangeFeedPublisher({ store, producer: recording, logger, topicPrefix: prefix, owns: (u) => consumer.ownsUser(u) });
    };
    const pa = publisher('a', a.store, a.consumer);
    const pb = publisher('b', b.store, b.consumer);
    const mine = (name: string) => users.filter((u) => ownerOf(u) === name).sort();

    // one after the other: the second finds the first's users still flagged only if the first took them
    expect(await pb.sweep(0)).toBe(mine('b').length);
    expect(await pa.sweep(0)).toBe(mine('a').length);
    expect([...publishedBy.get('b')!].sort()).toEqual(mine('b'));
    expect([...publishedBy.get('a')!].sort()).toEqual(mine('a'));
    // nothing left for either
    expect(await pa.sweep(0)).toBe(0);
    expect(await pb.sweep(0)).toBe(0);

    const total = users.length * (ROWS + 1);
    await waitFor('the ledger events', () => ledger.length >= total);
    await new Promise((r) => setTimeout(r, 1_500)); // a duplicate, if any, arrives meanwhile
    const seen = new Map<string, number>();
    for (const e of ledger) seen.set(`${e.userId}#${e.seq}`, (seen.get(`${e.userId}#${e.seq}`) ?? 0) + 1);
    expect(ledger).toHaveLength(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    for (const u of users) expect(ledger.filter((e) => e.userId === u).map((e) => Number(e.seq))).toEqual(Array.from({ length: ROWS + 1 }, (_, i) => i + 1));
  }, 180_000);

  it("a sweep's run stops producing once the user is no longer this instance's, and the new owner goes on from there", async () => {
    const conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `${db}_moved`, logger });
    conns.push(conn);
    const store = new ReconciliationStore(conn);
    await store.ensureIndexes();
    const u = 'user-moved';
    await committedUser(store, u, 9);

    const sent: eventsV1.ChangeEvent[] = [];
    const fake = { publish: async (_b: unknown, events: eventsV1.ChangeEvent[]) => void sent.push(...events) } as unknown as EventProducer;
    // owned while the first page is produced (the account and 4 transactions: pages of 4 a collection), then moved
    // away by a rebalance
    let ownedNow = true;
    const first = new ChangeFeedPublisher({ store, producer: { publish: async (b: unknown, events: eventsV1.ChangeEvent[]) => { await fake.publish(b as never, events); ownedNow = false; } } as unknown as EventProducer, logger, pageSize: 4, owns: () => ownedNow });
    expect(await first.sweep(0)).toBe(1);
    expect(sent.map((e) => Number(e.seq))).toEqual([1, 2, 3, 4, 5]);
    const after = await store.userState(u);
    expect(after?.publishedSeq).toBe(5);
    expect(after?.publishPending).toBe(true);
    // the new owner's sweep publishes the rest, each change once
    const next = new ChangeFeedPublisher({ store, producer: fake, logger, pageSize: 4, owns: () => true });
    expect(await next.sweep(0)).toBe(1);
    expect(sent.map((e) => Number(e.seq))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect((await store.userState(u))?.publishPending).toBe(false);
  });
});
