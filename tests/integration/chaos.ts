/**
 * The fault and chaos suite (issue 13): the same workload run once undisturbed and once per fault, compared.
 *
 * Workload: a few simulator users (fixed logins, so the simulator generates the same history for them: its data is
 * a function of SANDBOX_SEED, the login and the clock) connect through the real connect flow (connectMockUser,
 * the gateway, TrueLayer's dialog on the simulator, token-vault's code exchange), data-fetcher runs their
 * post-consent backfill, and enrichment and reconciliation carry it to the store and the change feed. Every run
 * gets a fresh stack (startFetchStack: its own topic prefix and databases) whose business clock (simulator,
 * token-vault, data-fetcher) starts at the same simulated instant, so every run asks the bank the same questions.
 *
 * A fault strikes mid-run: once the raw topic holds `strikeAt` of the raw events the undisturbed run produced
 * (mid-backfill), or, for enrichment and reconciliation, once the store holds `strikeAt` of its transactions
 * (mid-pipeline). Faults: SIGKILL of one service and a restart on the same ports (as an orchestrator would), a
 * SIGTERM of data-fetcher and a restart (a rolling deploy: the running backfill is handed over, not waited for), 10%
 * TrueLayer faults for the whole backfill (5xx, hung calls, 429 with Retry-After; the simulator's fault rules), a
 * restart of the Kafka broker or of the MongoDB-wire store (infra/stack.sh restart: same ports, same data).
 *
 * After the run settles (every backfill ended, every consumer group at the end of its topic, every user's change
 * feed published), dead letters are replayed with the operator's tool (`npm run dlq -- --replay`) and the run
 * settles again. Then, per run:
 * - the store: per user the counts and a checksum over canonical documents (`canonicalStore`: every account,
 *   transaction, balance and edit of the user, without what legitimately differs between two runs: the ids derived
 *   from TrueLayer's per-consent ids or the connection id, replaced by stable names, the sequence numbers, and the
 *   times of the fetch) must equal the undisturbed run's;
 * - the change feed (ais.ledger.v1, read from the start): per user, each sequence number appears once (twice, as
 *   the same event byte for byte, only after a broker restart: a produce request whose acknowledgement was lost is
 *   sent again by kafkajs; counted and reported), first sightings come in increasing order, no event is past the user's
 *   committedSeq, and every document in the store is in the feed at its current sequence number (nothing a
 *   downstream copy needs is missing: no gap that matters); the read API's changes feed from the start lists each
 *   live transaction exactly once;
 * - the unattended budget: the simulator refused no call (`provider_request_limit_exceeded`) and data-fetcher's
 *   journal has at most 4 unattended calls per account × endpoint in any rolling 24 h;
 * - the dead-letter topic: whatever was dead-lettered was replayed, and the replay dead-lettered nothing new.
 * Time to recover: from the strike until the store first equals the undisturbed run's (polled every 2 s).
 */
import { ALL_TOPICS, bindings, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { scaledClockSpec } from '@ais/platform-config';
import { connectMockUser, parseEnvFile, REPO_ROOT, type MockUserConnection } from '@ais/testing';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type mongoose from 'mongoose';
// the store's own collections and counters, read as an operator would
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ReconciliationStore } from '../../apps/reconciliation/src/data/store';
import { readApi, startFetchStack, waitFor, type FetchStack, type RestartableService } from './fetch-harness';
import { stackEnv } from './stack-env';

export const SERVICE_FAULTS = ['kill:data-fetcher', 'kill:enrichment', 'kill:reconciliation', 'kill:token-vault', 'kill:auth-gateway'] as const;
/** A graceful stop (SIGTERM, as a rolling deploy sends) and a restart: data-fetcher hands its running backfill over, a consumer leaves its group. */
export const STOP_FAULTS = ['stop:data-fetcher', 'stop:enrichment', 'stop:reconciliation', 'stop:token-vault', 'stop:auth-gateway'] as const;
export const FAULTS = [...SERVICE_FAULTS, ...STOP_FAULTS, 'truelayer-faults', 'restart:kafka', 'restart:store'] as const;
export type FaultName = (typeof FAULTS)[number];

export interface ChaosUser {
  userId: string;
  username: string;
  password: string;
}

