/**
 * A burst of connections with a slow consumer (issue 13): many users authorise within a minute while one stage of
 * the pipeline runs slowly, and everything must still arrive, within the budget, without a service running out of
 * memory.
 *
 * Workload: `connections` platform users (`burst-0001` …) each connect once through the real flow
 * (connectMockUser: the gateway's connect session, the simulator's dialog, the callback, token-vault's code
 * exchange) with the simulator login `small`/`small` (one current account, about 100 transactions of history),
 * their starts spread evenly over `windowMs`, at most `inFlight` journeys at a time (browsers, each from an address
 * of its own: X-Forwarded-For behind the gateway's trusted loopback proxy). Before the burst one reference user
 * connects alone on the quiet stack; every burst user's store must equal it.
 *
 * The slow consumer: from the first connect until everything settled, `slow.service` (default reconciliation, the
 * store's only writer) is frozen with SIGSTOP for `slow.stopMs` of every `slow.stopMs + slow.runMs` (default 2 s of
 * every 3 s: a third of its speed), its Kafka input piling up meanwhile. Every service runs with its image's heap
 * limits (the Dockerfile's NODE_OPTIONS).
 *
 * Checked, and reported with the numbers:
 * - everything arrives: every connect completed; every user's store (counts and the canonical checksum of
 *   chaos.ts, with the user id taken out) equals the reference user's; every user's change feed is complete and
 *   in order (checkFeed); no dead letter;
 * - the budget holds: the simulator refused no call and no account × endpoint had more than 4 unattended calls in
 *   any 24 h (checkBudget);
 * - back-pressure: the intake queues in Kafka and in data-fetcher's store, not in memory: no service exited, every
 *   service's peak resident memory stayed under `rssLimitMb` (issue 13's 200 MB), data-fetcher never had more
 *   connections in flight than SCHEDULER_CONCURRENCY (from its call journal), and the slow consumer's lag, which
 *   grew during the burst, drained to zero.
 */
import { bindings, topicName, TOPICS } from '@ais/contracts-events';
import { scaledClockSpec } from '@ais/platform-config';
import { connectMockUser, imageEnv, type MockUserConnection, type ServiceProcess } from '@ais/testing';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { Kafka, logLevel, type Admin } from 'kafkajs';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ReconciliationStore } from '../../apps/reconciliation/src/data/store';
import { canonicalStore, checkBudget, checkFeed, FETCHER_ENV, feedViolations, firstDifferences, lagOf, quietSimStart, readLedger, RECONCILIATION_ENV, type FeedCheck, type LedgerRecord, type UserSnapshot } from './chaos';
import { startFetchStack, waitFor, type FetchStack } from './fetch-harness';
import { stackEnv } from './stack-env';

export const BURST_SERVICES = ['token-vault', 'data-fetcher', 'enrichment', 'reconciliation', 'auth-gateway'] as const;
type BurstService = (typeof BURST_SERVICES)[number];

