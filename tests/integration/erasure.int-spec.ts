/**
 * Data lifecycle end to end on the real stack (simulator → data-fetcher → enrichment → reconciliation, with
 * token-vault and the gateway): `DELETE /v1/users/{id}` erases the user everywhere and is idempotent, and a revoked
 * connection's data is erased once the retention period (a token-vault setting, 0 days here) is over.
 *
 * "Everywhere" is checked in each service's own database: token-vault's connections, data-fetcher's fetch state,
 * enrichment's user rules, reconciliation's accounts, transactions, balances, edits, recurring series and mandates,
 * the gateway's connect sessions; at TrueLayer (the simulator) the connection is revoked. The confirmation is a
 * ChangeEvent with `erasure` on ais.ledger.v1 and the erasure's status resource. Another user's data is untouched
 * (the store's checksum before and after).
 */
import { bindings, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { connectMockUser, type MockUserConnection } from '@ais/testing';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import mongoose from 'mongoose';
// the store's canonical checksum (another user's data must not change)
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ReconciliationStore } from '../../apps/reconciliation/src/data/store';
import { startFetchStack, waitFor, type FetchStack } from './fetch-harness';
import { stackEnv } from './stack-env';

jest.setTimeout(600_000);

type Json = Record<string, unknown>;
const ERASED = 'user-erased';
const KEPT = 'user-kept';
const RETAINED = 'user-retention';

