/**
 * The fetch engine: one TrueLayer call with the whole error policy around it (budget, circuit breaker, token
 * refresh, backoff, narrowing, journal), and the three runs built from such calls:
 *
 * - **backfill** right after consent: identity, accounts, cards, then per account/card the full history in date
 *   windows from newest to oldest (resumable: progress is saved per window), then balance, pending transactions,
 *   standing orders and direct debits. Calls carry the consenting user's IP (X-PSU-IP) only inside the
 *   post-consent window; after it they are unattended and budgeted like any background call.
 * - **scheduled** background refresh: every kind as an ASYNC task (`async=true` + `webhook_uri`), each call
 *   taking a slot of the unattended ledger first; results arrive by webhook (through the gateway and Kafka) or,
 *   when the webhook is late, by polling.
 * - **user** refresh: SYNC, with the present user's IP, outside the budget (the gRPC service coalesces them).
 *
 * Who writes a connection's state: the instance holding its lease (`fetch:<id>`) for runs; task completions are
 * claimed one by one (FetchStateStore.claimTask). Raw events are keyed by user id, so one user's events stay in
 * order on one partition.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { bindings, EVENT_TYPES, listItemBytes, RAW_EVENT_MAX_ITEMS, RAW_EVENT_SCHEMA_VERSION, splitRawItems } from '@ais/contracts-events';
import { eventsV1, type MessageEncoder } from '@ais/contracts-proto-ts';
import type { Logger } from '@ais/platform-logger';
import { AppError } from '@ais/platform-errors';
import { newMeta } from '@ais/platform-kafka';
import { isTrueLayerError, toDate, TrueLayerError, type DataRequest, type DataResponse, type PendingTask, type TrueLayerDataClient } from '@ais/truelayer-client';
import { inSpan } from '@ais/platform-telemetry';
import { trace, type Attributes } from '@opentelemetry/api';
import { accountKey, cardKey, connectionKey, UNATTENDED_CALLS_PER_WINDOW, type BudgetEndpoint, type BudgetKey, type CallBudget } from './call-budget';
import type { CircuitBreakers, Decision, ErrorPolicy, NextStep } from './error-policy';
import type { FetchMetrics } from './fetch-metrics';
import { addDays, capWindow, dayOf, incrementalWindow, nextBackfillWindow, postConsentWindowMs, splitWindow, windowDays, refreshIntervalMs, spreadOffsetMs, windowBounds, type DayWindow } from './plan';
import { rawAccount, rawBalance, rawCard, rawDirectDebit, rawIdentity, rawStandingOrder, rawTransaction } from './raw-mapping';
import { resourceKey, type FetchConnectionDoc, type FetchStateStore, type FetchTaskDoc, type Kind, type RefreshedItemDoc, type ResourceState } from '../data/fetch-state.store';

export type Mode = 'backfill' | 'scheduled' | 'user';

const MODE_PROTO: Record<Mode, eventsV1.FetchMode> = {
  backfill: eventsV1.FetchMode.FETCH_MODE_BACKFILL,
  scheduled: eventsV1.FetchMode.FETCH_MODE_SCHEDULED,
  user: eventsV1.FetchMode.FETCH_MODE_USER,
};

export const KIND_PROTO: Record<Kind, eventsV1.FetchKind> = {
  me: eventsV1.FetchKind.FETCH_KIND_ME,
  identity: eventsV1.FetchKind.FETCH_KIND_IDENTITY,
  accounts: eventsV1.FetchKind.FETCH_KIND_ACCOUNTS,
  cards: eventsV1.FetchKind.FETCH_KIND_CARDS,
  transactions: eventsV1.FetchKind.FETCH_KIND_TRANSACTIONS,
  pending_transactions: eventsV1.FetchKind.FETCH_KIND_PENDING_TRANSACTIONS,
  balance: eventsV1.FetchKind.FETCH_KIND_BALANCE,
  standing_orders: eventsV1.FetchKind.FETCH_KIND_STANDING_ORDERS,
  direct_debits: eventsV1.FetchKind.FETCH_KIND_DIRECT_DEBITS,
};

/** One unit of fetch work: a kind, for the connection or one account/card, with a window for transactions. */
export interface Unit {
  kind: Kind;
  accountId: string;
  isCard: boolean;
  window?: DayWindow | undefined;
}

/** The scope each kind needs (besides `accounts`/`cards` for the per-resource kinds). */
const SCOPE_OF: Record<Kind, string> = {
  me: '',
  identity: 'info',
  accounts: 'accounts',
  cards: 'cards',
  transactions: 'transactions',
  pending_transactions: 'transactions',
  balance: 'balance',
  standing_orders: 'standing_orders',
  direct_debits: 'direct_debits',
};

/** `me` is TrueLayer's own metadata (no bank call): never budgeted. */
const BUDGET_ENDPOINT: Record<Kind, BudgetEndpoint | undefined> = {
  me: undefined,
  identity: 'info',
  accounts: 'accounts',
  cards: 'cards',
  transactions: 'transactions',
  pending_transactions: 'pending',
  balance: 'balance',
  standing_orders: 'standing_orders',
  direct_debits: 'direct_debits',
};

export const ACCOUNT_KINDS: readonly Kind[] = ['balance', 'pending_transactions', 'standing_orders', 'direct_debits'];
export const CARD_KINDS: readonly Kind[] = ['balance', 'pending_transactions'];

export function dataRequestOf(unit: Unit): DataRequest {
  const range = unit.window ? { from: unit.window.from, to: unit.window.to } : undefined;
  const id = unit.accountId;
  switch (unit.kind) {
    case 'me':
      return { resource: 'me' };
    case 'identity':
      return { resource: 'info' };
    case 'accounts':
      return { resource: 'accounts' };
    case 'cards':
      return { resource: 'cards' };
    case 'transactions':
      if (!range) throw new TypeError('transactions need a window');
      return unit.isCard ? { resource: 'cardTransactions', cardId: id, range } : { resource: 'transactions', accountId: id, range };
    case 'pending_transactions':
      return unit.isCard ? { resource: 'cardPendingTransactions', cardId: id } : { resource: 'pendingTransactions', accountId: id };
    case 'balance':
      return unit.isCard ? { resource: 'cardBalance', cardId: id } : { resource: 'balance', accountId: id };
    case 'standing_orders':
      return { resource: 'standingOrders', accountId: id };
    case 'direct_debits':
      return { resource: 'directDebits', accountId: id };
  }
}

/** The ledger key of a unit; undefined for what never reaches a bank (`/me`). */
export function budgetKeyOf(connectionId: string, unit: Unit): BudgetKey | undefined {
  const endpoint = BUDGET_ENDPOINT[unit.kind];
  if (!endpoint) return undefined;
  if (!unit.accountId) return connectionKey(connectionId, endpoint);
  return unit.isCard ? cardKey(connectionId, unit.accountId, endpoint) : accountKey(connectionId, unit.accountId, endpoint);
}

const ENDPOINT_TEMPLATE: Record<string, string> = {
  me: '/me',
  info: '/info',
  accounts: '/accounts',
  cards: '/cards',
  transactions: '/accounts/{account_id}/transactions',
  pendingTransactions: '/accounts/{account_id}/transactions/pending',
  balance: '/accounts/{account_id}/balance',
  standingOrders: '/accounts/{account_id}/standing_orders',
  directDebits: '/accounts/{account_id}/direct_debits',
  cardTransactions: '/cards/{account_id}/transactions',
  cardPendingTransactions: '/cards/{account_id}/transactions/pending',
  cardBalance: '/cards/{account_id}/balance',
};

/**
 * When the next background refresh may start, from the ends of the last refreshes (newest last, at most 4): one
 * interval after the last one, but once four are known, as soon as the oldest of them has left the budget window
 * (every call it made is then out of the rolling window, so each key has a free slot). Anchoring on the budget
 * instead of on "last + interval" keeps scheduling latency from accumulating, so an account gets its 4 refreshes
 * per window; never sooner than 90% of an interval after the last one, so refreshes stay spread over the day.
 */