export interface ChaosOptions {
  users: ChaosUser[];
  faults: FaultName[];
  /** Where in the run a fault strikes: this fraction of the undisturbed run's raw events (or stored transactions). */
  strikeAt?: number;
  /** How long a killed service stays down before its restart (ms; default 1000). */
  downMs?: number;
  /** Simulated start of every run (ms; default `quietSimStart()`, taken once). */
  simStartMs?: number;
  /** The stack dir of infra/stack.sh (for the Kafka and store restarts); default AIS_STACK_DIR. */
  stackDir?: string;
  /**
   * Start the servers the restart faults strike (Kafka for restart:kafka, the store for restart:store) in a stack
   * dir of their own for this suite (default true), so a restart recovers only this suite's data and never takes
   * down the broker or store that other work shares. With false, `stackDir`'s servers are restarted.
   */
  ownServers?: boolean;
  /** Per run: how long the backfill and the pipeline may take to settle. */
  settleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface UserSnapshot {
  userId: string;
  accounts: number;
  transactions: number;
  booked: number;
  pending: number;
  removed: number;
  balances: number;
  recurring: number;
  paired: number;
  /** sha256 over the canonical documents (`canonicalStore`). */
  checksum: string;
}

export interface FeedCheck {
  userId: string;
  events: number;
  distinctSeqs: number;
  /** Sequence numbers seen more than once as byte-identical events (at-least-once redelivery). */
  redelivered: number;
  /** Sequence numbers seen more than once with different content (never allowed). */
  conflicting: number[];
  /** Places where a first sighting came after a higher sequence number. */
  outOfOrder: number;
  /** Store documents whose current sequence number is not in the feed (a change a downstream copy never got). */
  missing: string[];
  /** Feed events past the user's committedSeq. */
  beyondCommitted: number;
  /** The read API's changes feed from the start: distinct transactions listed, the store's live ones, repeats. */
  apiListed: number;
  apiLive: number;
  apiDuplicates: number;
}

export interface RunResult {
  fault: FaultName | 'none';
  ok: boolean;
  violations: string[];
  /** ms from the run's first connect. */
  struckAtMs: number | null;
  /** What the strike met: raw events and stored transactions at that moment, and the baseline's totals. */
  struckWhen: string;
  /** ms the struck server was down (stop → ready again). */
  downtimeMs: number | null;
  /** ms from the strike until the store first equalled the undisturbed run's. */
  recoverMs: number | null;
  /** ms from the first connect until everything settled. */
  settledMs: number;
  rawEvents: number;
  deadLetters: number;
  deadLettersAfterReplay: number;
  trueLayerCalls: number;
  trueLayerFailures: number;
  unattendedRefused: number;
  maxUnattendedPer24h: number;
  snapshots: UserSnapshot[];
  feed: FeedCheck[];
  /** The first canonical documents that differ from the undisturbed run's (empty when equal). */
  differences: string[];
}

export interface ChaosReport {
  startedAt: string;
  machine: string;
  users: string[];
  strikeAt: number;
  settings: Record<string, string>;
  baseline: RunResult;
  runs: RunResult[];
  ok: boolean;
}

type Doc = Record<string, unknown>;

/** data-fetcher settings of every run (the production policy, with shorter waits so that a run takes minutes). */
export const FETCHER_ENV: Record<string, string> = {
  TRUELAYER_TIMEOUT_MS: '1000',
  RETRY_BASE_DELAY_MS: '50',
  RETRY_MAX_ATTEMPTS: '8',
  TASK_POLL_AFTER_MS: '10000',
  TASK_POLL_INTERVAL_MS: '500',
  TASK_MAX_AGE_MS: '5000',
  // a killed instance's lease on a connection lapses after 15 s instead of 2 min (renewed while a run is alive)
  FETCH_LEASE_MS: '15000',
};
export const RECONCILIATION_ENV: Record<string, string> = { CHANGEFEED_SWEEP_MS: '1000', CHANGEFEED_SWEEP_MIN_AGE_MS: '1000' };

/**
 * Fields that differ between two correct runs: sequence numbers and change kinds (batching decides them), fetch
 * times, the per-run ids (API client, connection, TrueLayer's account ids and transaction_id, which TrueLayer
 * issues per consent: the store never keys on it, domain/dedupe.ts).
 */
const VOLATILE = new Set(['seq', 'createdSeq', 'changeKind', 'updatedAt', 'createdAt', 'sourceAt', 'lastFetchId', 'fetchedAt', 'connectionId', 'previousConnectionId', 'providerAccountIds', 'providerAccountId', 'transactionId', 'clientId']);

/**
 * Per kind of document, what else differs between two correct runs: an account's `contentHash` covers its
 * connection and TrueLayer's per-consent account id (its other content fields stay compared); a balance's `asOf`
 * is the bank's `update_timestamp`, the moment it was read (its values stay compared).
 */
const VOLATILE_OF: Record<string, Set<string>> = {
  account: new Set(['contentHash']),
  balance: new Set(['asOf']),
  // a hash over the internal account id and the row's content (its content fields stay compared)
  transaction: new Set(['fingerprint', 'settledFingerprint']),
  edit: new Set(),
};

const INTERNAL_ACCOUNT_ID = /acc_[A-Za-z0-9_-]{22}/g;

function canonical(value: unknown, names: Map<string, string>, drop: Set<string> = new Set()): unknown {
  // an internal account id also appears inside other values (a transaction's dedupe key)
  if (typeof value === 'string') return names.get(value) ?? value.replace(INTERNAL_ACCOUNT_ID, (id) => names.get(id) ?? id);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => canonical(v, names));
  if (value && typeof value === 'object') {
    if (typeof (value as { toHexString?: unknown }).toHexString === 'function') return String(value);
    const out: Doc = {};
    for (const k of Object.keys(value).sort()) if (!VOLATILE.has(k) && !drop.has(k)) out[k] = canonical((value as Doc)[k], names);
    return out;
  }
  return value;
}

