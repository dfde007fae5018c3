/**
 * Recurring series (subscriptions, bills, salary) found in one user's booked history, and the standing orders and
 * direct debits that announce them. Pure: data/analysis.ts loads the user's rows and mandates and writes the result.
 *
 * It lives in reconciliation, not enrichment, because only reconciliation holds the user's history deduplicated
 * and with stable identities (internal account and transaction ids survive re-consents and pending→booked): a
 * series detected over enrichment's per-batch view would count re-fetched or re-consented rows twice.
 *
 * ## Detection
 * 1. Rows are grouped by merchant key (enrichment's, else a normalised description), direction (outflow / inflow)
 *    and currency.
 * 2. A group is tried as one series in date order (its amounts may change once: a price rise); if that fails, it is
 *    split into amount clusters (sorted by magnitude, split where neighbours are not similar) and each cluster is
 *    tried alone (a monthly £8.99 subscription among one-off purchases at the same merchant).
 * 3. A candidate needs at least 3 rows (every cadence) and every interval must fit one cadence, tried in the order
 *    weekly, fortnightly, four_weekly, monthly, quarterly, yearly; at most one missed occurrence is allowed.
 *    Day-based cadences check days between rows (7±1, 14±2, 28±1). Month-based ones are calendar aware: each row is
 *    placed on the nearest "anchor" (the day of month that fits the rows best, clamped to the month's length) and may be up
 *    to 3 days from it (4 for quarterly/yearly), which absorbs paydays moved around weekends and bank holidays;
 *    consecutive anchors must be 1 (monthly), 3 (quarterly) or 12 (yearly) months apart.
 * 4. Similar amounts: within 20% of the larger magnitude or 2.00 in currency units.
 * A series is active while `at` is within 1.5 intervals (plus the cadence's tolerance) of its last row.
 *
 * Series id: a hash of user, merchant key, cadence and direction, so replays give the same ids. When two clusters
 * of one group would get the same id, the one with more rows (then the later last row) wins.
 *
 * Income: an inflow series is income when its most common category is INCOME, or when its descriptions look like
 * pay (SALARY, PAYROLL, WAGES, or a BGC/bank giro credit from a company); the latter is filed as INCOME_WAGES even
 * when enrichment missed it (`categorySource: 'salary_rule'`).
 *
 * Mandates (standing orders, direct debits): an active mandate is linked to the detected outflow series of its
 * account whose merchant key or descriptions carry the payee / name and whose amount fits; a mandate that matches
 * no series still yields a series (source `standing_order` / `direct_debit`, no members) whose next date comes from
 * `next_payment_date` (standing orders) or the previous payment plus one month (direct debits: TrueLayer gives
 * no frequency; UK direct debits are mostly monthly, which is an assumption).
 */
import { sha256Hex } from './canonical';
import { canonicalAmount, normaliseDescription } from './dedupe';

export const CADENCES = ['weekly', 'fortnightly', 'four_weekly', 'monthly', 'quarterly', 'yearly'] as const;
export type Cadence = (typeof CADENCES)[number];
export type Direction = 'outflow' | 'inflow';
export type SeriesSource = 'history' | 'standing_order' | 'direct_debit';

/** A booked row as detection needs it (amount already signed: negative = money out, see view.ts signedAmount). */
export interface RecurringTx {
  id: string;
  accountId: string;
  bookedAt: Date;
  amount: string;
  currency: string;
  description: string;
  merchantKey: string;
  merchantName: string;
  primary: string;
  detailed: string;
}

export interface MandateInput {
  /** Stored mandate id (content key, stable across requests). */
  id: string;
  kind: 'standing_order' | 'direct_debit';
  accountId: string;
  /** Payee (standing order) or collecting merchant (direct debit). */
  name: string;
  reference: string;
  /** Signed (negative: money out); '' when unknown. */
  amount: string;
  currency: string;
  /** UK Open Banking frequency code (standing orders only). */
  frequency: string;
  active: boolean;
  nextPaymentDate: Date | null;
  lastPaymentDate: Date | null;
  /** Standing orders: used with the frequency when TrueLayer gives no next payment date. */
  firstPaymentDate?: Date | null;
}

