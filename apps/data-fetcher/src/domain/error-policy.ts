/**
 * data-fetcher's error policy (ARCHITECTURE.md invariant 10): what to do after a failed TrueLayer call, built on
 * the client's one error table (`ERROR_HANDLING` / `handlingFor` in @ais/truelayer-client).
 *
 * Every known code maps to exactly one {@link FetchErrorAction} in {@link ERROR_ACTIONS}; the map is typed by
 * the client's `KnownErrorCode`, so a code added there does not compile here until it has an action. Unknown
 * codes fall back by HTTP status exactly as `handlingFor` does (its category, then {@link actionForCategory}),
 * and the known codes agree with that fallback (a unit test holds them to it). apps/data-fetcher/README.md lists
 * the same table; a unit test parses it, so code and documentation cannot drift.
 *
 * Also here: the backoff ({@link backoffDelay}), the decision for one failed call ({@link ErrorPolicy}) and the
 * per-provider circuit breaker ({@link CircuitBreakers}). All pure: clock and randomness are injected.
 */
import { DEFAULT_RETRY, ERROR_HANDLING, fullJitterDelay, handlingFor, isKnownErrorCode, type ErrorCategory, type KnownErrorCode } from '@ais/truelayer-client';

export const FETCH_ERROR_ACTIONS = [
  'retry',
  'wait_for_budget',
  'refresh_token',
  'reauth_required',
  'narrow_window',
  'capability_missing',
  'fail_fast',
] as const;
export type FetchErrorAction = (typeof FETCH_ERROR_ACTIONS)[number];

/** What data-fetcher does for each action (the README's wording comes from here). */
export const ACTION_MEANING: Readonly<Record<FetchErrorAction, string>> = Object.freeze({
  retry: 'repeat the call after a full-jitter exponential backoff (Retry-After wins); counts towards the provider circuit breaker; after the last attempt, reschedule the job',
  wait_for_budget: 'the bank says the unattended budget is spent: no further unattended call for this account and endpoint until the window has passed (reschedule; a user-present call may still go)',
  refresh_token: 'get a fresh access token from token-vault, then repeat the call once; a second token rejection fails the job',
  reauth_required: 'the consent is gone: stop scheduling the connection and emit reauth_required; the user has to reconnect',
  narrow_window: 'history beyond the SCA window is refused: repeat with the last 90 days; if that is refused too, fail the job',
  capability_missing: 'the provider does not offer this: remember it for the connection and never ask again',
  fail_fast: 'no retry: the request (or our setup) is wrong; fail the job with the error for the dead-letter topic and logs',
});

/** Every known TrueLayer code (and the client's synthetic ones) → one action. */
export const ERROR_ACTIONS: Readonly<Record<KnownErrorCode, FetchErrorAction>> = Object.freeze({
  // 400
  validation_error: 'fail_fast',
  invalid_date_range: 'fail_fast',
  deprecated_provider: 'capability_missing',
  invalid_grant: 'reauth_required',
  invalid_client: 'fail_fast',
  invalid_authorization_code: 'reauth_required',
  // 401
  invalid_token: 'refresh_token',
  unauthorized: 'refresh_token',
  unauthorized_client: 'fail_fast',
  invalid_request: 'reauth_required',
  // 403
  access_denied: 'reauth_required',
  sca_exceeded: 'narrow_window',
  invalid_credentials_key: 'reauth_required',
  // 404
  account_not_found: 'fail_fast',
  not_found: 'fail_fast',
  // 429
  provider_too_many_requests: 'retry',
  provider_request_limit_exceeded: 'wait_for_budget',
  // 5xx
  internal_server_error: 'retry',
  endpoint_not_supported: 'capability_missing',
  provider_error: 'retry',
  temporarily_unavailable: 'retry',
  connector_overload: 'retry',
  connector_timeout: 'retry',
  provider_timeout: 'retry',
  // sandbox mock users
  account_permanently_locked: 'reauth_required',
  account_temporarily_locked: 'reauth_required',
  internal_error: 'retry',
  user_input_required: 'reauth_required',
  wrong_credentials: 'reauth_required',
  // /connections/extend problems
  extend_validation_error: 'fail_fast',
  extend_unauthorized: 'reauth_required',
  extend_not_possible: 'reauth_required',
  // client-side
  request_timeout: 'retry',
  network_error: 'retry',
  invalid_response: 'fail_fast',
});