export function nextRefreshTime(ends: readonly Date[], windowMs: number, intervalMs: number): number {
  const last = ends.at(-1)!.getTime();
  if (ends.length < UNATTENDED_CALLS_PER_WINDOW) return last + intervalMs;
  return Math.max(ends[0]!.getTime() + windowMs, last + Math.floor(intervalMs * 0.9));
}

/** The journal's name for reading an async task's results. */
export const RESULTS_ENDPOINT = 'GET /data/v1/results/{task_id}';

export function endpointOf(unit: Unit): string {
  return `GET /data/v1${ENDPOINT_TEMPLATE[dataRequestOf(unit).resource] ?? ''}`;
}

/** A refresh unit's name in `refreshLeft`: its kind and account or card (a transactions window is planned anew). */
export function unitKey(unit: Pick<Unit, 'kind' | 'accountId' | 'isCard'>): string {
  return unit.accountId ? `${unit.kind}|${resourceKey(unit.accountId, unit.isCard)}` : unit.kind;
}

/** Whether the connection may be asked for `kind`: scope granted and not known to be unsupported. */
export function allowed(conn: Pick<FetchConnectionDoc, 'scopes' | 'unsupported'>, kind: Kind, isCard = false): boolean {
  if (conn.unsupported.includes(kind)) return false;
  if (kind === 'me') return true;
  if (!conn.scopes.includes(SCOPE_OF[kind])) return false;
  if (kind !== 'accounts' && kind !== 'cards' && kind !== 'identity' && !conn.scopes.includes(isCard ? 'cards' : 'accounts')) return false;
  return true;
}

export interface FetcherSettings {
  backfillWindowMonths: number;
  backfillMaxMonths: number;
  postConsentWindowMs: number;
  overlapDays: number;
  historyDaysOutsideSca: number;
  refreshesPerWindow: number;
  /** Where TrueLayer posts async webhooks (the gateway's public route); empty: async without webhook, polled. */
  webhookUri: string;
  /** Use async tasks for scheduled refreshes (default true). */
  asyncRefresh: boolean;
  /** When to poll a task whose webhook did not come (clock ms after start). */
  taskPollAfterMs: number;
  /** Between polls of a task that is still running (clock ms). */
  taskPollIntervalMs: number;
  /** A task still not finished after this long (clock ms) is given up and its unit started anew. */
  taskMaxAgeMs: number;
  /** Tasks one unit may take (the first included) before it is given up and dead-lettered. */
  taskAttempts: number;
  /** How long a claim on a task lasts (clock ms). */
  taskClaimMs: number;
  taskRetentionMs: number;
  /** Raw events per Kafka request. */
  publishChunk: number;
}

export interface TokenSource {
  /** A valid access token from token-vault; `force` after a 401. */
  get(connectionId: string, force: boolean): Promise<string>;
}

export interface RawSink {
  publish(events: eventsV1.RawDataEvent[]): Promise<void>;
}

export interface DeadLetterSink {
  /** Work that exhausted its retries or failed for good, with the reason: replayable as a FetchRequested. */
  send(work: eventsV1.FetchRequested, code: string, reason: string): Promise<void>;
}

export interface FetcherDeps {
  store: FetchStateStore;
  budget: CallBudget;
  policy: ErrorPolicy;
  breakers: CircuitBreakers;
  tokens: TokenSource;
  data: TrueLayerDataClient;
  raw: RawSink;
  deadLetters: DeadLetterSink;
  clock: { now(): Date };
  logger: Logger;
  settings: FetcherSettings;
  instance: string;
  /** The pause before an inline retry; it must end early, without throwing, when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Budget decisions, fetch lag and the funnel's first data (absent: not recorded). */
  metrics?: FetchMetrics;
}

/** How one unit ended. */
export type UnitOutcome =
  | {
      ok: true;
      items: number;
      correlationId: string;
      correlationIds: string[];
      task?: PendingTask;
      /** The window the result covers (narrower than asked after an SCA refusal). */
      window?: DayWindow | undefined;
    }
  | {
      ok: false;
      code: string;
      action: string;
      next: NextStep;
      correlationId: string;
      correlationIds: string[];
      /** True when the unit was never sent (budget spent, circuit open). */
      notSent?: boolean;
    };

/** A result read and not yet delivered. */
interface ReadResult {
  /** The unit as last sent (a narrowed window is what the result covers). */
  unit: Unit;
  results: unknown[];
  correlationIds: string[];
}

interface RunContext {
  mode: Mode;
  fetchId: string;
  /** X-PSU-IP: only for a user who is present (user refresh, post-consent fetch inside its window). */
  psuIp?: string | undefined;
  /** Start an async task instead of a SYNC read. */
  async?: boolean;
  /** Narrowing an SCA-refused window is allowed (the newest window only). */
  allowNarrow?: boolean;
  /** A background refresh: when it was planned for (journaled with each call). */
  dueAt?: Date;
  /** Shared by the run's units (copies of the context keep the object): its latest ledger grant, set by each call. */
  grants?: { last?: Date };
  /** Aborted when the run must end early: its reason is a {@link StopReason}. */
  signal?: AbortSignal | undefined;
}

/**
 * Why a post-consent fetch is told to stop before it is done (the `reason` of its AbortSignal, from the scheduler).
 * - `instance_stopping`: this instance is shutting down (SIGTERM, a rolling deploy). The run ends at its next call
 *   boundary, publishes the window it holds, and leaves the connection due at once, so another instance (or this one,
 *   restarted) goes on from there instead of after the lease lapses or a minute's pause.
 * - `lease_lost`: another instance holds the connection's lease now (this one could not renew it in time, e.g. a
 *   store outage longer than the lease). The run ends at its next call boundary and writes nothing more: the state is
 *   the holder's.
 */
export const STOP_REASONS = { stopping: 'instance_stopping', leaseLost: 'lease_lost' } as const;
export type StopReason = (typeof STOP_REASONS)[keyof typeof STOP_REASONS];

const errorCodeOf = (error: unknown): { code: string; httpStatus: number; description: string; retryAfterMs?: number; correlationId: string } => {
  if (isTrueLayerError(error)) {
    return { code: error.code, httpStatus: error.httpStatus, description: error.description ?? '', correlationId: error.correlationId ?? '', ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}) };
  }
  return { code: 'internal', httpStatus: 0, description: error instanceof Error ? error.message : String(error), correlationId: '' };
};



/** A backfill window refused with one of these is split (see runBackfill), else the history ends there. */
const SPLIT_ON = new Set(['sca_exceeded', 'invalid_date_range']);

/**
 * A unit the run's signal ended before it was done (see {@link StopReason}). `interrupted` is no retry policy's
 * action, so no dead letter is written for it (settleFailure); `notBefore` keeps a pause the bank asked for.
 */
function interrupted(code: string, notBefore: Date, correlationIds: string[], notSent = false): Extract<UnitOutcome, { ok: false }> {
  return { ok: false, code, action: 'interrupted', next: { kind: 'reschedule', notBefore }, correlationId: '', correlationIds, ...(notSent ? { notSent } : {}) };
}

/** When a unit the run's signal ended may be asked again (the end of a pause the bank asked for, else now); undefined for any other outcome. */
function interruptedUntil(outcome: UnitOutcome): Date | undefined {
  return !outcome.ok && outcome.action === 'interrupted' && outcome.next.kind === 'reschedule' ? outcome.next.notBefore : undefined;
}

const TOKEN_STOP_CODES = new Set(['reauth_required', 'expired', 'revoked', 'no_tokens', 'no_refresh_token', 'connection_not_found']);

export class Fetcher {
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly intervalMs: number;

