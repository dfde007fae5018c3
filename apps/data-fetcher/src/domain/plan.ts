/**
 * What to fetch and when: date windows for the post-consent backfill and for incremental syncs, the post-consent
 * window per provider, and the spacing of background refreshes inside the unattended budget. Pure.
 *
 * Dates are UTC calendar days `YYYY-MM-DD`, inclusive at both ends, exactly what TrueLayer's `from`/`to` take:
 * consecutive backfill windows share no day, so no transaction is read twice by a backfill.
 */
import { REGULATORY_WINDOW_MS, UNATTENDED_CALLS_PER_WINDOW } from './call-budget';

export const DAY_MS = 86_400_000;

/** A `YYYY-MM-DD` window, both ends inclusive. */
export interface DayWindow {
  from: string;
  to: string;
}

export function dayOf(t: Date | number): string {
  return new Date(t).toISOString().slice(0, 10);
}

export function addDays(day: string, n: number): string {
  return dayOf(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS);
}

/** `day` moved by `n` calendar months, clamped to the last day of the target month (31 Mar − 1 month = 28/29 Feb). */
export function addMonths(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const target = new Date(Date.UTC(y, m - 1 + n, 1));
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  return dayOf(Date.UTC(target.getUTCFullYear(), target.getUTCMonth(), Math.min(d, last)));
}

export function windowBounds(w: DayWindow): { from: Date; to: Date } {
  return { from: new Date(`${w.from}T00:00:00Z`), to: new Date(`${w.to}T00:00:00Z`) };
}

/**
 * The next backfill window going back in time: it ends the day before `before` (or on `today` when starting) and
 * spans `months` calendar months, never earlier than `earliest`. Undefined once `earliest` is passed.
 */
export function nextBackfillWindow(today: string, before: string | undefined, months: number, earliest: string): DayWindow | undefined {
  const to = before ? addDays(before, -1) : today;
  if (to < earliest) return undefined;
  const candidate = addDays(addMonths(to, -months), 1);
  return { from: candidate < earliest ? earliest : candidate, to };
}

/** Days in a window, both ends counted. */
export function windowDays(w: DayWindow): number {
  return Math.round((Date.parse(`${w.to}T00:00:00Z`) - Date.parse(`${w.from}T00:00:00Z`)) / DAY_MS) + 1;
}

/** A window no wider than `days`: its newest `days` days (unchanged when it is narrower already). */
export function capWindow(w: DayWindow, days: number | undefined): DayWindow {
  if (days === undefined || windowDays(w) <= days) return w;
  return { from: addDays(w.to, -(days - 1)), to: w.to };
}

/** A backfill window is never split below this (about a month): a refusal of a narrower one ends the history there. */
export const MIN_SPLIT_WINDOW_DAYS = 31;

/**
 * The window to ask instead after the bank refused `w` as too wide or too old while the post-consent window is
 * open (`sca_exceeded` or `invalid_date_range`; the widest range a bank serves per request is unpublished): its
 * newer half, rounded up. Undefined when `w` is already at most {@link MIN_SPLIT_WINDOW_DAYS} days wide.
 */
export function splitWindow(w: DayWindow): DayWindow | undefined {
  const days = windowDays(w);
  if (days <= MIN_SPLIT_WINDOW_DAYS) return undefined;
  return capWindow(w, Math.max(MIN_SPLIT_WINDOW_DAYS, Math.ceil(days / 2)));
}

/** Every backfill window, newest first (what a run without errors reads). */
export function backfillWindows(today: string, months: number, earliest: string): DayWindow[] {
  const out: DayWindow[] = [];
  let w = nextBackfillWindow(today, undefined, months, earliest);
  while (w) {
    out.push(w);
    w = nextBackfillWindow(today, w.from, months, earliest);
  }
  return out;
}

/**
 * The window of an incremental sync: from the end of the last successful window minus the overlap (late-booked
 * transactions are caught), but never older than what the bank serves outside the SCA window, to today.
 */
export function incrementalWindow(today: string, syncedTo: string | undefined, overlapDays: number, historyDaysOutsideSca: number): DayWindow {
  const floor = addDays(today, -(historyDaysOutsideSca - 1));
  const from = syncedTo ? addDays(syncedTo, -overlapDays) : floor;
  return { from: from < floor ? floor : from > today ? today : from, to: today };
}

/**
 * Providers known to keep the post-consent (SCA) window open longer than the usual 5 minutes: the Lloyds Banking
 * Group brands, about 45 minutes (reference §8, support FR 360025818054).
 */
export const LONG_POST_CONSENT_PROVIDERS: Readonly<Record<string, number>> = Object.freeze({
  'ob-lloyds': 45 * 60_000,
  'ob-halifax': 45 * 60_000,
  'ob-bos': 45 * 60_000,
  'ob-mbna': 45 * 60_000,
});

export function postConsentWindowMs(providerId: string, defaultMs: number): number {
  return Math.max(defaultMs, LONG_POST_CONSENT_PROVIDERS[providerId] ?? 0);
}

/**
 * Background refreshes per rolling window: the unattended budget allows 4 calls per account × endpoint, and each
 * refresh spends one of each, so refreshes are `budgetWindowMs / 4` apart (24 h 15 min / 4 = 6 h 3 min 45 s).
 */
export function refreshIntervalMs(budgetWindowMs: number, refreshesPerWindow = UNATTENDED_CALLS_PER_WINDOW): number {
  if (refreshesPerWindow < 1 || refreshesPerWindow > UNATTENDED_CALLS_PER_WINDOW) throw new RangeError(`refreshesPerWindow must be 1..${UNATTENDED_CALLS_PER_WINDOW}`);
  if (budgetWindowMs < REGULATORY_WINDOW_MS) throw new RangeError('the budget window is at least 24 h');
  return Math.ceil(budgetWindowMs / refreshesPerWindow);
}

/** A stable offset in [0, spanMs) for a connection, so that connections spread over the interval instead of bunching. */
export function spreadOffsetMs(connectionId: string, spanMs: number): number {
  let h = 2166136261;
  for (let i = 0; i < connectionId.length; i += 1) {
    h ^= connectionId.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % Math.max(1, Math.floor(spanMs));
}
