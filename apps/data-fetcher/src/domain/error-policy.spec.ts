import { ERROR_HANDLING, handlingFor, type KnownErrorCode } from '@ais/truelayer-client';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACTION_MEANING,
  actionFor,
  actionForCategory,
  backoffDelay,
  CircuitBreakers,
  ERROR_ACTIONS,
  ErrorPolicy,
  errorPolicyTable,
  FETCH_ERROR_ACTIONS,
  type CircuitTransition,
  type FetchErrorAction,
} from './error-policy';

const T0 = new Date('2030-06-01T12:00:00Z');
const DAY = 86_400_000;

class ManualClock {
  private t = T0.getTime();
  now = () => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Rows `| \`code\` | status | \`action\` | text |` of the README's per-code table. */
function readmeCodeRows(): Map<string, { status: string; action: string }> {
  const md = readFileSync(join(__dirname, '../../README.md'), 'utf8');
  const rows = new Map<string, { status: string; action: string }>();
  for (const m of md.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*([^|]+?)\s*\|\s*`([a-z_]+)`\s*\|/gm)) {
    const [, code, status, action] = m;
    if (rows.has(code!)) throw new Error(`README lists ${code} twice`);
    rows.set(code!, { status: status!, action: action! });
  }
  return rows;
}

describe('the error table', () => {
  const codes = Object.keys(ERROR_HANDLING) as KnownErrorCode[];

  it('gives every code of ERROR_HANDLING exactly one known action, and nothing else', () => {
    expect(Object.keys(ERROR_ACTIONS).sort()).toEqual([...codes].sort());
    for (const code of codes) expect(FETCH_ERROR_ACTIONS).toContain(ERROR_ACTIONS[code]);
    // every action is used by at least one code, so none is dead
    expect(new Set(Object.values(ERROR_ACTIONS))).toEqual(new Set(FETCH_ERROR_ACTIONS));
  });

  it('agrees with the HTTP-status fallback for unknown codes (the category of handlingFor), code by code', () => {
    const disagreeing = codes.filter((code) => {
      const { category, retriable } = ERROR_HANDLING[code];
      return actionForCategory(category, retriable) !== ERROR_ACTIONS[code];
    });
    expect(disagreeing).toEqual([]);
  });

  it('maps the codes the issue names to their actions', () => {
    const expected: Record<string, FetchErrorAction> = {
      provider_timeout: 'retry',
      connector_timeout: 'retry',
      internal_server_error: 'retry',
      provider_error: 'retry',
      provider_too_many_requests: 'retry',
      provider_request_limit_exceeded: 'wait_for_budget',
      invalid_token: 'refresh_token',
      unauthorized: 'refresh_token',
      invalid_grant: 'reauth_required',
      access_denied: 'reauth_required',
      sca_exceeded: 'narrow_window',
      endpoint_not_supported: 'capability_missing',
      deprecated_provider: 'capability_missing',
      validation_error: 'fail_fast',
      invalid_date_range: 'fail_fast',
      not_found: 'fail_fast',
      account_not_found: 'fail_fast',
    };
    for (const [code, action] of Object.entries(expected)) expect({ code, action: actionFor(code, 0) }).toEqual({ code, action });
  });

  it('falls back by HTTP status for codes it does not know, as handlingFor does', () => {
    const cases: [number, FetchErrorAction][] = [
      [429, 'retry'],
      [401, 'refresh_token'],
      [403, 'reauth_required'],
      [501, 'capability_missing'],
      [500, 'retry'],
      [502, 'retry'],
      [503, 'retry'],
      [504, 'retry'],
      [400, 'fail_fast'],
      [404, 'fail_fast'],
      [409, 'fail_fast'],
      [200, 'fail_fast'],
    ];
    for (const [status, action] of cases) {
      expect({ status, action: actionFor('brand_new_code', status) }).toEqual({ status, action });
      const { category, retriable } = handlingFor('brand_new_code', status);
      expect(actionForCategory(category, retriable)).toBe(action);
    }
  });

  it('is documented in apps/data-fetcher/README.md: exactly the same codes, statuses and actions', () => {
    const rows = readmeCodeRows();
    expect([...rows.keys()].sort()).toEqual(errorPolicyTable().map((r) => r.code).sort());
    for (const { code, httpStatus, action } of errorPolicyTable()) {
      expect({ code, ...rows.get(code) }).toEqual({ code, status: httpStatus === 0 ? '–' : String(httpStatus), action });
    }
  });

  it('documents what each action does in the README with the same words as the code', () => {
    const md = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    for (const action of FETCH_ERROR_ACTIONS) expect(md).toContain(`| \`${action}\` | ${ACTION_MEANING[action]} |`);
  });
});