/**
 * The user's stored documents in a form two correct runs agree on: internal account ids (derived from the
 * connection and TrueLayer's per-consent account id) become the account's kind, currency and display name; a
 * transaction's `_id` (derived from the account) becomes its account's name and its dedupe key; a balance's `_id`
 * its account's name and values; the fields in VOLATILE and VOLATILE_OF are dropped. Sorted, as JSON lines.
 */
export async function canonicalStore(store: ReconciliationStore, userId: string): Promise<{ lines: string[]; snapshot: UserSnapshot }> {
  const accounts = (await store.accounts.find({ userId }).toArray()) as unknown as Doc[];
  const names = new Map<string, string>();
  for (const a of accounts) {
    const name = `account:${String(a['kind'] ?? '')}:${String(a['currency'] ?? '')}:${String(a['displayName'] ?? a['display_name'] ?? '')}`;
    names.set(String(a['_id']), name);
  }
  const txs = (await store.transactions.find({ userId }).toArray()) as unknown as Doc[];
  // a transaction's id stands for itself wherever it is named (transfer pairs): its dedupe key (account and bank id)
  for (const t of txs) {
    const key = String(t['dedupeKey']);
    // a row without a bank id is keyed by its fingerprint, a hash over its internal account id: named by content
    const name = key.startsWith('f:') ? `tx:f:${names.get(String(t['accountId'])) ?? ''}:${String(t['amount'])}:${JSON.stringify(t['bookedAt'] ?? t['timestamp'] ?? '')}:${String(t['description'])}` : `tx:${String(canonical(key, names))}`;
    names.set(String(t['_id']), name);
    names.set(key, name);
  }
  const balances = (await store.balances.find({ userId }).toArray()) as unknown as Doc[];
  for (const b of balances) names.set(String(b['_id']), `balance:${names.get(String(b['accountId'])) ?? String(b['accountId'])}:${String(b['current'])}:${String(b['available'])}`);
  const edits = (await store.edits.find({ userId }).toArray()) as unknown as Doc[];
  const lines: string[] = [];
  for (const [kind, docs] of [['account', accounts], ['transaction', txs], ['balance', balances], ['edit', edits]] as const) {
    for (const d of docs) lines.push(`${kind} ${JSON.stringify(canonical(d, names, VOLATILE_OF[kind]))}`);
  }
  lines.sort();
  const checksum = createHash('sha256').update(lines.join('\n')).digest('hex');
  const live = txs.filter((t) => t['removed'] !== true);
  return {
    lines,
    snapshot: {
      userId,
      accounts: accounts.length,
      transactions: txs.length,
      booked: live.filter((t) => t['status'] === 'booked').length,
      pending: live.filter((t) => t['status'] === 'pending').length,
      removed: txs.length - live.length,
      balances: balances.length,
      recurring: txs.filter((t) => t['recurring']).length,
      paired: txs.filter((t) => t['transferPairId']).length,
      checksum,
    },
  };
}

/** The first documents that differ between two canonical stores, field by field (for a failure message). */
export function firstDifferences(a: string[], b: string[], max = 5): string[] {
  const parse = (l: string): [string, Doc] => {
    const space = l.indexOf(' ');
    const doc = JSON.parse(l.slice(space + 1)) as Doc;
    return [`${l.slice(0, space)} ${String(doc['_id'])}`, doc];
  };
  const sa = new Set(a);
  const sb = new Set(b);
  const left = new Map(a.filter((l) => !sb.has(l)).map(parse));
  const right = new Map(b.filter((l) => !sa.has(l)).map(parse));
  const out: string[] = [];
  for (const [id, d] of left) {
    const o = right.get(id);
    if (!o) out.push(`${id}: only in the undisturbed run`);
    else {
      const keys = [...new Set([...Object.keys(d), ...Object.keys(o)])].filter((k) => JSON.stringify(d[k]) !== JSON.stringify(o[k]));
      out.push(`${id}: ${keys.map((k) => `${k} ${JSON.stringify(d[k])} (undisturbed) / ${JSON.stringify(o[k])}`).join('; ')}`);
    }
  }
  for (const id of right.keys()) if (!left.has(id)) out.push(`${id}: only in this run`);
  return out.slice(0, max);
}

export interface LedgerRecord {
  partition: number;
  offset: number;
  userId: string;
  seq: number;
  eventId: string;
  hash: string;
  entity: string;
}

