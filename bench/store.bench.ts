/**
 * Benchmark: the platform's query shapes on the local MongoDB-wire server (FerretDB 2 over PostgreSQL with
 * DocumentDB), at growing sizes of one transactions collection (~625-byte documents, a unique index on
 * {account_id, transaction_id} and a keyset index on {user_id, timestamp desc, _id desc}, as the store issue
 * measured FerretDB 1.24 with). Each figure stands next to two baselines of the same run: the server's bare
 * round trip (`ping`, the floor of any command) and the same figure at the smallest size (growth).
 *
 * Every user has the same history (PER_USER transactions: a store grows by users, not by one user's past), so
 * growth shows what the collection's size costs each query: an index keeps it flat, a scan grows with it. One
 * heavy user (HEAVY transactions, like the simulator's `heavy` user) is measured apart: its first page, and its
 * first page within a 90-day window, because the local server reads the user's rows through the index but sorts
 * them itself (its plan has a Sort node above the index scan; MongoDB walks the index in order instead).
 *
 * Run: npm run bench -- store        (sizes: BENCH_STORE_SIZES, default 10000,100000,1000000)
 * Writes bench/results/store.json.
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo } from '@ais/platform-mongo';
import { ensureStack, stopStack } from '@ais/testing';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { resultsDir } from './proc';

const SIZES = (process.env['BENCH_STORE_SIZES'] ?? '10000,100000,1000000').split(',').map(Number);
const SAMPLES = Number(process.env['BENCH_STORE_SAMPLES'] ?? 200);
const PER_USER = Number(process.env['BENCH_STORE_PER_USER'] ?? 200);
const HEAVY = Number(process.env['BENCH_STORE_HEAVY'] ?? 27_000);
const BATCH = 500;
const DAY = 86_400_000;
const HEAVY_USER = 'user-heavy';

interface Txn {
  _id: string;
  user_id: string;
  account_id: string;
  transaction_id: string;
  timestamp: Date;
  amount: number;
  currency: string;
  description: string;
  merchant: { name: string; key: string };
  category: { primary: string; detailed: string; source: string; confidence: number };
  provider_transaction_id: string;
  normalised_provider_transaction_id: string;
  meta: { provider_category: string; transaction_type: string; counter_party: string };
  running_balance: { amount: number; currency: string };
  seq: number;
  fetched_at: Date;
}

/** Transaction i of the store (user = i / PER_USER), or of the heavy user when `heavy`. */
function doc(i: number, heavy = false): Txn {
  const user = heavy ? HEAVY_USER : userOf(i);
  const k = heavy ? i : i % PER_USER;
  const span = heavy ? HEAVY : PER_USER;
  return {
    _id: `${heavy ? 'heavy' : 'txn'}-${String(i).padStart(8, '0')}`,
    user_id: user,
    account_id: `${user}-acc-${i % 3}`,
    transaction_id: `tl-${heavy ? 'h' : ''}${i.toString(36)}-${(i * 7919).toString(36)}`,
    // a user's history spreads evenly over the six years before 2026-11-30
    timestamp: new Date(Date.UTC(2026, 10, 30) - Math.floor(((span - k) * 6 * 365 * DAY) / span)),
    amount: -((i * 37) % 50_000) / 100,
    currency: 'GBP',
    description: `CARD PAYMENT TO TESCO STORES ${i % 9000} LONDON GB ON ${1 + (i % 28)} NOV`,
    merchant: { name: 'Tesco', key: 'tesco' },
    category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_GROCERIES', source: 'merchant_dictionary', confidence: 0.93 },
    provider_transaction_id: `ptx-${i}-${(i * 104729).toString(16)}`,
    normalised_provider_transaction_id: `nptx-${i}-${(i * 15485863).toString(16)}`,
    meta: { provider_category: 'PURCHASE', transaction_type: 'Debit', counter_party: 'TESCO STORES' },
    running_balance: { amount: 1234.56, currency: 'GBP' },
    seq: i,
    fetched_at: new Date(Date.UTC(2026, 10, 1)),
  };
}

