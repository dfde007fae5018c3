/**
 * Invariant 6 end to end: replaying the raw topic into a fresh pipeline gives the same store.
 *
 * A real run (simulator → data-fetcher → ais.raw.v1 → enrichment → ais.enriched.v1 → reconciliation), with the
 * simulator's switches that make re-consent hard (transaction ids re-randomised on every request, account ids that
 * change on reauth): consent with its two-year backfill, then a re-consent and a refresh. Once the store is
 * settled, every message of the run's ais.raw.v1 (partition, key, headers and value as produced) is produced again,
 * in partition order, onto the raw topic of a fresh prefix, where a fresh enrichment and a fresh reconciliation
 * (their own consumer groups and databases) consume it; so is ais.connection.v1, reconciliation's other input
 * (token-vault's `connection.authorized` of the re-consent records a connection link in the user's state). The
 * fresh store must equal the live store: the same `ReconciliationStore.checksum` (every account, transaction,
 * balance and edit document of the user, with its sequence numbers, and the user's counters) and the same counts.
 * The replay batches very differently from the live run (the whole topic at once instead of a trickle), which
 * derived data (data/analysis.ts) must not depend on. Then the same topics are replayed a second time into the same
 * fresh pipeline (every message a redelivery): the store stays identical.
 */
import { bindings } from '@ais/contracts-events';
import { DEFAULT_MAX_REQUEST_BYTES, requestChunks } from '@ais/platform-kafka';
import { connectMockUser, provisionTopics, reauthMockUser, startService, type MockUserConnection, type ServiceProcess } from '@ais/testing';
import { Kafka, logLevel, type IHeaders, type Producer } from 'kafkajs';
import mongoose from 'mongoose';
// the store's own canonical checksum and counters, read as an operator would
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ReconciliationStore } from '../../apps/reconciliation/src/data/store';
import { startFetchStack, waitFor, waitForBackfill, type FetchStack } from './fetch-harness';
import { stackEnv, uniqueSuffix } from './stack-env';

jest.setTimeout(300_000);

const USER = 'user-replay';
const PSU_IP = '203.0.113.9';

