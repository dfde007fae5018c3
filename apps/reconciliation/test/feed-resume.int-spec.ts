/**
 * The change feed resumes exactly where an interrupted publish run stopped (real Kafka and MongoDB-wire server): a
 * run that produced a page and died before recording it leaves `publishingFrom`, and the next publisher of the user
 * (another process: nothing in memory) reads the ledger partition back from there and produces only the rest; a run
 * whose record failed and that the same process retries goes on from what it produced, without reading anything.
 * Before, both re-published the page: the same (user, seq) twice. The control user shows that a publisher without
 * the read-back still does, so the check can fail.
 */
import { bindings } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { createKafka, EventProducer } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { connectMongo, type Connection } from '@ais/platform-mongo';
import { provisionTopics } from '@ais/testing';
import type { Consumer, Kafka } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { ChangeFeedPublisher } from '../src/data/changefeed';
import { ReconciliationStore } from '../src/data/store';
import { KafkaLedgerPosition } from '../src/kafka/ledger-position';
import { committedUser, waitFor } from './feed-fixtures';

const logger = createLogger({ service: 'reconciliation-feed-resume-int', level: 'warn' });
const CHANGES = 10; // an account and 9 transactions

describe('change feed: exact resume after an interrupted run (real Kafka and MongoDB-wire server)', () => {
  const prefix = `it${randomBytes(3).toString('hex')}`;
  const binding = bindings.ledger(prefix);
  let kafka: Kafka;
  let producer: EventProducer;
  let conn: Connection;
  let store: ReconciliationStore;
  let collector: Consumer;
  const ledger: eventsV1.ChangeEvent[] = [];
  const positions: KafkaLedgerPosition[] = [];

  beforeAll(async () => {
    const brokers = process.env['KAFKA_BROKERS']!;
    await provisionTopics({ brokers, prefix, partitions: 3 });
    kafka = createKafka({ brokers: brokers.split(','), clientId: `it-resume-${prefix}`, logger });
    producer = new EventProducer(kafka, { service: 'reconciliation' });
    await producer.connect();
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `it_resume_${randomBytes(4).toString('hex')}`, logger });
    store = new ReconciliationStore(conn);
    await store.ensureIndexes();
    collector = kafka.consumer({ groupId: `it-collect-${prefix}`, maxWaitTimeInMs: 100 });
    await collector.connect();
    await collector.subscribe({ topics: [binding.topic], fromBeginning: true });
    await collector.run({ eachMessage: async ({ message }) => void ledger.push(binding.codec.decode(message.value!)) });
  }, 60_000);

  afterAll(async () => {
    for (const p of positions) await p.close();
    await collector?.disconnect();
    await producer?.disconnect();
    await conn?.dropDatabase().catch(() => undefined);
    await conn?.close();
  });

  const position = (): KafkaLedgerPosition => {
    const p = new KafkaLedgerPosition({ kafka, topicPrefix: prefix, groupId: `reconciliation-${prefix}`, logger });
    positions.push(p);
    return p;
  };

  const user = (u: string) => committedUser(store, u, CHANGES - 1);

  /** The store as a process sees it that dies right after producing its first page: recording it fails. */
  function dyingAfterFirstPage(): ReconciliationStore {
    const s = Object.create(store) as ReconciliationStore;
    s.markPublished = async () => {
      throw new Error('the process died before recording what it produced');
    };
    return s;
  }

  const seqsOf = (u: string) => ledger.filter((e) => e.userId === u).map((e) => Number(e.seq));
  const all = Array.from({ length: CHANGES }, (_, i) => i + 1);

  it('another process reads the ledger back from publishingFrom and publishes only what the dead run had not', async () => {
    const u = `user-crash-${prefix}`;
    const control = `user-control-${prefix}`;
    await user(u);
    await user(control);
    // pages of 4 a collection: the first page is the account and 4 transactions (seq 1 to 5)
    for (const who of [u, control]) {
      const dying = new ChangeFeedPublisher({ store: dyingAfterFirstPage(), producer, logger, topicPrefix: prefix, pageSize: 4, position: position() });
      await expect(dying.publishUser(who)).rejects.toThrow('died');
    }
    await waitFor('the dead runs first pages', () => seqsOf(u).length === 5 && seqsOf(control).length === 5);
    const left = await store.userState(u);
    expect(left?.publishedSeq ?? 0).toBe(0);
    expect(left?.publishingFrom).toEqual({ partition: expect.any(Number), offset: expect.any(Number) });

    const next = position();
    const reads = jest.spyOn(next, 'highestSeq');
    const resumed = await new ChangeFeedPublisher({ store, producer, logger, topicPrefix: prefix, pageSize: 4, position: next }).publishUser(u);
    expect(reads).toHaveBeenCalledTimes(1);
    expect(resumed).toEqual({ published: CHANGES - 5, fromSeq: 5, toSeq: CHANGES });
    // at least once, as before: the control user's next publisher has no read-back
    await new ChangeFeedPublisher({ store, producer, logger, topicPrefix: prefix, pageSize: 4 }).publishUser(control);

    await waitFor('both users complete', () => seqsOf(u).length >= CHANGES && seqsOf(control).length >= CHANGES + 5);
    await new Promise((r) => setTimeout(r, 1_500)); // a duplicate, if any, arrives meanwhile
    expect(seqsOf(u)).toEqual(all);
    expect(seqsOf(control)).toEqual([1, 2, 3, 4, 5, ...all]);
    const done = await store.userState(u);
    expect(done).toMatchObject({ publishedSeq: CHANGES, publishPending: false });
    expect(done?.publishingFrom).toBeUndefined();
  }, 120_000);

  it('the same process retries a run whose record failed from what it produced, reading nothing back', async () => {
    const u = `user-retry-${prefix}`;
    await user(u);
    let failures = 1;
    const flaky = Object.create(store) as ReconciliationStore;
    flaky.markPublished = async (...args: Parameters<ReconciliationStore['markPublished']>) => {
      if (failures-- > 0) throw new Error('store unavailable');
      return store.markPublished(...args);
    };
    const p = position();
    const reads = jest.spyOn(p, 'highestSeq');
    const publisher = new ChangeFeedPublisher({ store: flaky, producer, logger, topicPrefix: prefix, pageSize: 4, position: p });
    await expect(publisher.publishUser(u)).rejects.toThrow('unavailable');
    expect(await publisher.publishUser(u)).toEqual({ published: CHANGES - 5, fromSeq: 5, toSeq: CHANGES });
    expect(reads).not.toHaveBeenCalled();
    await waitFor('the user complete', () => seqsOf(u).length >= CHANGES);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(seqsOf(u)).toEqual(all);
    expect((await store.userState(u))?.publishingFrom).toBeUndefined();
  }, 120_000);
});
