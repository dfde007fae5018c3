/**
 * Benchmark: the post-consent backfill, TrueLayer simulator to Kafka, in transactions per second, next to the
 * simulator's raw read speed for the same date windows, both measured in the same run.
 *
 * - The simulator runs as a child process; its `heavy` mock user (6 years, >20,000 transactions on the current
 *   account) is connected once, with no response cache (cacheTtlSeconds 0) and an SCA window longer than the run,
 *   so every window is served from the bank's data.
 * - Baseline ("raw read"): the Data API client data-fetcher uses (same config, same instance) reads the backfill's
 *   3-month windows of every account and card one after another, with the user's IP as the backfill sends it.
 * - Subject ("backfill to Kafka"): the real `Fetcher`, wired as apps/data-fetcher/src/main.ts wires it (config
 *   defaults, CallBudget, ErrorPolicy, CircuitBreakers, FetchStateStore on MongoDB, EventProducer + kafkaRawSink on
 *   Kafka), except that its access token comes from the bench instead of token-vault; `runBackfill` of a connection
 *   recorded as on `connection.authorized` (psuIp set, authorizedAt now). Each run gets a fresh database and
 *   connection id. The subject also reads identity, accounts, cards, balances, pending transactions, standing
 *   orders and direct debits (a dozen calls the baseline does not make), and writes its progress and journal.
 *
 * Both sides count only booked transactions. After every run the bench checks them against the simulator's ledger
 * for the same windows: the baseline's answers, and for the subject every raw event it published, consumed back
 * from Kafka (deduplicated on event id, as every consumer does) and compared id by id. Anything missing or doubled,
 * a backfill that did not end `done`, or a dead letter fails the bench.
 *
 * Run: npm run bench -- fetch      (BENCH_FETCH_RUNS, default 3, runs per side, alternating after one warm-up each)
 * Writes bench/results/fetch.json.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { clockFromSpec } from '@ais/platform-config';
import { createKafka, EventProducer } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { connectMongo } from '@ais/platform-mongo';
import { ensureStack, provisionTopics, startSandboxProcess, stopStack, type SandboxProcess } from '@ais/testing';
import { createTrueLayerClient, createTrueLayerDataClient, customEnvironment, type TrueLayerDataClient } from '@ais/truelayer-client';
import type { Kafka } from 'kafkajs';
import { errorPolicyOptions, fetcherSettings, schema as fetcherConfigSchema, type Config } from '../apps/data-fetcher/src/config';
import { MongoCallBudgetStore } from '../apps/data-fetcher/src/data/call-budget.store';
import { FetchStateStore } from '../apps/data-fetcher/src/data/fetch-state.store';
import { CallBudget } from '../apps/data-fetcher/src/domain/call-budget';
import { CircuitBreakers, ErrorPolicy } from '../apps/data-fetcher/src/domain/error-policy';
import { Fetcher, kafkaRawSink, type DeadLetterSink, type TokenSource } from '../apps/data-fetcher/src/domain/fetcher';
import { addDays, backfillWindows, dayOf, type DayWindow } from '../apps/data-fetcher/src/domain/plan';
import { authorizeMockUser } from '../apps/data-fetcher/test/support/mock-user';
import { endOffsets } from './kafka';
import { resultsDir, servicesRuntime } from './proc';

const RUNS = Number(process.env['BENCH_FETCH_RUNS'] ?? 3);
const WINDOW_MONTHS = 3;
const PROVIDER = 'ob-barclays';
const PSU_IP = '203.0.113.7';
const SCOPES = ['info', 'accounts', 'balance', 'cards', 'transactions', 'direct_debits', 'standing_orders', 'offline_access'];
const USER_ID = 'bench-user-heavy';

interface Resource {
  id: string;
  isCard: boolean;
  earliest: string;
}

interface Plan {
  today: string;
  /** The backfill's history limit: the fewest months that reach back to the earliest booked day. */
  maxMonths: number;
  earliest: string;
  windows: DayWindow[];
  resources: Resource[];
  /** The ledger's transaction ids per resource over every window (sorted). */
  ledger: Map<string, string[]>;
  transactions: number;
}