export interface BurstOptions {
  /** How many users authorise (default 1,000). */
  connections?: number;
  /** Over how long their connects start, evenly spread (ms; default 60 s). */
  windowMs?: number;
  /** The most journeys in flight at once (default 64). */
  inFlight?: number;
  /**
   * The slow consumer: frozen `stopMs` of every `stopMs + runMs` from the first connect until every post-consent
   * fetch ended (the intake), then at full speed to drain what piled up; null for none.
   */
  slow?: { service: 'enrichment' | 'reconciliation'; stopMs: number; runMs: number } | null;
  /** data-fetcher's SCHEDULER_CONCURRENCY (default the service's, 4). */
  fetchConcurrency?: number;
  /** More data-fetcher settings (e.g. BACKFILL_WINDOW_MONTHS). */
  fetcherEnv?: Record<string, string>;
  /** The resident-memory ceiling every service must stay under (MB; default 200). */
  rssLimitMb?: number;
  settleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface BurstReport {
  startedAt: string;
  machine: string;
  settings: Record<string, string | number | Record<string, string>>;
  connects: {
    requested: number;
    completed: number;
    failed: number;
    /** Connects retried after a refusal or an error (each retry counted). */
    retries: number;
    /** Connects whose journey ended (the bounce page said `connected`) within the window. */
    authorisedWithinWindow: number;
    /** From the first connect's start to the last one's end (ms). */
    lastAuthorisedMs: number;
    journeyP50Ms: number;
    journeyP99Ms: number;
  };
  /** From the first connect's start until every post-consent fetch ended (ms; the slow consumer slow until then). */
  intakeMs: number;
  /** From the first connect's start until everything settled (ms). */
  settledMs: number;
  reference: UserSnapshot;
  usersEqualToReference: number;
  /**
   * The post-consent fetches: full history, or cut short (`partial`: a window the bank refused, e.g. 403
   * sca_exceeded once TrueLayer's post-consent SCA window had passed), with the first notes.
   */
  backfills: { done: number; partial: number; waiting: number; notes: string[] };
  transactionsStored: number;
  feed: { users: number; complete: number; events: number; redelivered: number };
  budget: { trueLayerCalls: number; failures: number; refused: number; maxUnattendedPer24h: number };
  /** data-fetcher's journal: TrueLayer calls per connection, and how long one took. */
  calls: { perConnection: number; p50Ms: number; p99Ms: number };
  deadLetters: number;
  backPressure: {
    peakRssMb: Record<string, number>;
    exited: string[];
    mostConnectionsInFlight: number;
    fetchConcurrency: number;
    peakPendingBackfills: number;
    peakLag: Record<string, number>;
    finalLag: Record<string, number>;
    slowFrozenMs: number;
  };
  violations: string[];
  ok: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Resident memory now and at its peak (VmRSS, VmHWM) of a process, MB; undefined once it is gone. */
function rssMb(pid: number): { now: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { now: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
  } catch {
    return undefined;
  }
}

/**
 * The most connections with a TrueLayer call in flight at one moment, from data-fetcher's journal (each call from
 * `at` for `durationMs`; the business clock runs at rate 1, so its instants order like real ones). A scheduler
 * worker holds its connection between two calls as well, so this is a lower bound of the connections it was busy
 * with at once; it can only exceed the limit if the limit did not hold.
 */
export function mostInFlight(rows: { connectionId: string; at: Date; durationMs: number }[]): number {
  const spans = new Map<string, { from: number; to: number }>();
  // one span per connection and run of calls: merge a connection's calls that follow within 1 s
  const sorted = [...rows].sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime());
  const points: [number, number][] = [];
  for (const r of sorted) {
    const from = new Date(r.at).getTime();
    const to = from + Math.max(1, r.durationMs);
    const open = spans.get(r.connectionId);
    if (open && from <= open.to + 1_000) open.to = Math.max(open.to, to);
    else {
      if (open) points.push([open.from, 1], [open.to, -1]);
      spans.set(r.connectionId, { from, to });
    }
  }
  for (const x of spans.values()) points.push([x.from, 1], [x.to, -1]);
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of points) {
    now += d;
    most = Math.max(most, now);
  }
  return most;
}

/**
 * A user's canonical store with its user id taken out, and the ids derived from it (a recurring series' `rs_…`, a
 * hash that includes the user) named by their first appearance: users with the same bank login then compare equal.
 */
export async function anonymousStore(store: ReconciliationStore, userId: string, o: { dropMatchedBy?: boolean } = {}): Promise<{ lines: string[]; snapshot: UserSnapshot }> {
  const c = await canonicalStore(store, userId);
  const series = new Map<string, string>();
  const lines = c.lines
    .map((l) => l.split(JSON.stringify(userId)).join('"<user>"'))
    .map((l) => (o.dropMatchedBy ? l.replace(/"matchedBy":"[^"]*",/g, '').replace(/,"matchedBy":"[^"]*"/g, '') : l))
    .sort()
    .map((l) =>
      l.replace(/rs_[A-Za-z0-9_-]{16,}/g, (id) => {
        if (!series.has(id)) series.set(id, `rs<${series.size + 1}>`);
        return series.get(id)!;
      }),
    )
    .sort();
  return { lines, snapshot: { ...c.snapshot, userId: '<user>', checksum: createHash('sha256').update(lines.join('\n')).digest('hex') } };
}