interface RawMessage {
  partition: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

/** A fresh enrichment and reconciliation on their own prefix, consumer groups and databases. */
interface FreshPipeline {
  prefix: string;
  store: ReconciliationStore;
  groups: { enrichment: string; reconciliation: string };
  stop(): Promise<void>;
}

interface Snapshot {
  checksum: string;
  accounts: number;
  transactions: number;
  booked: number;
  recurring: number;
  paired: number;
  balances: number;
  seq: number;
}

describe('raw replay end to end (invariant 6)', () => {
  const infra = stackEnv();
  const brokers = infra['KAFKA_BROKERS']!.split(',');
  const kafka = new Kafka({ clientId: 'replay-spec', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  let producer: Producer;
  let s: FetchStack;
  let conn: MockUserConnection;
  let live: ReconciliationStore;
  const pipelines: FreshPipeline[] = [];

  beforeAll(async () => {
    await admin.connect();
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    // the fresh pipeline starts beside the live stack; it idles on empty topics until the replay
    [s] = await Promise.all([startFetchStack({ pipeline: true, reconciliationEnv: { CHANGEFEED_SWEEP_MS: '1000', CHANGEFEED_SWEEP_MIN_AGE_MS: '1000' } }), startFresh()]);
    await s.sandbox.admin('PATCH', '/switches', { transactionIdInstability: true, accountIdChangeOnReauth: true, cacheTtlSeconds: 0 });
    live = new ReconciliationStore(s.reconDb!);
  }, 180_000);

  afterAll(async () => {
    for (const p of pipelines) await p.stop().catch(() => undefined);
    await s?.stop();
    await producer?.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  });

  /** Whether `groupId` has committed every offset of `topic` up to its end. */
  const caughtUp = async (groupId: string, topic: string): Promise<boolean> => {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    return ends.every((e) => Number(e.high) === 0 || (at.get(e.partition) ?? -1) >= Number(e.high));
  };

  /** Waits until the store's counters stop moving and everything committed was applied (`check` gates it). */
  const settled = async (what: string, store: ReconciliationStore, check: () => Promise<boolean> = async () => true, timeoutMs = 150_000): Promise<void> => {
    let last = '';
    let since = 0;
    await waitFor(
      what,
      async () => {
        const st = await store.userState(USER);
        const sig = `${st?.seq ?? 0}/${st?.committedSeq ?? 0}/${s.raw.events.length}`;
        if (sig !== last) {
          last = sig;
          since = Date.now();
          return undefined;
        }
        return st && st.seq === st.committedSeq && Date.now() - since > 2_000 && (await check()) ? true : undefined;
      },
      timeoutMs,
      500,
    );
  };

  const snapshot = async (store: ReconciliationStore): Promise<Snapshot> => ({
    checksum: await store.checksum(USER),
    accounts: await store.accounts.countDocuments({ userId: USER }),
    transactions: await store.transactions.countDocuments({ userId: USER }),
    booked: await store.transactions.countDocuments({ userId: USER, status: 'booked' }),
    recurring: await store.transactions.countDocuments({ userId: USER, recurring: { $ne: null } }),
    paired: await store.transactions.countDocuments({ userId: USER, transferPairId: { $ne: null } }),
    balances: await store.balances.countDocuments({ userId: USER }),
    seq: (await store.userState(USER))?.seq ?? 0,
  });

  /** Every message of `topic` up to its current end, per partition in offset order. */
  const readTopic = async (topic: string): Promise<RawMessage[]> => {
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((e) => [e.partition, Number(e.high)]));
    const total = [...ends.values()].reduce((a, b) => a + b, 0);
    const out: RawMessage[] = [];
    const consumer = kafka.consumer({ groupId: `replay-reader-${uniqueSuffix()}`, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (Number(message.offset) < (ends.get(partition) ?? 0)) out.push({ partition, key: message.key, value: message.value, headers: message.headers ?? {} });
      },
    });
    await waitFor(`${topic} read to its end`, async () => (out.length >= total ? true : undefined), 60_000, 100);
    await consumer.disconnect();
    return out;
  };

  /** Produces the messages onto `topic`, each on its original partition, in order. */
  const produce = async (topic: string, messages: RawMessage[]): Promise<void> => {
    // requests under the broker's size limit, as the services send them (a raw message carries up to 320 KiB of rows)
    const all = messages.map((m) => ({ partition: m.partition, key: m.key, value: m.value, headers: m.headers }));
    for (const chunk of requestChunks(all, DEFAULT_MAX_REQUEST_BYTES)) await producer.send({ topic, acks: -1, messages: chunk });
  };

  const startFresh = async (): Promise<FreshPipeline> => {
    const ns = uniqueSuffix();
    const prefix = `rp${ns}`;
    await provisionTopics({ brokers: infra['KAFKA_BROKERS']!, prefix });
    const common = { ...infra, LOG_LEVEL: 'info', KAFKA_TOPIC_PREFIX: prefix, KAFKA_CREATE_TOPICS: 'false', SHUTDOWN_TIMEOUT_MS: '10000', OTEL_TRACES_EXPORTER: 'none' };
    const groups = { enrichment: `enrichment-${ns}`, reconciliation: `reconciliation-${ns}` };
    const procs: ServiceProcess[] = [];
    const db = mongoose.createConnection(infra['MONGODB_URI']!, { dbName: `rc_${ns}` });
    const stop = async (): Promise<void> => {
      await Promise.all(procs.map((p) => p.stop(5_000).catch(() => undefined)));
      await db.dropDatabase().catch(() => undefined);
      await db.useDb(`en_${ns}`).dropDatabase().catch(() => undefined);
      await db.close().catch(() => undefined);
    };
    try {
      const enrichment = await startService('enrichment', { ...common, MONGODB_DB: `en_${ns}`, KAFKA_GROUP_ID: groups.enrichment });
      procs.push(enrichment);
      procs.push(
        await startService('reconciliation', {
          ...common,
          MONGODB_DB: `rc_${ns}`,
          KAFKA_GROUP_ID: groups.reconciliation,
          ENRICHMENT_ADDR: `127.0.0.1:${String(enrichment.ready['grpcPort'])}`,
          CHANGEFEED_SWEEP_MS: '1000',
          CHANGEFEED_SWEEP_MIN_AGE_MS: '1000',
        }),
      );
      await db.asPromise();
    } catch (error) {
      await stop();
      throw error;
    }
    const p = { prefix, store: new ReconciliationStore(db), groups, stop };
    pipelines.push(p);
    return p;
  };

  /** The first differing documents of the user between two stores (for the failure message). */
  const differences = async (a: ReconciliationStore, b: ReconciliationStore): Promise<string[]> => {
    const out: string[] = [];
    for (const name of ['accounts', 'transactions', 'balances', 'user_edits'] as const) {
      const coll = (st: ReconciliationStore) => ({ accounts: st.accounts, transactions: st.transactions, balances: st.balances, user_edits: st.edits })[name] as unknown as mongoose.mongo.Collection<mongoose.mongo.Document>;
      const other = new Map((await coll(b).find({ userId: USER }).toArray()).map((d) => [String(d['_id']), d]));
      for (const d of await coll(a).find({ userId: USER }).toArray()) {
        const o = other.get(String(d['_id']));
        const keys = o ? [...new Set([...Object.keys(d), ...Object.keys(o)])].filter((k) => JSON.stringify(d[k]) !== JSON.stringify(o[k])) : ['(missing)'];
        if (keys.length) out.push(`${name} ${String(d['_id'])}: ${keys.map((k) => `${k} ${JSON.stringify(d[k])} / ${JSON.stringify(o?.[k])}`).join('; ')}`);
        if (out.length >= 10) return out;
      }
    }
    const [sa, sb] = [await a.userState(USER), await b.userState(USER)];
    if (JSON.stringify(sa?.links) !== JSON.stringify(sb?.links)) out.push(`links ${JSON.stringify(sa?.links)} / ${JSON.stringify(sb?.links)}`);
    return out;
  };

  /** Both fresh consumers have committed everything up to the ends of their input topics. */
  const drained = (p: FreshPipeline) => async (): Promise<boolean> =>
    (await caughtUp(p.groups.enrichment, bindings.raw(p.prefix).topic)) && (await caughtUp(p.groups.reconciliation, bindings.enriched(p.prefix).topic));

  it('the raw topic replayed twice into a fresh pipeline gives the live store, document for document', async () => {
    const started = Date.now();
    // the live run: consent (backfill), then a re-consent that changes every TrueLayer id, and a refresh
    conn = await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId: USER, username: 'john', password: 'doe' });
    await waitForBackfill(s, conn.connectionId, 150_000);
    await settled('the live store after the backfill', live);
    const r = await reauthMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId: USER, connectionId: conn.connectionId, username: 'john', password: 'doe' });
    expect(r.outcome).toBe('reauth');
    expect((await s.api('POST', `/v1/users/${USER}/connections/${conn.connectionId}/refresh`, undefined, { 'x-psu-ip': PSU_IP })).status).toBe(200);
    await settled('the live store after the re-consent', live, async () => (await caughtUp(`enrichment-${s.ns}`, bindings.raw(s.prefix).topic)) && (await caughtUp(`reconciliation-${s.ns}`, bindings.enriched(s.prefix).topic)));
    const liveRun = Date.now() - started;

