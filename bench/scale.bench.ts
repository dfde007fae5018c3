/**
 * The scale model (issue 13): what 10k, 100k and 1M connected users need in Kafka partitions and bytes, MongoDB
 * storage and service instances, computed from measured per-transaction, per-call and per-user costs and a few
 * written-down assumptions. It measures nothing itself and starts no server: it reads
 *
 * - bench/results/pipeline.json: CPU µs per transaction of enrichment, reconciliation, Kafka and the store at the
 *   largest size run (the services' and servers' own CPU from /proc), and, with bench/results/pipeline-small-users.json
 *   (the same 10k transactions as small users, run beside it), what each raw event (message) of a backfill costs
 *   beyond its transactions: cpu = per-tx × transactions + per-message × messages, solved from the two 10k runs;
 * - scheduled refreshes of the stored users (pipeline.json's refresh rounds at 100k transactions, 40 users of
 *   2,500: BENCH_PIPELINE_REFRESH_ROUNDS=2 BENCH_PIPELINE_REFRESH_SIZES=100000): what one refresh of such a user
 *   costs, measured (16 raw events, one new transaction, its balances moved, its last 7 days re-read). Before
 *   5 December a refresh was costed as 16 backfill messages of new rows plus its rows as new transactions; the rows
 *   a refresh carries beyond the measured one's (other assumptions) are still costed as new transactions;
 * - bench/results/memory.json: each service's peak RSS under load; and what measured runs left behind: the pipeline
 *   load's store collections (collStats: data + index bytes) and Kafka log segments (bytes per message and per
 *   transaction on ais.raw.v1, ais.enriched.v1, ais.ledger.v1), and the heavy user's connection through the whole
 *   data plane (data-fetcher's calls and journal, token-vault's and the gateway's documents, the gateway's CPU per
 *   read request above its idle rate);
 * - bench/results/fetch.json and get-access-token.json: upper bounds of data-fetcher's CPU per fetched transaction
 *   (2 cores / the backfill's transactions per second, simulator included) and token-vault's per GetAccessToken
 *   (2 cores / its calls per second, client included). data-fetcher's fixed cost per call is an assumption.
 *
 * Every assumption is a SCALE_<NAME> variable (defaults below, printed with the table and written to the JSON).
 *
 * Run: npm run bench -- scale      (after `npm run bench -- memory`, `npm run bench -- pipeline` and
 *      `BENCH_PIPELINE_RESULT=pipeline-small-users BENCH_PIPELINE_TX_PER_USER=100 BENCH_PIPELINE_SIZES=10000 npm run bench -- pipeline`;
 *      the full pipeline run with BENCH_PIPELINE_REFRESH_ROUNDS=2 BENCH_PIPELINE_REFRESH_SIZES=100000)
 * Writes bench/results/scale.json.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@ais/testing';

const num = (name: string, d: number): number => {
  const v = process.env[`SCALE_${name}`];
  if (v === undefined) return d;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0) throw new Error(`SCALE_${name} must be a non-negative number, not ${JSON.stringify(v)}`);
  return x;
};

/** The assumptions, each with what it stands for. */
const A = {
  USERS: (process.env['SCALE_USERS'] ?? '10000,100000,1000000').split(',').map(Number),
  TX_PER_USER_DAY: num('TX_PER_USER_DAY', 3.4), // the bench's users: 2,500 booked transactions in 24 months
  HISTORY_MONTHS: num('HISTORY_MONTHS', 24), // history stored per user (what the backfill brings, then kept)
  BACKFILL_WINDOW_MONTHS: num('BACKFILL_WINDOW_MONTHS', 12), // data-fetcher BACKFILL_WINDOW_MONTHS: months per backfill call
  ACCOUNTS: num('ACCOUNTS', 2), // per connection (a current account and a savings account)
  CARDS: num('CARDS', 1), // per connection (a credit card)
  CONNECTIONS_PER_USER: num('CONNECTIONS_PER_USER', 1),
  REFRESHES_PER_DAY: num('REFRESHES_PER_DAY', 4), // data-fetcher REFRESHES_PER_WINDOW: TrueLayer's 4 unattended calls per account × endpoint per 24 h
  OVERLAP_DAYS: num('OVERLAP_DAYS', 7), // data-fetcher SYNC_OVERLAP_DAYS: each refresh re-reads this many days
  NEW_USERS_PER_DAY: num('NEW_USERS_PER_DAY', 0.01), // share of users connecting (a full backfill) each day
  READS_PER_USER_DAY: num('READS_PER_USER_DAY', 10), // read API requests per user per day (product traffic)
  FETCH_CPU_MS_PER_CALL: num('FETCH_CPU_MS_PER_CALL', 5), // data-fetcher's fixed cost of a call (budget slot, journal, state writes): not measured
  KAFKA_RETENTION_DAYS: num('KAFKA_RETENTION_DAYS', 7),
  KAFKA_REPLICATION: num('KAFKA_REPLICATION', 3),
  MONGO_REPLICAS: num('MONGO_REPLICAS', 3),
  JOURNAL_DAYS: num('JOURNAL_DAYS', 30), // data-fetcher JOURNAL_RETENTION_MS
  ANALYSIS_WINDOW_DAYS: num('ANALYSIS_WINDOW_DAYS', 760), // reconciliation's analysis window, whose rows its stored history holds (data/analysis.ts)
  PEAK_FACTOR: num('PEAK_FACTOR', 2), // busiest hour over the daily mean
  TARGET_UTILISATION: num('TARGET_UTILISATION', 0.5), // of each instance's CPU limit at the peak
  INSTANCE_CPU: num('INSTANCE_CPU', 1), // cores per instance: the Kubernetes CPU limit (infra/k8s)
  MIN_REPLICAS: num('MIN_REPLICAS', 2), // the manifests' replicas
  MIN_PARTITIONS: num('MIN_PARTITIONS', 12),
};

