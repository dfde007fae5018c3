/**
 * Benchmark: consent to history (issue 13). From the `connection.authorized` event (token-vault has stored the
 * tokens of the consent the connect callback exchanged) to the user's full history returned by the read API, next
 * to what a minimal client needs for the same data in the same run: the raw Data API read of the same
 * transactions plus a bulk insert of them into a fresh collection.
 *
 * - Stack: the whole data plane as child processes, each with its own config and defaults
 *   (tests/integration/fetch-harness.ts `startFetchStack({pipeline: true})`: the TrueLayer simulator, token-vault,
 *   data-fetcher, enrichment, reconciliation, auth-gateway). Simulator switches as in bench/fetch.bench.ts: no
 *   response cache, an SCA window longer than the run.
 * - Subject, per run: a fresh user id connects the simulator user BENCH_CONSENT_USER (default `heavy`: 6 years,
 *   about 31,600 booked transactions) through the gateway's connect journey (@ais/testing connectMockUser). t0 is
 *   the `occurred_at` of its `connection.authorized` event (read from the connection topic). The bench then polls
 *   (every 250 ms) data-fetcher's connection state, then the consumer groups' committed offsets: when the backfill
 *   is done, enrichment and then reconciliation have committed the end of their input topics, the user's changes
 *   are committed and the store holds as many booked transactions as the bank's ledger has, it reads
 *   the user's whole history through the read API (`GET /v1/users/{u}/transactions?status=booked`, pages of 500,
 *   with the API key) and compares the ids with the ledger; t1 is the end of the read that returns them all.
 * - Baseline, same run: (a) raw read: the Data API client data-fetcher uses reads the same transactions (every
 *   account's and card's windows of data-fetcher's width (`BACKFILL_WINDOW_MONTHS`, 12) back to its earliest booked day, one call after another) with a token of
 *   its own consent for the same simulator user (after one warm-up read that is not counted: the simulator
 *   generates a user's data on first read); (b) bulk insert: the transaction documents the subject stored,
 *   `insertMany` (ordered: false, 500 per call, one call at a time) into a fresh collection with the same indexes
 *   as reconciliation's `transactions`. Baseline = (a) + (b). Ratio = subject ÷ baseline; target at most 1.5.
 * - Where the time goes: the subject's phases (authorized → backfill done as data-fetcher records it → store
 *   complete → read API done), the CPU seconds of every service, the simulator and the store during the subject
 *   (the bench's own polling left out of its ratio), and of the bench, the simulator and the store during the
 *   baseline (the subject's counted from the end of the connect journey, whose last step is `authorized`, so the
 *   journey's own CPU is not in it): the CPU ratio holds up on a shared machine, where wall-clock time depends on
 *   the other load. The CPU floor: the subject's CPU over the machine's cores, the shortest it could take here with
 *   every core busy the whole time (a wall-clock ratio below that needs less CPU, not better overlap), beside how
 *   busy the machine was and how busy it would have to be, with the same CPU, to meet the target. And
 *   reconciliation's own account, its stage histogram scraped before and after each run: the seconds of the
 *   messages it applied, of their store writes, of analysis and of change-feed publish runs; and how many pages of
 *   the read-back it read ahead and served (`ais_reconciliation_read_ahead_total`, apps/reconciliation/src/grpc/read-ahead.ts).
 *   And the read-back's own CPU by process (from store complete to t1: the gateway, reconciliation, the store, the
 *   bench as the API's client), the part of the subject no pipeline overlaps.
 *
 * - Runs: the first of a fresh stack and freshly started services is the slow one (the store's new collections and
 *   the services' first pass through their hot code: 4-7 s more each time, docs/BENCHMARKS.md), so the default is
 *   three runs and their median; every run is reported.
 *
 * - Services run with their images' memory settings (`NODE_OPTIONS` heap limits, glibc's arena and mmap settings from
 *   apps/<service>/Dockerfile), as they ship; BENCH_CONSENT_IMAGE_ENV=0 leaves V8's defaults.
 * - Tracing is off by default (exporter `none`, as the harness runs tests). BENCH_CONSENT_TRACING=zipkin has every
 *   service export its spans, batched, to the stack's Zipkin, as `npm start` runs them: what tracing costs. The
 *   services run their images' bundles (bench/run.sh builds them); with BENCH_RUNTIME=tsx, on the sources, tsx's
 *   require hook under OpenTelemetry's reads a stack trace for every `require` kafkajs makes on its hot path, a cost
 *   the images do not have (docs/BENCHMARKS.md, consent, "Tracing on").
 *
 * Run: npm run bench -- consent     (BENCH_CONSENT_USER default heavy, BENCH_CONSENT_RUNS default 3, the median of them;
 *      BENCH_RESULTS_DIR for another results directory; BENCH_<SERVICE>_<VAR> sets <VAR> on that service, e.g.
 *      BENCH_RECONCILIATION_NODE_OPTIONS).
 *      Writes consent.json.
 */