  constructor(private readonly deps: FetcherDeps) {
    this.sleep = deps.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined));
    this.intervalMs = refreshIntervalMs(deps.budget.windowMs, deps.settings.refreshesPerWindow);
  }

  /** Waits `ms` before an inline retry; true when the run's signal ended the wait (or had already). */
  private async pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return true;
    await this.sleep(ms, signal);
    return signal?.aborted ?? false;
  }

  private now(): Date {
    return this.deps.clock.now();
  }

  // ------------------------------------------------------------------------------------------------------------
  // One call

  /**
   * Runs one unit against TrueLayer with the error policy: unattended calls take a ledger slot before every
   * attempt (each attempt reaches the bank), refunded only when the bank was provably not called.
   */
  async call(conn: FetchConnectionDoc, unit: Unit, ctx: RunContext): Promise<{ outcome: UnitOutcome; response?: DataResponse<unknown>; unit: Unit }> {
    const attributes: Attributes = {
      'ais.fetch.kind': unit.kind,
      'ais.fetch.mode': ctx.mode,
      'ais.fetch.async': Boolean(ctx.async),
      'ais.fetch.attended': Boolean(ctx.psuIp),
      'ais.connection_id': conn._id,
      'ais.provider_id': conn.providerId,
      'ais.circuit.state': this.deps.breakers.state(conn.providerId),
      ...(unit.window ? { 'ais.fetch.window_from': unit.window.from, 'ais.fetch.window_to': unit.window.to } : {}),
    };
    return inSpan('data-fetcher', 'fetch.unit', attributes, async () => {
      const result = await this.callInner(conn, unit, ctx);
      const span = trace.getActiveSpan();
      span?.setAttributes({ 'ais.fetch.ok': result.outcome.ok, 'ais.circuit.state': this.deps.breakers.state(conn.providerId) });
      if (!result.outcome.ok) span?.setAttributes({ 'ais.fetch.error_code': result.outcome.code, 'ais.fetch.action': result.outcome.action });
      return result;
    });
  }

  private async callInner(conn: FetchConnectionDoc, unit: Unit, ctx: RunContext): Promise<{ outcome: UnitOutcome; response?: DataResponse<unknown>; unit: Unit }> {
    const correlationIds: string[] = [];
    let attempt = 1;
    let forceToken = false;
    let tokenRefreshed = false;
    let tokenAttempts = 0;
    let current: Unit = unit;
    for (;;) {
      const permit = this.deps.breakers.acquire(conn.providerId);
      if (!permit.allowed) {
        return { unit: current, outcome: { ok: false, code: 'circuit_open', action: 'retry', next: { kind: 'reschedule', notBefore: permit.retryAt }, correlationId: '', correlationIds, notSent: true } };
      }
      let grant: Awaited<ReturnType<CallBudget['tryConsume']>> | undefined;
      const budgetKey = ctx.psuIp ? undefined : budgetKeyOf(conn._id, current);
      // An unattended call is journaled at the time the ledger recorded it, so that the journal and the ledger agree
      // to the millisecond on when each slot frees (`at` + the window).
      const at = this.now();
      if (budgetKey) {
        grant = await this.deps.budget.tryConsume(budgetKey, at, { reason: ctx.mode, correlationId: ctx.fetchId });
        this.deps.metrics?.budgetDecision(conn.providerId, grant.granted ? 'granted' : 'denied', grant.granted ? grant.left : 0);
        if (!grant.granted) {
          if (permit.probe) this.deps.breakers.record(conn.providerId, 'wait_for_budget');
          return { unit: current, outcome: { ok: false, code: 'budget_spent', action: 'wait_for_budget', next: { kind: 'reschedule', notBefore: grant.nextAvailableAt }, correlationId: '', correlationIds, notSent: true } };
        }
      }
      if (grant?.granted && ctx.grants && (!ctx.grants.last || at > ctx.grants.last)) ctx.grants.last = at;
      const started = Date.now();
      let token: string;
      try {
        token = await this.deps.tokens.get(conn._id, forceToken);
      } catch (error) {
        if (grant?.granted) await this.deps.budget.refund(grant, { kind: 'not_sent', reason: 'no access token' });
        if (permit.probe) this.deps.breakers.record(conn.providerId, 'success');
        const code = error instanceof AppError ? error.code : 'token_vault_unavailable';
        const stop = error instanceof AppError && TOKEN_STOP_CODES.has(error.code);
        // token-vault restarting or briefly unreachable (UNAVAILABLE, a deadline): ask again after the policy's
        // backoff, as for a TrueLayer retry, before giving the run up; rescheduled at the first failure, a run waited a
        // minute for an outage of seconds (docs/CHAOS.md, kill:token-vault). The bank has not been called.
        tokenAttempts += 1;
        // the run was told to stop while it waited for token-vault (a shutdown also cancels that wait): not a failure
        // of token-vault, and the run goes on elsewhere at once (runBackfill)
        if (!stop && ctx.signal?.aborted) return { unit: current, outcome: interrupted(code, this.now(), correlationIds, true) };
        const transient = !stop && (!(error instanceof AppError) || error.retriable);
        const pauseMs = transient ? this.deps.policy.inlineRetryDelay(tokenAttempts) : undefined;
        await this.journal(conn, current, ctx, at, started, { httpStatus: 0, errorCode: code, errorDescription: 'token-vault: ' + (error instanceof Error ? error.message : ''), action: stop ? 'reauth_required' : 'retry' });
        this.deps.logger.warn(
          { connectionId: conn._id, endpoint: endpointOf(current), code, attempt: tokenAttempts, next: stop ? 'stop_connection' : pauseMs === undefined ? 'reschedule' : 'repeat', ...(pauseMs === undefined ? {} : { afterMs: pauseMs }), mode: ctx.mode },
          'no access token from token-vault',
        );
        if (pauseMs !== undefined) {
          if (await this.pause(pauseMs, ctx.signal)) return { unit: current, outcome: interrupted(code, this.now(), correlationIds, true) };
          continue;
        }
        return {
          unit: current,
          outcome: { ok: false, code, action: stop ? 'reauth_required' : 'retry', next: stop ? { kind: 'stop_connection' } : { kind: 'reschedule', notBefore: new Date(this.now().getTime() + 60_000) }, correlationId: '', correlationIds, notSent: true },
        };
      }
      try {
        const req = dataRequestOf(current);
        const call = { maxAttempts: 1, clientCorrelationId: randomUUID(), provider: conn.providerId, ...(ctx.psuIp ? { psuIp: ctx.psuIp } : {}) };
        if (ctx.async) {
          const task = await this.deps.data.startTask(token, req, this.deps.settings.webhookUri ? { webhookUri: this.deps.settings.webhookUri } : {}, call);
          this.deps.breakers.record(conn.providerId, 'success');
          if (task.correlationId) correlationIds.push(task.correlationId);
          await this.journal(conn, current, ctx, at, started, { httpStatus: 202, correlationId: task.correlationId ?? '', taskId: task.taskId });
          return { unit: current, outcome: { ok: true, items: 0, correlationId: task.correlationId ?? '', correlationIds, task } };
        }
        const response = await this.deps.data.get(token, req, call);
        this.deps.breakers.record(conn.providerId, 'success');
        if (response.correlationId) correlationIds.push(response.correlationId);
        await this.journal(conn, current, ctx, at, started, { httpStatus: response.httpStatus, correlationId: response.correlationId ?? '', items: response.results.length });
        return { unit: current, outcome: { ok: true, items: response.results.length, correlationId: response.correlationId ?? '', correlationIds }, response: response as DataResponse<unknown> };
      } catch (error) {
        const e = errorCodeOf(error);
        if (e.correlationId) correlationIds.push(e.correlationId);
        if (grant?.granted) await this.deps.budget.refund(grant, isTrueLayerError(error) && error.httpStatus > 0 ? { kind: 'truelayer_error', code: e.code, httpStatus: e.httpStatus } : { kind: 'other', reason: e.code });
        const decision = this.decide(e, attempt, tokenRefreshed, current, ctx);
        this.deps.breakers.record(conn.providerId, decision.action);
        if (decision.action === 'wait_for_budget' && !ctx.psuIp) await this.exhaustBudget(conn, current, ctx);
        await this.journal(conn, current, ctx, at, started, { httpStatus: e.httpStatus, errorCode: e.code, errorDescription: e.description, correlationId: e.correlationId, action: decision.action });
        this.deps.logger.warn(
          { connectionId: conn._id, endpoint: endpointOf(current), code: e.code, httpStatus: e.httpStatus, correlationId: e.correlationId, action: decision.action, next: decision.next.kind, attempt, mode: ctx.mode },
          'TrueLayer call failed',
        );
        switch (decision.next.kind) {
          case 'repeat': {
            // a stop during the pause: not before the pause would have ended (a 429's Retry-After holds for whoever goes on)
            const until = new Date(this.now().getTime() + decision.next.afterMs);
            if (await this.pause(decision.next.afterMs, ctx.signal)) return { unit: current, outcome: interrupted(e.code, until, correlationIds) };
            attempt += 1;
            continue;
          }
          case 'refresh_and_repeat':
            forceToken = true;
            tokenRefreshed = true;
            attempt += 1;
            continue;
          case 'repeat_with_window':
            current = { ...current, window: { from: dayOf(decision.next.from), to: dayOf(decision.next.to) } };
            attempt += 1;
            continue;
          default:
            return { unit: current, outcome: { ok: false, code: e.code, action: decision.action, next: decision.next, correlationId: e.correlationId, correlationIds } };
        }
      }
    }
  }

  /**
   * The bank says the unattended budget of this key is spent (it counts calls we cannot see, e.g. another app on
   * the same consent): take every slot still free in the ledger, so no unattended call goes for this key until the
   * window has passed (a user-present call still may).
   */
  private async exhaustBudget(conn: FetchConnectionDoc, unit: Unit, ctx: RunContext): Promise<void> {
    const key = budgetKeyOf(conn._id, unit);
    if (!key) return;
    this.deps.metrics?.budgetDecision(conn.providerId, 'bank_exhausted');
    for (let i = 0; i < UNATTENDED_CALLS_PER_WINDOW; i += 1) {
      const grant = await this.deps.budget.tryConsume(key, this.now(), { reason: 'provider_request_limit_exceeded', correlationId: ctx.fetchId });
      if (!grant.granted) return;
    }
  }

  private decide(e: { code: string; httpStatus: number; retryAfterMs?: number }, attempt: number, tokenRefreshed: boolean, unit: Unit, ctx: RunContext): Decision {
    const window = unit.window && ctx.allowNarrow ? windowBounds(unit.window) : undefined;
    return this.deps.policy.decide({ code: e.code, httpStatus: e.httpStatus, retryAfterMs: e.retryAfterMs }, { attempt, tokenRefreshed, window });
  }

  private async journal(
    conn: FetchConnectionDoc,
    unit: Unit,
    ctx: RunContext,
    at: Date,
    startedMs: number,
    r: { httpStatus: number; errorCode?: string; errorDescription?: string; correlationId?: string; items?: number; taskId?: string; action?: string; endpoint?: string },
  ): Promise<void> {
    const bounds = unit.window ? windowBounds(unit.window) : undefined;
    await this.deps.store
      .record({
        connectionId: conn._id,
        at,
        endpoint: r.endpoint ?? endpointOf(unit),
        accountId: unit.accountId,
        ...(bounds ? { windowFrom: bounds.from, windowTo: bounds.to } : {}),
        httpStatus: r.httpStatus,
        errorCode: r.errorCode ?? '',
        errorDescription: (r.errorDescription ?? '').slice(0, 500),
        correlationId: r.correlationId ?? '',
        durationMs: Date.now() - startedMs,
        attended: Boolean(ctx.psuIp),
        traceId: trace.getActiveSpan()?.spanContext().traceId ?? '',
        mode: ctx.mode,
        taskId: r.taskId ?? '',
        items: r.items ?? 0,
        action: r.action ?? '',
        ...(ctx.dueAt ? { dueAt: ctx.dueAt } : {}),
      })
      .catch((error: unknown) => this.deps.logger.warn({ err: error, connectionId: conn._id }, 'journal write failed'));
  }

  // ------------------------------------------------------------------------------------------------------------
  // Results → raw events and state

  /**
   * Publishes one result as raw events (each at most RAW_EVENT_MAX_ITEMS items and RAW_EVENT_MAX_BYTES of them) and
   * records the success. `moreWindowsFollow`: the next backfill window of the same resource has been read already
   * and is published next (see runBackfill).
   */
  async deliver(conn: FetchConnectionDoc, unit: Unit, mode: Mode, fetchId: string, results: unknown[], correlationIds: string[], moreWindowsFollow = false): Promise<number> {
    const events = this.rawEvents(conn, unit, mode, fetchId, results, correlationIds, moreWindowsFollow);
    for (let i = 0; i < events.length; i += this.deps.settings.publishChunk) await this.deps.raw.publish(events.slice(i, i + this.deps.settings.publishChunk));
    await this.recordSuccess(conn, unit, results);
    return results.length;
  }

  rawEvents(conn: FetchConnectionDoc, unit: Unit, mode: Mode, fetchId: string, results: unknown[], correlationIds: string[], moreWindowsFollow = false): eventsV1.RawDataEvent[] {
    const fetchedAt = this.now();
    const base = (eventType: string, index: number, count: number): Omit<eventsV1.RawDataEvent, 'payload'> => ({
      meta: { ...newMeta('data-fetcher', eventType, RAW_EVENT_SCHEMA_VERSION, fetchId) },
      userId: conn.userId,
      clientId: conn.clientId,
      connectionId: conn._id,
      providerId: conn.providerId,
      credentialsId: conn.credentialsId,
      accountId: unit.accountId,
      isCard: unit.isCard,
      fetchId,
      mode: MODE_PROTO[mode],
      window: unit.window ? windowBounds(unit.window) : undefined,
      batch: { index, count, complete: true },
      correlationIds,
      fetchedAt,
      moreWindowsFollow,
    });
    // split by count and by encoded bytes (RAW_EVENT_MAX_BYTES: a bank's long descriptions and meta make smaller
    // messages, never one the broker refuses)
    const many = <T>(items: T[], codec: MessageEncoder<T>, eventType: string, payload: (chunk: T[]) => eventsV1.RawDataEvent['payload']): eventsV1.RawDataEvent[] => {
      const chunks = splitRawItems(items, RAW_EVENT_MAX_ITEMS, listItemBytes(codec));
      return chunks.map((chunk, i) => ({ ...base(eventType, i, chunks.length), payload: payload(chunk) }));
    };
    const r = results as never[];
    switch (unit.kind) {
      case 'me':
        return [];
      case 'transactions':
        return many(r.map(rawTransaction), eventsV1.RawTransaction, EVENT_TYPES.rawTransactions, (c) => ({ $case: 'transactions', transactions: { transactions: c } }));
      case 'pending_transactions':
        return many(r.map(rawTransaction), eventsV1.RawTransaction, EVENT_TYPES.rawPendingTransactions, (c) => ({ $case: 'pendingTransactions', pendingTransactions: { transactions: c } }));
      case 'accounts':
        return many(r.map(rawAccount), eventsV1.RawAccount, EVENT_TYPES.rawAccounts, (c) => ({ $case: 'accounts', accounts: { accounts: c } }));
      case 'cards':
        return many(r.map(rawCard), eventsV1.RawCard, EVENT_TYPES.rawCards, (c) => ({ $case: 'cards', cards: { cards: c } }));
      case 'standing_orders':
        return many(r.map(rawStandingOrder), eventsV1.RawStandingOrder, EVENT_TYPES.rawStandingOrders, (c) => ({ $case: 'standingOrders', standingOrders: { standingOrders: c } }));
      case 'direct_debits':
        return many(r.map(rawDirectDebit), eventsV1.RawDirectDebit, EVENT_TYPES.rawDirectDebits, (c) => ({ $case: 'directDebits', directDebits: { directDebits: c } }));
      case 'identity':
        return many(r.map(rawIdentity), eventsV1.RawIdentity, EVENT_TYPES.rawIdentity, (c) => ({ $case: 'identity', identity: { identities: c } }));
      case 'balance': {
        const balances = r.map(rawBalance);
        return balances.map((balance, i) => ({ ...base(EVENT_TYPES.rawBalance, i, balances.length), payload: { $case: 'balance', balance } }));
      }
    }
  }

  private async recordSuccess(conn: FetchConnectionDoc, unit: Unit, results: unknown[]): Promise<void> {
    const now = this.now();
    const m = this.deps.metrics;
    if (m) {
      m.succeeded(unit.kind);
      // The funnel's last stage: the first data of a new connection (a re-consent's successor is not a new user).
      if (unit.kind !== 'me' && results.length > 0 && !conn.firstDataAt && !conn.previousConnectionId) {
        // noted on this run's copy first: the conditional update runs once per connection and run, not once per unit
        conn.firstDataAt = now;
        if (await this.deps.store.markFirstData(conn._id, now)) m.firstData(conn.providerId);
      }
    }
    if (!unit.accountId) {
      const set: Record<string, unknown> = { [`lastSuccess.${unit.kind}`]: now };
      if (unit.kind === 'me') {
        // TrueLayer's own view of the consent: the support report shows it next to ours
        const me = (results as { consent_expires_at?: string; consent_status?: string }[])[0];
        const expires = me?.consent_expires_at ? toDate(me.consent_expires_at) : undefined;
        if (expires) set['consentExpiresAt'] = expires;
        if (me?.consent_status) set['consentStatus'] = me.consent_status;
      }
      if (unit.kind === 'accounts' || unit.kind === 'cards') {
        const isCard = unit.kind === 'cards';
        const seen = new Set<string>();
        for (const item of results as { account_id?: string }[]) {
          if (!item.account_id) continue;
          const rk = resourceKey(item.account_id, isCard);
          seen.add(rk);
          set[`resources.${rk}.id`] = item.account_id;
          set[`resources.${rk}.isCard`] = isCard;
          set[`resources.${rk}.gone`] = false;
        }
        const fresh = await this.deps.store.get(conn._id);
        for (const [rk, res] of Object.entries(fresh?.resources ?? {})) if (res.isCard === isCard && !seen.has(rk)) set[`resources.${rk}.gone`] = true;
      }
      await this.deps.store.update(conn._id, set);
      return;
    }
    const rk = resourceKey(unit.accountId, unit.isCard);
    const set: Record<string, unknown> = { [`resources.${rk}.lastSuccess.${unit.kind}`]: now };
    if (unit.kind === 'transactions' && unit.window) {
      const fresh = await this.deps.store.get(conn._id);
      const syncedTo = fresh?.resources[rk]?.syncedTo;
      if (!syncedTo || unit.window.to > syncedTo) set[`resources.${rk}.syncedTo`] = unit.window.to;
    }
    await this.deps.store.update(conn._id, set);
  }

  /** Reacts to a failed unit that the run will not repeat: remember, stop, or dead-letter. */
  private async settleFailure(conn: FetchConnectionDoc, unit: Unit, mode: Mode, outcome: Extract<UnitOutcome, { ok: false }>): Promise<void> {
    switch (outcome.next.kind) {
      case 'skip_endpoint':
        await this.deps.store.addUnsupported(conn._id, unit.kind);
        this.deps.logger.info({ connectionId: conn._id, kind: unit.kind, code: outcome.code }, 'provider does not support this kind: not asked again');
        return;
      case 'stop_connection':
        await this.deps.store.setStatus(conn._id, 'reauth_required', outcome.code);
        this.deps.logger.warn({ connectionId: conn._id, code: outcome.code }, 'consent gone: scheduling stopped until the user re-consents');
        return;
      case 'fail':
        // A backfill window refused past the SCA window, or as a range the bank does not serve, is split or is where
        // the provider's history ends: runBackfill records it in the note and marks the resource done; a replay
        // would only be refused again.
        if (mode === 'backfill' && (outcome.action === 'narrow_window' || SPLIT_ON.has(outcome.code))) return;
        await this.deadLetter(conn, unit, mode, outcome.code, `failed: ${outcome.next.reason}`);
        return;
      case 'reschedule':
        if (outcome.action === 'retry' && !outcome.notSent) await this.deadLetter(conn, unit, mode, outcome.code, `retries exhausted: ${outcome.code}`);
        return;
      default:
        return;
    }
  }

  private async deadLetter(conn: FetchConnectionDoc, unit: Unit, mode: Mode, code: string, reason: string): Promise<void> {
    const work: eventsV1.FetchRequested = {
      connectionId: conn._id,
      userId: conn.userId,
      kind: KIND_PROTO[unit.kind],
      accountId: unit.accountId,
      isCard: unit.isCard,
      window: unit.window ? windowBounds(unit.window) : undefined,
      mode: MODE_PROTO[mode],
      reason,
    };
    await this.deps.deadLetters.send(work, code, reason).catch((error: unknown) => this.deps.logger.error({ err: error, connectionId: conn._id }, 'dead-letter write failed'));
  }

  /** A SYNC read of one unit, delivered; failures settled. */
  async runUnit(conn: FetchConnectionDoc, unit: Unit, ctx: RunContext): Promise<UnitOutcome> {
    const { outcome, read } = await this.readUnit(conn, unit, ctx);
    if (read) await this.deliver(conn, read.unit, ctx.mode, ctx.fetchId, read.results, read.correlationIds);
    return outcome;
  }

  /** A SYNC read of one unit, not yet delivered (`read`, when it returned data); failures settled. */
  private async readUnit(conn: FetchConnectionDoc, unit: Unit, ctx: RunContext): Promise<{ outcome: UnitOutcome; read?: ReadResult }> {
    // `sent` is the unit as last sent: a narrowed window is what the result covers
    const { outcome, response, unit: sent } = await this.call(conn, unit, ctx);
    if (outcome.ok && response) {
      return { outcome: sent.window ? { ...outcome, window: sent.window } : outcome, read: { unit: sent, results: response.results, correlationIds: outcome.correlationIds } };
    } else if (!outcome.ok) await this.settleFailure(conn, unit, ctx.mode, outcome);
    return { outcome };
  }

  // ------------------------------------------------------------------------------------------------------------
  // Runs

  private postConsentIp(conn: FetchConnectionDoc): string | undefined {
    return conn.psuIp && this.postConsentOpen(conn) ? conn.psuIp : undefined;
  }

  /** Inside the SCA window after the consent: the bank serves the full history (reference §8). */
  private postConsentOpen(conn: FetchConnectionDoc): boolean {
    return this.now().getTime() < conn.authorizedAt.getTime() + postConsentWindowMs(conn.providerId, this.deps.settings.postConsentWindowMs);
  }

  private nextRefreshAt(conn: FetchConnectionDoc, from: Date): Date {
    return new Date(from.getTime() + this.intervalMs + spreadOffsetMs(conn._id, Math.min(this.intervalMs / 4, 30 * 60_000)));
  }

  private activeResources(conn: FetchConnectionDoc): ResourceState[] {
    return Object.values(conn.resources ?? {}).filter((r) => !r.gone);
  }

  /**
   * The post-consent fetch (also resumes an interrupted one). Returns when done, stopped or waiting. `signal` ends it
   * early, at its next call boundary ({@link StopReason}).
   */
  runBackfill(connectionId: string, signal?: AbortSignal): Promise<void> {
    return inSpan('data-fetcher', 'fetch.backfill', { 'ais.connection_id': connectionId }, () => this.runBackfillInner(connectionId, signal));
  }

  private async runBackfillInner(connectionId: string, signal: AbortSignal | undefined): Promise<void> {
    let conn = await this.deps.store.get(connectionId);
    if (!conn || conn.status !== 'active') return;
    const fetchId = randomUUID();
    // re-evaluated per call: the post-consent window may close while the backfill runs
    const ctx = (extra: Partial<RunContext> = {}): RunContext => ({ mode: 'backfill', fetchId, psuIp: this.postConsentIp(conn!), signal, ...extra });
    await this.deps.store.update(connectionId, { backfill: 'running' });
    const notes: string[] = [];
    /**
     * Ends the run if its signal says so (true). Stopping: due again at once (or when the bank's pause ends), so the
     * run goes on elsewhere from the published position. The lease lost: nothing is written, the holder goes on.
     */
    const stopped = async (notBefore?: Date): Promise<boolean> => {
      if (!signal?.aborted) return false;
      const reason = signal.reason as StopReason;
      if (reason === STOP_REASONS.leaseLost) {
        this.deps.logger.warn({ connectionId, fetchId }, 'post-consent fetch stopped: another instance holds its lease now');
        return true;
      }
      const now = this.now();
      const dueAt = notBefore && notBefore > now ? notBefore : now;
      await this.deps.store.update(connectionId, { nextDueAt: dueAt, backfillNote: `handed over: ${reason}` });
      this.deps.logger.info({ connectionId, fetchId, reason, dueAt }, 'post-consent fetch handed over: due again for any instance');
      return true;
    };
    const wait = async (outcome: Extract<UnitOutcome, { ok: false }>): Promise<boolean> => {
      if (outcome.next.kind === 'stop_connection') return true;
      if (await stopped(outcome.next.kind === 'reschedule' ? outcome.next.notBefore : undefined)) return true;
      if (outcome.next.kind === 'reschedule') {
        await this.deps.store.update(connectionId, { nextDueAt: outcome.next.notBefore, backfillNote: `waiting: ${outcome.code}` });
        return true;
      }
      return false;
    };
    for (const kind of ['me', 'identity', 'accounts', 'cards'] as const) {
      if (!allowed(conn, kind)) continue;
      if (kind === 'identity' && conn.lastSuccess?.identity) continue;
      if (await stopped()) return;
      const out = await this.runUnit(conn, { kind, accountId: '', isCard: false }, ctx());
      if (!out.ok && (kind !== 'identity' || out.next.kind === 'stop_connection') && (await wait(out))) return;
    }
    conn = (await this.deps.store.get(connectionId))!;
    const today = dayOf(this.now());
    const earliest = addDays(today, -Math.round(this.deps.settings.backfillMaxMonths * 30.44));
    for (const res of this.activeResources(conn)) {
      const rk = resourceKey(res.id, res.isCard);
      if (allowed(conn, 'transactions', res.isCard)) {
        if (res.syncedTo && res.backfillDone) {
          // A renewal: the history is there; read only what is new since the last sync.
          if (await stopped()) return;
          const w = incrementalWindow(today, res.syncedTo, this.deps.settings.overlapDays, this.deps.settings.historyDaysOutsideSca);
          const out = await this.runUnit(conn, { kind: 'transactions', accountId: res.id, isCard: res.isCard, window: w }, ctx({ allowNarrow: true }));
          if (!out.ok && (await wait(out))) return;
        }
        let from = res.backfillFrom;
        // The widest window this bank took for this resource once it refused a wider one (days; this run only).
        let widest: number | undefined;
        // The bank served history older than it serves outside the SCA window in this run: its SCA window is open,
        // so an `sca_exceeded` now may be the depth of its history, not the window closing (reference §8).
        let servedOld = false;
        const oldBefore = addDays(today, -this.deps.settings.historyDaysOutsideSca);
        // Refused as too wide or too old while the post-consent window is open: the widest range a bank serves
        // per request is unpublished, so ask for the newer half, down to about a month, and keep that width.
        // Only while the window is open: these calls are attended; after it they would spend the unattended
        // budget, and an old window is refused for its age then anyway (the history ends below).
        const splittable = (o: UnitOutcome): o is Extract<UnitOutcome, { ok: false }> =>
          !o.ok && o.next.kind === 'fail' && (o.code === 'invalid_date_range' || (o.code === 'sca_exceeded' && servedOld)) && this.postConsentOpen(conn!);
        // The window read last, not yet published. It goes out once the next window of this resource has been read
        // (marked `moreWindowsFollow`: reconciliation leaves the analysis of the history to the last window, which it
        // ran after each of the 7 windows of a heavy user's account) or when the history ends here (unmarked: the
        // newest window is the last, or the next is refused or fails). A mark is therefore never a prediction: the
        // result it promises is in memory. The resource's `backfillFrom` moves only once a window is published, so
        // a crash while one is held reads it again on resume.
        let held: ReadResult | undefined;
        const release = async (moreWindowsFollow: boolean): Promise<void> => {
          if (!held) return;
          const h = held;
          held = undefined;
          // the lease is another instance's now: it reads this window again from the published position
          if (signal?.aborted && signal.reason === STOP_REASONS.leaseLost) return;
          await this.deliver(conn!, h.unit, 'backfill', fetchId, h.results, h.correlationIds, moreWindowsFollow);
          await this.deps.store.update(connectionId, { [`resources.${rk}.backfillFrom`]: h.unit.window!.from });
        };
        while (!res.backfillDone) {
          if (signal?.aborted) {
            await release(false); // the window in hand goes out, unmarked: nothing more is read here
            await stopped();
            return;
          }
          const next = nextBackfillWindow(today, from, this.deps.settings.backfillWindowMonths, earliest);
          if (!next) {
            await release(false);
            await this.deps.store.update(connectionId, { [`resources.${rk}.backfillDone`]: true });
            break;
          }
          let w = capWindow(next, widest);
          let { outcome: out, read } = await this.readUnit(conn, { kind: 'transactions', accountId: res.id, isCard: res.isCard, window: w }, ctx({ allowNarrow: w.to === today }));
          while (splittable(out)) {
            const half = splitWindow(w);
            if (!half) break;
            this.deps.logger.info({ connectionId, resource: rk, refused: w, asking: half, code: out.code }, 'backfill window refused: asking for its newer half');
            w = half;
            widest = windowDays(half);
            ({ outcome: out, read } = await this.readUnit(conn, { kind: 'transactions', accountId: res.id, isCard: res.isCard, window: w }, ctx()));
          }
          if (out.ok) {
            if (read) {
              await release(true);
              held = read;
            }
            // a narrowed window read less than asked: the next window starts where the read one really began
            from = out.window?.from ?? w.from;
            if (from < oldBefore) servedOld = true;
            continue;
          }
          await release(false);
          if (out.next.kind === 'fail' || out.next.kind === 'skip_endpoint' || out.action === 'narrow_window') {
            // The provider's limit (sca_exceeded past the window, invalid_date_range): the history ends here.
            notes.push(`${res.isCard ? 'card' : 'account'} ${res.id}: history read back to ${from ?? today}, stopped at ${out.code}`);
            await this.deps.store.update(connectionId, { [`resources.${rk}.backfillDone`]: true });
            break;
          }
          if (await wait(out)) return;
          break;
        }
      }
      for (const kind of res.isCard ? CARD_KINDS : ACCOUNT_KINDS) {
        if (!allowed(conn, kind, res.isCard)) continue;
        if (await stopped()) return;
        const out = await this.runUnit(conn, { kind, accountId: res.id, isCard: res.isCard }, ctx());
        if (!out.ok && out.next.kind === 'stop_connection') return;
      }
      conn = (await this.deps.store.get(connectionId))!;
    }
    const now = this.now();
    const planned = this.nextRefreshAt(conn, now);
    await this.deps.store.update(
      connectionId,
      { backfill: notes.length > 0 ? 'partial' : 'done', backfillNote: notes.join('; '), nextDueAt: planned, plannedAt: planned },
      ['psuIp', 'scaDeadline'],
    );
    this.deps.logger.info({ connectionId, fetchId, backfill: notes.length > 0 ? 'partial' : 'done' }, 'post-consent fetch finished');
  }

  /** The units of one refresh of the connection (what is allowed and not known to be unsupported). */
  refreshUnits(conn: FetchConnectionDoc, today: string): Unit[] {
    const units: Unit[] = [];
    for (const kind of ['accounts', 'cards'] as const) if (allowed(conn, kind)) units.push({ kind, accountId: '', isCard: false });
    for (const res of this.activeResources(conn)) {
      if (allowed(conn, 'transactions', res.isCard)) {
        units.push({ kind: 'transactions', accountId: res.id, isCard: res.isCard, window: incrementalWindow(today, res.syncedTo, this.deps.settings.overlapDays, this.deps.settings.historyDaysOutsideSca) });
      }
      for (const kind of res.isCard ? CARD_KINDS : ACCOUNT_KINDS) if (allowed(conn, kind, res.isCard)) units.push({ kind, accountId: res.id, isCard: res.isCard });
    }
    return units;
  }

  /**
   * A background refresh: every unit as an ASYNC task (or SYNC when async is off), each inside the budget.
   *
   * `signal` (the scheduler's, aborted when this instance stops) ends it at its next unit, or at once during a pause
   * before a retry. The units it has not finished are recorded (`refreshLeft`) and the connection is due again at
   * once, or when a pause the bank asked for ends: the next run, on whichever instance, asks only those, as the same
   * refresh. So a shutdown does not wait out a Retry-After of up to a minute (past SHUTDOWN_TIMEOUT_MS, a hard exit
   * would leave the rest of the refresh to the next one, hours later), and no unit already read spends its budget twice.
   */
  runScheduled(connectionId: string, signal?: AbortSignal): Promise<void> {
    return inSpan('data-fetcher', 'fetch.scheduled', { 'ais.connection_id': connectionId }, () => this.runScheduledInner(connectionId, signal));
  }

  private async runScheduledInner(connectionId: string, signal: AbortSignal | undefined): Promise<void> {
    const conn = await this.deps.store.get(connectionId);
    if (!conn || conn.status !== 'active') return;
    const now = this.now();
    const fetchId = randomUUID();
    // the plan, not the pause of a run that threw (which moved only nextDueAt): the delay counts from it
    const dueAt = conn.plannedAt ?? conn.nextDueAt;
    // the rest of a refresh a stopping instance handed over: the same refresh (counted and measured once)
    const left = conn.refreshLeft ? new Set(conn.refreshLeft) : undefined;
    if (!left) this.deps.metrics?.refreshDelay(conn.providerId, (now.getTime() - dueAt.getTime()) / 1000);
    // provisional; the run's end sets the real one (the lease already keeps other instances out)
    await this.deps.store.update(connectionId, {
      lastRefreshAt: now,
      nextDueAt: new Date(now.getTime() + this.intervalMs),
      ...(left ? {} : { refreshes: (conn.refreshes ?? 0) + 1 }),
      ...(this.deps.settings.asyncRefresh ? { startingTasksUntil: new Date(now.getTime() + this.deps.settings.taskClaimMs) } : {}),
    });
    let waitUntil: Date | undefined;
    const async = this.deps.settings.asyncRefresh;
    const grants: { last?: Date } = {};
    const units = this.refreshUnits(conn, dayOf(now)).filter((u) => !left || left.has(unitKey(u)));
    for (const [i, unit] of units.entries()) {
      if (signal?.aborted) return this.handRefreshOver(connectionId, fetchId, units.slice(i), this.now());
      const ctx: RunContext = { mode: 'scheduled', fetchId, async, allowNarrow: true, dueAt, grants, signal };
      if (!async) {
        const out = await this.runUnit(conn, unit, ctx);
        const until = interruptedUntil(out);
        if (until) return this.handRefreshOver(connectionId, fetchId, units.slice(i), until);
        if (!out.ok && out.next.kind === 'stop_connection') return;
        continue;
      }
      const { outcome } = await this.call(conn, unit, ctx);
      if (outcome.ok && outcome.task) {
        await this.recordTask(conn, unit, fetchId, outcome.task, outcome.correlationIds, 1);
        continue;
      }
      if (!outcome.ok) {
        const until = interruptedUntil(outcome);
        if (until) return this.handRefreshOver(connectionId, fetchId, units.slice(i), until);
        await this.settleFailure(conn, unit, 'scheduled', outcome);
        if (outcome.next.kind === 'stop_connection') return;
        if (outcome.next.kind === 'reschedule' && outcome.code === 'budget_spent' && (!waitUntil || outcome.next.notBefore > waitUntil)) {
          // The budget is spent for this key (e.g. calls outside this scheduler): not before it frees up.
          waitUntil = outcome.next.notBefore;
        }
      }
    }
    // The run's end for the plan: its latest grant (every slot it took frees at most a window after it; the journal
    // has the grants' times as `at`), or now when it took none.
    const end = grants.last ?? this.now();
    const ends = [...(conn.refreshEnds ?? []), end].slice(-UNATTENDED_CALLS_PER_WINDOW);
    const nextDueAt = new Date(Math.max(nextRefreshTime(ends, this.deps.budget.windowMs, this.intervalMs), waitUntil?.getTime() ?? 0));
    await this.deps.store.update(connectionId, { nextDueAt, plannedAt: nextDueAt, refreshEnds: ends }, ['startingTasksUntil', 'refreshLeft']);
  }

  /** A refresh stopped with `units` not finished: they are what the next run asks, from `notBefore` (runScheduled). */
  private async handRefreshOver(connectionId: string, fetchId: string, units: Unit[], notBefore: Date): Promise<void> {
    await this.deps.store.update(connectionId, { nextDueAt: notBefore, refreshLeft: units.map(unitKey) }, ['startingTasksUntil']);
    this.deps.logger.info({ connectionId, fetchId, left: units.length, nextDueAt: notBefore }, 'background refresh handed over: instance_stopping');
  }

  /** Reads a task's results (after its webhook, or when polling). Exactly one caller wins the claim. */
  completeTask(taskId: string, via: 'webhook' | 'poll'): Promise<'done' | 'not_ready' | 'failed' | 'restarted' | 'skipped'> {
    return inSpan('data-fetcher', 'fetch.task_results', { 'ais.task_id': taskId, 'ais.fetch.via': via }, async () => {
      const result = await this.completeTaskInner(taskId, via);
      trace.getActiveSpan()?.setAttribute('ais.task.result', result);
      return result;
    });
  }

  private async completeTaskInner(taskId: string, via: 'webhook' | 'poll'): Promise<'done' | 'not_ready' | 'failed' | 'restarted' | 'skipped'> {
    const now = this.now();
    const task = await this.deps.store.claimTask(taskId, this.deps.instance, now, this.deps.settings.taskClaimMs, via);
    if (!task) return 'skipped';
    const conn = await this.deps.store.get(task.connectionId);
    if (!conn || conn.status !== 'active') {
      await this.deps.store.finishTask(taskId, 'failed', now, this.deps.settings.taskRetentionMs, 'connection not active');
      return 'failed';
    }
    const unit: Unit = { kind: task.kind, accountId: task.accountId, isCard: task.isCard, window: task.window };
    const ctx: RunContext = { mode: 'scheduled', fetchId: task.fetchId };
    const started = Date.now();
    const pollAgain = async (): Promise<'not_ready'> => {
      await this.deps.store.releaseTask(taskId, this.deps.instance, new Date(this.now().getTime() + this.deps.settings.taskPollIntervalMs));
      return 'not_ready';
    };
    try {
      const token = await this.deps.tokens.get(conn._id, false);
      const res = await this.deps.data.fetchResults(token, { resultsUri: task.resultsUri, resource: task.resource as PendingTask['resource'] }, { maxAttempts: 2, provider: conn.providerId });
      if (!res.done) {
        // A task the bank never finishes (the provider hung) is given up after TASK_MAX_AGE_MS and started anew.
        if (this.now().getTime() - task.createdAt.getTime() < this.deps.settings.taskMaxAgeMs) return await pollAgain();
        await this.journalTask(conn, unit, ctx, task, started, { httpStatus: 202, errorCode: 'task_timeout', errorDescription: `still ${res.status} after ${this.deps.settings.taskMaxAgeMs} ms`, correlationId: res.correlationId ?? '', action: 'retry' });
        return await this.restartTask(conn, task, unit, 'task_timeout');
      }
      const ids = [...task.correlationIds, ...(res.correlationId ? [res.correlationId] : [])];
      await this.journalTask(conn, unit, ctx, task, started, { httpStatus: res.httpStatus, correlationId: res.correlationId ?? '', items: res.results.length });
      await this.deliver(conn, unit, 'scheduled', task.fetchId, res.results, ids);
      await this.deps.store.finishTask(taskId, 'done', this.now(), this.deps.settings.taskRetentionMs, undefined, ids);
      return 'done';
    } catch (error) {
      const e = errorCodeOf(error);
      if (!(error instanceof TrueLayerError) && !(error instanceof AppError)) throw error;
      // No inline retry here (a large attempt number makes the policy answer reschedule rather than repeat): what
      // to do next is decided per task below.
      const decision = this.decide(e, Number.MAX_SAFE_INTEGER, false, unit, ctx);
      await this.journalTask(conn, unit, ctx, task, started, { httpStatus: e.httpStatus, errorCode: e.code, errorDescription: e.description, correlationId: e.correlationId, action: decision.action });
      if (error instanceof AppError || decision.next.kind === 'refresh_and_repeat') return pollAgain();
      if (decision.action === 'retry') {
        // The read failed, or the task failed at the bank: TrueLayer's results read answers both the same way. Read
        // again (free: no bank call) a couple of times, then start the unit anew (a new bank call, within the budget).
        if (task.pollCount < 2) return pollAgain();
        return this.restartTask(conn, task, unit, e.code);
      }
      await this.deps.store.finishTask(taskId, 'failed', this.now(), this.deps.settings.taskRetentionMs, e.code, e.correlationId ? [e.correlationId] : []);
      await this.settleFailure(conn, unit, 'scheduled', { ok: false, code: e.code, action: decision.action, next: decision.next, correlationId: e.correlationId, correlationIds: [] });
      return 'failed';
    }
  }

  private async recordTask(conn: FetchConnectionDoc, unit: Unit, fetchId: string, t: PendingTask, correlationIds: string[], attempt: number): Promise<void> {
    const startedAt = this.now();
    await this.deps.store.addTask({
      _id: t.taskId,
      connectionId: conn._id,
      userId: conn.userId,
      credentialsId: t.credentialsId ?? conn.credentialsId,
      kind: unit.kind,
      accountId: unit.accountId,
      isCard: unit.isCard,
      ...(unit.window ? { window: unit.window } : {}),
      resultsUri: t.resultsUri,
      resource: t.resource,
      status: 'pending',
      fetchId,
      correlationIds,
      createdAt: startedAt,
      pollAt: new Date(startedAt.getTime() + (this.deps.settings.webhookUri ? this.deps.settings.taskPollAfterMs : this.deps.settings.taskPollIntervalMs)),
      pollCount: 0,
      attempt,
    });
  }

  /** Starts a failed or hung task's unit again as a new task (up to the policy's attempts), else gives it up. */
  private async restartTask(conn: FetchConnectionDoc, task: FetchTaskDoc, unit: Unit, code: string): Promise<'restarted' | 'failed'> {
    const attempt = (task.attempt ?? 1) + 1;
    const give = async (outcome: Extract<UnitOutcome, { ok: false }>): Promise<'failed'> => {
      await this.deps.store.finishTask(task._id, 'failed', this.now(), this.deps.settings.taskRetentionMs, outcome.code);
      await this.settleFailure(conn, unit, 'scheduled', outcome);
      return 'failed';
    };
    if (attempt > this.deps.settings.taskAttempts) {
      return give({ ok: false, code, action: 'retry', next: { kind: 'reschedule', notBefore: this.now() }, correlationId: '', correlationIds: [] });
    }
    await this.deps.store.update(conn._id, { startingTasksUntil: new Date(this.now().getTime() + this.deps.settings.taskClaimMs) });
    const { outcome } = await this.call(conn, unit, { mode: 'scheduled', fetchId: task.fetchId, async: true, allowNarrow: true });
    if (!outcome.ok || !outcome.task) return give(outcome.ok ? { ok: false, code: 'invalid_response', action: 'fail_fast', next: { kind: 'fail', reason: 'no task' }, correlationId: '', correlationIds: [] } : outcome);
    await this.recordTask(conn, unit, task.fetchId, outcome.task, outcome.correlationIds, attempt);
    await this.deps.store.finishTask(task._id, 'failed', this.now(), this.deps.settings.taskRetentionMs, code, [], outcome.task.taskId);
    return 'restarted';
  }

  private journalTask(conn: FetchConnectionDoc, unit: Unit, ctx: RunContext, task: FetchTaskDoc, started: number, r: Parameters<Fetcher['journal']>[5]): Promise<void> {
    // the call made is the results read (no bank call, never budgeted); account, window and task id say for what
    return this.journal(conn, unit, ctx, this.now(), started, { ...r, taskId: task._id, endpoint: RESULTS_ENDPOINT });
  }

  /** A SYNC refresh for a present user (X-PSU-IP), outside the budget. */
  runUser(connectionId: string, psuIp: string): Promise<{ fetchId: string; startedAt: Date; finishedAt: Date; items: RefreshedItemDoc[] }> {
    return inSpan('data-fetcher', 'fetch.user', { 'ais.connection_id': connectionId }, () => this.runUserInner(connectionId, psuIp));
  }

  private async runUserInner(connectionId: string, psuIp: string): Promise<{ fetchId: string; startedAt: Date; finishedAt: Date; items: RefreshedItemDoc[] }> {
    let conn = await this.deps.store.get(connectionId);
    if (!conn) throw AppError.notFound('connection_not_found', 'data-fetcher has no such connection (not authorized yet?)');
    if (conn.status !== 'active') throw new AppError({ code: conn.status, message: `the connection is ${conn.status}; the user must re-consent`, kind: 'failed_precondition' });
    const fetchId = randomUUID();
    const startedAt = this.now();
    const items: RefreshedItemDoc[] = [];
    const ctx: RunContext = { mode: 'user', fetchId, psuIp, allowNarrow: true };
    const run = async (unit: Unit): Promise<boolean> => {
      if (!allowed(conn!, unit.kind, unit.isCard)) {
        items.push({ kind: unit.kind, accountId: unit.accountId, isCard: unit.isCard, outcome: conn!.unsupported.includes(unit.kind) ? 'not_supported' : 'skipped', items: 0, errorCode: '', correlationId: '' });
        return true;
      }
      const out = await this.runUnit(conn!, unit, ctx);
      items.push({
        kind: unit.kind,
        accountId: unit.accountId,
        isCard: unit.isCard,
        outcome: out.ok ? 'ok' : out.next.kind === 'skip_endpoint' ? 'not_supported' : 'failed',
        items: out.ok ? out.items : 0,
        errorCode: out.ok ? '' : out.code,
        correlationId: out.correlationId,
      });
      return out.ok || out.next.kind !== 'stop_connection';
    };
    for (const kind of ['accounts', 'cards'] as const) if (!(await run({ kind, accountId: '', isCard: false }))) break;
    conn = (await this.deps.store.get(connectionId))!;
    const today = dayOf(this.now());
    if (conn.status === 'active') {
      for (const unit of this.refreshUnits(conn, today).filter((u) => u.accountId)) if (!(await run(unit))) break;
    }
    const finishedAt = this.now();
    await this.deps.store.update(connectionId, { lastUserRefresh: { fetchId, startedAt, finishedAt, items } });
    return { fetchId, startedAt, finishedAt, items };
  }

  /** Runs one replayed or handed-over unit (FetchRequested). */
  async runRequested(work: eventsV1.FetchRequested): Promise<UnitOutcome | undefined> {
    const conn = await this.deps.store.get(work.connectionId);
    if (!conn || conn.status !== 'active') return undefined;
    const kind = (Object.entries(KIND_PROTO).find(([, v]) => v === work.kind)?.[0] ?? '') as Kind;
    if (!kind) throw AppError.invalid('unknown_fetch_kind', `unknown fetch kind ${work.kind}`);
    const window = work.window?.from && work.window.to ? { from: dayOf(work.window.from), to: dayOf(work.window.to) } : undefined;
    const mode: Mode = work.mode === eventsV1.FetchMode.FETCH_MODE_BACKFILL ? 'backfill' : 'scheduled';
    return this.runUnit(conn, { kind, accountId: work.accountId, isCard: work.isCard, window }, { mode, fetchId: randomUUID(), allowNarrow: true });
  }
}

/** The raw topic's sink. */
export function kafkaRawSink(producer: { publish: (binding: ReturnType<typeof bindings.raw>, events: eventsV1.RawDataEvent[]) => Promise<void> }, prefix: string): RawSink {
  const binding = bindings.raw(prefix);
  return { publish: (events) => producer.publish(binding, events) };
}