export interface Series {
  seriesId: string;
  merchantKey: string;
  merchantName: string;
  accountId: string;
  cadence: Cadence;
  /** Median of the current price (the rows after a price change), exact decimal, signed. */
  amount: string;
  currency: string;
  lastDate: Date | null;
  nextExpectedDate: Date | null;
  occurrences: number;
  direction: Direction;
  memberIds: string[];
  primary: string;
  detailed: string;
  categorySource: 'enrichment' | 'salary_rule' | 'none';
  income: boolean;
  source: SeriesSource;
  mandateId: string | null;
  active: boolean;
}

const DAY = 86_400_000;

// ---- decimals ----

function toScaled(amount: string, scale: number): bigint {
  const c = canonicalAmount(amount);
  const neg = c.startsWith('-');
  const [int, frac = ''] = (neg ? c.slice(1) : c).split('.');
  const units = BigInt(`${int}${frac.padEnd(scale, '0')}`);
  return neg ? -units : units;
}

function fromScaled(units: bigint, scale: number): string {
  const neg = units < 0n;
  const digits = (neg ? -units : units).toString().padStart(scale + 1, '0');
  const body = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return canonicalAmount(neg ? `-${body}` : body);
}

/** Exact median of decimal strings (the mean of the two middle values for an even count). */
export function medianDecimal(amounts: readonly string[]): string {
  if (amounts.length === 0) return '0';
  const scale = Math.max(...amounts.map((a) => (canonicalAmount(a).split('.')[1] ?? '').length)) + 1;
  const sorted = amounts.map((a) => toScaled(a, scale)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const mid = Math.floor(sorted.length / 2);
  const value = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2n;
  return fromScaled(value, scale);
}

export function similarAmounts(a: number, b: number): boolean {
  const x = Math.abs(a);
  const y = Math.abs(b);
  return Math.abs(x - y) <= Math.max(2, 0.2 * Math.max(x, y));
}

// ---- merchant keys and descriptions ----

const NOISE_WORDS = new Set(['CRD', 'CARD', 'PAYMENT', 'PAYMENTS', 'DD', 'SO', 'BGC', 'FPI', 'FPO', 'TFR', 'REF', 'DIRECT', 'DEBIT', 'STANDING', 'ORDER', 'TO', 'FROM', 'BILL', 'POS', 'VIS', 'CONTACTLESS', 'FASTER', 'ONLINE', 'MOBILE', 'GB', 'UK', 'LTD', 'LIMITED', 'PLC', 'THE']);

/** A description without digits and payment-type noise, as a key ("DD NETFLIX.COM 1234" → "netflix-com"). */
export function descriptionKey(description: string): string {
  const words = normaliseDescription(description)
    .split(' ')
    .filter((w) => w.length >= 2 && !/\d/.test(w) && !NOISE_WORDS.has(w));
  return words.slice(0, 3).join('-').toLowerCase();
}

function keyOf(t: RecurringTx): string {
  return t.merchantKey || descriptionKey(t.description);
}

const PAY_WORDS = /\b(?:SALARY|SALARIES|PAYROLL|WAGES?|NET PAY|PENSION)\b/;
const COMPANY = /\b(?:LTD|LIMITED|PLC|LLP|GROUP|CORP|INC|COUNCIL|NHS|UNIVERSITY|TRUST|HMRC)\b/;

/** Descriptions that look like pay from an employer. */
export function salaryLike(description: string): boolean {
  const text = normaliseDescription(description);
  return PAY_WORDS.test(text) || ((/^BGC\b/.test(text) || /\bBANK GIRO\b/.test(text)) && COMPANY.test(text));
}

// ---- cadences ----

interface DayCadence {
  kind: 'days';
  period: number;
  tol: number;
}
interface MonthCadence {
  kind: 'months';
  months: number;
  tol: number;
}
const SPEC: Record<Cadence, DayCadence | MonthCadence> = {
  weekly: { kind: 'days', period: 7, tol: 1 },
  fortnightly: { kind: 'days', period: 14, tol: 2 },
  four_weekly: { kind: 'days', period: 28, tol: 1 },
  monthly: { kind: 'months', months: 1, tol: 3 },
  quarterly: { kind: 'months', months: 3, tol: 4 },
  yearly: { kind: 'months', months: 12, tol: 4 },
};

export function periodDays(c: Cadence): number {
  const s = SPEC[c];
  return s.kind === 'days' ? s.period : s.months * 30.44;
}

function utcDay(d: Date): number {
  return Math.floor(d.getTime() / DAY);
}

// Calendar arithmetic without Date objects (the hot loop of anchorDay): days since 1970-01-01 of a civil date
// (H. Hinnant's days_from_civil), month lengths with leap years.
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  return month === 1 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : MONTH_DAYS[month]!;
}