/** Every connection's backfill ended, every user's feed published, every group at the end of its input. */
async function settled(s: FetchStack, admin: Admin, store: ReconciliationStore, conns: MockUserConnection[]): Promise<{ done: boolean; ended: number; published: number }> {
  // ended, or parked until later (`waiting: budget_spent`: the post-consent window passed mid-backfill, the rest
  // waits for the next day's unattended budget; reported, and a violation, below)
  const ended = await s.fetcherDb
    .collection('fetch_connections')
    .countDocuments({ _id: { $in: conns.map((c) => c.connectionId) } as never, $or: [{ backfill: { $in: ['done', 'partial'] } }, { backfillNote: /^waiting: / }] });
  const states = await store.state.find({ _id: { $in: conns.map((c) => c.userId) } }).toArray();
  const published = states.filter((st) => st.seq > 0 && st.seq === st.committedSeq && (st as { publishedSeq?: number }).publishedSeq === st.committedSeq).length;
  if (ended !== conns.length || published !== conns.length) return { done: false, ended, published };
  const lag =
    (await lagOf(admin, `enrichment-${s.ns}`, bindings.raw(s.prefix).topic)) +
    (await lagOf(admin, `reconciliation-${s.ns}`, bindings.enriched(s.prefix).topic)) +
    (await lagOf(admin, `data-fetcher-${s.ns}`, topicName(TOPICS.connection, s.prefix)));
  return { done: lag === 0, ended, published };
}