    // the re-consent did change TrueLayer's account ids, so the replay covers the identity match
    const listings = s.raw.events.filter((e) => e.userId === USER && e.payload?.$case === 'accounts');
    const idsOf = (e: (typeof listings)[number]) => (e.payload?.$case === 'accounts' ? e.payload.accounts.accounts.map((a) => a.accountId).sort() : []);
    expect(idsOf(listings.at(-1)!)).not.toEqual(idsOf(listings[0]!));

    const want = await snapshot(live);
    // a real history: thousands of rows over years, derived data found (the numbers are the simulator's, not fixed)
    expect(want.booked).toBeGreaterThan(1000);
    expect(want.recurring).toBeGreaterThan(0);
    expect(want.paired).toBeGreaterThan(0);
    expect(want.accounts).toBe(3);

    const raw = await readTopic(bindings.raw(s.prefix).topic);
    expect(raw.length).toBe(s.raw.events.length);
    const connection = await readTopic(bindings.connection(s.prefix).topic);
    // nothing (a scheduled refresh) arrived between the snapshot and the read
    expect(await snapshot(live)).toEqual(want);
    // the replay (the connection events first: they came before the re-consent's data)
    const fresh = pipelines[0]!;
    const replay = async (round: string): Promise<{ snap: Snapshot; seconds: number }> => {
      const t = Date.now();
      await produce(bindings.connection(fresh.prefix).topic, connection);
      await produce(bindings.raw(fresh.prefix).topic, raw);
      await settled(`${round} replay on ${fresh.prefix}`, fresh.store, drained(fresh), 240_000);
      return { snap: await snapshot(fresh.store), seconds: Math.round((Date.now() - t) / 1000) };
    };
    const first = await replay('the first');
    if (first.snap.checksum !== want.checksum) console.error(`first differences: ${JSON.stringify(await differences(live, fresh.store))}`);
    expect(first.snap).toEqual(want);
    const second = await replay('the second');
    console.info(
      `replay: ${raw.length} raw and ${connection.length} connection messages; live run ${Math.round(liveRun / 1000)} s, replays ${first.seconds} s and ${second.seconds} s; store ${JSON.stringify(want)}`,
    );
    expect(second.snap).toEqual(want);
  });
});