describe('data lifecycle: erase a user everywhere; erase a revoked connection after the retention period', () => {
  let s: FetchStack;
  let store: ReconciliationStore;
  let ledger: Consumer;
  const erasureEvents: eventsV1.ChangeEvent[] = [];
  const dbs: Record<string, mongoose.Connection> = {};
  const conns: Record<string, MockUserConnection> = {};

  beforeAll(async () => {
    s = await startFetchStack({
      pipeline: true,
      tokenVaultEnv: { DATA_RETENTION: 'delete', DATA_RETENTION_DAYS: '0', JOBS_INTERVAL_MS: '1000' },
      reconciliationEnv: { CHANGEFEED_SWEEP_MS: '1000', CHANGEFEED_SWEEP_MIN_AGE_MS: '1000' },
    });
    store = new ReconciliationStore(s.reconDb!);
    const uri = stackEnv()['MONGODB_URI']!;
    for (const [name, db] of [['tv', `tv_${s.ns}`], ['en', `en_${s.ns}`], ['gw', `gw_${s.ns}`]] as const) {
      dbs[name] = mongoose.createConnection(uri, { dbName: db });
      await dbs[name].asPromise();
    }
    const kafka = new Kafka({ clientId: `erasure-ledger-${s.ns}`, brokers: stackEnv()['KAFKA_BROKERS']!.split(','), logLevel: logLevel.NOTHING });
    ledger = kafka.consumer({ groupId: `erasure-ledger-${s.ns}`, maxWaitTimeInMs: 200 });
    await ledger.connect();
    await ledger.subscribe({ topic: topicName(TOPICS.ledger, s.prefix), fromBeginning: true });
    await ledger.run({
      eachMessage: async ({ message }) => {
        const e = bindings.ledger().codec.decode(message.value!);
        if (e.entity?.$case === 'erasure') erasureEvents.push(e);
      },
    });
  }, 180_000);

  afterAll(async () => {
    await ledger?.disconnect().catch(() => undefined);
    for (const db of Object.values(dbs)) await db.close().catch(() => undefined);
    await s?.stop();
  });

  const get = async (path: string): Promise<{ status: number; json: Json }> => s.api('GET', path);
  const countFor = async (db: mongoose.Connection, collection: string, filter: Json): Promise<number> => db.collection(collection).countDocuments(filter);
  /** Connects a user and waits until the pipeline stored its history and published it. */
  const connectAndSettle = async (userId: string): Promise<MockUserConnection> => {
    const conn = await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId, username: 'john', password: 'doe' });
    await waitFor(
      `${userId}'s history stored and published`,
      async () => {
        const st = await store.userState(userId);
        const published = (st as unknown as { publishedSeq?: number } | null)?.publishedSeq ?? 0;
        const report = (await (await fetch(`${s.admin}/admin/connections/${encodeURIComponent(conn.connectionId)}/support-report`, { headers: { accept: 'application/json' } })).json()) as Json;
        const done = report['backfill'] === 'done' || report['backfill'] === 'partial';
        return done && st && st.committedSeq > 0 && st.committedSeq === st.seq && published === st.committedSeq ? true : undefined;
      },
      240_000,
      1_000,
    );
    // a stable store for 3 s (the last fetch results may still be on their way)
    let last = '';
    await waitFor(
      `${userId}'s store stable`,
      async () => {
        const sig = `${(await store.userState(userId))?.seq}/${await countFor(s.reconDb!, 'transactions', { userId })}`;
        const same = sig === last;
        last = sig;
        return same ? true : undefined;
      },
      60_000,
      3_000,
    );
    conns[userId] = conn;
    return conn;
  };
  const completed = async (userId: string, erasureId: string): Promise<Json> =>
    waitFor(
      `erasure ${erasureId} completed`,
      async () => {
        const r = await get(`/v1/users/${userId}/erasures/${erasureId}`);
        expect(r.status).toBe(200);
        return r.json['status'] === 'completed' ? r.json : undefined;
      },
      120_000,
      500,
    );

  it('DELETE /v1/users/{id} erases the user in every service and at TrueLayer, confirms it, and leaves other users alone', async () => {
    const erased = await connectAndSettle(ERASED);
    await connectAndSettle(KEPT);
    const keptChecksum = await store.checksum(KEPT);

    // user data in every service first: an edit, a rule (enrichment), transactions with series and balances
    const txs = (await get(`/v1/users/${ERASED}/transactions?page_size=5&q=TESCO`)).json['transactions'] as Json[];
    expect(txs.length).toBeGreaterThan(0);
    const patched = await s.api('PATCH', `/v1/users/${ERASED}/transactions/${String(txs[0]!['transaction_id'])}`, { category_override: 'FOOD_AND_DRINK_GROCERIES', notes: 'weekly shop', apply_to_merchant: true });
    expect(patched.status).toBe(200);
    const accounts = (await get(`/v1/users/${ERASED}/accounts`)).json['accounts'] as Json[];
    expect(accounts.length).toBeGreaterThan(0);
    const rc = s.reconDb!;
    for (const c of ['accounts', 'transactions', 'balances', 'user_edits', 'recurring_series']) expect(await countFor(rc, c, { userId: ERASED })).toBeGreaterThan(0);
    // analysis' stored history: copies of the rows' descriptions and amounts
    expect(await countFor(rc, 'analysis_history', { _id: ERASED })).toBe(1);
    expect(await countFor(dbs['en']!, 'user_rules', { userId: ERASED })).toBeGreaterThan(0);
    expect(await countFor(s.fetcherDb, 'fetch_connections', { userId: ERASED })).toBe(1);
    expect(await countFor(dbs['tv']!, 'connections', { userId: ERASED })).toBe(1);

    const del = await s.api('DELETE', `/v1/users/${ERASED}`);
    expect(del.status).toBe(202);
    expect(del.json).toMatchObject({ status: 'in_progress', connections_deleted: 1, deleted_at_truelayer: 1 });
    const erasureId = String(del.json['erasure_id']);
    const done = await completed(ERASED, erasureId);
    expect(done).toMatchObject({ erasure_id: erasureId, reason: 'user_request', connection_ids: [erased.connectionId] });
    expect((done['account_ids'] as string[]).sort()).toEqual(accounts.map((a) => String(a['account_id'])).sort());
    const steps = done['steps'] as Json[];
    expect(steps.map((x) => x['service'])).toEqual(['token-vault', 'data-fetcher', 'enrichment', 'reconciliation']);
    for (const x of steps) expect(Number(x['documents_deleted'])).toBeGreaterThan(0);

    // nothing left anywhere
    for (const c of ['accounts', 'transactions', 'balances', 'user_edits', 'recurring_series', 'mandates']) expect(await countFor(rc, c, { userId: ERASED })).toBe(0);
    expect(await countFor(rc, 'analysis_state', { _id: ERASED })).toBe(0);
    expect(await countFor(rc, 'analysis_history', { _id: ERASED })).toBe(0);
    expect(await countFor(dbs['en']!, 'user_rules', { userId: ERASED })).toBe(0);
    for (const c of ['fetch_connections', 'fetch_tasks']) expect(await countFor(s.fetcherDb, c, { userId: ERASED })).toBe(0);
    expect(await countFor(s.fetcherDb, 'fetch_journal', { connectionId: erased.connectionId })).toBe(0);
    expect(await countFor(dbs['tv']!, 'connections', { userId: ERASED })).toBe(0);
    expect(await countFor(dbs['gw']!, 'auth_sessions', { userId: ERASED })).toBe(0);
    const atBank = await s.sandbox.admin<{ credentials_id: string; revoked: boolean }[]>('GET', '/connections');
    expect(atBank.find((c) => c.credentials_id === erased.credentialsId)?.revoked).toBe(true);
    expect((await get(`/v1/users/${ERASED}/accounts`)).status).toBe(404);
    expect((await get(`/v1/users/${ERASED}/connections`)).json['connections']).toEqual([]);

    // the confirmation on the change feed, once, kind REMOVED
    await waitFor('the ledger confirmation', async () => (erasureEvents.some((e) => e.entity?.$case === 'erasure' && e.entity.erasure.erasureId === erasureId) ? true : undefined), 30_000);
    const confirmations = erasureEvents.filter((e) => e.entity?.$case === 'erasure' && e.entity.erasure.erasureId === erasureId);
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0]).toMatchObject({ userId: ERASED, kind: eventsV1.ChangeKind.CHANGE_KIND_REMOVED, reason: 'user_request' });

    // the other user is untouched
    expect(await store.checksum(KEPT)).toBe(keptChecksum);

    // idempotent: again is accepted, finds nothing, completes, and changes nothing
    const again = await s.api('DELETE', `/v1/users/${ERASED}`);
    expect(again.status).toBe(202);
    expect(again.json).toMatchObject({ connections_deleted: 0 });
    const second = await completed(ERASED, String(again.json['erasure_id']));
    expect((second['steps'] as Json[]).map((x) => Number(x['documents_deleted']))).toEqual([0, 0, 0, 0]);
    for (const c of ['accounts', 'transactions', 'balances']) expect(await countFor(rc, c, { userId: ERASED })).toBe(0);
    expect(await store.checksum(KEPT)).toBe(keptChecksum);

    // an unknown erasure id, and another user's, are 404
    expect((await get(`/v1/users/${KEPT}/erasures/${erasureId}`)).status).toBe(404);
    expect((await get(`/v1/users/${ERASED}/erasures/not-an-id`)).status).toBe(400);
  });

  it('a revoked connection keeps its data until the retention period is over, then it is erased and confirmed', async () => {
    const conn = await connectAndSettle(RETAINED);
    const accounts = ((await get(`/v1/users/${RETAINED}/accounts`)).json['accounts'] as Json[]).map((a) => String(a['account_id'])).sort();
    expect(accounts.length).toBeGreaterThan(0);
    const revoked = await s.api('DELETE', `/v1/users/${RETAINED}/connections/${conn.connectionId}`);
    expect(revoked.status).toBe(200);
    // retention 0 days: token-vault's next job pass starts the erasure of this connection's data
    const confirmation = await waitFor(
      'the retention erasure on the ledger',
      async () => erasureEvents.find((e) => e.userId === RETAINED && e.entity?.$case === 'erasure' && e.entity.erasure.reason === 'retention'),
      120_000,
      500,
    );
    const e = confirmation.entity?.$case === 'erasure' ? confirmation.entity.erasure : undefined;
    expect(e?.connectionIds).toEqual([conn.connectionId]);
    expect([...(e?.accountIds ?? [])].sort()).toEqual(accounts);
    for (const c of ['accounts', 'transactions', 'balances']) expect(await countFor(s.reconDb!, c, { userId: RETAINED })).toBe(0);
    expect(await countFor(s.fetcherDb, 'fetch_connections', { _id: conn.connectionId })).toBe(0);
    // token-vault keeps the (token-less) connection record, marked: the erasure is not started twice
    const tv = await dbs['tv']!.collection('connections').findOne({ _id: conn.connectionId } as never);
    expect(tv).toMatchObject({ status: 'revoked', tokens: null, retentionDueAt: null });
    expect(tv?.['dataErasedAt']).toBeInstanceOf(Date);
  });
});
