/**
 * Controllable clock. Every time-dependent piece of the sandbox (token expiry, consent expiry, SCA window,
 * unattended-call budget, pending settlement, cache, async task timestamps) reads time from here, never from Date.now().
 * Real-time waits (asyncTaskDelayMs, fault latency) stay real milliseconds.
 *
 * The clock is a base clock plus an offset. The base is the wall clock, or a scaled clock built from `SANDBOX_CLOCK`
 * (see `clockFromSpec` in @ais/platform-config), which other processes given the same spec read too; the admin
 * advance/set/reset calls only move the offset on top of it.
 */
export interface Clock {
  now(): number;
  date(): Date;
  /** Moves the clock forward (or backward with a negative value) by `ms` milliseconds. */
  advance(ms: number): void;
  /** Jumps to an absolute instant; time keeps flowing at the base clock's rate from there. */
  set(at: Date | number): void;
  /** Current offset from the base clock, in ms. */
  offset(): number;
  /** Simulated milliseconds per real millisecond (1 unless the base clock is scaled). */
  rate(): number;
  reset(): void;
}

/** The time source under the offsets: a plain `now` function (the wall clock by default) or a clock with a rate. */
export type BaseClock = (() => number) | { now(): number; readonly rate?: number };

export function createClock(base: BaseClock = () => Date.now()): Clock {
  const baseNow = typeof base === 'function' ? base : () => base.now();
  const rate = typeof base === 'function' ? 1 : (base.rate ?? 1);
  let offsetMs = 0;
  return {
    now: () => baseNow() + offsetMs,
    date: () => new Date(baseNow() + offsetMs),
    advance(ms: number) {
      if (!Number.isFinite(ms)) throw new RangeError('advance(ms) needs a finite number');
      offsetMs += ms;
    },
    set(at: Date | number) {
      const target = typeof at === 'number' ? at : at.getTime();
      if (!Number.isFinite(target)) throw new RangeError('set(date) needs a valid date');
      offsetMs = target - baseNow();
    },
    offset: () => offsetMs,
    rate: () => rate,
    reset() {
      offsetMs = 0;
    },
  };
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