/** Every message of `topic` up to its end now, in partition and offset order (a reader of its own group). */
export async function readTopic(kafka: Kafka, admin: Admin, topic: string): Promise<{ partition: number; offset: number; value: Buffer | null }[]> {
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((e) => [e.partition, Number(e.high)]));
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  const out: { partition: number; offset: number; value: Buffer | null }[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `chaos-reader-${createHash('sha1').update(`${topic}${Date.now()}${Math.random()}`).digest('hex').slice(0, 12)}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (Number(message.offset) < (ends.get(partition) ?? 0)) out.push({ partition, offset: Number(message.offset), value: message.value });
      },
    });
    await waitFor(`${topic} read to its end`, async () => (out.length >= total ? true : undefined), 120_000, 100);
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** The change feed of a stack (`prefix`) from its start up to its end now, decoded. */
export async function readLedger(kafka: Kafka, admin: Admin, prefix: string): Promise<LedgerRecord[]> {
  const ledger = await readTopic(kafka, admin, bindings.ledger(prefix).topic);
  return ledger
    .filter((m) => m.value)
    .map((m) => {
      const e = eventsV1.ChangeEvent.decode(m.value!);
      return { partition: m.partition, offset: m.offset, userId: e.userId, seq: Number(e.seq), eventId: e.meta?.eventId ?? '', hash: createHash('sha256').update(m.value!).digest('hex'), entity: entityOf(e) };
    });
}

function entityOf(e: eventsV1.ChangeEvent): string {
  const x = e.entity;
  if (!x) return 'none';
  switch (x.$case) {
    case 'account':
      return `accounts:${x.account.accountId}`;
    case 'transaction':
      return `transactions:${x.transaction.transactionId}`;
    case 'balance':
      return `balances:${x.balance.accountId}`;
    case 'userEdit':
      return `user_edits:${x.userEdit.targetId}`;
    case 'erasure':
      return 'erasure';
    default:
      return 'other';
  }
}

/** The change-feed invariants of one user (see the module comment). */
export async function checkFeed(records: LedgerRecord[], store: ReconciliationStore, userId: string, api?: Pick<FetchStack, 'api'>): Promise<FeedCheck> {
  const mine = records.filter((r) => r.userId === userId);
  const bySeq = new Map<number, LedgerRecord>();
  const conflicting: number[] = [];
  let redelivered = 0;
  let outOfOrder = 0;
  let highest = 0;
  for (const r of mine) {
    const seen = bySeq.get(r.seq);
    if (seen) {
      if (seen.hash === r.hash && seen.eventId === r.eventId) redelivered += 1;
      else conflicting.push(r.seq);
      continue;
    }
    if (r.seq < highest) outOfOrder += 1;
    highest = Math.max(highest, r.seq);
    bySeq.set(r.seq, r);
  }
  const state = await store.userState(userId);
  const committed = state?.committedSeq ?? 0;
  const missing: string[] = [];
  for (const [name, coll] of [
    ['accounts', store.accounts],
    ['transactions', store.transactions],
    ['balances', store.balances],
    ['user_edits', store.edits],
  ] as const) {
    const docs = (await (coll as unknown as mongoose.mongo.Collection<mongoose.mongo.Document>).find({ userId }, { projection: { _id: 1, seq: 1, accountId: 1 } }).toArray()) as Doc[];
    for (const d of docs) {
      const r = bySeq.get(Number(d['seq']));
      const want = name === 'balances' ? `balances:${String(d['accountId'])}` : `${name}:${String(d['_id'])}`;
      if (!r || (name !== 'user_edits' && r.entity !== want)) missing.push(`${name} ${String(d['_id'])} seq ${String(d['seq'])}${r ? ` (feed has ${r.entity})` : ''}`);
    }
  }
  // the read API under a loaded machine may time out (504): a client tries again
  let feed: Awaited<ReturnType<ReturnType<typeof readApi>['changesSince']>> | undefined = api ? undefined : { added: [], modified: [], removed: [], accounts: [], cursor: '' };
  for (let attempt = 1; !feed && api; attempt += 1) {
    try {
      feed = await readApi(api, userId).changesSince('');
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(2_000);
    }
  }
  const ids = [...feed!.added, ...feed!.modified].map((t) => String(t['transaction_id']));
  // without the read API (a check of the ledger alone) its part is left out
  const live = api ? await store.transactions.countDocuments({ userId, removed: { $ne: true } }) : 0;
  return {
    userId,
    events: mine.length,
    distinctSeqs: bySeq.size,
    redelivered,
    conflicting,
    outOfOrder,
    missing,
    beyondCommitted: mine.filter((r) => r.seq > committed).length,
    apiListed: new Set(ids).size,
    apiLive: live,
    apiDuplicates: ids.length - new Set(ids).size,
  };
}

/**
 * `redeliveryAllowed`: a change published twice (byte for byte) is allowed only where the publisher cannot know it
 * published it, a produce request the broker took but could not acknowledge (its restart: kafkajs sends it again).
 * Everywhere else the publisher resumes after what it published (apps/reconciliation/src/data/changefeed.ts).
 */
export function feedViolations(f: FeedCheck, redeliveryAllowed = false): string[] {
  const out: string[] = [];
  if (f.redelivered && !redeliveryAllowed) out.push(`${f.userId}: change feed repeated ${f.redelivered} sequence number(s) (the same event twice)`);
  if (f.conflicting.length) out.push(`${f.userId}: change feed has different events under one sequence number: ${f.conflicting.slice(0, 10).join(', ')}`);
  if (f.outOfOrder) out.push(`${f.userId}: change feed out of sequence order ${f.outOfOrder} time(s)`);
  if (f.missing.length) out.push(`${f.userId}: ${f.missing.length} stored document(s) not in the change feed at their sequence number (gap), e.g. ${f.missing.slice(0, 3).join('; ')}`);
  if (f.beyondCommitted) out.push(`${f.userId}: ${f.beyondCommitted} change-feed event(s) past committedSeq`);
  if (f.apiDuplicates) out.push(`${f.userId}: the read API's changes feed lists ${f.apiDuplicates} transaction(s) twice`);
  if (f.apiListed !== f.apiLive) out.push(`${f.userId}: the read API's changes feed lists ${f.apiListed} transactions, the store has ${f.apiLive} live ones`);
  return out;
}