describe('backoffDelay', () => {
  const opts = { baseDelayMs: 1000, maxDelayMs: 30_000 };
  it('grows exponentially with full jitter: uniform in [0, min(cap, base * 2^(n-1)))', () => {
    expect(backoffDelay(1, opts, () => 0)).toBe(0);
    expect(backoffDelay(1, opts, () => 0.5)).toBe(500);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(2000);
    expect(backoffDelay(3, opts, () => 0.999999)).toBe(3999);
    expect(backoffDelay(6, opts, () => 0.5)).toBe(15_000); // 32 s capped at 30 s
    expect(backoffDelay(500, opts, () => 0.999999)).toBeLessThan(30_000); // no overflow for absurd attempts
    expect(backoffDelay(2, opts, () => 1)).toBeLessThan(2000); // a random source returning 1 stays below the ceiling
    expect(backoffDelay(0, opts, () => 0.5)).toBe(500);
  });

  it('lets Retry-After win when present, even above the cap, and ignores a broken one', () => {
    expect(backoffDelay(1, opts, () => 0.5, 7_500)).toBe(7_500);
    expect(backoffDelay(9, opts, () => 0.5, 120_000)).toBe(120_000);
    expect(backoffDelay(1, opts, () => 0.5, 0)).toBe(0);
    expect(backoffDelay(2, opts, () => 0.5, -5)).toBe(1000);
    expect(backoffDelay(2, opts, () => 0.5, Number.NaN)).toBe(1000);
  });
});

describe('ErrorPolicy.decide', () => {
  const clock = new ManualClock();
  const policy = new ErrorPolicy({ clock, random: () => 0.5, backoff: { baseDelayMs: 1000, maxDelayMs: 60_000 } });

  it('repeats retry-kind failures with backoff, then reschedules after the last attempt or for a long Retry-After', () => {
    expect(policy.decide({ code: 'provider_timeout', httpStatus: 504 }, { attempt: 1 })).toEqual({ action: 'retry', code: 'provider_timeout', next: { kind: 'repeat', afterMs: 500 } });
    expect(policy.decide({ code: 'connector_overload', httpStatus: 503 }, { attempt: 3 }).next).toEqual({ kind: 'repeat', afterMs: 2000 });
    expect(policy.decide({ code: 'provider_too_many_requests', httpStatus: 429, retryAfterMs: 9000 }, { attempt: 1 }).next).toEqual({ kind: 'repeat', afterMs: 9000 });
    expect(policy.decide({ code: 'internal_server_error', httpStatus: 500 }, { attempt: 4 }).next).toEqual({ kind: 'reschedule', notBefore: new Date(T0.getTime() + 4000) });
    expect(policy.decide({ code: 'provider_too_many_requests', httpStatus: 429, retryAfterMs: 600_000 }, { attempt: 1 }).next).toEqual({
      kind: 'reschedule',
      notBefore: new Date(T0.getTime() + 600_000),
    });
  });

  it('waits a whole window when the bank says the unattended budget is spent', () => {
    expect(policy.decide({ code: 'provider_request_limit_exceeded', httpStatus: 429 }, { attempt: 1 })).toEqual({
      action: 'wait_for_budget',
      code: 'provider_request_limit_exceeded',
      next: { kind: 'reschedule', notBefore: new Date(T0.getTime() + DAY) },
    });
  });

  it('refreshes the token once, and fails when the fresh token is rejected too', () => {
    expect(policy.decide({ code: 'invalid_token', httpStatus: 401 }, { attempt: 1 }).next).toEqual({ kind: 'refresh_and_repeat' });
    expect(policy.decide({ code: 'invalid_token', httpStatus: 401 }, { attempt: 2, tokenRefreshed: true }).next).toEqual({ kind: 'fail', reason: 'token rejected again after a refresh' });
  });

  it('stops the connection when the consent is gone, skips missing capabilities, fails fast on bad requests', () => {
    expect(policy.decide({ code: 'access_denied', httpStatus: 403 }, { attempt: 1 }).next).toEqual({ kind: 'stop_connection' });
    expect(policy.decide({ code: 'invalid_grant', httpStatus: 400 }, { attempt: 1 }).next).toEqual({ kind: 'stop_connection' });
    expect(policy.decide({ code: 'endpoint_not_supported', httpStatus: 501 }, { attempt: 1 }).next).toEqual({ kind: 'skip_endpoint' });
    expect(policy.decide({ code: 'validation_error', httpStatus: 400 }, { attempt: 1 }).next).toEqual({ kind: 'fail', reason: 'validation_error' });
    expect(policy.decide({ code: 'mystery', httpStatus: 418 }, { attempt: 1 })).toEqual({ action: 'fail_fast', code: 'mystery', next: { kind: 'fail', reason: 'mystery' } });
  });

  it('narrows a refused long history to the last 90 days, and fails when even that is refused', () => {
    const to = new Date('2030-06-01T00:00:00Z');
    const from = new Date('2025-06-01T00:00:00Z');
    expect(policy.decide({ code: 'sca_exceeded', httpStatus: 403 }, { attempt: 1, window: { from, to } }).next).toEqual({
      kind: 'repeat_with_window',
      from: new Date(to.getTime() - 90 * DAY),
      to,
    });
    expect(policy.decide({ code: 'sca_exceeded', httpStatus: 403 }, { attempt: 2, window: { from: new Date(to.getTime() - 90 * DAY), to } }).next).toMatchObject({ kind: 'fail' });
    expect(policy.decide({ code: 'sca_exceeded', httpStatus: 403 }, { attempt: 1 }).next).toMatchObject({ kind: 'fail' }); // e.g. /info
  });
});

