/**
 * Rate limits shared by gateway instances, on the real stack: TWO auth-gateway processes on one MongoDB database.
 * A per-key limit, a per-address limit in front of authentication (random keys stop costing `api_clients`
 * lookups), and the per-address limit of the hosted pages, callback and bounce page hold across both instances.
 * The buckets (`rate_buckets`) are read by `_id` only and expire through a TTL index.
 *
 * Fixed one-minute windows: each test starts at least 20 s before the end of the current minute.
 * Addresses come from `X-Forwarded-For`, which the default TRUST_PROXY (loopback) honours for local callers.
 */
import { explainUsesIndex } from '@ais/platform-mongo';
import { Vault } from '@ais/platform-vault';
import { integrationEnv, provisionTopics, startService, type ServiceProcess } from '@ais/testing';
import mongoose from 'mongoose';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { MongoRateStore, RATE_BUCKETS_TTL_INDEX, RateLimiter } from '../src/http/rate-limit';

jest.setTimeout(180_000);

const KEY_LIMIT = 4;
const IP_API_LIMIT = 8;
const IP_FAILURES = 4;
const IP_PAGES = 6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the next one-minute window when fewer than 20 s are left in this one. */
async function freshWindow(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 20_000) await sleep(left + 50);
}

describe('gateway rate limits across two instances on one database', () => {
  const ns = randomBytes(4).toString('hex');
  const infra = integrationEnv();
  const dbName = `gw_rl_${ns}`;
  const vaultPath = `ais/auth-gateway-rl-${ns}`;
  const gateways: ServiceProcess[] = [];
  let bases: [string, string];
  let admin: string;
  let db: mongoose.Connection;
  let limiter: RateLimiter;

  beforeAll(async () => {
    const prefix = `rl${ns}`;
    await provisionTopics({ brokers: infra['KAFKA_BROKERS']!, prefix });
    const env = {
      ...infra,
      LOG_LEVEL: 'info',
      KAFKA_TOPIC_PREFIX: prefix,
      MONGODB_DB: dbName,
      GATEWAY_KEYS_VAULT_PATH: vaultPath,
      TOKEN_VAULT_ADDR: '127.0.0.1:1',
      DATA_FETCHER_ADDR: '127.0.0.1:1',
      OTEL_TRACES_EXPORTER: 'none',
      RATE_LIMIT_IP_API_PER_MINUTE: String(IP_API_LIMIT),
      RATE_LIMIT_IP_AUTH_FAILURES_PER_MINUTE: String(IP_FAILURES),
      RATE_LIMIT_IP_PAGES_PER_MINUTE: String(IP_PAGES),
    };
    // one after the other: the first creates the shared secrets in Vault, the second reads them
    for (let i = 0; i < 2; i += 1) gateways.push(await startService('auth-gateway', env));
    bases = [`http://127.0.0.1:${String(gateways[0]!.ready['httpPort'])}`, `http://127.0.0.1:${String(gateways[1]!.ready['httpPort'])}`];
    admin = `http://127.0.0.1:${String(gateways[0]!.ready['adminPort'])}`;
    db = mongoose.createConnection(infra['MONGODB_URI']!, { dbName });
    await db.asPromise();
    // the bucket ids are HMACs under the gateways' pepper: the test reads it to find their buckets
    const keys = await new Vault({ addr: infra['VAULT_ADDR']!, token: infra['VAULT_TOKEN']! }).kvRead<{ api_key_pepper: string }>(vaultPath);
    limiter = new RateLimiter({ secret: Buffer.from(keys.api_key_pepper, 'base64') });
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await db?.dropDatabase().catch(() => undefined);
    await db?.close().catch(() => undefined);
  });

  const newClient = async (rate: number): Promise<{ clientId: string; key: string }> => {
    const res = await fetch(`${admin}/admin/api-clients`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Budgetly', rate_limit_per_minute: rate }) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { client_id: string; api_key: string };
    return { clientId: body.client_id, key: body.api_key };
  };

  /** POST a connect session (stores a session; needs no service behind the gateway) on instance `i`. */
  const connectSession = (i: number, ip: string, key: string) =>
    fetch(`${bases[i]}/v1/users/user-1/connect-sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify({ dialog: 'truelayer' }),
    });

  /** The bucket of `key` in `scope` for the window that holds the instant `at` (default now). */
  const bucket = async (scope: string, key: string, at = Date.now()) => {
    const start = at - (at % 60_000);
    const id = limiter.bucketId(scope, key, start);
    return { id, start, doc: await db.collection<{ _id: string; n?: number; f?: number; expiresAt: Date }>('rate_buckets').findOne({ _id: id }) };
  };

  it(`per key: ${KEY_LIMIT} requests a minute over both instances, the next one is a 429 on either`, async () => {
    const { clientId, key } = await newClient(KEY_LIMIT);
    // the window guard right before the requests (the client's creation, the first write into a fresh database, took
    // long enough once in CI that the count was then looked up in the next window)
    await freshWindow();
    let counted = 0;
    for (let i = 0; i < KEY_LIMIT; i += 1) {
      const res = await connectSession(i % 2, '198.51.100.1', key);
      expect(res.status).toBe(201);
      expect(res.headers.get('ratelimit-remaining')).toBe(String(KEY_LIMIT - 1 - i));
      // an instant inside the window the requests are counted in: after the first answer, before the later requests
      if (i === 0) counted = Date.now();
    }
    for (const i of [0, 1]) {
      const res = await connectSession(i, '198.51.100.1', key);
      expect(res.status).toBe(429);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.headers.get('ratelimit-limit')).toBe(String(KEY_LIMIT));
      expect(res.headers.get('ratelimit-remaining')).toBe('0');
      expect(((await res.json()) as { code: string }).code).toBe('rate_limited');
    }
    // one document counted all of them (the refused ones too)
    const { doc, start } = await bucket('api-key', clientId, counted);
    expect(doc).toMatchObject({ n: KEY_LIMIT + 2 });
    expect(doc!.expiresAt.getTime()).toBe(start + 60_000);
  });

  it(`per address in front of authentication: ${IP_API_LIMIT} requests a minute over both instances, then 429 even with a valid key`, async () => {
    const { key } = await newClient(1_000);
    await freshWindow();
    for (let i = 0; i < IP_API_LIMIT; i += 1) expect((await connectSession(i % 2, '198.51.100.4', key)).status).toBe(201);
    for (const i of [0, 1]) {
      const res = await connectSession(i, '198.51.100.4', key);
      expect(res.status).toBe(429);
      expect(((await res.json()) as { detail: string }).detail).toContain('from one address');
    }
    expect((await connectSession(0, '198.51.100.5', key)).status).toBe(201);
  });

  it(`random unknown keys: ${IP_FAILURES} failures per address over both instances, then 429 without any api_clients lookup`, async () => {
    const psql = process.env['AIS_STORE_PSQL'];
    const port = process.env['AIS_STORE_PG_PORT'];
    if (!psql || !port) throw new Error('the local store (AIS_STORE_PSQL, AIS_STORE_PG_PORT) is needed to count api_clients lookups');
    // The local store keeps each collection in a PostgreSQL table: its scan counters count the gateways' lookups.
    const sql = (q: string) => execFileSync(psql, ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-d', 'postgres', '-qAt', '-c', q], { encoding: 'utf8' }).trim();
    const collectionId = sql(`select collection_id from documentdb_api_catalog.collections where database_name = '${dbName}' and collection_name = 'api_clients'`);
    expect(collectionId).toMatch(/^\d+$/);
    const lookups = () => Number(sql(`select coalesce(idx_scan, 0) + coalesce(seq_scan, 0) from pg_stat_user_tables where relname = 'documents_${collectionId}'`));
    // PostgreSQL publishes a backend's counters when it has been idle for 10 s
    await sleep(11_000);
    const before = lookups();
    await freshWindow();
    const randomKey = (i: number) => `ais_c${(0xabc000 + i).toString(16).padStart(16, '0')}_${'R'.repeat(43)}`;
    const call = (i: number) => fetch(`${bases[i % 2]}/v1/users/u1/connections`, { headers: { authorization: `Bearer ${randomKey(i)}`, 'x-forwarded-for': '198.51.100.2' } });
    for (let i = 0; i < IP_FAILURES; i += 1) expect((await call(i)).status).toBe(401);
    for (let i = IP_FAILURES; i < IP_FAILURES + 20; i += 1) {
      const res = await call(i);
      expect(res.status).toBe(429);
      expect(((await res.json()) as { code: string }).code).toBe('rate_limited');
    }
    const { doc } = await bucket('api-ip', '198.51.100.2');
    expect(doc).toMatchObject({ n: IP_FAILURES + 20, f: IP_FAILURES });
    // another address still gets its key checked
    expect((await fetch(`${bases[1]}/v1/users/u1/connections`, { headers: { authorization: `Bearer ${randomKey(999)}`, 'x-forwarded-for': '198.51.100.3' } })).status).toBe(401);
    await sleep(11_000);
    expect(lookups() - before).toBe(IP_FAILURES + 1);
  });

  it(`hosted pages, callback and bounce page: ${IP_PAGES} requests per address over both instances, then a 429 page`, async () => {
    await freshWindow();
    const token = 'T'.repeat(43);
    const paths = [`/connect/${token}`, `/bounce/${token}`, '/v1/callback?code=x', `/connect/${token}/consent`];
    const get = (i: number, ip = '198.51.100.6') => fetch(`${bases[i % 2]}${paths[i % paths.length]}`, { headers: { 'x-forwarded-for': ip }, redirect: 'manual' });
    for (let i = 0; i < IP_PAGES; i += 1) expect((await get(i)).status).toBe(400);
    for (let i = IP_PAGES; i < IP_PAGES + 4; i += 1) {
      const res = await get(i);
      expect(res.status).toBe(429);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await res.text()).toContain('Too many requests');
    }
    const post = await fetch(`${bases[1]}/v1/callback`, { method: 'POST', headers: { 'x-forwarded-for': '198.51.100.6', 'content-type': 'application/x-www-form-urlencoded' }, body: 'code=x', redirect: 'manual' });
    expect(post.status).toBe(429);
    expect((await get(0, '198.51.100.7')).status).toBe(400);
  });

  it('the first requests of a window arriving at once are each counted once, with a count of their own', async () => {
    // on the local store (FerretDB 2.7) upserts that create a document at the same time lost increments (measured
    // 5 December: twelve at once left counts of 1 to 12); an increment of an existing document never did
    const store = new MongoRateStore(db, 5_000);
    const expiresAt = new Date(Date.now() + 60_000);
    for (let trial = 0; trial < 20; trial += 1) {
      const id = `test:${ns}:${trial}`;
      const seen = await Promise.all(Array.from({ length: 12 }, () => store.add(id, { n: 1 }, expiresAt)));
      expect(seen.map((c) => c['n']).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(await db.collection('rate_buckets').findOne({ _id: id } as never)).toMatchObject({ n: 12, expiresAt });
    }
  });

  it('buckets: read by _id (explain), and deleted by a TTL index at the end of their window', async () => {
    const buckets = db.collection('rate_buckets');
    const indexes = (await buckets.listIndexes().toArray()) as Array<{ name: string; key: Record<string, number>; expireAfterSeconds?: number }>;
    expect(indexes.find((x) => x.name === RATE_BUCKETS_TTL_INDEX)).toMatchObject({ key: { expiresAt: 1 }, expireAfterSeconds: 0 });
    // this window's buckets, made here: the earlier tests' may already be gone (the TTL monitor runs every minute)
    const { key } = await newClient(100);
    await freshWindow();
    const windowStart = Date.now() - (Date.now() % 60_000);
    expect((await connectSession(0, '198.51.100.9', key)).status).toBe(201);
    expect((await fetch(`${bases[1]}/connect/${'T'.repeat(43)}`, { headers: { 'x-forwarded-for': '198.51.100.9' }, redirect: 'manual' })).status).toBe(400);
    const docs = (await buckets.find({}).toArray()).filter((d) => String(d._id).endsWith(`:${windowStart}`));
    expect(new Set(docs.map((d) => String(d._id).split(':')[0]))).toEqual(new Set(['api-key', 'api-ip', 'pages-ip']));
    for (const d of docs) {
      // _id = <scope>:<HMAC of the key>:<window start>; the window ends (and the bucket expires) a minute later
      const m = /^(api-key|api-ip|pages-ip):[A-Za-z0-9_-]{22}:(\d+)$/.exec(String(d._id));
      expect(m).not.toBeNull();
      expect((d['expiresAt'] as Date).getTime()).toBe(Number(m![2]) + 60_000);
      expect(JSON.stringify(d)).not.toContain('198.51.100');
    }
    // The hot query is findOneAndUpdate({_id}); MongoDB explains findAndModify, the local server only the find
    // with the same filter (its planner takes the same path for the filter).
    const id = String(docs[0]!._id);
    let plan: unknown;
    try {
      plan = await db.db!.command({ explain: { findAndModify: 'rate_buckets', query: { _id: id }, update: { $inc: { n: 1 } }, upsert: true, new: true }, verbosity: 'queryPlanner' });
    } catch {
      plan = await buckets.find({ _id: id } as never).explain();
    }
    // (MongoDB 7 names an _id lookup's stage IDHACK, without an index name)
    expect(explainUsesIndex(plan, '_id_') || JSON.stringify(plan).includes('"stage":"IDHACK"')).toBe(true);
  });
});