interface JournalRow {
  connectionId: string;
  at: Date;
  endpoint: string;
  accountId: string;
  httpStatus: number;
  errorCode: string;
  attended: boolean;
  mode: string;
}

/** The budget: refusals at the bank, and the most unattended calls of one account × endpoint in a rolling 24 h. */
export async function checkBudget(s: FetchStack, conns: MockUserConnection[]): Promise<{ refused: number; maxPer24h: number; calls: number; failures: number; violations: string[] }> {
  const violations: string[] = [];
  const counters = await s.sandbox.admin<{ per_connection: Record<string, { calls: { rejected: number } }> }>('GET', '/counters');
  let refused = 0;
  for (const c of conns) refused += counters.per_connection[c.credentialsId]?.calls.rejected ?? 0;
  const journal = (await s.fetcherDb.collection('fetch_journal').find({}).toArray()) as unknown as JournalRow[];
  const limitErrors = journal.filter((j) => j.errorCode === 'provider_request_limit_exceeded').length;
  if (refused || limitErrors) violations.push(`unattended budget: the bank refused ${refused} call(s); journal has ${limitErrors} provider_request_limit_exceeded`);
  const unattended = journal.filter((j) => !j.attended && j.httpStatus > 0 && j.mode !== 'user' && !j.endpoint.startsWith('GET /data/v1/results/'));
  const byKey = new Map<string, number[]>();
  for (const j of unattended) {
    const key = `${j.connectionId}|${j.accountId}|${j.endpoint}`;
    byKey.set(key, [...(byKey.get(key) ?? []), new Date(j.at).getTime()]);
  }
  let maxPer24h = 0;
  for (const [key, times] of byKey) {
    times.sort((a, b) => a - b);
    for (let i = 0, lo = 0; i < times.length; i += 1) {
      while (times[i]! - times[lo]! >= 86_400_000) lo += 1;
      maxPer24h = Math.max(maxPer24h, i - lo + 1);
    }
    if (maxPer24h > 4) violations.push(`unattended budget: ${key} had ${maxPer24h} unattended calls within 24 h`);
  }
  return { refused, maxPer24h, calls: journal.length, failures: journal.filter((j) => j.errorCode !== '').length, violations };
}

/** The total lag of `groupId` on `topic`: end offsets minus its committed offsets (a group with none: everything). */
export async function lagOf(admin: Admin, groupId: string, topic: string): Promise<number> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  return ends.reduce((a, e) => a + Math.max(0, Number(e.high) - Math.max(0, at.get(e.partition) ?? 0)), 0);
}

/** Whether `groupId` has committed every offset of `topic` up to its end. */
async function caughtUp(admin: Admin, groupId: string, topic: string): Promise<boolean> {
  return (await lagOf(admin, groupId, topic)) === 0;
}

export function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')}: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Baseline {
  raw: number;
  transactions: number;
  canonical: Map<string, { lines: string[]; snapshot: UserSnapshot }>;
}