describe('CircuitBreakers', () => {
  function setup() {
    const clock = new ManualClock();
    const transitions: CircuitTransition[] = [];
    const breakers = new CircuitBreakers({ clock, failureThreshold: 3, failureWindowMs: 10_000, coolDownMs: 5_000, onTransition: (t) => transitions.push(t) });
    return { clock, transitions, breakers };
  }

  it('opens after N consecutive retry-kind failures within the window, per provider', () => {
    const { clock, transitions, breakers } = setup();
    breakers.record('ob-a', 'retry');
    breakers.record('ob-a', 'retry');
    expect(breakers.state('ob-a')).toBe('closed');
    breakers.record('ob-b', 'retry'); // another provider's failures are its own
    clock.advance(1000);
    breakers.record('ob-a', 'retry');
    expect(breakers.state('ob-a')).toBe('open');
    expect(breakers.state('ob-b')).toBe('closed');
    expect(transitions).toEqual([{ providerId: 'ob-a', from: 'closed', to: 'open', at: clock.now(), failures: 3, reason: '3 consecutive failures within 10000 ms' }]);
    expect(breakers.acquire('ob-a')).toEqual({ allowed: false, retryAt: new Date(clock.now().getTime() + 5000) });
    expect(breakers.acquire('ob-b')).toEqual({ allowed: true, probe: false });
  });

  it('does not open when the failures are interrupted by an answer or spread beyond the window', () => {
    const { clock, breakers } = setup();
    breakers.record('p', 'retry');
    breakers.record('p', 'retry');
    breakers.record('p', 'success');
    breakers.record('p', 'retry');
    breakers.record('p', 'retry');
    breakers.record('p', 'fail_fast'); // the provider answered: not a health failure
    breakers.record('p', 'retry');
    breakers.record('p', 'retry');
    clock.advance(10_001);
    breakers.record('p', 'retry'); // the streak started more than 10 s ago: a new streak
    expect(breakers.state('p')).toBe('closed');
    breakers.record('p', 'retry');
    breakers.record('p', 'retry');
    expect(breakers.state('p')).toBe('open');
  });

  it('goes half-open after the cool-down with one probe, closes on its success and reopens on its failure', () => {
    const { clock, transitions, breakers } = setup();
    for (let i = 0; i < 3; i += 1) breakers.record('p', 'retry');
    clock.advance(4999);
    expect(breakers.acquire('p').allowed).toBe(false);
    clock.advance(1);
    expect(breakers.acquire('p')).toEqual({ allowed: true, probe: true });
    expect(breakers.state('p')).toBe('half_open');
    expect(breakers.acquire('p')).toEqual({ allowed: false, retryAt: new Date(clock.now().getTime() + 5000) }); // one probe only
    breakers.record('p', 'retry');
    expect(breakers.state('p')).toBe('open');
    clock.advance(5000);
    expect(breakers.acquire('p')).toEqual({ allowed: true, probe: true });
    breakers.record('p', 'success');
    expect(breakers.state('p')).toBe('closed');
    expect(breakers.acquire('p')).toEqual({ allowed: true, probe: false });
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['closed->open', 'open->half_open', 'half_open->open', 'open->half_open', 'half_open->closed']);
    expect(transitions.at(-1)).toMatchObject({ failures: 0, reason: 'probe answered (success)' });
    // closed again: it takes a full new streak to reopen
    breakers.record('p', 'retry');
    breakers.record('p', 'retry');
    expect(breakers.state('p')).toBe('closed');
  });

  it('lets another probe through when the first never reports back within a cool-down', () => {
    const { clock, breakers } = setup();
    for (let i = 0; i < 3; i += 1) breakers.record('p', 'retry');
    clock.advance(5000);
    expect(breakers.acquire('p')).toMatchObject({ allowed: true, probe: true });
    clock.advance(4999);
    expect(breakers.acquire('p').allowed).toBe(false);
    clock.advance(1);
    expect(breakers.acquire('p')).toMatchObject({ allowed: true, probe: true });
  });

  it('closes when the probe gets any answer that is not a retry-kind failure', () => {
    const { clock, breakers } = setup();
    for (let i = 0; i < 3; i += 1) breakers.record('p', 'retry');
    clock.advance(5000);
    breakers.acquire('p');
    breakers.record('p', 'reauth_required');
    expect(breakers.state('p')).toBe('closed');
  });

  it('rejects a threshold below one', () => {
    expect(() => new CircuitBreakers({ clock: new ManualClock(), failureThreshold: 0 })).toThrow(RangeError);
  });
});