/** The action for a handling category: how codes the table does not know are treated. */
export function actionForCategory(category: ErrorCategory, retriable: boolean): FetchErrorAction {
  switch (category) {
    case 'token_expired':
      return 'refresh_token';
    case 'consent_gone':
      return 'reauth_required';
    case 'sca_window_passed':
      return 'narrow_window';
    case 'unattended_limit':
      return 'wait_for_budget';
    case 'provider_rate_limited':
    case 'provider_down':
      return 'retry';
    case 'not_supported':
      return 'capability_missing';
    case 'invalid_request':
      return 'fail_fast';
    case 'unknown':
      return retriable ? 'retry' : 'fail_fast';
  }
}

/** The action for any code: the table for known codes, the HTTP-status fallback of `handlingFor` otherwise. */
export function actionFor(code: string, httpStatus: number): FetchErrorAction {
  if (isKnownErrorCode(code)) return ERROR_ACTIONS[code];
  const { category, retriable } = handlingFor(code, httpStatus);
  return actionForCategory(category, retriable);
}

/** The codes of the table with their usual HTTP status (0 = produced by the client, never sent by TrueLayer). */
export function errorPolicyTable(): { code: KnownErrorCode; httpStatus: number; action: FetchErrorAction }[] {
  return (Object.keys(ERROR_HANDLING) as KnownErrorCode[]).map((code) => ({ code, httpStatus: ERROR_HANDLING[code].httpStatus, action: ERROR_ACTIONS[code] }));
}

// ---------------------------------------------------------------------------------------------------------------
// Backoff

export interface BackoffOptions {
  /** First retry waits up to this (ms). */
  baseDelayMs: number;
  /** No computed delay exceeds this (ms). */
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ baseDelayMs: 1_000, maxDelayMs: 5 * 60_000 });

/**
 * Delay before retry number `retry` (1 for the first retry): exponential with full jitter, uniform in
 * [0, min(maxDelayMs, baseDelayMs × 2^(retry−1))). A Retry-After from the server wins when present (it is the
 * server's own answer, so it is neither jittered nor capped; the caller decides whether to wait or reschedule).
 */
export function backoffDelay(retry: number, options: BackoffOptions, random: () => number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) return Math.ceil(retryAfterMs);
  // the client's full-jitter formula, with the draw kept below 1 so that a delay stays under its ceiling
  const draw = () => Math.min(Math.max(random(), 0), 1 - Number.EPSILON);
  return fullJitterDelay(Math.floor(retry), { ...DEFAULT_RETRY, ...options }, draw);
}

// ---------------------------------------------------------------------------------------------------------------
// The decision for one failed call

export interface Clock {
  now(): Date;
}

export interface CallFailure {
  code: string;
  httpStatus: number;
  retryAfterMs?: number | undefined;
}

export interface FailureContext {
  /** 1-based number of the attempt that just failed. */
  attempt: number;
  /** True when this call already got a fresh token after a token rejection. */
  tokenRefreshed?: boolean;
  /** The `from`/`to` window of a transactions call, if it has one. */
  window?: { from: Date; to: Date } | undefined;
}

export type NextStep =
  | { kind: 'repeat'; afterMs: number }
  | { kind: 'refresh_and_repeat' }
  | { kind: 'repeat_with_window'; from: Date; to: Date }
  | { kind: 'reschedule'; notBefore: Date }
  | { kind: 'stop_connection' }
  | { kind: 'skip_endpoint' }
  | { kind: 'fail'; reason: string };

export interface Decision {
  action: FetchErrorAction;
  code: string;
  next: NextStep;
}

