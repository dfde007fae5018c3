/**
 * Lenient timestamp handling.
 *
 * TrueLayer's Data API v1 returns ISO-8601-ish strings in several shapes (reference §5.1):
 * with or without a UTC offset, with 0..n fractional-second digits, date-only (`YYYY-MM-DD`), and occasionally
 * malformed values (the OpenAPI card-balance example has `2017-02-247T17:29:24.740802Z`).
 *
 * Policy:
 * - parseable values are normalised to `YYYY-MM-DDTHH:mm:ss.sssZ` (UTC);
 * - values without an offset are taken as UTC (TrueLayer's offset-less timestamps are UTC posting dates);
 * - date-only values become UTC midnight of that date;
 * - unparseable values are NOT rejected: the original string is kept unchanged so no data is lost.
 *   Use {@link toDate} to get a `Date` (undefined when the value is not a valid timestamp).
 */

const TIMESTAMP_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Parses a TrueLayer timestamp; returns epoch milliseconds or undefined when it is not a valid timestamp. */
export function parseTimestampMs(value: string): number | undefined {
  const m = TIMESTAMP_RE.exec(value.trim());
  if (!m) return undefined;
  const [, ys, mos, ds, hs, mis, ss, frac, offset] = m;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  const hour = hs === undefined ? 0 : Number(hs);
  const minute = mis === undefined ? 0 : Number(mis);
  const second = ss === undefined ? 0 : Number(ss);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  let offsetMinutes = 0;
  if (offset !== undefined && offset.toUpperCase() !== 'Z') {
    const sign = offset.startsWith('-') ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = sign * (oh * 60 + om);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Date.UTC maps years 0..99 to 1900..1999; TrueLayer never sends those, but be exact anyway.
  const d = new Date(utc);
  if (year < 100) d.setUTCFullYear(year);
  return d.getTime() - offsetMinutes * 60_000;
}

/** Normalises a timestamp string to ISO-8601 UTC with milliseconds, or returns it unchanged when unparseable. */
export function normaliseTimestamp(value: string): string {
  const ms = parseTimestampMs(value);
  return ms === undefined ? value : new Date(ms).toISOString();
}

/** `Date` for a (normalised or raw) timestamp string; undefined when absent or unparseable. */
export function toDate(value: string | undefined | null): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = parseTimestampMs(value);
  return ms === undefined ? undefined : new Date(ms);
}

/** True when the value is a timestamp this module can parse. */
export function isValidTimestamp(value: string): boolean {
  return parseTimestampMs(value) !== undefined;
}

const DATE_ONLY_RE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Formats a `from`/`to` query value. Dates are sent as `YYYY-MM-DD` (UTC calendar date, the documented format,
 * inclusive); strings must be `YYYY-MM-DD` or a full datetime the API accepts and are passed through unchanged.
 */
export function formatDateParam(value: Date | string, name: string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`${name} is an invalid Date`);
    return value.toISOString().slice(0, 10);
  }
  if (!isValidTimestamp(value)) throw new TypeError(`${name} must be YYYY-MM-DD or an ISO-8601 datetime`);
  return DATE_ONLY_RE.test(value) ? value : value.trim();
}