/** `month` 0-11 as in Date. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 1 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 10) % 12; // March = 0
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The anchor day number (day `anchor` clamped to the month's length) of month index `m` (= year * 12 + month). */
function anchorDayNumber(m: number, anchor: number): number {
  const year = Math.floor(m / 12);
  const month = m - year * 12;
  return daysFromCivil(year, month, Math.min(anchor, daysInMonth(year, month)));
}

function anchorDate(m: number, anchor: number): Date {
  return new Date(anchorDayNumber(m, anchor) * DAY);
}

function monthIndex(d: Date): number {
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** The nearest anchor month of `d` and its distance in days. */
function nearestAnchor(d: Date, anchor: number): { m: number; dev: number } {
  const base = monthIndex(d);
  let best = { m: base, dev: Infinity };
  for (const m of [base - 1, base, base + 1]) {
    const dev = Math.abs(utcDay(d) - anchorDayNumber(m, anchor));
    if (dev < best.dev) best = { m, dev };
  }
  return best;
}

/**
 * The day of month the dates are due on: the one (1-31) with the least total distance to the dates' nearest
 * anchors, then the most exact hits, then the earliest day. Unlike a median of days it works across month ends
 * (a bill on the 1st paid on the 30th or 27th when the 1st is a weekend).
 *
 * Each date's distance to its nearest anchor is the least over its month and the two around it (`nearestAnchor`),
 * computed here from each month's first day number and length, found once per month: a scheduled refresh's analysis
 * spent 14% of reconciliation's CPU in this function when it called `nearestAnchor` 93 times a date (a CPU profile,
 * docs/BENCHMARKS.md). recurring.spec.ts checks it against that form on random dates.
 */
export function anchorDay(dates: Date[]): number {
  const months = new Map<number, { start: number; length: number }>();
  const month = (m: number) => {
    let x = months.get(m);
    if (!x) {
      const year = Math.floor(m / 12);
      // the day number of the month's 1st, less one: day `d` of the month is start + d
      x = { start: daysFromCivil(year, m - year * 12, 1) - 1, length: daysInMonth(year, m - year * 12) };
      months.set(m, x);
    }
    return x;
  };
  const days = dates.map(utcDay);
  const around = dates.map((d) => {
    const base = monthIndex(d);
    return [month(base - 1), month(base), month(base + 1)] as const;
  });
  let best = { day: 1, total: Infinity, hits: -1 };
  for (let day = 1; day <= 31; day += 1) {
    let total = 0;
    let hits = 0;
    for (let i = 0; i < days.length; i += 1) {
      let dev = Infinity;
      for (const x of around[i]!) dev = Math.min(dev, Math.abs(days[i]! - (x.start + Math.min(day, x.length))));
      total += dev;
      if (dev === 0) hits += 1;
    }
    if (total < best.total || (total === best.total && hits > best.hits)) best = { day, total, hits };
  }
  return best.day;
}

interface Fit {
  cadence: Cadence;
  /** For month cadences: the anchor day and the last anchor month. */
  anchor?: number;
  lastAnchorMonth?: number;
}

/** Whether the dates (ascending) follow `c`, allowing one missed occurrence. */
function fits(dates: Date[], c: Cadence): Fit | null {
  const spec = SPEC[c];
  let missed = 0;
  if (spec.kind === 'days') {
    for (let i = 1; i < dates.length; i += 1) {
      const d = utcDay(dates[i]!) - utcDay(dates[i - 1]!);
      const steps = Math.round(d / spec.period);
      if (steps < 1 || Math.abs(d - steps * spec.period) > spec.tol) return null;
      missed += steps - 1;
    }
    return missed <= 1 ? { cadence: c } : null;
  }
  // cheap rejection first: rows closer together than the shortest possible interval
  for (let i = 1; i < dates.length; i += 1) if (utcDay(dates[i]!) - utcDay(dates[i - 1]!) < spec.months * 28 - 2 * spec.tol) return null;
  const anchor = anchorDay(dates);
  const placed = dates.map((d) => nearestAnchor(d, anchor));
  if (placed.some((p) => p.dev > spec.tol)) return null;
  for (let i = 1; i < placed.length; i += 1) {
    const diff = placed[i]!.m - placed[i - 1]!.m;
    if (diff <= 0 || diff % spec.months !== 0) return null;
    missed += diff / spec.months - 1;
  }
  return missed <= (c === 'monthly' ? 1 : 0) ? { cadence: c, anchor, lastAnchorMonth: placed.at(-1)!.m } : null;
}

function detectCadence(dates: Date[]): Fit | null {
  for (const c of CADENCES) {
    const f = fits(dates, c);
    if (f) return f;
  }
  return null;
}

function nextDate(fit: Fit, last: Date): Date {
  const spec = SPEC[fit.cadence];
  if (spec.kind === 'days') return new Date((utcDay(last) + spec.period) * DAY);
  return anchorDate(fit.lastAnchorMonth! + spec.months, fit.anchor!);
}

export function isActive(cadence: Cadence, last: Date | null, next: Date | null, at: Date): boolean {
  const ref = last ?? next;
  if (!ref) return false;
  if (!last) return true; // announced by a mandate, not yet paid
  const tol = SPEC[cadence].tol;
  return utcDay(at) - utcDay(last) <= 1.5 * periodDays(cadence) + tol;
}

/** Amounts in date order change at most once between dissimilar values (a price change). Returns the split. */
function priceSegments(amounts: number[]): number | null {
  let step = -1;
  for (let i = 1; i < amounts.length; i += 1) {
    if (!similarAmounts(amounts[i]!, amounts[i - 1]!)) {
      if (step >= 0) return null;
      step = i;
    }
  }
  if (step < 0) return 0;
  const before = amounts.slice(0, step);
  const after = amounts.slice(step);
  const within = (xs: number[]) => xs.every((x) => similarAmounts(x, xs[0]!));
  return within(before) && within(after) ? step : null;
}

function mostCommon(values: string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = '';
  let n = 0;
  for (const [v, c] of [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) if (c > n) [best, n] = [v, c];
  return best;
}

export function seriesIdOf(userId: string, merchantKey: string, cadence: Cadence, direction: Direction): string {
  return `rs_${sha256Hex(`${userId}\u0000${merchantKey}\u0000${cadence}\u0000${direction}`).slice(0, 24)}`;
}

function buildSeries(userId: string, key: string, direction: Direction, rows: RecurringTx[], at: Date): Series | null {
  if (rows.length < 3) return null;
  const step = priceSegments(rows.map((r) => Number(r.amount)));
  if (step === null) return null;
  const fit = detectCadence(rows.map((r) => r.bookedAt));
  if (!fit) return null;
  const last = rows.at(-1)!.bookedAt;
  const next = nextDate(fit, last);
  let primary = mostCommon(rows.map((r) => r.primary));
  let detailed = mostCommon(rows.filter((r) => r.primary === primary).map((r) => r.detailed));
  let categorySource: Series['categorySource'] = primary ? 'enrichment' : 'none';
  const payLike = direction === 'inflow' && rows.filter((r) => salaryLike(r.description)).length * 2 > rows.length;
  if (payLike && primary !== 'INCOME') {
    primary = 'INCOME';
    detailed = 'INCOME_WAGES';
    categorySource = 'salary_rule';
  }
  return {
    seriesId: seriesIdOf(userId, key, fit.cadence, direction),
    merchantKey: key,
    merchantName: mostCommon(rows.map((r) => r.merchantName)) || rows.at(-1)!.description,
    accountId: mostCommon(rows.map((r) => r.accountId)),
    cadence: fit.cadence,
    amount: medianDecimal(rows.slice(step).map((r) => r.amount)),
    currency: rows[0]!.currency,
    lastDate: last,
    nextExpectedDate: next,
    occurrences: rows.length,
    direction,
    memberIds: rows.map((r) => r.id),
    primary,
    detailed,
    categorySource,
    income: direction === 'inflow' && primary === 'INCOME',
    source: 'history',
    mandateId: null,
    active: isActive(fit.cadence, last, next, at),
  };
}

function byDate(a: RecurringTx, b: RecurringTx): number {
  return a.bookedAt.getTime() - b.bookedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Amount clusters of a group: sorted by magnitude, split where neighbours are not similar. */
function amountClusters(rows: RecurringTx[]): RecurringTx[][] {
  const sorted = [...rows].sort((a, b) => Math.abs(Number(a.amount)) - Math.abs(Number(b.amount)) || byDate(a, b));
  const out: RecurringTx[][] = [];
  for (const r of sorted) {
    const cur = out.at(-1);
    if (cur && similarAmounts(Number(cur[0]!.amount), Number(r.amount))) cur.push(r);
    else out.push([r]);
  }
  return out.map((c) => c.sort(byDate));
}

/** Recurring series in a user's booked rows (any order), before mandates. */
export function detectSeries(userId: string, rows: readonly RecurringTx[], at: Date): Series[] {
  const groups = new Map<string, RecurringTx[]>();
  for (const r of rows) {
    const key = keyOf(r);
    const amount = Number(r.amount);
    if (!key || !Number.isFinite(amount) || amount === 0) continue;
    const g = `${key}\u0000${amount < 0 ? 'outflow' : 'inflow'}\u0000${r.currency}`;
    const list = groups.get(g);
    if (list) list.push(r);
    else groups.set(g, [r]);
  }
  const found = new Map<string, Series>();
  for (const g of [...groups.keys()].sort()) {
    const [key, direction] = g.split('\u0000') as [string, Direction];
    const list = groups.get(g)!.sort(byDate);
    const whole = buildSeries(userId, key, direction, list, at);
    const candidates = whole ? [whole] : amountClusters(list).map((c) => buildSeries(userId, key, direction, c, at));
    for (const s of candidates) {
      if (!s) continue;
      const prev = found.get(s.seriesId);
      if (!prev || s.occurrences > prev.occurrences || (s.occurrences === prev.occurrences && s.lastDate! > prev.lastDate!)) found.set(s.seriesId, s);
    }
  }
  return [...found.values()].sort((a, b) => (a.seriesId < b.seriesId ? -1 : 1));
}

// ---- mandates ----

/** UK Open Banking frequency code → cadence (null for daily and unusual intervals). */
export function cadenceOfFrequency(frequency: string): Cadence | null {
  const f = frequency.trim();
  const [kind, a] = f.split(':');
  const n = Number(a);
  switch (kind) {
    case 'IntrvlWkDay':
    case 'IntrvlDay': {
      const days = kind === 'IntrvlWkDay' ? n * 7 : n;
      return days === 7 ? 'weekly' : days === 14 ? 'fortnightly' : days === 28 ? 'four_weekly' : null;
    }
    case 'IntrvlMnthDay':
      return n === 1 ? 'monthly' : n === 3 ? 'quarterly' : n === 12 ? 'yearly' : null;
    case 'WkInMnthDay':
      return 'monthly';
    case 'QtrDay':
      return 'quarterly';
    default:
      return null;
  }
}

function nameWords(text: string): string[] {
  return normaliseDescription(text)
    .split(' ')
    .filter((w) => w.length >= 3 && !/\d/.test(w) && !NOISE_WORDS.has(w));
}

/** A mandate's payee / name is carried by the series' merchant key or by (most of) its descriptions. */
function nameMatches(m: MandateInput, s: Series, members: RecurringTx[]): boolean {
  const words = nameWords(m.name);
  if (words.length === 0) return false;
  const key = s.merchantKey.toUpperCase().replace(/[^A-Z0-9]+/g, ' ');
  if (words.some((w) => ` ${key} `.includes(` ${w} `))) return true;
  const hits = members.filter((t) => {
    const d = ` ${normaliseDescription(t.description)} `;
    return words.every((w) => d.includes(` ${w} `));
  }).length;
  return hits * 2 > members.length;
}

/** The first date on or after `at` of a schedule that started on `first` (its day of month kept, clamped). */
function firstDueFrom(first: Date, cadence: Cadence, at: Date): Date {
  const spec = SPEC[cadence];
  if (first.getTime() >= at.getTime()) return first;
  if (spec.kind === 'days') {
    const steps = Math.ceil((utcDay(at) - utcDay(first)) / spec.period);
    return new Date((utcDay(first) + steps * spec.period) * DAY);
  }
  let m = monthIndex(first);
  while (anchorDayNumber(m, first.getUTCDate()) < utcDay(at)) m += spec.months;
  return anchorDate(m, first.getUTCDate());
}

/** Links mandates to detected series and adds a series for each active mandate that matched none. */
export function applyMandates(userId: string, detected: readonly Series[], rows: readonly RecurringTx[], mandates: readonly MandateInput[], at: Date): Series[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const out = detected.map((s) => ({ ...s }));
  const sorted = [...mandates].sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const m of sorted) {
    if (!m.active) continue;
    const amount = m.amount ? Number(m.amount) : NaN;
    const candidates = out
      .filter((s) => s.source === 'history' && s.mandateId === null && s.direction === 'outflow' && s.accountId === m.accountId && (!m.currency || s.currency === m.currency))
      .filter((s) => Number.isNaN(amount) || similarAmounts(Number(s.amount), amount))
      .filter((s) => nameMatches(m, s, s.memberIds.map((id) => byId.get(id)!).filter(Boolean)));
    const target = candidates.sort((a, b) => b.occurrences - a.occurrences || (a.seriesId < b.seriesId ? -1 : 1))[0];
    if (target) {
      target.source = m.kind;
      target.mandateId = m.id;
      if (m.kind === 'standing_order' && m.nextPaymentDate && m.nextPaymentDate.getTime() > target.lastDate!.getTime()) target.nextExpectedDate = m.nextPaymentDate;
      continue;
    }
    const cadence = m.kind === 'standing_order' ? cadenceOfFrequency(m.frequency) : 'monthly';
    if (!cadence) continue;
    const key = descriptionKey(m.name) || m.id;
    const next =
      m.kind === 'standing_order'
        ? (m.nextPaymentDate ?? (m.firstPaymentDate ? firstDueFrom(m.firstPaymentDate, cadence, at) : null))
        : m.lastPaymentDate
          ? anchorDate(monthIndex(m.lastPaymentDate) + 1, m.lastPaymentDate.getUTCDate())
          : null;
    const seriesId = seriesIdOf(userId, key, cadence, 'outflow');
    if (out.some((s) => s.seriesId === seriesId)) continue;
    out.push({
      seriesId,
      merchantKey: key,
      merchantName: m.name,
      accountId: m.accountId,
      cadence,
      amount: m.amount ? canonicalAmount(m.amount) : '',
      currency: m.currency,
      lastDate: null,
      nextExpectedDate: next,
      occurrences: 0,
      direction: 'outflow',
      memberIds: [],
      primary: '',
      detailed: '',
      categorySource: 'none',
      income: false,
      source: m.kind,
      mandateId: m.id,
      active: next !== null && next.getTime() >= at.getTime() - 1.5 * periodDays(cadence) * DAY,
    });
  }
  return out.sort((a, b) => (a.seriesId < b.seriesId ? -1 : 1));
}