type Json = Record<string, unknown>;
const read = (name: string): Json => JSON.parse(readFileSync(join(REPO_ROOT, 'bench/results', `${name}.json`), 'utf8')) as Json;

/** The processes whose CPU the pipeline bench counts, as the model groups them. */
const CPU_PARTS = { enrichment: ['enrichment'], reconciliation: ['reconciliation'], kafka: ['kafka'], store: ['ferretdb', 'postgres'] } as const;
type CpuPart = keyof typeof CPU_PARTS;
const partSeconds = (result: Json, part: CpuPart): number => {
  const s = ((result['pipeline'] as Json)['cpu'] as { cpu_seconds: Record<string, number> }).cpu_seconds;
  return CPU_PARTS[part].reduce((a, k) => a + (s[k] ?? 0), 0);
};

/**
 * CPU seconds per raw event beyond its transactions, per part: from two runs of the same size, one of heavy users
 * (few large messages) and one of small users (many small ones), cpu = a × transactions + b × messages. Both must be
 * of one host and hour (their difference is the estimate), so the small-users run is required within 3 h of it.
 */
function perMessageSeconds(heavy: Json, heavyDate: string, small: Json | undefined): { seconds: Record<CpuPart, number>; from: string } {
  const how = SMALL_USERS_HOW;
  if (!small) throw new Error(`bench/results/pipeline-small-users.json is missing: ${how}`);
  const sr = (small['results'] as Json[])[0]!;
  const hr = (heavy['results'] as Json[]).find((x) => x['transactions'] === sr['transactions']);
  if (!hr) throw new Error(`pipeline.json has no run of ${String(sr['transactions'])} transactions to set against pipeline-small-users.json`);
  const apart = Math.abs(Date.parse(String(small['date'])) - Date.parse(heavyDate)) / 3_600_000;
  if (!(apart <= 3)) throw new Error(`pipeline-small-users.json (${String(small['date'])}) is not of the hour of pipeline.json (${heavyDate}): ${how}`);
  const dm = Number(sr['raw_events']) - Number(hr['raw_events']);
  const seconds = Object.fromEntries((Object.keys(CPU_PARTS) as CpuPart[]).map((p) => [p, Math.max(0, (partSeconds(sr, p) - partSeconds(hr, p)) / dm)])) as Record<CpuPart, number>;
  return { seconds, from: `pipeline.json and pipeline-small-users.json at ${String(sr['transactions'])} transactions: ${String(hr['raw_events'])} against ${String(sr['raw_events'])} raw events (${String(hr['users'])} against ${String(sr['users'])} users)` };
}
const SMALL_USERS_HOW = 'BENCH_PIPELINE_RESULT=pipeline-small-users BENCH_PIPELINE_TX_PER_USER=100 BENCH_PIPELINE_SIZES=10000 npm run bench -- pipeline, beside the full pipeline run';