export async function runBurst(options: BurstOptions = {}): Promise<BurstReport> {
  const o = {
    connections: options.connections ?? 1_000,
    windowMs: options.windowMs ?? 60_000,
    inFlight: options.inFlight ?? 64,
    slow: options.slow === undefined ? { service: 'reconciliation' as const, stopMs: 2_000, runMs: 1_000 } : options.slow,
    fetchConcurrency: options.fetchConcurrency ?? 4,
    fetcherEnv: options.fetcherEnv ?? {},
    rssLimitMb: options.rssLimitMb ?? 200,
    settleTimeoutMs: options.settleTimeoutMs ?? 1_800_000,
    log: options.log ?? ((l: string) => process.stdout.write(`${l}\n`)),
  };
  const log = (l: string): void => o.log(`[burst] ${l}`);
  const startedAt = new Date().toISOString();
  const violations: string[] = [];
  // each service with its image's heap limits: out of memory is a crash here as in a container
  const heap = (service: BurstService): Record<string, string> => {
    const options = imageEnv(service)['NODE_OPTIONS'];
    return options ? { NODE_OPTIONS: options } : {};
  };
  const s = await startFetchStack({
    pipeline: true,
    clock: scaledClockSpec(quietSimStart(), 1),
    tokenVaultEnv: heap('token-vault'),
    fetcherEnv: { ...FETCHER_ENV, SCHEDULER_CONCURRENCY: String(o.fetchConcurrency), ...o.fetcherEnv, ...heap('data-fetcher') },
    enrichmentEnv: heap('enrichment'),
    reconciliationEnv: { ...RECONCILIATION_ENV, ...heap('reconciliation') },
    // an API client sized for the burst: its per-key quota (connect sessions and connection lists, about three
    // requests per connect) above the default 600 a minute
    gatewayEnv: { ...heap('auth-gateway'), DEFAULT_RATE_LIMIT_PER_MINUTE: String(Math.max(600, o.connections * 6)) },
    startTimeoutMs: 180_000,
  });
  const infra = stackEnv();
  const kafka = new Kafka({ clientId: `burst-${s.prefix}`, brokers: infra['KAFKA_BROKERS']!.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const store = new ReconciliationStore(s.reconDb!);
  const procs = (): Record<BurstService, ServiceProcess> => ({ 'token-vault': s.tokenVault, 'data-fetcher': s.fetchers[0]!, enrichment: s.enrichment!, reconciliation: s.reconciliation!, 'auth-gateway': s.gateway });
  const exited: string[] = [];
  // a service that exits before the report is written (the stack's own stop comes after it)
  for (const [name, p] of Object.entries(procs())) void p.exited.then((code) => exited.push(`${name} (pid ${p.pid}) exited: ${String(code)}`));
  let stopping = false;
  let intakeDone = false;
  let frozenMs = 0;
  const slowPid = o.slow ? procs()[o.slow.service].pid : 0;
  try {
    await admin.connect();
    const pick = { username: 'small', password: 'small' };
    const connect = async (userId: string, ip: string): Promise<{ conn: MockUserConnection; retries: number }> => {
      const withIp: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...((init?.headers as Record<string, string> | undefined) ?? {}), 'x-forwarded-for': ip } });
      for (let attempt = 1; ; attempt += 1) {
        try {
          return { conn: await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId, ...pick, fetch: withIp }), retries: attempt - 1 };
        } catch (error) {
          if (attempt >= 4) throw error;
          await sleep(1_000 * attempt);
        }
      }
    };

    // the reference: one user alone on the quiet stack
    const ref = await connect('burst-reference', '10.255.0.1');
    await waitFor('the reference user to settle', async () => ((await settled(s, admin, store, [ref.conn])).done ? true : undefined), 300_000, 500);
    const reference = await anonymousStore(store, 'burst-reference');
    log(`reference user settled: ${JSON.stringify(reference.snapshot)}`);

    // the sampler: memory, the backlog, the lag
    const peakRss: Record<string, number> = {};
    const peakLag: Record<string, number> = { enrichment: 0, reconciliation: 0 };
    let peakPending = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          for (const [name, p] of Object.entries(procs())) {
            const m = rssMb(p.pid);
            if (m) peakRss[name] = Math.max(peakRss[name] ?? 0, m.peak, m.now);
          }
          peakPending = Math.max(peakPending, await s.fetcherDb.collection('fetch_connections').countDocuments({ backfill: 'pending' }));
          peakLag['enrichment'] = Math.max(peakLag['enrichment']!, await lagOf(admin, `enrichment-${s.ns}`, bindings.raw(s.prefix).topic));
          peakLag['reconciliation'] = Math.max(peakLag['reconciliation']!, await lagOf(admin, `reconciliation-${s.ns}`, bindings.enriched(s.prefix).topic));
        } catch {
          // a sample that failed is skipped
        }
        await sleep(1_000);
      }
    })();

    // the slow consumer
    const slowLoop = (async () => {
      if (!o.slow) return;
      while (!stopping && !intakeDone) {
        process.kill(slowPid, 'SIGSTOP');
        const t = Date.now();
        await sleep(o.slow.stopMs);
        process.kill(slowPid, 'SIGCONT');
        frozenMs += Date.now() - t;
        await sleep(o.slow.runMs);
      }
    })();

    // the burst
    const t0 = Date.now();
    const conns: MockUserConnection[] = [];
    const journeys: number[] = [];
    const ends: number[] = [];
    let failed = 0;
    let retries = 0;
    const retried = new Set<string>();
    let running = 0;
    const slots: (() => void)[] = [];
    const take = async (): Promise<void> => {
      if (running < o.inFlight) {
        running += 1;
        return;
      }
      await new Promise<void>((r) => slots.push(r));
    };
    const give = (): void => {
      const next = slots.shift();
      if (next) next();
      else running -= 1;
    };
    const tasks: Promise<void>[] = [];
    for (let i = 0; i < o.connections; i += 1) {
      const startAt = t0 + Math.floor((i * o.windowMs) / o.connections);
      if (startAt > Date.now()) await sleep(startAt - Date.now());
      const userId = `burst-${String(i + 1).padStart(4, '0')}`;
      // a valid address of its own (10.0.0.1, …, 10.0.0.255, 10.0.1.0, …): the gateway drops an invalid one, and a
      // consent without the user's address is fetched unattended, within the 4-a-day budget
      const n = i + 1;
      const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      tasks.push(
        (async () => {
          await take();
          const t = Date.now();
          try {
            const r = await connect(userId, ip);
            conns.push(r.conn);
            retries += r.retries;
            if (r.retries > 0) retried.add(userId);
            journeys.push(Date.now() - t);
            ends.push(Date.now());
          } catch (error) {
            failed += 1;
            if (failed <= 5) violations.push(`connect of ${userId} failed: ${error instanceof Error ? error.message : String(error)}`);
          } finally {
            give();
          }
        })(),
      );
      if ((i + 1) % Math.max(1, Math.floor(o.connections / 10)) === 0) log(`${i + 1}/${o.connections} connects started at +${Date.now() - t0} ms (${conns.length} done, ${failed} failed)`);
    }
    await Promise.all(tasks);
    const lastAuthorisedMs = Math.max(0, ...ends.map((e) => e - t0));
    log(`connects: ${conns.length} done, ${failed} failed, ${retries} retried; the last ended at +${lastAuthorisedMs} ms`);

    // everything settles
    let lastLog = 0;
    let intakeMs = 0;
    await waitFor(
      'the burst to settle',
      async () => {
        const st = await settled(s, admin, store, conns).catch(() => ({ done: false, ended: -1, published: -1 }));
        if (st.ended === conns.length && !intakeDone) {
          intakeDone = true;
          intakeMs = Date.now() - t0;
          log(`every post-consent fetch ended at +${intakeMs} ms; the slow consumer runs at full speed from here`);
        }
        if (Date.now() - lastLog > 15_000) {
          lastLog = Date.now();
          log(`settling at +${Date.now() - t0} ms: backfills ended ${st.ended}/${conns.length}, feeds published ${st.published}/${conns.length}, reconciliation lag ${await lagOf(admin, `reconciliation-${s.ns}`, bindings.enriched(s.prefix).topic).catch(() => -1)}`);
        }
        return st.done ? true : undefined;
      },
      o.settleTimeoutMs,
      1_000,
    );
    const settledMs = Date.now() - t0;
    stopping = true;
    await slowLoop;
    sampling = false;
    await sampler;
    log(`settled at +${settledMs} ms`);

    // everything arrived
    let equal = 0;
    let stored = 0;
    // A user whose journey failed after the bank's consent (a 502 on the callback: token-vault's code exchange
    // missed the gateway's deadline) and who connected again has two connections; reconciliation matches the second
    // one's account to the first's (`matchedBy: iban`, not `new`), which is compared without that field.
    const referenceLoose = await anonymousStore(store, 'burst-reference', { dropMatchedBy: true });
    for (const c of conns) {
      const loose = retried.has(c.userId);
      const got = await anonymousStore(store, c.userId, { dropMatchedBy: loose });
      const want = loose ? referenceLoose : reference;
      stored += got.snapshot.transactions;
      if (got.snapshot.checksum === want.snapshot.checksum) equal += 1;
      else if (violations.length < 20) violations.push(`${c.userId}: store differs from the reference user's: ${JSON.stringify(got.snapshot)}; e.g. ${firstDifferences(want.lines, got.lines, 2).join(' | ')}`);
    }
    const backfillDocs = (await s.fetcherDb
      .collection('fetch_connections')
      .find({ _id: { $in: conns.map((c) => c.connectionId) } as never }, { projection: { backfill: 1, backfillNote: 1 } })
      .toArray()) as unknown as { backfill: string; backfillNote?: string }[];
    const partial = backfillDocs.filter((d) => d.backfill === 'partial');
    const waiting = backfillDocs.filter((d) => d.backfill !== 'partial' && d.backfill !== 'done');
    const backfills = {
      done: backfillDocs.filter((d) => d.backfill === 'done').length,
      partial: partial.length,
      waiting: waiting.length,
      notes: [...new Set([...partial, ...waiting].map((d) => (d.backfillNote ?? '').replace(/account [0-9a-f]+/g, 'account …')))].slice(0, 5),
    };
    if (partial.length || waiting.length) violations.push(`${partial.length + waiting.length} of ${conns.length} post-consent fetches did not read the full history (${partial.length} cut short, ${waiting.length} parked): ${backfills.notes.join('; ')}`);
    // the feed grouped by user once (checkFeed picks a user's records out of what it is given: 1,000 users × the
    // whole feed otherwise)
    const byUser = new Map<string, LedgerRecord[]>();
    for (const r of await readLedger(kafka, admin, s.prefix)) {
      const list = byUser.get(r.userId);
      if (list) list.push(r);
      else byUser.set(r.userId, [r]);
    }
    const feeds: FeedCheck[] = [];
    for (const [i, c] of conns.entries()) {
      // the read API's changes feed too, for the first 20 users
      const f = await checkFeed(byUser.get(c.userId) ?? [], store, c.userId, i < 20 ? s : undefined);
      feeds.push(f);
      const v = feedViolations(f);
      if (v.length && violations.length < 40) violations.push(...v.map((x) => `${c.userId}: ${x}`));
    }
    const budget = await checkBudget(s, conns);
    violations.push(...budget.violations);
    if (s.raw.deadLetters.length) violations.push(`${s.raw.deadLetters.length} dead letter(s), e.g. ${s.raw.deadLetters.slice(0, 2).map((d) => `${d.errorCode}: ${d.errorMessage}`).join('; ')}`);
    if (failed) violations.push(`${failed} of ${o.connections} connects failed`);

    // back-pressure
    for (const [name, p] of Object.entries(procs())) {
      const m = rssMb(p.pid);
      if (m) peakRss[name] = Math.max(peakRss[name] ?? 0, m.peak);
    }
    for (const [name, mb] of Object.entries(peakRss)) if (mb >= o.rssLimitMb) violations.push(`${name}: peak resident memory ${mb} MB, over ${o.rssLimitMb} MB`);
    if (exited.length) violations.push(`services exited during the burst: ${exited.join('; ')}`);
    // the scheduler's runs; an async task's results, read when its webhook arrives, are not one of them
    const journal = (await s.fetcherDb
      .collection('fetch_journal')
      .find({ endpoint: { $not: /^GET \/data\/v1\/results\// } }, { projection: { connectionId: 1, at: 1, durationMs: 1 } })
      .toArray()) as unknown as { connectionId: string; at: Date; durationMs: number }[];
    const most = mostInFlight(journal);
    if (most > o.fetchConcurrency) violations.push(`data-fetcher had ${most} connections in flight at once, over SCHEDULER_CONCURRENCY ${o.fetchConcurrency}`);
    const finalLag = {
      enrichment: await lagOf(admin, `enrichment-${s.ns}`, bindings.raw(s.prefix).topic),
      reconciliation: await lagOf(admin, `reconciliation-${s.ns}`, bindings.enriched(s.prefix).topic),
    };
    if (finalLag.enrichment || finalLag.reconciliation) violations.push(`lag left after settling: ${JSON.stringify(finalLag)}`);

    const sorted = [...journeys].sort((a, b) => a - b);
    const durations = journal.map((j) => j.durationMs).sort((a, b) => a - b);
    const report: BurstReport = {
      startedAt,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, node ${process.version}`,
      settings: {
        connections: o.connections,
        windowMs: o.windowMs,
        inFlight: o.inFlight,
        login: 'small',
        slow: o.slow ? `${o.slow.service} frozen ${o.slow.stopMs} ms of every ${o.slow.stopMs + o.slow.runMs} ms` : 'none',
        fetchConcurrency: o.fetchConcurrency,
        fetcherEnv: Object.entries(o.fetcherEnv).map(([k, v]) => `${k}=${v}`).join(' ') || 'defaults',
        // per service: the images' heap limits differ (reconciliation keeps 4 MB semi-spaces)
        nodeOptions: Object.fromEntries(BURST_SERVICES.map((svc) => [svc, heap(svc)['NODE_OPTIONS'] ?? ''])),
        rssLimitMb: o.rssLimitMb,
      },
      connects: {
        requested: o.connections,
        completed: conns.length,
        failed,
        retries,
        authorisedWithinWindow: ends.filter((e) => e - t0 <= o.windowMs).length,
        lastAuthorisedMs,
        journeyP50Ms: percentile(sorted, 50),
        journeyP99Ms: percentile(sorted, 99),
      },
      intakeMs,
      settledMs,
      reference: reference.snapshot,
      usersEqualToReference: equal,
      backfills,
      transactionsStored: stored,
      feed: { users: feeds.length, complete: feeds.filter((f) => feedViolations(f).length === 0).length, events: feeds.reduce((a, f) => a + f.events, 0), redelivered: feeds.reduce((a, f) => a + f.redelivered, 0) },
      budget: { trueLayerCalls: budget.calls, failures: budget.failures, refused: budget.refused, maxUnattendedPer24h: budget.maxPer24h },
      calls: { perConnection: Math.round((10 * budget.calls) / Math.max(1, conns.length + 1)) / 10, p50Ms: percentile(durations, 50), p99Ms: percentile(durations, 99) },
      deadLetters: s.raw.deadLetters.length,
      backPressure: { peakRssMb: peakRss, exited: [...exited], mostConnectionsInFlight: most, fetchConcurrency: o.fetchConcurrency, peakPendingBackfills: peakPending, peakLag, finalLag, slowFrozenMs: frozenMs },
      violations,
      ok: violations.length === 0,
    };
    log(`${report.ok ? 'OK' : 'FAILED'}: ${JSON.stringify({ connects: report.connects, settledMs, equal, backPressure: report.backPressure })}${violations.length ? `; ${violations.slice(0, 5).join(' || ')}` : ''}`);
    return report;
  } finally {
    stopping = true;
    // never leave the slow service frozen
    if (slowPid) {
      try {
        process.kill(slowPid, 'SIGCONT');
      } catch {
        // gone already
      }
    }
    await admin.disconnect().catch(() => undefined);
    await s.stop();
  }
}

/** The services' NODE_OPTIONS as reported: one text when they agree, else per service. */
function nodeOptionsText(v: unknown): string {
  const byService = Object.entries(v as Record<string, string>);
  if (new Set(byService.map(([, o]) => o)).size === 1) return byService[0]?.[1] ?? '';
  return byService.map(([svc, o]) => `${svc} ${o}`).join('; ');
}

/** The report as a Markdown table. */
export function burstMarkdown(r: BurstReport): string {
  const b = r.backPressure;
  const rows: [string, string][] = [
    ['connects', `${r.connects.completed}/${r.connects.requested} completed (${r.connects.failed} failed, ${r.connects.retries} retried); ${r.connects.authorisedWithinWindow} authorised within the ${Number(r.settings['windowMs']) / 1000} s window, the last at ${(r.connects.lastAuthorisedMs / 1000).toFixed(1)} s; journey p50 ${r.connects.journeyP50Ms} ms, p99 ${r.connects.journeyP99Ms} ms`],
    ['settled', `every post-consent fetch ended ${(r.intakeMs / 1000).toFixed(1)} s after the first connect (the slow consumer slow until then), everything settled at ${(r.settledMs / 1000).toFixed(1)} s`],
    ['history', `${r.backfills.done} post-consent fetches read the full history, ${r.backfills.partial} were cut short, ${r.backfills.waiting} parked until the next budget${r.backfills.notes.length ? ` (${r.backfills.notes.join('; ')})` : ''}`],
    ['everything arrives', `${r.usersEqualToReference}/${r.connects.completed} users' stores equal the reference user's (${r.reference.transactions} transactions each, ${r.transactionsStored} in all); change feed complete for ${r.feed.complete}/${r.feed.users} users (${r.feed.events} events, ${r.feed.redelivered} redelivered); ${r.deadLetters} dead letters`],
    ['budget', `${r.budget.trueLayerCalls} TrueLayer calls (${r.calls.perConnection} per connection, p50 ${r.calls.p50Ms} ms, p99 ${r.calls.p99Ms} ms; ${r.budget.failures} failed); refused ${r.budget.refused}; most unattended calls per account × endpoint in 24 h: ${r.budget.maxUnattendedPer24h}`],
    [
      'memory',
      `${Object.entries(b.peakRssMb)
        .map(([k, v]) => `${k} ${v} MB`)
        .join(', ')} (peak resident, limit ${String(r.settings['rssLimitMb'])} MB; NODE_OPTIONS ${nodeOptionsText(r.settings['nodeOptions'])}); exited: ${b.exited.length ? b.exited.join('; ') : 'none'}`,
    ],
    ['back-pressure', `most connections fetched at once ${b.mostConnectionsInFlight} (limit ${b.fetchConcurrency}); most backfills waiting ${b.peakPendingBackfills}; peak lag enrichment ${b.peakLag['enrichment']}, reconciliation ${b.peakLag['reconciliation']}; lag at the end ${b.finalLag['enrichment']}/${b.finalLag['reconciliation']}; slow consumer (${String(r.settings['slow'])}) frozen ${(b.slowFrozenMs / 1000).toFixed(1)} s in all`],
  ];
  return [
    `Run ${r.startedAt} on ${r.machine}: ${r.connects.requested} users (simulator login \`small\`) authorising over ${Number(r.settings['windowMs']) / 1000} s, at most ${String(r.settings['inFlight'])} at a time; data-fetcher SCHEDULER_CONCURRENCY ${String(r.settings['fetchConcurrency'])}, ${String(r.settings['fetcherEnv'])} — ${r.ok ? 'pass' : 'FAIL'}.`,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    ...r.violations.map((v) => `- ${v}`),
  ].join('\n');
}
