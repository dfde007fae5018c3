/**
 * Controllable clock. Every time-dependent piece of the sandbox (token expiry, consent expiry, SCA window,
 * unattended-call budget, pending settlement, cache, async task timestamps) reads time from here, never from Date.now().
 */
export interface Clock {
  now(): number;
  date(): Date;
  /** Moves the clock forward (or backward with a negative value) by `ms` milliseconds. */
  advance(ms: number): void;
  /** Jumps to an absolute instant; time keeps flowing in real time from there. */
  set(at: Date | number): void;
  /** Current offset from real time, in ms. */
  offset(): number;
  reset(): void;
}

export function createClock(realNow: () => number = () => Date.now()): Clock {
  let offsetMs = 0;
  return {
    now: () => realNow() + offsetMs,
    date: () => new Date(realNow() + offsetMs),
    advance(ms: number) {
      if (!Number.isFinite(ms)) throw new RangeError('advance(ms) needs a finite number');
      offsetMs += ms;
    },
    set(at: Date | number) {
      const target = typeof at === 'number' ? at : at.getTime();
      if (!Number.isFinite(target)) throw new RangeError('set(date) needs a valid date');
      offsetMs = target - realNow();
    },
    offset: () => offsetMs,
    reset() {
      offsetMs = 0;
    },
  };
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