import { bindings, TOPICS, topicName } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { connectMockUser, ensureStack, scrapeMetrics, stopStack } from '@ais/testing';
import { createTrueLayerClient, createTrueLayerDataClient, customEnvironment } from '@ais/truelayer-client';
import { Kafka, logLevel } from 'kafkajs';
import type { Document } from 'mongodb';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { addDays, backfillWindows, dayOf, type DayWindow } from '../apps/data-fetcher/src/domain/plan';
import { authorizeMockUser } from '../apps/data-fetcher/test/support/mock-user';
import { readApi, startFetchStack, type FetchStack } from '../tests/integration/fetch-harness';
import { committedToEnd } from './kafka';
import { cpuDelta, cpuSnapshot, machineBusySeconds, mockPassword, peakRssMb, resultsDir, round, runEnv, seconds, servicesRuntime, sleep, stackPids } from './proc';

const LOGIN = process.env['BENCH_CONSENT_USER'] ?? 'heavy';
const RUNS = Number(process.env['BENCH_CONSENT_RUNS'] ?? 3);
/** The simulator's mock logins: heavy/heavy, small/small, john/doe, johnN/doeN. */
const PROVIDER = 'ob-barclays';
const PSU_IP = '203.0.113.7';
const SCOPES = ['info', 'accounts', 'balance', 'cards', 'transactions', 'direct_debits', 'standing_orders', 'offline_access'];
/** data-fetcher's backfill window (its default), set on the subject and used by the raw read. */
const WINDOW_MONTHS = Number(process.env['BENCH_CONSENT_WINDOW_MONTHS'] ?? 12);
const INSERT_BATCH = 500;
const TARGET_RATIO = 1.5;
/**
 * The services run with their images' memory settings (heap limits and allocator: bench/proc.ts `imageMemoryEnv`),
 * as they ship and as the memory bench measures them; BENCH_CONSENT_IMAGE_ENV=0 (or BENCH_IMAGE_ENV=0) runs them with V8's defaults, as
 * before 6 December (a heap sized for the machine: reconciliation reached 460-530 MB RSS).
 */
const serviceEnv = (service: string): Record<string, string> => runEnv(service, 'BENCH_CONSENT_IMAGE_ENV');
const TRACING = process.env['BENCH_CONSENT_TRACING'] ?? 'none';

class BenchFailure extends Error {}

interface Resource {
  id: string;
  isCard: boolean;
  earliest: string;
}