const userOf = (i: number) => `user-${String(Math.floor(i / PER_USER)).padStart(6, '0')}`;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const round = (x: number) => Math.round(x * 1000) / 1000;

async function timed(n: number, fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const t = process.hrtime.bigint();
    await fn(i);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { p50: round(pct(ms, 50)), p99: round(pct(ms, 99)) };
}

/** ANALYZE after a bulk load, as a DBA would (see infra/README.md); only on the local store, through its psql. */
function analyze(env: Record<string, string>): boolean {
  const psql = env['AIS_STORE_PSQL'];
  const port = env['AIS_STORE_PG_PORT'];
  if (!psql || !port || !existsSync(psql)) return false;
  execFileSync(psql, ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-d', 'postgres', '-qAt', '-c', 'ANALYZE;'], { stdio: 'ignore' });
  return true;
}

/**
 * Memory of the store's processes (FerretDB, PostgreSQL and its backends), as proportional set size: the shared
 * buffers every backend maps are counted once, not once per backend as a sum of RSS would.
 */
function storeMemoryMb(stackDir: string | undefined): number | undefined {
  if (!stackDir) return undefined;
  const pidFile = (n: string) => join(stackDir, 'pids', `${n}.pid`);
  if (!existsSync(pidFile('mongo-pg'))) return undefined;
  const pg = readFileSync(pidFile('mongo-pg'), 'utf8').trim();
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', pg], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter(Boolean);
  const pids = [pg, ...children, ...(existsSync(pidFile('mongo')) ? [readFileSync(pidFile('mongo'), 'utf8').trim()] : [])];
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // a backend that ended meanwhile
    }
  }
  return Math.round(kb / 1024);
}

