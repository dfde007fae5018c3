/** `from`/`to` parsing and the transaction history window. */
import { DAY } from '../clock';
import { dataError, type TlError } from './errors';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Parses a `from`/`to` value: `YYYY-MM-DD` (inclusive day) or an ISO date-time (no offset = UTC). */
export function parseBoundary(value: string, kind: 'from' | 'to'): number | undefined {
  if (DATE_ONLY.test(value)) {
    const t = Date.parse(`${value}T00:00:00Z`);
    if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== value) return undefined;
    return kind === 'from' ? t : t + DAY - 1;
  }
  if (DATE_TIME.test(value)) {
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(value);
    const t = Date.parse(hasZone ? value : `${value}Z`);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

export interface RangeInput {
  from?: unknown;
  to?: unknown;
  now: number;
  /** True while the SCA window after authentication is open. */
  inScaWindow: boolean;
  historyDaysOutsideSca: number;
}

export function resolveRange(input: RangeInput): { fromMs: number; toMs: number } | TlError {
  const read = (v: unknown, kind: 'from' | 'to'): number | undefined | null => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length === 0) return null;
    return parseBoundary(v, kind) ?? null;
  };
  const from = read(input.from, 'from');
  const to = read(input.to, 'to');
  if (from === null || to === null) return dataError('validation_error');
  const windowStart = Math.floor(input.now / DAY) * DAY - input.historyDaysOutsideSca * DAY;
  const fromMs = from ?? (input.inScaWindow ? Number.NEGATIVE_INFINITY : windowStart);
  const toMs = to ?? input.now;
  if (fromMs > toMs) return dataError('invalid_date_range');
  if (fromMs > input.now) return dataError('invalid_date_range');
  if (toMs > input.now + DAY) return dataError('invalid_date_range');
  if (!input.inScaWindow && fromMs < windowStart) return dataError('sca_exceeded');
  return { fromMs, toMs };
}