type RoundJson = { round: number; users: number; raw_events: number; transactions_reread: number; new_transactions?: number; cpu_ms_per_refresh: Record<string, number> };

/**
 * CPU ms of one scheduled refresh of a stored user, per part: the last refresh round of pipeline.json's largest size
 * that has two or more (the first stores the mandates; the second is what every later refresh does).
 */
function refreshCost(pipeline: Json): { ms: Record<CpuPart, number>; rowsPerRefresh: number; messagesPerRefresh: number; historyBytesPerRow: number; from: string } {
  const sized = (pipeline['results'] as Json[]).filter((x) => ((x['refresh_rounds'] ?? []) as RoundJson[]).length >= 2);
  const result = sized.reduce<Json | undefined>((a, b) => (!a || Number(b['transactions']) > Number(a['transactions']) ? b : a), undefined);
  if (!result) throw new Error('pipeline.json has no size with 2 refresh rounds: run the pipeline bench with BENCH_PIPELINE_REFRESH_ROUNDS=2 BENCH_PIPELINE_REFRESH_SIZES=100000');
  const last = (result['refresh_rounds'] as RoundJson[]).at(-1)!;
  const ms = Object.fromEntries((Object.keys(CPU_PARTS) as CpuPart[]).map((p) => [p, CPU_PARTS[p].reduce((a, k) => a + (last.cpu_ms_per_refresh[k] ?? 0), 0)])) as Record<CpuPart, number>;
  const rows = last.transactions_reread + (last.new_transactions ?? 0);
  // after the refreshes every user's stored history holds its window (0 in results from before it existed)
  const history = result['stored_history'] as { rows: number; bytes: number } | undefined;
  const historyBytesPerRow = history && history.rows > 0 ? history.bytes / history.rows : 0;
  return { ms, rowsPerRefresh: rows / last.users, messagesPerRefresh: last.raw_events / last.users, historyBytesPerRow, from: `pipeline.json refresh round ${last.round} at ${String(result['transactions'])} transactions, ${last.users} users (${last.raw_events} raw events, ${rows} transactions of which ${last.new_transactions ?? 0} new)` };
}
const r = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const pow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
const GB = 1e9;

interface Coll {
  count: number;
  size: number;
  storageSize: number;
  totalIndexSize: number;
}
/** Bytes a database takes: each collection's storage (or data, when larger) plus its indexes. */
const dbBytes = (colls: Record<string, Coll> | undefined): number => Object.values(colls ?? {}).reduce((s, c) => s + Math.max(c.size, c.storageSize) + c.totalIndexSize, 0);