export interface ErrorPolicyOptions {
  clock: Clock;
  /** Uniform random in [0, 1) (injectable for tests). */
  random: () => number;
  /** Attempts of one call including the first (default 4). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** A delay longer than this is not slept inline: the job is rescheduled instead (default 60 s). */
  maxInlineDelayMs?: number;
  /** History after the SCA window (default 90 days, reference §8; some banks serve 88–89). */
  narrowWindowDays?: number;
  /** How long to hold unattended calls after the bank said the budget is spent (default 24 h, the rolling window). */
  budgetWaitMs?: number;
}

const DAY_MS = 86_400_000;

export class ErrorPolicy {
  private readonly maxAttempts: number;
  private readonly backoff: BackoffOptions;
  private readonly maxInlineDelayMs: number;
  private readonly narrowWindowMs: number;
  private readonly budgetWaitMs: number;

  constructor(private readonly options: ErrorPolicyOptions) {
    this.maxAttempts = options.maxAttempts ?? 4;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.maxInlineDelayMs = options.maxInlineDelayMs ?? 60_000;
    this.narrowWindowMs = (options.narrowWindowDays ?? 90) * DAY_MS;
    this.budgetWaitMs = options.budgetWaitMs ?? DAY_MS;
  }

  /**
   * The pause before asking again after attempt `attempt` (1-based) of something that failed on our side of the call,
   * before TrueLayer was asked (token-vault restarting or briefly unreachable): the same backoff and attempt limit as
   * a TrueLayer retry. Undefined when the attempts are spent or the pause would be longer than an inline wait: the
   * caller reschedules instead.
   */
  inlineRetryDelay(attempt: number): number | undefined {
    if (attempt >= this.maxAttempts) return undefined;
    const delay = backoffDelay(attempt, this.backoff, this.options.random);
    return delay > this.maxInlineDelayMs ? undefined : delay;
  }