/** One run of the workload, with `fault` struck mid-way (or none). */
export async function runOnce(fault: FaultName | 'none', o: Required<Pick<ChaosOptions, 'users' | 'strikeAt' | 'downMs' | 'simStartMs' | 'settleTimeoutMs'>> & { stackDir: string; log: (l: string) => void }, baseline?: Baseline): Promise<{ result: RunResult; canonical: Baseline['canonical'] }> {
  const log = (l: string): void => o.log(`[chaos ${fault}] ${l}`);
  const infra = stackEnv();
  // a loaded machine (2 shared cores) may take more than a minute to start a service
  const s = await startFetchStack({ pipeline: true, clock: scaledClockSpec(o.simStartMs, 1), fetcherEnv: FETCHER_ENV, reconciliationEnv: RECONCILIATION_ENV, startTimeoutMs: 180_000 });
  const kafka = new Kafka({ clientId: `chaos-${s.prefix}`, brokers: infra['KAFKA_BROKERS']!.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const violations: string[] = [];
  const differences: string[] = [];
  let struckAt: number | null = null;
  let struckWhen = '';
  let downtimeMs: number | null = null;
  let recoverMs: number | null = null;
  const started = Date.now();
  try {
    await admin.connect();
    await s.sandbox.admin('PATCH', '/switches', { cacheTtlSeconds: 0 });
    const store = new ReconciliationStore(s.reconDb!);
    const storedTransactions = async (): Promise<number> => store.transactions.countDocuments({ userId: { $in: o.users.map((u) => u.userId) } });

    // the fault, struck in the background once the run is far enough along
    let faultError: unknown;
    const strike = async (): Promise<void> => {
      if (fault === 'none' || !baseline) return;
      const pipelineFault = ['kill:enrichment', 'kill:reconciliation', 'stop:enrichment', 'stop:reconciliation'].includes(fault);
      if (fault === 'truelayer-faults') {
        // The bank's faults (the Data API's account and card endpoints), not the auth server's: a code exchange is
        // single-use and never retried, by design. On from before the first connect, for the whole backfill.
        for (const endpoint of ['account*', 'card*', 'info']) {
          for (const rule of [
            { error: 'provider_error', rate: 0.04 },
            { timeout: true, rate: 0.03 },
            { error: 'provider_too_many_requests', rate: 0.03, retryAfterSeconds: 1 },
          ]) {
            await s.sandbox.admin('POST', '/faults', { endpoint, ...rule });
          }
        }
        struckAt = Date.now();
        struckWhen = 'from before the first connect: 4% 503 provider_error, 3% hung calls, 3% 429 with Retry-After: 1 on every account, card and info call';
        return;
      }
      const target = Math.max(1, Math.floor(o.strikeAt * (pipelineFault ? baseline.transactions : baseline.raw)));
      await waitFor(
        `the strike point of ${fault}`,
        async () => ((pipelineFault ? await storedTransactions() : s.raw.events.length) >= target ? true : undefined),
        o.settleTimeoutMs,
        50,
      );
      struckAt = Date.now();
      struckWhen = `${s.raw.events.length}/${baseline.raw} raw events, ${await storedTransactions()}/${baseline.transactions} stored transactions`;
      log(`strikes at +${struckAt - started} ms (${struckWhen})`);
      if (fault.startsWith('kill:') || fault.startsWith('stop:')) {
        const r = await s.restartService(fault.slice(5) as RestartableService, { signal: fault.startsWith('kill:') ? 'SIGKILL' : 'SIGTERM', downMs: o.downMs });
        downtimeMs = r.readyAt - struckAt;
      } else {
        const server = fault === 'restart:kafka' ? 'kafka' : 'mongo';
        await run('bash', [join(REPO_ROOT, 'infra/stack.sh'), 'restart', '--only', server, '--signal', 'KILL', '--dir', o.stackDir]);
        downtimeMs = Date.now() - struckAt;
      }
      log(`back after ${downtimeMs} ms`);
    };
    const striking = strike().catch((e: unknown) => {
      faultError = e;
    });

    const conns: MockUserConnection[] = [];
    for (const u of o.users) {
      conns.push(await connectWithRetry(s, u, log));
    }
    await striking;
    if (faultError) throw faultError;

    // recovery: poll the store against the undisturbed run's until it matches (or the run settles)
    let recovering = Boolean(baseline && struckAt !== null);
    const recovery = (async () => {
      while (recovering && baseline) {
        let same = true;
        for (const u of o.users) {
          const want = baseline.canonical.get(u.userId)!.snapshot;
          if ((await store.transactions.countDocuments({ userId: u.userId })) !== want.transactions) {
            same = false;
            break;
          }
          if ((await canonicalStore(store, u.userId)).snapshot.checksum !== want.checksum) {
            same = false;
            break;
          }
        }
        if (same) {
          recoverMs = Date.now() - struckAt!;
          return;
        }
        await sleep(2_000);
      }
    })().catch(() => undefined);

    await settle(s, admin, store, conns, o.settleTimeoutMs, log);
    if (fault === 'truelayer-faults') await s.sandbox.admin('DELETE', '/faults');

    // dead letters: replayed with the operator's tool, then everything settles again
    const deadLetters = s.raw.deadLetters.length;
    if (deadLetters > 0) {
      log(`${deadLetters} dead letter(s): ${s.raw.deadLetters.slice(0, 3).map((d) => `${d.errorCode}: ${d.errorMessage}`).join('; ')}; replaying them`);
      await run('node', ['--require', 'tsx/cjs', 'tools/scripts/replay-dead-letters.ts', '--prefix', s.prefix, '--replay'], { KAFKA_BROKERS: infra['KAFKA_BROKERS']! });
      await sleep(2_000);
      await settle(s, admin, store, conns, o.settleTimeoutMs, log);
    }
    const deadLettersAfterReplay = s.raw.deadLetters.length - deadLetters;
    if (deadLettersAfterReplay > 0) violations.push(`dead letters: ${deadLettersAfterReplay} new after the replay`);
    const settledMs = Date.now() - started;
    // one last look at the store before the poll stops (it may have matched between two polls)
    await sleep(2_100);
    recovering = false;
    await recovery;

    const canonicalNow = new Map<string, { lines: string[]; snapshot: UserSnapshot }>();
    for (const u of o.users) canonicalNow.set(u.userId, await canonicalStore(store, u.userId));
    if (baseline) {
      for (const u of o.users) {
        const want = baseline.canonical.get(u.userId)!;
        const got = canonicalNow.get(u.userId)!;
        if (JSON.stringify(got.snapshot) !== JSON.stringify(want.snapshot)) {
          const diff = firstDifferences(want.lines, got.lines, 20);
          differences.push(...diff);
          violations.push(`${u.userId}: store differs from the undisturbed run: ${JSON.stringify(got.snapshot)} vs ${JSON.stringify(want.snapshot)}; ${diff.length} differing document(s) listed in the report, e.g. ${diff.slice(0, 2).join(' | ')}`);
        }
      }
      if (recoverMs === null && violations.length === 0) recoverMs = settledMs - (struckAt! - started);
    }

    const records = await readLedger(kafka, admin, s.prefix);
    const feed: FeedCheck[] = [];
    for (const u of o.users) {
      const f = await checkFeed(records, store, u.userId, s);
      feed.push(f);
      violations.push(...feedViolations(f, fault === 'restart:kafka'));
    }
    const budget = await checkBudget(s, conns);
    violations.push(...budget.violations);

    const result: RunResult = {
      fault,
      ok: violations.length === 0,
      violations,
      struckAtMs: struckAt === null ? null : struckAt - started,
      struckWhen,
      downtimeMs,
      recoverMs,
      settledMs,
      rawEvents: s.raw.events.length,
      deadLetters,
      deadLettersAfterReplay,
      trueLayerCalls: budget.calls,
      trueLayerFailures: budget.failures,
      unattendedRefused: budget.refused,
      maxUnattendedPer24h: budget.maxPer24h,
      snapshots: [...canonicalNow.values()].map((c) => c.snapshot),
      feed,
      differences,
    };
    log(`${result.ok ? 'OK' : 'FAILED'}: settled in ${settledMs} ms, recovered in ${String(recoverMs)} ms${violations.length ? `; ${violations.join(' || ')}` : ''}`);
    return { result, canonical: canonicalNow };
  } finally {
    try {
      await s.stop();
      // The run's topics go with it (no other run reads them). Left behind, every earlier run's topics are partitions
      // the broker recovers after restart:kafka's SIGKILL before it serves again: in the `all` run after the four new
      // graceful stops, 13 runs' worth, it was not back within infra/stack.sh's 120 s.
      const topics = ALL_TOPICS.map((t) => topicName(t, s.prefix));
      await admin.deleteTopics({ topics, timeout: 30_000 }).catch((e: unknown) => log(`could not delete the run's topics: ${String(e)}`));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

/** connectMockUser, tried again while a struck gateway or token-vault is down (the user would try again too). */
async function connectWithRetry(s: FetchStack, u: ChaosUser, log: (l: string) => void): Promise<MockUserConnection> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await connectMockUser({ gatewayUrl: s.base, apiKey: s.apiKey, simulatorUrl: s.sandbox.url, userId: u.userId, username: u.username, password: u.password });
    } catch (error) {
      if (attempt >= 5) throw error;
      log(`connect ${u.userId} failed (${error instanceof Error ? error.message : String(error)}); again in 2 s`);
      await sleep(2_000);
    }
  }
}

/**
 * Waits until every post-consent fetch ended, every consumer group is at the end of its input, every user's feed
 * is published, and all of it stayed so for 3 s.
 */
async function settle(s: FetchStack, admin: Admin, store: ReconciliationStore, conns: MockUserConnection[], timeoutMs: number, log: (l: string) => void): Promise<void> {
  const connections = s.fetcherDb.collection('fetch_connections');
  let last = '';
  let since = 0;
  let lastLog = 0;
  await waitFor(
    'the backfill and the pipeline to settle',
    async () => {
      try {
        const ended = await connections.countDocuments({ _id: { $in: conns.map((c) => c.connectionId) } as never, backfill: { $in: ['done', 'partial'] } });
        const states = await Promise.all(conns.map((c) => store.userState(c.userId)));
        const sig = `${ended}/${s.raw.events.length}/${states.map((st) => `${st?.seq ?? 0}.${st?.committedSeq ?? 0}.${(st as { publishedSeq?: number } | null)?.publishedSeq ?? 0}`).join(',')}`;
        if (Date.now() - lastLog > 15_000) {
          lastLog = Date.now();
          log(`settling: backfills ended ${ended}/${conns.length}, raw events ${s.raw.events.length}, user seq/committed/published ${sig.split('/').slice(2).join('/')}`);
        }
        if (sig !== last) {
          last = sig;
          since = Date.now();
          return undefined;
        }
        const published = states.every((st) => st && st.seq === st.committedSeq && (st as { publishedSeq?: number }).publishedSeq === st.committedSeq);
        if (ended !== conns.length || !published || Date.now() - since < 3_000) return undefined;
        const drained =
          (await caughtUp(admin, `enrichment-${s.ns}`, bindings.raw(s.prefix).topic)) &&
          (await caughtUp(admin, `reconciliation-${s.ns}`, bindings.enriched(s.prefix).topic)) &&
          (await caughtUp(admin, `data-fetcher-${s.ns}`, topicName(TOPICS.fetch, s.prefix)).catch(() => true));
        return drained ? true : undefined;
      } catch {
        // a server restarting: ask again
        return undefined;
      }
    },
    timeoutMs,
    500,
  );
}

function emptyResult(fault: FaultName): RunResult {
  return {
    fault,
    ok: false,
    violations: [],
    struckAtMs: null,
    struckWhen: '',
    downtimeMs: null,
    recoverMs: null,
    settledMs: 0,
    rawEvents: 0,
    deadLetters: 0,
    deadLettersAfterReplay: 0,
    trueLayerCalls: 0,
    trueLayerFailures: 0,
    unattendedRefused: 0,
    maxUnattendedPer24h: 0,
    snapshots: [],
    feed: [],
    differences: [],
  };
}

/**
 * Today's 05:10 UTC: the simulator's ledger has nothing in 05:00-06:00 (its fixed items fall on whole hours up to
 * 05:00 and settle at 06:00, its random card and shop items between 07:00 and 22:00), so runs that start there and
 * last less than 50 simulated minutes all see the same booked and pending rows, however long each took to connect.
 */
export function quietSimStart(now: number = Date.now()): number {
  return Math.floor(now / 86_400_000) * 86_400_000 + 5 * 3_600_000 + 10 * 60_000;
}

/** The whole suite: the undisturbed run, then one run per fault, each compared with it. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const o = {
    users: options.users,
    strikeAt: options.strikeAt ?? 0.3,
    downMs: options.downMs ?? 1_000,
    simStartMs: options.simStartMs ?? quietSimStart(),
    settleTimeoutMs: options.settleTimeoutMs ?? 600_000,
    stackDir: options.stackDir ?? process.env['AIS_STACK_DIR'] ?? join(REPO_ROOT, '.infra'),
    log: options.log ?? ((l: string) => process.stdout.write(`${l}\n`)),
  };
  const startedAt = new Date().toISOString();
  const own = options.ownServers === false ? undefined : await startOwnServers(options.faults, o.log);
  if (own) o.stackDir = own.dir;
  try {
    return await runAll(options, o, startedAt);
  } finally {
    await own?.stop();
  }
}

/**
 * Kafka and/or the store of the restart faults, started by infra/stack.sh in a temporary dir, their addresses put
 * into process.env (where the harness reads the servers' addresses) until `stop`. Why not restart the shared ones:
 * a broker recovers every partition it holds after a SIGKILL, and a CI broker that already held thousands of
 * other suites' partitions was not back within stack.sh's 120 s; this suite's own recovers in seconds.
 */
async function startOwnServers(faults: readonly FaultName[], log: (l: string) => void): Promise<{ dir: string; stop(): Promise<void> } | undefined> {
  const servers = [...new Set(faults.filter((f) => f.startsWith('restart:')).map((f) => (f === 'restart:kafka' ? 'kafka' : 'mongo')))];
  if (servers.length === 0) return undefined;
  const stackSh = join(REPO_ROOT, 'infra/stack.sh');
  const dir = mkdtempSync(join(tmpdir(), 'ais-chaos-stack-'));
  const t0 = Date.now();
  const down = async (): Promise<void> => {
    await run('bash', [stackSh, 'down', '--dir', dir]).catch((e: unknown) => log(`[chaos] stopping the servers in ${dir}: ${e instanceof Error ? e.message : String(e)}`));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run('bash', [stackSh, 'up', '--only', servers.join(','), '--dir', dir]);
  } catch (error) {
    await down();
    throw error;
  }
  const env = parseEnvFile(readFileSync(join(dir, 'stack.env'), 'utf8'));
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  log(`[chaos] ${servers.join(' and ')} of its own (the restart faults strike these) up in ${Date.now() - t0} ms: ${dir}`);
  return {
    dir,
    async stop() {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await down();
    },
  };
}

async function runAll(options: ChaosOptions, o: Parameters<typeof runOnce>[1], startedAt: string): Promise<ChaosReport> {
  const first = await runOnce('none', o);
  const baseline: Baseline = {
    raw: first.result.rawEvents,
    transactions: first.result.snapshots.reduce((a, x) => a + x.transactions, 0),
    canonical: first.canonical,
  };
  const runs: RunResult[] = [];
  for (const fault of options.faults) {
    try {
      runs.push((await runOnce(fault, o, baseline)).result);
    } catch (error) {
      // a run that could not finish (a server that never came back, a settle timeout) fails, the others still run
      const message = error instanceof Error ? error.message : String(error);
      o.log(`[chaos ${fault}] FAILED: ${message}`);
      runs.push({ ...emptyResult(fault), violations: [`the run did not finish: ${message.slice(0, 2000)}`] });
    }
  }
  const os = await import('node:os');
  return {
    startedAt,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
    users: o.users.map((u) => `${u.userId} (${u.username})`),
    strikeAt: o.strikeAt,
    settings: { simStart: new Date(o.simStartMs).toISOString(), downMs: String(o.downMs), ...FETCHER_ENV, ...RECONCILIATION_ENV },
    baseline: first.result,
    runs,
    ok: first.result.ok && runs.every((r) => r.ok),
  };
}
