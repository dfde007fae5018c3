/**
 * MongoAuthSessionStore on the real MongoDB-wire server: single use under concurrency, purge job, lookups.
 * (Conditional findOneAndUpdate is not atomic on the local wire server; the store guards with a unique insert.)
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainUsesIndex, type Connection } from '@ais/platform-mongo';
import { recordSecret } from '@ais/testing';
import { randomBytes } from 'node:crypto';
import { MongoAuthSessionStore, type AuthSessionRecord } from '../src/data/auth-sessions';

const logger = createLogger({ service: 'gw-sessions-int', level: 'warn' });

describe('auth sessions on a real MongoDB-wire server', () => {
  let conn: Connection;
  let store: MongoAuthSessionStore;
  const now = new Date();
  const rec = (id: string, expiresAt: Date, over: Partial<AuthSessionRecord> = {}): AuthSessionRecord => ({
    _id: id, clientId: 'c-x', userId: 'u-x', intent: { kind: 'new' }, dialog: 'truelayer', pageToken: null, codeVerifier: 'v', redirectUri: 'http://127.0.0.1/v1/callback',
    responseMode: 'query', providers: ['uk-cs-mock'], scopes: ['info'], providerId: null, returnUrl: null, webFallbackUrl: null, createdAt: now, expiresAt,
    consumedAt: null, outcome: null, outcomeCode: null, connectionId: null, bounceToken: null, bounceExpiresAt: null, browserBinding: null, ...over,
  });

  beforeAll(async () => {
    conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `gw_it_${randomBytes(4).toString('hex')}`, logger });
    store = new MongoAuthSessionStore(conn, randomBytes(32));
    await store.ensureIndexes();
  });

  afterAll(async () => {
    await conn.dropDatabase();
    await conn.close();
  });

  it('concurrent consumes of one session have exactly one winner', async () => {
    for (let round = 0; round < 10; round += 1) {
      const id = `race-${round}`;
      await store.create(rec(id, new Date(now.getTime() + 60_000)));
      const results = await Promise.all(Array.from({ length: 8 }, () => store.consume(id, 'u-x', 'c-x', new Date())));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
      expect(await store.consume(id, 'u-x', 'c-x', new Date())).toBeNull();
      expect((await store.peek(id))?.consumedAt).not.toBeNull();
    }
  });

  it('does not consume for another user, another client, or after expiry (and writes nothing then)', async () => {
    await store.create(rec('guarded', new Date(now.getTime() + 60_000)));
    expect(await store.consume('guarded', 'someone-else', 'c-x', new Date())).toBeNull();
    expect(await store.consume('guarded', 'u-x', 'other-client', new Date())).toBeNull();
    expect(await store.consume('guarded', 'u-x', 'c-x', new Date(now.getTime() + 120_000))).toBeNull();
    expect(await conn.collection('auth_session_uses').countDocuments({ _id: 'guarded' } as never)).toBe(0);
    expect(await store.consume('guarded', 'u-x', 'c-x', new Date())).not.toBeNull();
  });

  it('marks a funnel stage once per session: of concurrent marks of the same stage exactly one is first', async () => {
    await store.create(rec('stages', new Date(now.getTime() + 60_000), { dialog: 'hosted', pageToken: `${'s'.repeat(40)}000` }));
    const firsts = await Promise.all(Array.from({ length: 8 }, () => store.markStage('stages', 'bank_chosen')));
    expect(firsts.filter(Boolean)).toHaveLength(1);
    expect(await store.markStage('stages', 'bank_chosen')).toBe(false);
    expect(await store.markStage('stages', 'permission_accepted')).toBe(true);
    expect((await store.peek('stages'))?.funnelStages).toEqual(['bank_chosen', 'permission_accepted']);
    expect(await store.markStage('no-such-session', 'bank_chosen')).toBe(false);
  });

  it('binds a hosted session to one browser: of concurrent first opens exactly one wins, and never after use or expiry', async () => {
    for (let round = 0; round < 5; round += 1) {
      const id = `bind-${round}`;
      await store.create(rec(id, new Date(now.getTime() + 60_000), { dialog: 'hosted', pageToken: `${'q'.repeat(40)}${round}00` }));
      const wins = await Promise.all(Array.from({ length: 8 }, (_, i) => store.bindBrowser(id, `hash-${i}`, new Date())));
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect((await store.peek(id))?.browserBinding).toBe(`hash-${wins.indexOf(true)}`);
      expect(await store.bindBrowser(id, 'later', new Date())).toBe(false);
    }
    await store.create(rec('bind-used', new Date(now.getTime() + 60_000), { consumedAt: now }));
    await store.create(rec('bind-expired', new Date(now.getTime() - 1_000)));
    expect(await store.bindBrowser('bind-used', 'h', new Date())).toBe(false);
    expect(await store.bindBrowser('bind-expired', 'h', new Date())).toBe(false);
    expect((await store.peek('bind-used'))?.browserBinding).toBeNull();
    // the bind's filter is served by the _id index (MongoDB 7 calls an _id lookup IDHACK, without an index name)
    const plan = await conn.collection('auth_sessions').find({ _id: 'bind-0', browserBinding: null, consumedAt: null, expiresAt: { $gt: new Date() } } as never).explain();
    expect(explainUsesIndex(plan, '_id_') || JSON.stringify(plan).includes('"stage":"IDHACK"')).toBe(true);
  });

  it('finds hosted and bounce sessions by token and purges expired records', async () => {
    const pageToken = randomBytes(32).toString('base64url');
    const bounceToken = randomBytes(32).toString('base64url');
    recordSecret('page-token', pageToken);
    recordSecret('bounce-token', bounceToken);
    await store.create(rec('hosted', new Date(now.getTime() + 60_000), { pageToken }));
    expect((await store.findByPageToken(pageToken, new Date()))?._id).toBe('hosted');
    expect(await store.findByPageToken(pageToken, new Date(now.getTime() + 61_000))).toBeNull();
    await store.finish('hosted', { outcome: 'connected', outcomeCode: null, connectionId: 'c1', bounceToken, bounceExpiresAt: new Date(now.getTime() + 60_000) });
    expect((await store.findByBounceToken(bounceToken, new Date()))?.connectionId).toBe('c1');
    await store.create(rec('old', new Date(now.getTime() - 3_600_000)));
    expect(await store.purge(new Date(now.getTime() - 60_000))).toBe(1);
    expect(await store.peek('old')).toBeNull();
    expect(await store.peek('hosted')).not.toBeNull();
  });
});