  decide(failure: CallFailure, context: FailureContext): Decision {
    const action = actionFor(failure.code, failure.httpStatus);
    const now = this.options.clock.now();
    const decision = (next: NextStep): Decision => ({ action, code: failure.code, next });
    switch (action) {
      case 'retry': {
        const delay = backoffDelay(context.attempt, this.backoff, this.options.random, failure.retryAfterMs);
        if (context.attempt >= this.maxAttempts || delay > this.maxInlineDelayMs) {
          return decision({ kind: 'reschedule', notBefore: new Date(now.getTime() + Math.max(delay, this.backoff.baseDelayMs)) });
        }
        return decision({ kind: 'repeat', afterMs: delay });
      }
      case 'wait_for_budget':
        return decision({ kind: 'reschedule', notBefore: new Date(now.getTime() + Math.max(this.budgetWaitMs, failure.retryAfterMs ?? 0)) });
      case 'refresh_token':
        return decision(context.tokenRefreshed ? { kind: 'fail', reason: 'token rejected again after a refresh' } : { kind: 'refresh_and_repeat' });
      case 'reauth_required':
        return decision({ kind: 'stop_connection' });
      case 'narrow_window': {
        const window = context.window;
        if (!window) return decision({ kind: 'fail', reason: 'resource only available right after authentication' });
        const from = new Date(window.to.getTime() - this.narrowWindowMs);
        if (window.from.getTime() >= from.getTime()) return decision({ kind: 'fail', reason: 'refused even within the narrowed window' });
        return decision({ kind: 'repeat_with_window', from, to: window.to });
      }
      case 'capability_missing':
        return decision({ kind: 'skip_endpoint' });
      case 'fail_fast':
        return decision({ kind: 'fail', reason: failure.code });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Circuit breaker per provider

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitTransition {
  providerId: string;
  from: CircuitState;
  to: CircuitState;
  at: Date;
  /** Consecutive `retry`-kind failures that led here (0 when closing). */
  failures: number;
  reason: string;
}

export interface CircuitBreakerOptions {
  clock: Clock;
  /** Consecutive `retry`-kind failures that open the circuit (default 5). */
  failureThreshold?: number;
  /** The failures must fall within this span, measured from the first of the streak (default 60 s). */
  failureWindowMs?: number;
  /** How long the circuit stays open before one probe call is let through (default 30 s). */
  coolDownMs?: number;
  /** Told about every state change (the service logs it and puts it on the active span). */
  onTransition?: (transition: CircuitTransition) => void;
}

export type CircuitPermit = { allowed: true; probe: boolean } | { allowed: false; retryAt: Date };

interface Circuit {
  state: CircuitState;
  failures: number;
  firstFailureAt: number;
  openedAt: number;
  probeStartedAt: number | undefined;
}

/**
 * One breaker per provider, in this process's memory. Closed: calls go; `failureThreshold` consecutive
 * failures of the `retry` kind (timeouts, 5xx, provider_too_many_requests) within `failureWindowMs` open it.
 * Open: calls are refused until `coolDownMs` has passed, then it goes half-open and lets exactly one probe call
 * through (another one only if the probe never reports back within a further cool-down). The probe's success
 * (or any answer that is not a `retry`-kind failure: the provider did answer) closes it; its failure reopens it.
 */
export class CircuitBreakers {
  private readonly circuits = new Map<string, Circuit>();
  private readonly threshold: number;
  private readonly windowMs: number;
  private readonly coolDownMs: number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.threshold = options.failureThreshold ?? 5;
    this.windowMs = options.failureWindowMs ?? 60_000;
    this.coolDownMs = options.coolDownMs ?? 30_000;
    if (this.threshold < 1) throw new RangeError('failureThreshold must be >= 1');
  }

  state(providerId: string): CircuitState {
    return this.circuits.get(providerId)?.state ?? 'closed';
  }

  /** Asks to make one call to `providerId`. A granted probe must be followed by {@link record}. */
  acquire(providerId: string): CircuitPermit {
    const now = this.options.clock.now().getTime();
    const c = this.circuit(providerId);
    if (c.state === 'closed') return { allowed: true, probe: false };
    if (c.state === 'open') {
      if (now < c.openedAt + this.coolDownMs) return { allowed: false, retryAt: new Date(c.openedAt + this.coolDownMs) };
      this.move(providerId, c, 'half_open', 'cool-down over: one probe call');
    }
    if (c.probeStartedAt !== undefined && now < c.probeStartedAt + this.coolDownMs) {
      return { allowed: false, retryAt: new Date(c.probeStartedAt + this.coolDownMs) };
    }
    c.probeStartedAt = now;
    return { allowed: true, probe: true };
  }

  /** Reports how a call ended: `success`, or the policy action of its error. Only `retry` counts as a failure. */
  record(providerId: string, outcome: 'success' | FetchErrorAction): void {
    const now = this.options.clock.now().getTime();
    const c = this.circuit(providerId);
    const failed = outcome === 'retry';
    if (c.state === 'half_open') {
      if (failed) {
        c.failures += 1;
        c.openedAt = now;
        c.probeStartedAt = undefined;
        this.move(providerId, c, 'open', 'probe failed');
      } else {
        this.reset(c);
        this.move(providerId, c, 'closed', `probe answered (${outcome})`);
      }
      return;
    }
    if (c.state === 'open') return; // a call that left before the circuit opened: nothing new to learn
    if (!failed) {
      this.reset(c);
      return;
    }
    if (c.failures === 0 || now - c.firstFailureAt > this.windowMs) {
      c.failures = 1;
      c.firstFailureAt = now;
    } else c.failures += 1;
    if (c.failures >= this.threshold) {
      c.openedAt = now;
      this.move(providerId, c, 'open', `${c.failures} consecutive failures within ${this.windowMs} ms`);
    }
  }

  private circuit(providerId: string): Circuit {
    let c = this.circuits.get(providerId);
    if (!c) {
      c = { state: 'closed', failures: 0, firstFailureAt: 0, openedAt: 0, probeStartedAt: undefined };
      this.circuits.set(providerId, c);
    }
    return c;
  }

  private reset(c: Circuit): void {
    c.failures = 0;
    c.firstFailureAt = 0;
    c.probeStartedAt = undefined;
  }

  private move(providerId: string, c: Circuit, to: CircuitState, reason: string): void {
    const from = c.state;
    c.state = to;
    this.options.onTransition?.({ providerId, from, to, at: this.options.clock.now(), failures: c.failures, reason });
  }
}