/** The resources of a consent, data-fetcher's windows back to the earliest booked day, and the ledger's booked ids. */
async function ledgerOf(s: FetchStack, credentialsId: string): Promise<{ resources: Resource[]; windows: DayWindow[]; ids: Set<string> }> {
  const spans = await s.sandbox.admin<{ accounts: { account_id: string; earliest: string | null }[]; cards: { card_id: string; earliest: string | null }[] }>(
    'GET',
    `/ledger/accounts?credentials_id=${encodeURIComponent(credentialsId)}`,
  );
  const resources: Resource[] = [
    ...spans.accounts.filter((a) => a.earliest).map((a) => ({ id: a.account_id, isCard: false, earliest: a.earliest! })),
    ...spans.cards.filter((c) => c.earliest).map((c) => ({ id: c.card_id, isCard: true, earliest: c.earliest! })),
  ];
  const oldest = resources.map((r) => r.earliest).sort()[0];
  if (!oldest) throw new BenchFailure(`${LOGIN} has no booked transactions`);
  const today = dayOf(Date.now());
  let months = 1;
  while (addDays(today, -Math.round(months * 30.44)) > oldest) months += 1;
  const windows = backfillWindows(today, WINDOW_MONTHS, addDays(today, -Math.round(months * 30.44)));
  const ids = new Set<string>();
  for (const r of resources) {
    for (const w of windows) {
      const q = new URLSearchParams({ credentials_id: credentialsId, [r.isCard ? 'card_id' : 'account_id']: r.id, from: w.from, to: w.to });
      for (const id of (await s.sandbox.admin<{ ids: string[] }>('GET', `/ledger?${q.toString()}`)).ids) ids.add(id);
    }
  }
  return { resources, windows, ids };
}

interface Run {
  run: number;
  user: string;
  transactions: number;
  subject_s: number;
  phases_s: { authorized_to_backfill_done: number; backfill_done_to_store_complete: number; store_complete_to_api_read_done: number; api_read: number };
  raw_read_s: number;
  raw_read_calls: number;
  bulk_insert_s: number;
  baseline_s: number;
  ratio: number;
  cpu_seconds: Record<string, number>;
  /** Of `cpu_seconds`, the part from store complete to t1: the read-back through the read API (the last one, when the store had to be polled again). */
  read_back_cpu_seconds: Record<string, number>;
  baseline_cpu_seconds: Record<string, number>;
  ratio_cpu: number;
  /**
   * The subject's CPU seconds (without the bench's) over this machine's cores: the shortest the subject could take
   * here for the work it did, with every core busy the whole time; and that over the baseline. A wall-clock ratio
   * below `cpu_floor_ratio` needs less CPU, not better overlap.
   */
  cpu_floor_s: number;
  cpu_floor_ratio: number;
  /**
   * The share of the machine's cores the subject's CPU (without the bench's) would have to keep busy, the whole time,
   * to finish within the target (`TARGET_RATIO` × baseline): `cpu_floor_ratio` over the target. Above 1 the target
   * needs less CPU whatever the overlap; compare with `machine_busy_share`.
   */
  busy_needed_for_target: number;
  /** The machine's busy share while the subject's CPU was counted (all processes, over cores × those seconds). */
  machine_busy_share: number;
  other_processes_cpu_seconds: number;
  /** reconciliation's own account of the run (`ais_reconciliation_stage_duration_seconds`): seconds and count per stage. */
  reconciliation_stages: Record<string, { seconds: number; count: number }>;
  /** Pages of the read-back that reconciliation read ahead, by outcome (`ais_reconciliation_read_ahead_total`). */
  read_ahead: Record<string, number>;
}

/**
 * One scrape of reconciliation's metrics: its stage histogram (apps/reconciliation/src/metrics.ts), summed seconds
 * and counts per stage, and its read-ahead of transaction pages (apps/reconciliation/src/grpc/read-ahead.ts), counts
 * per outcome.
 */
async function reconciliationMetrics(port: number): Promise<{ stages: Record<string, { seconds: number; count: number }>; readAhead: Record<string, number> }> {
  const stages: Record<string, { seconds: number; count: number }> = {};
  const readAhead: Record<string, number> = {};
  for (const x of (await scrapeMetrics(port)).samples) {
    const stage = x.labels['stage'];
    if (stage && x.name.startsWith('ais_reconciliation_stage_duration_seconds_')) {
      const e = (stages[stage] ??= { seconds: 0, count: 0 });
      if (x.name.endsWith('_sum')) e.seconds += x.value;
      if (x.name.endsWith('_count')) e.count += x.value;
    }
    const outcome = x.labels['outcome'];
    if (outcome && x.name.startsWith('ais_reconciliation_read_ahead')) readAhead[outcome] = (readAhead[outcome] ?? 0) + x.value;
  }
  return { stages, readAhead };
}