interface Run {
  side: 'baseline' | 'subject';
  run: number;
  seconds: number;
  transactions: number;
  tx_per_s: number;
  calls: number;
  /**
   * Subject only: time inside its TrueLayer calls (the sum of its journal's durations), raw events published (after
   * dedupe on event id) and records consumed back.
   */
  data_api_seconds?: number;
  raw_events?: number;
  raw_records?: number;
  token_refreshes?: number;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const resourceKey = (r: { id: string; isCard: boolean }) => `${r.isCard ? 'card' : 'account'}:${r.id}`;

class BenchFailure extends Error {}

/** Windows, resources and the ledger's transactions for them, as of `today`. */
async function planFor(sandbox: SandboxProcess, credentialsId: string, today: string): Promise<Plan> {
  const spans = await sandbox.admin<{ accounts: { account_id: string; earliest: string | null }[]; cards: { card_id: string; earliest: string | null }[] }>(
    'GET',
    `/ledger/accounts?credentials_id=${encodeURIComponent(credentialsId)}`,
  );
  const resources: Resource[] = [
    ...spans.accounts.filter((a) => a.earliest).map((a) => ({ id: a.account_id, isCard: false, earliest: a.earliest! })),
    ...spans.cards.filter((c) => c.earliest).map((c) => ({ id: c.card_id, isCard: true, earliest: c.earliest! })),
  ];
  const oldest = resources.map((r) => r.earliest).sort()[0];
  if (!oldest) throw new BenchFailure('the heavy user has no booked transactions');
  // as Fetcher.runBackfill: earliest = today - round(maxMonths * 30.44) days
  let maxMonths = 1;
  while (addDays(today, -Math.round(maxMonths * 30.44)) > oldest) maxMonths += 1;
  const earliest = addDays(today, -Math.round(maxMonths * 30.44));
  const windows = backfillWindows(today, WINDOW_MONTHS, earliest);
  const ledger = new Map<string, string[]>();
  let transactions = 0;
  for (const r of resources) {
    const ids: string[] = [];
    for (const w of windows) {
      const q = new URLSearchParams({ credentials_id: credentialsId, [r.isCard ? 'card_id' : 'account_id']: r.id, from: w.from, to: w.to });
      ids.push(...(await sandbox.admin<{ ids: string[] }>('GET', `/ledger?${q.toString()}`)).ids);
    }
    ledger.set(resourceKey(r), ids.sort());
    transactions += ids.length;
  }
  return { today, maxMonths, earliest, windows, resources, ledger, transactions };
}

/** Baseline: every window of every resource, one read after another, counting transactions. */
async function rawRead(data: TrueLayerDataClient, token: () => string, plan: Plan): Promise<{ transactions: number; calls: number; seconds: number }> {
  let transactions = 0;
  let calls = 0;
  const t0 = process.hrtime.bigint();
  for (const r of plan.resources) {
    for (const w of plan.windows) {
      const range = { from: w.from, to: w.to };
      const res = await data.get(token(), r.isCard ? { resource: 'cardTransactions', cardId: r.id, range } : { resource: 'transactions', accountId: r.id, range }, { maxAttempts: 1, psuIp: PSU_IP });
      transactions += res.results.length;
      calls += 1;
    }
  }
  const s = seconds(t0);
  if (transactions !== plan.transactions) throw new BenchFailure(`raw read: ${transactions} transactions, the ledger has ${plan.transactions} for the same windows`);
  return { transactions, calls, seconds: s };
}


/** Every record of `topic` below the given high watermarks (read from the start, with a throwaway group). */
async function readBack(kafka: Kafka, topic: string, until: Map<number, bigint>): Promise<eventsV1.RawDataEvent[]> {
  const pending = new Set([...until].filter(([, high]) => high > 0n).map(([p]) => p));
  const out: eventsV1.RawDataEvent[] = [];
  if (pending.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `bench-fetch-readback-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BenchFailure(`reading ${topic} back: partitions ${[...pending].join(',')} did not reach their end within 120 s`)), 120_000);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const offset = BigInt(message.offset);
            const high = until.get(partition) ?? 0n;
            if (offset < high && message.value) out.push(eventsV1.RawDataEvent.decode(message.value));
            if (offset + 1n >= high && pending.delete(partition) && pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

async function main(): Promise<void> {
  if (!Number.isInteger(RUNS) || RUNS < 1) throw new BenchFailure('BENCH_FETCH_RUNS must be a positive integer');
  const stack = await ensureStack((m) => console.log(m));
  const logger = createLogger({ service: 'bench-fetch', level: 'warn' });
  // the clients' own chatter (a closed connection, a group coordinator still starting); their failures are thrown
  const quiet = createLogger({ service: 'bench-fetch', level: 'silent' });
  const sandbox = await startSandboxProcess();
  const ns = randomBytes(3).toString('hex');
  const prefix = `benchfetch${ns}`;
  const kafka = createKafka({ brokers: stack.env.KAFKA_BROKERS.split(','), clientId: 'bench-fetch', logger: quiet });
  let producer: EventProducer | undefined;
  try {
    // every call reaches the bank's data (no cache), and the SCA window outlasts the bench
    await sandbox.admin('PATCH', '/switches', { cacheTtlSeconds: 0, scaWindowSeconds: 7 * 86_400 });
    const environment = customEnvironment({ authBaseUrl: sandbox.url, apiBaseUrl: sandbox.url });
    const tl = createTrueLayerClient({ environment, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret });
    const user = await authorizeMockUser(sandbox, tl.auth, { username: 'heavy', password: 'heavy', scopes: SCOPES, providerId: PROVIDER });
    let accessToken = user.tokens.accessToken;
    let refreshToken = user.tokens.refreshToken;
    let refreshes = 0;
    const tokens: TokenSource = {
      async get(_connectionId, force) {
        if (force) {
          if (!refreshToken) throw new BenchFailure('the access token was refused and there is no refresh token');
          const set = await tl.auth.refresh(refreshToken);
          accessToken = set.accessToken;
          refreshToken = set.refreshToken ?? refreshToken;
          refreshes += 1;
        }
        return accessToken;
      },
    };

    let plan = await planFor(sandbox, user.credentialsId, dayOf(Date.now()));
    const configOf = (db: string): Readonly<Config> => {
      const parsed = fetcherConfigSchema.safeParse({
        LOG_LEVEL: 'warn',
        MONGODB_URI: stack.env.MONGODB_URI,
        MONGODB_DB: db,
        KAFKA_BROKERS: stack.env.KAFKA_BROKERS,
        KAFKA_TOPIC_PREFIX: prefix,
        // the gRPC identity's certificates come from the stack's Vault PKI (GRPC_TLS=vault, the default)
        VAULT_ADDR: stack.env.VAULT_ADDR,
        VAULT_TOKEN: stack.env.VAULT_TOKEN,
        // unused: the bench is the token source
        TOKEN_VAULT_ADDR: '127.0.0.1:1',
        TRUELAYER_ENV: 'custom',
        TRUELAYER_AUTH_URL: sandbox.url,
        TRUELAYER_API_URL: sandbox.url,
        BACKFILL_WINDOW_MONTHS: String(WINDOW_MONTHS),
        BACKFILL_MAX_MONTHS: String(plan.maxMonths),
      });
      if (!parsed.success) throw new BenchFailure(`data-fetcher config: ${parsed.error.message}`);
      return parsed.data;
    };

    // one Data API client for both sides, configured as main.ts configures it
    const base = configOf('unused');
    const baseClock = clockFromSpec(base.CLOCK);
    const clock = { now: () => new Date(baseClock.now()) };
    const data = createTrueLayerDataClient({ environment, timeoutMs: base.TRUELAYER_TIMEOUT_MS, now: () => clock.now().getTime() });

    await provisionTopics({ brokers: stack.env.KAFKA_BROKERS, prefix, topics: [TOPICS.raw] });
    const rawTopic = topicName(TOPICS.raw, prefix);
    producer = new EventProducer(kafka, { service: 'data-fetcher' });
    await producer.connect();

    const backfill = async (run: number) => {
      const config = configOf(`bench_fetch_${ns}_${run}`);
      const mongo = await connectMongo({ uri: config.MONGODB_URI, db: config.MONGODB_DB, logger: quiet, connectTimeoutMs: config.MONGODB_CONNECT_TIMEOUT_MS });
      try {
        const instance = `bench-fetch-${process.pid}-${run}`;
        const budgetStore = new MongoCallBudgetStore(mongo);
        await budgetStore.ensureIndexes();
        const store = new FetchStateStore(mongo, config.JOURNAL_RETENTION_MS);
        await store.ensureIndexes();
        const budget = new CallBudget(budgetStore, { clock, instance, safetyMarginMs: config.BUDGET_SAFETY_MARGIN_MS });
        const policy = new ErrorPolicy({ clock, random: Math.random, ...errorPolicyOptions(config) });
        const breakers = new CircuitBreakers({ clock, failureThreshold: config.CIRCUIT_FAILURE_THRESHOLD, coolDownMs: config.CIRCUIT_COOL_DOWN_MS });
        const deadLettered: string[] = [];
        const deadLetters: DeadLetterSink = {
          send(work, code, reason) {
            deadLettered.push(`kind ${work.kind}, account ${work.accountId}: ${code}: ${reason}`);
            throw new BenchFailure(`the backfill dead-lettered work (${deadLettered.at(-1)!})`);
          },
        };
        const fetcher = new Fetcher({
          store,
          budget,
          policy,
          breakers,
          tokens,
          data,
          raw: kafkaRawSink(producer!, prefix),
          deadLetters,
          clock,
          logger,
          instance,
          settings: fetcherSettings(config),
        });
        // as fetch.consumers.ts records connection.authorized
        const connectionId = `bench-conn-${ns}-${run}`;
        await store.upsertAuthorized({
          _id: connectionId,
          userId: USER_ID,
          clientId: 'bench',
          providerId: PROVIDER,
          credentialsId: user.credentialsId,
          scopes: user.tokens.scope.length > 0 ? user.tokens.scope : SCOPES,
          status: 'active',
          authorizedAt: clock.now(),
          psuIp: PSU_IP,
          backfill: 'pending',
          nextDueAt: clock.now(),
        });
        const refreshesBefore = refreshes;
        const t0 = process.hrtime.bigint();
        await fetcher.runBackfill(connectionId);
        const s = seconds(t0);

        if (deadLettered.length > 0) throw new BenchFailure(`the backfill dead-lettered work: ${deadLettered.join('; ')}`);
        const conn = await store.get(connectionId);
        if (conn?.backfill !== 'done') throw new BenchFailure(`the backfill ended ${conn?.backfill ?? 'without a connection'}: ${conn?.backfillNote ?? ''}`);
        const journal = await store.journal.find({ connectionId }).toArray();
        const failed = journal.filter((j) => j.errorCode);
        if (failed.length > 0) console.log(`  note: ${failed.length} failed call(s) retried: ${failed.map((j) => `${j.endpoint} ${j.errorCode}`).join('; ')}`);
        const read = journal.filter((j) => j.endpoint.endsWith('/transactions') && !j.errorCode);
        const windowsRead = new Set(read.map((j) => `${j.accountId}|${dayOf(j.windowFrom!)}|${dayOf(j.windowTo!)}`));
        const windowsPlanned = new Set(plan.resources.flatMap((r) => plan.windows.map((w) => `${r.id}|${w.from}|${w.to}`)));
        if (windowsRead.size !== windowsPlanned.size || [...windowsPlanned].some((w) => !windowsRead.has(w))) {
          throw new BenchFailure(`the backfill read ${windowsRead.size} transaction windows, not the ${windowsPlanned.size} the raw read reads`);
        }

        // every raw event of this connection, consumed back, deduplicated on event id, compared with the ledger
        const records = (await readBack(kafka, rawTopic, await endOffsets(kafka, rawTopic))).filter((e) => e.connectionId === connectionId);
        const events = [...new Map(records.map((e) => [e.meta!.eventId, e])).values()];
        const got = new Map<string, string[]>();
        let transactions = 0;
        for (const e of events) {
          if (e.payload?.$case !== 'transactions') continue;
          const key = resourceKey({ id: e.accountId, isCard: e.isCard });
          const ids = got.get(key) ?? [];
          for (const t of e.payload.transactions.transactions) ids.push(t.normalisedProviderTransactionId);
          got.set(key, ids);
          transactions += e.payload.transactions.transactions.length;
        }
        for (const [key, want] of plan.ledger) {
          const have = (got.get(key) ?? []).sort();
          const differing = want.filter((id, i) => have[i] !== id).length;
          if (have.length !== want.length || differing > 0) {
            throw new BenchFailure(`${key}: ${have.length} transactions published to Kafka, the ledger has ${want.length} for the windows read (${Math.abs(have.length - want.length)} missing or doubled)`);
          }
        }
        if (transactions !== plan.transactions || [...got.keys()].some((k) => !plan.ledger.has(k))) {
          throw new BenchFailure(`${transactions} transactions published to Kafka, the ledger has ${plan.transactions}`);
        }
        const dataApiSeconds = journal.reduce((sum, j) => sum + j.durationMs, 0) / 1000;
        return { transactions, calls: journal.length, seconds: s, dataApiSeconds, rawEvents: events.length, rawRecords: records.length, tokenRefreshes: refreshes - refreshesBefore };
      } finally {
        await mongo.dropDatabase().catch(() => undefined);
        await mongo.close();
      }
    };

    const runs: Run[] = [];
    const baselineRun = async (run: number) => {
      const r = await rawRead(data, () => accessToken, plan);
      return { side: 'baseline' as const, run, seconds: round(r.seconds), transactions: r.transactions, tx_per_s: Math.round(r.transactions / r.seconds), calls: r.calls };
    };
    const subjectRun = async (run: number) => {
      const r = await backfill(run);
      return {
        side: 'subject' as const,
        run,
        seconds: round(r.seconds),
        transactions: r.transactions,
        tx_per_s: Math.round(r.transactions / r.seconds),
        calls: r.calls,
        data_api_seconds: round(r.dataApiSeconds),
        raw_events: r.rawEvents,
        raw_records: r.rawRecords,
        token_refreshes: r.tokenRefreshes,
      };
    };
    console.log(
      `heavy user: ${plan.transactions} transactions in ${plan.resources.length} accounts/cards × ${plan.windows.length} windows of ${WINDOW_MONTHS} months (${plan.earliest} .. ${plan.today}); warm-up, then ${RUNS} runs per side, alternating`,
    );
    // warm-up (not recorded): the simulator generates the user's data on first read; JIT, connections
    console.log(`warm-up: ${JSON.stringify(await baselineRun(0))}`);
    console.log(`warm-up: ${JSON.stringify(await subjectRun(0))}`);
    for (let run = 1; run <= RUNS; run += 1) {
      const today = dayOf(Date.now());
      if (today !== plan.today) plan = await planFor(sandbox, user.credentialsId, today);
      for (const r of [await baselineRun(run), await subjectRun(run)]) {
        runs.push(r);
        console.log(JSON.stringify(r));
      }
    }

    const stats = (side: Run['side']) => {
      const xs = runs.filter((r) => r.side === side).map((r) => r.tx_per_s);
      return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) };
    };
    const baseline = stats('baseline');
    const subject = stats('subject');
    const ratio = round(subject.median / baseline.median);
    const machine = { node: process.version, platform: `${process.platform} ${process.arch}`, cores: cpus().length, cpu: cpus()[0]?.model ?? '' };
    const out = {
      benchmark: 'fetch: post-consent backfill to Kafka vs raw Data API read, heavy user',
      at: new Date().toISOString(),
      machine,
      services_runtime: servicesRuntime(),
      simulator: { user: 'heavy', provider: PROVIDER, switches: { cacheTtlSeconds: 0, scaWindowSeconds: 7 * 86_400 } },
      transactions: plan.transactions,
      windows: { months: WINDOW_MONTHS, per_resource: plan.windows.length, from: plan.earliest, to: plan.today, resources: plan.resources.map((r) => ({ id: r.id, card: r.isCard, earliest: r.earliest, transactions: plan.ledger.get(resourceKey(r))!.length })) },
      backfill_max_months: plan.maxMonths,
      runs_per_side: RUNS,
      unit: 'transactions/s',
      baseline: { name: 'raw read (Data API client, sequential windows)', ...baseline },
      subject: { name: 'backfill to Kafka (Fetcher.runBackfill, end to end)', ...subject },
      ratio_of_medians: ratio,
      runs,
    };
    writeFileSync(join(resultsDir(), 'fetch.json'), `${JSON.stringify(out, null, 2)}\n`);

    console.log(`\n${machine.platform}, ${machine.cores} cores, ${machine.cpu}, node ${machine.node}`);
    console.log(`${plan.transactions} transactions, ${plan.resources.length} accounts/cards × ${plan.windows.length} windows; ${RUNS} runs per side, alternating`);
    console.log('side                     tx/s min   median      max');
    for (const [name, s] of [
      ['raw read (baseline)', baseline],
      ['backfill to Kafka', subject],
    ] as const) {
      console.log(`${name.padEnd(24)} ${String(s.min).padStart(8)} ${String(s.median).padStart(8)} ${String(s.max).padStart(8)}`);
    }
    console.log(`backfill / raw read (medians): ${ratio}`);
    console.log(`written ${join(resultsDir(), 'fetch.json')}`);
  } finally {
    await producer?.disconnect().catch(() => undefined);
    await sandbox.stop();
    await stopStack(stack);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