async function main(): Promise<void> {
  const stack = await ensureStack((m) => console.log(m));
  const logger = createLogger({ service: 'bench-store', level: 'warn' });
  const db = `bench_store_${randomBytes(3).toString('hex')}`;
  const conn = await connectMongo({ uri: stack.env.MONGODB_URI, db, logger, connectTimeoutMs: 10_000 });
  const raw = conn.getClient().db(db);
  const col = raw.collection<Txn>('transactions');
  await col.createIndex({ account_id: 1, transaction_id: 1 }, { unique: true, name: 'account_transaction_unique' });
  await col.createIndex({ user_id: 1, timestamp: -1, _id: -1 }, { name: 'user_timestamp_keyset' });
  const rows: Array<Record<string, number | boolean | string>> = [];
  let loaded = 0;
  try {
    for (let h = 0; h < HEAVY; h += BATCH) {
      await col.insertMany(Array.from({ length: Math.min(BATCH, HEAVY - h) }, (_, k) => doc(h + k, true)), { ordered: false });
    }
    for (const size of SIZES) {
      const before = loaded;
      const t0 = process.hrtime.bigint();
      while (loaded < size) {
        const n = Math.min(BATCH, size - loaded);
        await col.insertMany(Array.from({ length: n }, (_, k) => doc(loaded + k)), { ordered: false });
        loaded += n;
      }
      const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const analyzed = analyze(stack.env);
      const pick = (i: number) => (i * 7_919 + 13) % size;
      const ping = await timed(SAMPLES, () => raw.command({ ping: 1 }));
      const upsertKey = await timed(SAMPLES, (i) => {
        const d = doc(pick(i));
        return col.updateOne({ account_id: d.account_id, transaction_id: d.transaction_id }, { $set: { amount: d.amount - 0.01, seq: size + i } }, { upsert: true });
      });
      const upsertId = await timed(SAMPLES, (i) => col.updateOne({ _id: doc(pick(i + 1))._id }, { $set: { seq: size + i } }, { upsert: true }));
      const keyset = await timed(SAMPLES, (i) => col.find({ user_id: userOf(pick(i)) }).sort({ timestamp: -1, _id: -1 }).limit(100).toArray());
      const heavy = await timed(Math.min(SAMPLES, 30), () => col.find({ user_id: HEAVY_USER }).sort({ timestamp: -1, _id: -1 }).limit(100).toArray());
      const since = new Date(Date.UTC(2026, 10, 30) - 90 * DAY);
      const heavyWindow = await timed(Math.min(SAMPLES, 30), () =>
        col.find({ user_id: HEAVY_USER, timestamp: { $gte: since } }).sort({ timestamp: -1, _id: -1 }).limit(100).toArray(),
      );
      const replay = await timed(5, (r) =>
        col.bulkWrite(
          Array.from({ length: 500 }, (_, k) => {
            const { _id, ...rest } = doc((r * 500 + k * 17) % size);
            void _id;
            return { updateOne: { filter: { account_id: rest.account_id, transaction_id: rest.transaction_id }, update: { $set: rest }, upsert: true } };
          }),
          { ordered: false },
        ),
      );
      const race = conn.collection<{ _id: string; lock: string | null }>('locks');
      let singleWinner = 0;
      for (let r = 0; r < 20; r += 1) {
        const id = `s${size}-r${r}`;
        await race.insertOne({ _id: id, lock: null });
        const res = await Promise.all(Array.from({ length: 10 }, (_, c) => race.updateOne({ _id: id, lock: null }, { $set: { lock: `c${c}` } })));
        if (res.filter((x) => x.modifiedCount === 1).length === 1) singleWinner += 1;
      }
      const row = {
        documents: size + HEAVY,
        insert_docs_per_s: Math.round((size - before) / loadSeconds),
        analyzed,
        ping_p50_ms: ping.p50,
        upsert_by_key_p50_ms: upsertKey.p50,
        upsert_by_key_p99_ms: upsertKey.p99,
        upsert_by_id_p50_ms: upsertId.p50,
        keyset_page_p50_ms: keyset.p50,
        keyset_page_p99_ms: keyset.p99,
        heavy_user_page_p50_ms: heavy.p50,
        heavy_user_90d_window_page_p50_ms: heavyWindow.p50,
        replay_500_bulkwrite_p50_ms: replay.p50,
        conditional_update_races_with_one_winner: `${singleWinner}/20`,
        store_pss_mb: storeMemoryMb(stack.env['AIS_STACK_DIR']) ?? 'n/a',
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  } finally {
    await raw.dropDatabase().catch(() => undefined);
    await conn.close();
    await stopStack(stack);
  }

  const first = rows[0]!;
  const growth = (k: string, r: Record<string, unknown>) => round((r[k] as number) / (first[k] as number));
  const table = [
    '| documents | insert docs/s | ping p50 ms (floor) | upsert by key p50 / p99 ms | upsert by _id p50 ms | keyset page p50 / p99 ms | heavy user page / 90-day window p50 ms | 500-upsert replay p50 ms | racing CAS, one winner | store memory (PSS) MB | growth vs smallest (key / page / replay) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r['documents']} | ${r['insert_docs_per_s']} | ${r['ping_p50_ms']} | ${r['upsert_by_key_p50_ms']} / ${r['upsert_by_key_p99_ms']} | ${r['upsert_by_id_p50_ms']} | ${r['keyset_page_p50_ms']} / ${r['keyset_page_p99_ms']} | ${r['heavy_user_page_p50_ms']} / ${r['heavy_user_90d_window_page_p50_ms']} | ${r['replay_500_bulkwrite_p50_ms']} | ${r['conditional_update_races_with_one_winner']} | ${r['store_pss_mb']} | ${growth('upsert_by_key_p50_ms', r)}× / ${growth('keyset_page_p50_ms', r)}× / ${growth('replay_500_bulkwrite_p50_ms', r)}× |`,
    ),
  ].join('\n');
  console.log(`\n${table}\n`);
  const out = join(resultsDir(), 'store.json');
  writeFileSync(
    out,
    `${JSON.stringify({ benchmark: 'store', date: new Date().toISOString(), machine: `${process.platform} ${process.arch}, ${cpus().length} cores, ${cpus()[0]?.model ?? ''}`, server: 'FerretDB 2.7.0 over PostgreSQL 15 + DocumentDB', samples: SAMPLES, per_user: PER_USER, heavy_user_transactions: HEAVY, rows, table }, null, 2)}\n`,
  );
  console.log(`written ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