function main(): void {
  const pipeline = read('pipeline');
  const memory = read('memory');
  const fetchBench = read('fetch');
  const tokenBench = read('get-access-token');
  const cores = Number((memory['machine'] as Json)['cores']);
  const results = pipeline['results'] as Json[];
  const largest = results.reduce((a, b) => (Number(b['transactions']) > Number(a['transactions']) ? b : a));
  const n = Number(largest['transactions']);
  const small = existsSync(join(REPO_ROOT, 'bench/results/pipeline-small-users.json')) ? read('pipeline-small-users') : undefined;
  const perMessage = perMessageSeconds(pipeline, String(pipeline['date']), small);
  const refresh = refreshCost(pipeline);
  const largestMessages = Number(largest['raw_events']);
  // per transaction at the largest size, its messages' share taken out (they are costed per message below)
  const cpuUsPerTx = (part: CpuPart) => (Math.max(0, partSeconds(largest, part) - perMessage.seconds[part] * largestMessages) * 1e6) / n;

  const mp = memory['pipeline'] as Json;
  const fp = mp['footprint'] as { kafka_log_bytes: Record<string, number>; store: Record<string, Record<string, Coll>> };
  const mTx = Number(mp['transactions']);
  const mUsers = Number(mp['users']);
  const ledgerEvents = Number(mp['ledger_events']);
  const plane = (memory['data_plane'] as Json)['footprint'] as { kafka_log_bytes: Record<string, number>; store: Record<string, Record<string, Coll>>; calls?: number };
  const phases = memory['phases'] as { name: string; seconds: number; cpu_seconds: Record<string, number>; detail?: Json }[];
  const reads = phases.find((p) => p.name === 'reads')!;
  const calls = plane.calls ?? 0;
  const idle = phases.find((p) => p.name === 'idle')!;
  const idleRate = (svc: string) => (idle.cpu_seconds[svc] ?? 0) / idle.seconds;
  // small collections: their data bytes times the store's measured overhead on transactions ((storage or data) +
  // indexes over data), not their storage, which is a fixed few pages per collection whatever it holds
  const tx = fp.store['reconciliation']?.['transactions'];
  const overhead = tx && tx.size ? (Math.max(tx.size, tx.storageSize) + tx.totalIndexSize) / tx.size : 1;
  const dataBytes = (colls: Record<string, Coll> | undefined, except: string[] = []) => Object.entries(colls ?? {}).filter(([k]) => !except.includes(k)).reduce((a, [, c]) => a + c.size, 0);
  const readRequests = Object.entries((reads.detail?.['requests'] ?? {}) as Record<string, number>).filter(([k]) => !k.endsWith('(failed)')).reduce((a, [, b]) => a + b, 0);
  const services = memory['services'] as { service: string; worst_peak_mb: number }[];
  const peakMb = (s: string) => services.find((x) => x.service === s)?.worst_peak_mb ?? 0;

  // measured unit costs
  const unit = {
    kafka_raw_bytes_per_tx: (fp.kafka_log_bytes['raw'] ?? 0) / mTx,
    kafka_enriched_bytes_per_tx: (fp.kafka_log_bytes['enriched'] ?? 0) / mTx,
    kafka_ledger_bytes_per_event: (fp.kafka_log_bytes['ledger'] ?? 0) / Math.max(1, ledgerEvents),
    ledger_events_per_tx: ledgerEvents / mTx,
    // analysis' stored history apart (below): after the memory bench's backfill it holds only a first run's rows
    store_reconciliation_bytes_per_tx: dbBytes(Object.fromEntries(Object.entries(fp.store['reconciliation'] ?? {}).filter(([k]) => k !== 'analysis_history'))) / mTx,
    store_history_bytes_per_window_row: refresh.historyBytesPerRow,
    store_transaction_doc_bytes: (fp.store['reconciliation']?.['transactions']?.size ?? 0) / Math.max(1, fp.store['reconciliation']?.['transactions']?.count ?? 1),
    store_enrichment_bytes_per_user: dbBytes(fp.store['enrichment']) / mUsers,
    store_documents_per_user: Object.values(fp.store['reconciliation'] ?? {}).reduce((s, c) => s + c.count, 0) / mUsers,
    store_journal_bytes_per_call: (() => {
      const j = plane.store['data-fetcher']?.['fetch_journal'];
      return j && j.count ? (j.size / j.count) * overhead : 0;
    })(),
    store_fetcher_other_bytes_per_connection: dataBytes(plane.store['data-fetcher'], ['fetch_journal']) * overhead,
    store_token_vault_bytes_per_connection: dataBytes(plane.store['token-vault']) * overhead,
    store_gateway_bytes_per_connection: dataBytes(plane.store['auth-gateway']) * overhead,
    store_overhead_factor: overhead,
    cpu_us_per_tx: {
      enrichment: cpuUsPerTx('enrichment'),
      reconciliation: cpuUsPerTx('reconciliation'),
      kafka: cpuUsPerTx('kafka'),
      store: cpuUsPerTx('store'),
      'data-fetcher': (cores * 1e6) / Number((fetchBench['subject'] as Json)['median']),
    },
    cpu_ms_per_call: {
      'data-fetcher': A.FETCH_CPU_MS_PER_CALL,
      'token-vault': (cores * 1e3) / Math.max(...((tokenBench['runs'] as Json[]).filter((x) => String(x['name']).startsWith('GetAccessToken')).map((x) => Number(x['throughput'])))),
    },
    cpu_ms_per_read: { 'auth-gateway': readRequests ? (Math.max(0, (reads.cpu_seconds['auth-gateway'] ?? 0) - idleRate('auth-gateway') * reads.seconds) * 1e3) / readRequests : 0 },
    cpu_ms_per_message: {
      enrichment: perMessage.seconds.enrichment * 1e3,
      reconciliation: perMessage.seconds.reconciliation * 1e3,
      kafka: perMessage.seconds.kafka * 1e3,
      store: perMessage.seconds.store * 1e3,
    },
    cpu_ms_per_refresh: refresh.ms,
    refresh_measured_rows_per_refresh: refresh.rowsPerRefresh,
    refresh_from: refresh.from,
    calls_measured: calls,
    pipeline_cpu_from: `pipeline.json at ${n} transactions (${largestMessages} raw events, their per-message share taken out)`,
    per_message_from: perMessage.from,
  };

  // per user and day
  const callsPerRefresh = 3 + 5 * A.ACCOUNTS + 3 * A.CARDS; // identity, accounts, cards; per account transactions, balance, pending, standing orders, direct debits; per card transactions, balance, pending
  const callsPerConnDay = A.REFRESHES_PER_DAY * callsPerRefresh;
  const backfillTx = A.TX_PER_USER_DAY * 30.44 * A.HISTORY_MONTHS;
  const backfillCalls = (A.ACCOUNTS + A.CARDS) * (Math.ceil(A.HISTORY_MONTHS / A.BACKFILL_WINDOW_MONTHS) + 1) + callsPerRefresh; // the windows + the other kinds
  const txRereadPerUserDay = A.CONNECTIONS_PER_USER * A.REFRESHES_PER_DAY * (A.OVERLAP_DAYS + 1 / Math.max(1, A.REFRESHES_PER_DAY)) * A.TX_PER_USER_DAY;
  const txPerUserDay = txRereadPerUserDay + A.NEW_USERS_PER_DAY * backfillTx; // through the pipeline
  const newTxPerUserDay = A.TX_PER_USER_DAY + A.NEW_USERS_PER_DAY * backfillTx; // stored, on the change feed
  const callsPerUserDay = A.CONNECTIONS_PER_USER * callsPerConnDay + A.NEW_USERS_PER_DAY * backfillCalls;
  // every call's result is one raw event (data-fetcher splits a result over 1,000 items; a refresh's are far smaller,
  // a backfill window of TX_PER_USER_DAY is about 400 rows an account)
  const messagesPerUserDay = callsPerUserDay;
  // a refresh is costed as measured (its re-read rows and its new one included); the rows it carries beyond the
  // measured refresh's are costed as new transactions (an upper bound). Backfills: per transaction and per message.
  const refreshesPerUserDay = A.CONNECTIONS_PER_USER * A.REFRESHES_PER_DAY;
  const rowsPerRefresh = A.OVERLAP_DAYS * A.TX_PER_USER_DAY + A.TX_PER_USER_DAY / Math.max(1, A.REFRESHES_PER_DAY);
  const rowsPerRefreshBeyondMeasured = Math.max(0, rowsPerRefresh - refresh.rowsPerRefresh);
  const backfillTxPerUserDay = A.NEW_USERS_PER_DAY * backfillTx;
  const backfillMessagesPerUserDay = A.NEW_USERS_PER_DAY * backfillCalls;
  /** Cores a part needs on average for `users`. */
  const partCores = (users: number, part: CpuPart): number => {
    const perDay = refreshesPerUserDay * (unit.cpu_ms_per_refresh[part] / 1e3 + (rowsPerRefreshBeyondMeasured * unit.cpu_us_per_tx[part]) / 1e6) + (backfillTxPerUserDay * unit.cpu_us_per_tx[part]) / 1e6 + (backfillMessagesPerUserDay * unit.cpu_ms_per_message[part]) / 1e3;
    return (users * perDay) / 86_400;
  };

  const instances = (cores: number) => Math.max(A.MIN_REPLICAS, Math.ceil((cores * A.PEAK_FACTOR) / (A.TARGET_UTILISATION * A.INSTANCE_CPU)));
  const rows = A.USERS.map((users) => {
    const txPerS = (users * txPerUserDay) / 86_400;
    const callsPerS = (users * callsPerUserDay) / 86_400;
    const readsPerS = (users * A.READS_PER_USER_DAY) / 86_400;
    const messagesPerS = (users * messagesPerUserDay) / 86_400;
    const cores = {
      'data-fetcher': (callsPerS * unit.cpu_ms_per_call['data-fetcher']) / 1e3 + (txPerS * unit.cpu_us_per_tx['data-fetcher']) / 1e6,
      'token-vault': (callsPerS * unit.cpu_ms_per_call['token-vault']) / 1e3,
      enrichment: partCores(users, 'enrichment'),
      reconciliation: partCores(users, 'reconciliation'),
      'auth-gateway': (readsPerS * unit.cpu_ms_per_read['auth-gateway']) / 1e3,
    };
    const inst = Object.fromEntries(Object.entries(cores).map(([k, c]) => [k, instances(c)])) as Record<keyof typeof cores, number>;
    const partitions = (consumers: number) => Math.max(A.MIN_PARTITIONS, pow2(2 * consumers));
    const kafkaDayBytes = users * (txPerUserDay * (unit.kafka_raw_bytes_per_tx + unit.kafka_enriched_bytes_per_tx) + newTxPerUserDay * unit.ledger_events_per_tx * unit.kafka_ledger_bytes_per_event);
    const storedTxPerUser = backfillTx; // the history kept (HISTORY_MONTHS of TX_PER_USER_DAY)
    const windowTxPerUser = Math.min(storedTxPerUser, A.TX_PER_USER_DAY * A.ANALYSIS_WINDOW_DAYS); // in analysis' stored history
    const mongoUserBytes =
      storedTxPerUser * unit.store_reconciliation_bytes_per_tx +
      windowTxPerUser * unit.store_history_bytes_per_window_row +
      unit.store_enrichment_bytes_per_user +
      A.CONNECTIONS_PER_USER * (unit.store_fetcher_other_bytes_per_connection + unit.store_token_vault_bytes_per_connection + unit.store_gateway_bytes_per_connection + callsPerConnDay * A.JOURNAL_DAYS * unit.store_journal_bytes_per_call);
    const memGb = Object.entries(inst).reduce((s, [svc, k]) => s + (k * peakMb(svc)) / 1024, 0);
    return {
      users,
      truelayer_calls_per_day: Math.round(users * callsPerUserDay),
      truelayer_calls_per_s: r(callsPerS),
      pipeline_tx_per_day: Math.round(users * txPerUserDay),
      pipeline_tx_per_s_mean: r(txPerS),
      pipeline_messages_per_s_mean: r(messagesPerS),
      kafka: {
        partitions: { 'ais.raw.v1': partitions(inst.enrichment), 'ais.enriched.v1': partitions(inst.reconciliation), 'ais.fetch.v1': partitions(inst['data-fetcher']), 'ais.ledger.v1': A.MIN_PARTITIONS },
        bytes_per_day_gb: r(kafkaDayBytes / GB, 2),
        disk_gb: r((kafkaDayBytes * A.KAFKA_RETENTION_DAYS * A.KAFKA_REPLICATION) / GB, 1),
      },
      mongodb: {
        documents_millions: r((users * unit.store_documents_per_user * (storedTxPerUser / (mTx / mUsers))) / 1e6, 1), // reconciliation's documents scale with the history kept
        data_gb_one_copy: r((users * mongoUserBytes) / GB, 1),
        disk_gb_replicated: r((users * mongoUserBytes * A.MONGO_REPLICAS) / GB, 1),
        store_cpu_cores_mean: r(partCores(users, 'store'), 2),
      },
      cores_mean: Object.fromEntries(Object.entries(cores).map(([k, c]) => [k, r(c, 2)])),
      instances: inst,
      service_memory_gb: r(memGb, 1),
    };
  });

  const svcs = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'] as const;
  const table = [
    '| connected users | TrueLayer calls / day | pipeline tx / day (mean tx/s) | Kafka partitions raw / enriched / fetch | Kafka GB / day (disk, ×RF, retention) | MongoDB GB one copy (×replicas) | MongoDB documents (M) | store CPU cores (mean) | instances gateway / vault / fetcher / enrichment / reconciliation | service memory GB |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (x) =>
        `| ${x.users.toLocaleString('en-GB')} | ${x.truelayer_calls_per_day.toLocaleString('en-GB')} | ${x.pipeline_tx_per_day.toLocaleString('en-GB')} (${x.pipeline_tx_per_s_mean}) | ${x.kafka.partitions['ais.raw.v1']} / ${x.kafka.partitions['ais.enriched.v1']} / ${x.kafka.partitions['ais.fetch.v1']} | ${x.kafka.bytes_per_day_gb} (${x.kafka.disk_gb}) | ${x.mongodb.data_gb_one_copy} (${x.mongodb.disk_gb_replicated}) | ${x.mongodb.documents_millions} | ${x.mongodb.store_cpu_cores_mean} | ${svcs.map((s) => x.instances[s]).join(' / ')} | ${x.service_memory_gb} |`,
    ),
  ].join('\n');
  const units = [
    `per transaction: Kafka raw ${Math.round(unit.kafka_raw_bytes_per_tx)} B, enriched ${Math.round(unit.kafka_enriched_bytes_per_tx)} B; ledger ${Math.round(unit.kafka_ledger_bytes_per_event)} B per event (${r(unit.ledger_events_per_tx, 2)} events per tx); store (reconciliation, data + indexes) ${Math.round(unit.store_reconciliation_bytes_per_tx)} B (the transaction document alone ${Math.round(unit.store_transaction_doc_bytes)} B), and ${Math.round(unit.store_history_bytes_per_window_row)} B per row of analysis' window in its stored history (after the refresh rounds)`,
    `CPU µs per transaction: enrichment ${Math.round(unit.cpu_us_per_tx.enrichment)}, reconciliation ${Math.round(unit.cpu_us_per_tx.reconciliation)}, Kafka ${Math.round(unit.cpu_us_per_tx.kafka)}, store ${Math.round(unit.cpu_us_per_tx.store)} (${unit.pipeline_cpu_from})`,
    `CPU ms per backfill raw event beyond its transactions: enrichment ${r(unit.cpu_ms_per_message.enrichment, 2)}, reconciliation ${r(unit.cpu_ms_per_message.reconciliation, 2)}, Kafka ${r(unit.cpu_ms_per_message.kafka, 2)}, store ${r(unit.cpu_ms_per_message.store, 2)} (${unit.per_message_from}); ${r(backfillMessagesPerUserDay, 2)} backfill raw events per user and day`,
    `CPU ms per scheduled refresh (${r(refresh.messagesPerRefresh, 0)} raw events, ${r(refresh.rowsPerRefresh, 1)} rows): enrichment ${r(unit.cpu_ms_per_refresh.enrichment, 1)}, reconciliation ${r(unit.cpu_ms_per_refresh.reconciliation, 1)}, Kafka ${r(unit.cpu_ms_per_refresh.kafka, 1)}, store ${r(unit.cpu_ms_per_refresh.store, 1)} (${unit.refresh_from}); ${r(refreshesPerUserDay, 1)} refreshes per user and day, each ${r(rowsPerRefresh, 1)} rows (${r(rowsPerRefreshBeyondMeasured, 1)} beyond the measured refresh's costed as new transactions)`,
    `data-fetcher: ${Math.round(unit.cpu_us_per_tx['data-fetcher'])} µs per fetched transaction (fetch.json, upper bound) + ${A.FETCH_CPU_MS_PER_CALL} ms per call (assumed); token-vault ${r(unit.cpu_ms_per_call['token-vault'], 2)} ms per GetAccessToken (get-access-token.json, upper bound); gateway ${r(unit.cpu_ms_per_read['auth-gateway'], 2)} ms per read request (memory.json reads phase, above its idle rate)`,
    `per connection (data bytes × ${r(unit.store_overhead_factor, 2)}, the store's overhead on transactions): journal ${Math.round(unit.store_journal_bytes_per_call)} B per call, data-fetcher state ${Math.round(unit.store_fetcher_other_bytes_per_connection / 1024)} KB, token-vault ${Math.round(unit.store_token_vault_bytes_per_connection / 1024)} KB, gateway ${Math.round(unit.store_gateway_bytes_per_connection / 1024)} KB; enrichment ${Math.round(unit.store_enrichment_bytes_per_user / 1024)} KB per user`,
    `per user and day: ${r(callsPerUserDay, 1)} TrueLayer calls (${callsPerRefresh} per refresh × ${A.REFRESHES_PER_DAY}, plus backfills), ${r(txPerUserDay, 1)} transactions through the pipeline (${r(txRereadPerUserDay, 1)} re-read by refreshes, ${r(A.NEW_USERS_PER_DAY * backfillTx, 1)} from backfills), ${r(newTxPerUserDay, 1)} new`,
  ];
  const out = { model: 'scale model from measured unit costs (bench/scale.bench.ts)', inputs: { pipeline: String(pipeline['date']), memory: String(memory['date']), per_message: perMessage.from, refresh: refresh.from }, assumptions: A, derived: { refreshes_per_user_day: refreshesPerUserDay, rows_per_refresh: r(rowsPerRefresh, 2), rows_per_refresh_beyond_measured: r(rowsPerRefreshBeyondMeasured, 2), calls_per_refresh: callsPerRefresh, calls_per_connection_day: callsPerConnDay, messages_per_user_day: r(messagesPerUserDay, 2), backfill_transactions: r(backfillTx, 0), backfill_calls: backfillCalls, tx_per_user_day: r(txPerUserDay, 2), new_tx_per_user_day: r(newTxPerUserDay, 2) }, unit_costs: unit, rows, table, units };
  writeFileSync(join(REPO_ROOT, 'bench/results/scale.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`assumptions: ${JSON.stringify(A)}\n\n${units.join('\n')}\n\n${table}\n\nwritten bench/results/scale.json`);
}

main();