const countsDelta = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));

const stagesDelta = (a: Record<string, { seconds: number; count: number }>, b: Record<string, { seconds: number; count: number }>) =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, { seconds: round(v.seconds - (a[k]?.seconds ?? 0), 2), count: v.count - (a[k]?.count ?? 0) }]));

const sum = (c: Record<string, number>, except: string[] = []) => Object.entries(c).reduce((a, [k, v]) => a + (except.includes(k) ? 0 : v), 0);

async function main(): Promise<void> {
  if (!Number.isInteger(RUNS) || RUNS < 1) throw new BenchFailure('BENCH_CONSENT_RUNS must be a positive integer');
  if (TRACING !== 'none' && TRACING !== 'zipkin') throw new BenchFailure('BENCH_CONSENT_TRACING must be none or zipkin');
  const stack = await ensureStack((m) => console.log(m));
  Object.assign(process.env, stack.env);
  const tracing: Record<string, string> = TRACING === 'zipkin' ? { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: stack.env.OTEL_EXPORTER_ZIPKIN_ENDPOINT } : {};
  const started = new Date();
  const loadAtStart = loadavg().map((x) => round(x, 2));
  let fs: FetchStack | undefined;
  const kafka = new Kafka({ clientId: 'bench-consent', brokers: stack.env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `bench-consent-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 100 });
  const admin = kafka.admin();
  /** A Kafka admin answer slower than 10 s counts as "not yet" (the poll goes on; the run's deadline still holds). */
  const withTimeout = (p: Promise<boolean>) => Promise.race([p.catch(() => false), sleep(10_000).then(() => false)]);
  try {
    fs = await startFetchStack({
      pipeline: true,
      // scraped once before and once after each run, for reconciliation's stage histogram
      metrics: true,
      // the dead letters only: the harness decoding the raw events would take CPU from the services measured
      collectRawEvents: false,
      // the scheduler's default tick (1 s), not the harness's 200 ms for tests: five ticks a second cost the store and
      // data-fetcher about 2.5 CPU s in 30 idle seconds, a load production does not have (a consent kicks a tick at once)
      fetcherEnv: { BACKFILL_WINDOW_MONTHS: String(WINDOW_MONTHS), SCHEDULER_TICK_MS: '1000', ...tracing, ...serviceEnv('data-fetcher') },
      gatewayEnv: { ...tracing, ...serviceEnv('auth-gateway') },
      tokenVaultEnv: { ...tracing, ...serviceEnv('token-vault') },
      enrichmentEnv: { ...tracing, ...serviceEnv('enrichment') },
      reconciliationEnv: { ...tracing, ...serviceEnv('reconciliation') },
    });
    const s = fs;
    await s.sandbox.admin('PATCH', '/switches', { cacheTtlSeconds: 0, scaWindowSeconds: 7 * 86_400 });
    // connection.authorized events: their occurred_at is t0
    const authorizedAt = new Map<string, Date>();
    const binding = bindings.connection(s.prefix);
    await admin.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: binding.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        const e: eventsV1.ConnectionEvent = binding.codec.decode(message.value);
        if (e.payload?.$case === 'authorized' && e.meta?.occurredAt) authorizedAt.set(e.payload.authorized.connectionId, e.meta.occurredAt);
      },
    });

    // the baseline's own consent and Data API client (configured as data-fetcher configures it)
    const environment = customEnvironment({ authBaseUrl: s.sandbox.url, apiBaseUrl: s.sandbox.url });
    const tl = createTrueLayerClient({ environment, clientId: s.sandbox.clientId, clientSecret: s.sandbox.clientSecret });
    const data = createTrueLayerDataClient({ environment, timeoutMs: 30_000 });
    const own = await authorizeMockUser(s.sandbox, tl.auth, { username: LOGIN, password: mockPassword(LOGIN), scopes: SCOPES, providerId: PROVIDER });
    // The simulator's booked ledger grows whenever its clock passes a pending transaction's settlement time
    // (apps/truelayer-sandbox/src/domain/dataset.ts), so a count read minutes earlier can be one short: a count that
    // differs from it is compared once more with the ledger of that moment (read again then) before the run fails.
    let baseLedger = await ledgerOf(s, own.credentialsId);
    const sameAsLedger = async (n: number, what: string) => {
      if (n === baseLedger.ids.size) return;
      baseLedger = await ledgerOf(s, own.credentialsId);
      if (n !== baseLedger.ids.size) throw new BenchFailure(`${what}: ${n} transactions, the ledger has ${baseLedger.ids.size}`);
    };
    const rawRead = async () => {
      let n = 0;
      let calls = 0;
      const t = process.hrtime.bigint();
      for (const r of baseLedger.resources) {
        for (const w of baseLedger.windows) {
          const range = { from: w.from, to: w.to };
          const res = await data.get(own.tokens.accessToken, r.isCard ? { resource: 'cardTransactions', cardId: r.id, range } : { resource: 'transactions', accountId: r.id, range }, { maxAttempts: 1, psuIp: PSU_IP });
          n += res.results.length;
          calls += 1;
        }
      }
      const secs = seconds(t);
      await sameAsLedger(n, 'raw read');
      return { seconds: secs, calls, transactions: n };
    };
    const warm = await rawRead();
    console.log(`${LOGIN}: ${baseLedger.ids.size} booked transactions in ${baseLedger.resources.length} accounts/cards × ${baseLedger.windows.length} windows; warm-up raw read ${round(warm.seconds, 2)} s`);

    const rawTopic = topicName(TOPICS.raw, s.prefix);
    const enrichedTopic = topicName(TOPICS.enriched, s.prefix);
    const reconDb = s.reconDb!.getClient().db(`rc_${s.ns}`);
    const pids = { simulator: s.sandbox.pid, 'auth-gateway': s.gateway.pid, 'token-vault': s.tokenVault.pid, 'data-fetcher': s.fetchers[0]!.pid, enrichment: s.enrichment!.pid, reconciliation: s.reconciliation!.pid, ...stackPids(stack.dir), bench: process.pid };
    const runs: Run[] = [];
    for (let run = 1; run <= RUNS; run += 1) {
      const userId = `bench-consent-${s.ns}-${run}`;
      const stagesPort = Number(s.reconciliation!.ready['metricsPort']);
      const metrics0 = await reconciliationMetrics(stagesPort);
      const c = await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId, username: LOGIN, password: mockPassword(LOGIN), providerId: PROVIDER });
      // CPU from the end of the connect journey (authorized is its last step) to t1: the subject's work, not the journey's
      const cpu0 = cpuSnapshot(pids);
      const busy0 = machineBusySeconds();
      const cpuFrom = Date.now();
      const ledger = await ledgerOf(s, c.credentialsId);
      await sameAsLedger(ledger.ids.size, "the subject's consent");
      let backfillDone: number | undefined;
      let storeComplete: number | undefined;
      let apiRead = 0;
      let cpuRead = cpu0;
      const deadline = Date.now() + 1_800_000;
      let lastLog = Date.now();
      let status = 'connected';
      for (;;) {
        if (Date.now() > deadline) throw new BenchFailure(`run ${run}: the history did not arrive within 30 min (${status})`);
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          console.log(`  run ${run}: ${status}`);
        }
        const conn = await s.fetcherDb.collection<{ _id: string; backfill?: string }>('fetch_connections').findOne({ _id: c.connectionId });
        if (conn?.backfill === 'failed') throw new BenchFailure(`run ${run}: the backfill failed`);
        if (conn?.backfill === 'done') backfillDone ??= Date.now();
        // enrichment, then reconciliation, committed the ends of their input topics (cheap: no store query until then)
        status = `backfill ${conn?.backfill ?? 'not recorded yet'}`;
        const drained = backfillDone !== undefined && (await withTimeout(committedToEnd(admin, `enrichment-${s.ns}`, rawTopic))) && (await withTimeout(committedToEnd(admin, `reconciliation-${s.ns}`, enrichedTopic)));
        if (backfillDone) status += drained ? ', the consumer groups at the ends of their topics' : ', the pipeline still consuming';
        const st = drained ? await reconDb.collection<{ _id: string; seq?: number; committedSeq?: number }>('user_state').findOne({ _id: userId }) : null;
        if (st && st.seq === st.committedSeq) {
          const stored = await reconDb.collection('transactions').countDocuments({ userId, status: 'booked', removed: false });
          status += `, ${stored} of ${ledger.ids.size} booked transactions stored`;
          if (stored >= ledger.ids.size) {
            console.log(`  run ${run}: store complete ${round((Date.now() - (authorizedAt.get(c.connectionId)?.getTime() ?? Date.now())) / 1000, 1)} s after authorized; reading the history through the read API`);
            storeComplete ??= Date.now();
            cpuRead = cpuSnapshot(pids);
            const tr = process.hrtime.bigint();
            const all = await readApi(s, userId).allTransactions('&status=booked');
            apiRead = seconds(tr);
            const got = new Set(all.map((t) => String(t['normalised_provider_transaction_id'])));
            if (all.length === ledger.ids.size && got.size === all.length && [...ledger.ids].every((id) => got.has(id))) break;
            console.log(`  run ${run}: the read API returned ${all.length} of ${ledger.ids.size}; polling on`);
            storeComplete = undefined;
          }
        }
        await sleep(250);
      }
      const t1 = Date.now();
      const cpuEnd = cpuSnapshot(pids);
      const cpu = cpuDelta(cpu0, cpuEnd);
      const readBackCpu = cpuDelta(cpuRead, cpuEnd);
      // the subject's CPU without the bench's own polling and reading back (the baseline's client is the bench)
      const subjectCpu = sum(cpu, ['bench']);
      const floor = subjectCpu / cpus().length;
      const busy = machineBusySeconds() - busy0;
      const metrics1 = await reconciliationMetrics(stagesPort);
      const stages = stagesDelta(metrics0.stages, metrics1.stages);
      const readAhead = countsDelta(metrics0.readAhead, metrics1.readAhead);
      const t0 = authorizedAt.get(c.connectionId);
      if (!t0) throw new BenchFailure(`run ${run}: no connection.authorized event for ${c.connectionId}`);
      const subject = (t1 - t0.getTime()) / 1000;

      // baseline, same run: raw read (warm simulator) + bulk insert of the stored documents into a fresh collection
      const source = reconDb.collection('transactions');
      const docs = (await source.find({ userId }).toArray()) as Document[];
      const target = reconDb.collection(`bench_consent_insert_${run}`);
      for (const i of await source.listIndexes().toArray()) {
        const { key, name, v: _v, ns: _ns, ...options } = i as Document;
        if (name !== '_id_') await target.createIndex(key as Document, { ...options, name: name as string });
      }
      console.log(`  run ${run}: history read through the read API in ${round(apiRead, 1)} s; baseline: raw read, then bulk insert of ${docs.length} documents`);
      // CPU of the baseline (the read and the inserts): the bench (the client), the simulator, FerretDB, PostgreSQL
      const basePids = { simulator: s.sandbox.pid, ...stackPids(stack.dir), bench: process.pid };
      const baseCpu0 = cpuSnapshot(basePids);
      const raw = await rawRead();
      let insert = 0;
      for (let i = 0; i < docs.length; i += INSERT_BATCH) {
        const batch = docs.slice(i, i + INSERT_BATCH);
        const t = process.hrtime.bigint();
        const res = await target.insertMany(batch, { ordered: false });
        insert += seconds(t);
        if (res.insertedCount !== batch.length) throw new BenchFailure(`bulk insert: ${res.insertedCount} of ${batch.length}`);
      }
      const baseCpu = cpuDelta(baseCpu0, cpuSnapshot(basePids));
      await target.drop().catch(() => undefined);
      const baseline = raw.seconds + insert;
      const r: Run = {
        run,
        user: userId,
        transactions: ledger.ids.size,
        subject_s: round(subject, 2),
        phases_s: {
          authorized_to_backfill_done: round((backfillDone! - t0.getTime()) / 1000, 2),
          backfill_done_to_store_complete: round((storeComplete! - backfillDone!) / 1000, 2),
          store_complete_to_api_read_done: round((t1 - storeComplete!) / 1000, 2),
          api_read: round(apiRead, 2),
        },
        raw_read_s: round(raw.seconds, 2),
        raw_read_calls: raw.calls,
        bulk_insert_s: round(insert, 2),
        baseline_s: round(baseline, 2),
        ratio: round(subject / baseline, 2),
        cpu_seconds: cpu,
        read_back_cpu_seconds: readBackCpu,
        baseline_cpu_seconds: baseCpu,
        ratio_cpu: round(subjectCpu / sum(baseCpu, ['kafka']), 2),
        cpu_floor_s: round(floor, 2),
        cpu_floor_ratio: round(floor / baseline, 2),
        busy_needed_for_target: round(floor / baseline / TARGET_RATIO, 2),
        machine_busy_share: round(busy / (cpus().length * ((t1 - cpuFrom) / 1000)), 2),
        other_processes_cpu_seconds: round(Math.max(0, busy - Object.values(cpu).reduce((a, b) => a + b, 0)), 1),
        reconciliation_stages: stages,
        read_ahead: readAhead,
      };
      runs.push(r);
      console.log(JSON.stringify(r));
    }
    if (s.raw.deadLetters.length > 0) throw new BenchFailure(`${s.raw.deadLetters.length} dead letters`);

    const median = (xs: number[]) => {
      const v = [...xs].sort((a, b) => a - b);
      const m = Math.floor(v.length / 2);
      return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
    };
    const subjectMedian = round(median(runs.map((r) => r.subject_s)), 2);
    const baselineMedian = round(median(runs.map((r) => r.baseline_s)), 2);
    const ratio = round(subjectMedian / baselineMedian, 2);
    const machine = {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? '',
      memory_gb: round(totalmem() / 2 ** 30, 1),
      loadavg_1_5_15_at_start: loadAtStart,
      loadavg_1_5_15_at_end: loadavg().map((x) => round(x, 2)),
    };
    const peakRss = Object.fromEntries(Object.entries(pids).filter(([k]) => !['kafka', 'ferretdb', 'postgres', 'bench'].includes(k)).map(([k, pid]) => [k, peakRssMb(pid)]));
    const table = [
      '| run | transactions | subject s (authorized → history via read API) | backfill done s | store complete s | API read s | raw read s | bulk insert s | baseline s | subject / baseline (target ≤ 1.5) | subject tx/s | baseline tx/s | CPU s subject / baseline | ratio (CPU) | CPU floor s (÷ baseline) | machine busy | busy needed for ≤ 1.5 |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...runs.map(
        (r) =>
          `| ${r.run} | ${r.transactions} | ${r.subject_s} | ${r.phases_s.authorized_to_backfill_done} | ${round(r.phases_s.authorized_to_backfill_done + r.phases_s.backfill_done_to_store_complete, 2)} | ${r.phases_s.api_read} | ${r.raw_read_s} | ${r.bulk_insert_s} | ${r.baseline_s} | ${r.ratio} | ${Math.round(r.transactions / r.subject_s)} | ${Math.round(r.transactions / r.baseline_s)} | ${round(sum(r.cpu_seconds, ['bench']), 1)} / ${round(sum(r.baseline_cpu_seconds, ['kafka']), 1)} | ${r.ratio_cpu} | ${r.cpu_floor_s} (${r.cpu_floor_ratio}) | ${Math.round(r.machine_busy_share * 100)}% | ${Math.round(r.busy_needed_for_target * 100)}% |`,
      ),
    ].join('\n');
    const st = (r: Run, k: string) => `${r.reconciliation_stages[k]?.seconds ?? 0} (${r.reconciliation_stages[k]?.count ?? 0})`;
    const stagesTable = [
      "| run | messages applied s (count) | of it: store writes s (count) | analysis s (count) | change-feed publish runs s (count) | read-back pages read ahead: served / started |",
      '|---|---|---|---|---|---|',
      ...runs.map((r) => `| ${r.run} | ${st(r, 'message')} | ${st(r, 'store_write')} | ${st(r, 'analysis')} | ${st(r, 'change_feed')} | ${r.read_ahead['hit'] ?? 0} / ${r.read_ahead['started'] ?? 0} |`),
    ].join('\n');
    // the read-back's CPU by process: where its pages cost (the store: FerretDB + PostgreSQL)
    const rb = (r: Run, ...ks: string[]) => round(ks.reduce((a, k) => a + (r.read_back_cpu_seconds[k] ?? 0), 0), 2);
    const readBackTable = [
      '| run | API read s | CPU s: gateway | reconciliation | store | the client (bench) | all |',
      '|---|---|---|---|---|---|---|',
      ...runs.map((r) => `| ${r.run} | ${r.phases_s.api_read} | ${rb(r, 'auth-gateway')} | ${rb(r, 'reconciliation')} | ${rb(r, 'ferretdb', 'postgres')} | ${rb(r, 'bench')} | ${round(sum(r.read_back_cpu_seconds), 2)} |`),
    ].join('\n');
    const out = {
      benchmark: 'consent: connection.authorized to the full history through the read API vs raw Data API read + bulk insert of the same transactions',
      date: started.toISOString(),
      machine,
      settings: {
        user: LOGIN,
        provider: PROVIDER,
        runs: RUNS,
        window_months: WINDOW_MONTHS,
        insert_batch: INSERT_BATCH,
        simulator_switches: { cacheTtlSeconds: 0, scaWindowSeconds: 7 * 86_400 },
        service_env: Object.fromEntries(['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'].map((svc) => [svc, serviceEnv(svc)])),
        tracing: TRACING,
        runtime: servicesRuntime(),
      },
      transactions: baseLedger.ids.size,
      resources: baseLedger.resources.length,
      windows_per_resource: baseLedger.windows.length,
      baseline: `raw read (Data API client, ${WINDOW_MONTHS}-month windows of every account and card, sequential, warm simulator) + insertMany (ordered: false, 500 per call) of the stored documents into a fresh collection with the same indexes`,
      targets: { ratio_at_most: TARGET_RATIO },
      subject_median_s: subjectMedian,
      baseline_median_s: baselineMedian,
      ratio_of_medians: ratio,
      target_met: ratio <= TARGET_RATIO,
      peak_rss_mb: peakRss,
      runs,
      table,
      reconciliation_stages_table: stagesTable,
      read_back_cpu_table: readBackTable,
    };
    const file = join(resultsDir(), 'consent.json');
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\n${machine.platform}, ${machine.cores} cores, ${machine.cpu}, node ${machine.node}; load ${machine.loadavg_1_5_15_at_start.join(' ')} -> ${machine.loadavg_1_5_15_at_end.join(' ')}`);
    console.log(`\n${table}\n\nreconciliation's stages during each run (ais_reconciliation_stage_duration_seconds):\n${stagesTable}\n\nthe read-back's CPU by process:\n${readBackTable}\n\nmedians: subject ${subjectMedian} s, baseline ${baselineMedian} s, ratio ${ratio} (target <= ${TARGET_RATIO})`);
    console.log(`written ${file}`);
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await fs?.stop().catch(() => undefined);
    await stopStack(stack);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
