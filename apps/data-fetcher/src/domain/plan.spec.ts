import { REGULATORY_WINDOW_MS } from './call-budget';
import { addDays, addMonths, backfillWindows, capWindow, DAY_MS, dayOf, incrementalWindow, MIN_SPLIT_WINDOW_DAYS, nextBackfillWindow, postConsentWindowMs, refreshIntervalMs, splitWindow, spreadOffsetMs, windowDays, type DayWindow } from './plan';

/** Every day from `from` to `to`, both inclusive. */
function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

const dayNo = (day: string): number => Date.parse(`${day}T00:00:00Z`) / DAY_MS;

/** Today-candidates: every day around two leap days, every month end (and the day after) over seven years. */
function startDates(): string[] {
  const out = new Set<string>([...daysBetween('2023-12-20', '2024-03-10'), ...daysBetween('2027-12-20', '2028-03-05')]);
  for (let y = 2019; y <= 2026; y += 1) {
    for (let m = 1; m <= 12; m += 1) {
      const firstOfNext = dayOf(Date.UTC(y, m, 1));
      out.add(addDays(firstOfNext, -1));
      out.add(firstOfNext);
    }
  }
  out.add('2100-03-01'); // 2100 is not a leap year
  out.add('2000-03-01'); // 2000 is
  return [...out].sort();
}

const MONTHS = [1, 2, 3, 6, 12, 24];
const HISTORY_DAYS = [0, 1, 27, 28, 29, 30, 31, 59, 89, 90, 365, 366, 2557];

describe('plan: calendar helpers', () => {
  it('addMonths clamps to the last day of the target month, leap years included', () => {
    expect(addMonths('2024-03-31', -1)).toBe('2024-02-29');
    expect(addMonths('2023-03-31', -1)).toBe('2023-02-28');
    expect(addMonths('2100-03-31', -1)).toBe('2100-02-28');
    expect(addMonths('2000-03-31', -1)).toBe('2000-02-29');
    expect(addMonths('2024-05-31', -1)).toBe('2024-04-30');
    expect(addMonths('2024-01-31', -2)).toBe('2023-11-30');
    expect(addMonths('2024-02-29', -12)).toBe('2023-02-28');
    expect(addMonths('2024-01-15', 1)).toBe('2024-02-15');
    expect(addMonths('2024-12-31', 2)).toBe('2025-02-28');
  });

  it('addDays crosses month, year and leap-day boundaries', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2024-02-29', 1)).toBe('2024-03-01');
    expect(addDays('2023-02-28', 1)).toBe('2023-03-01');
    expect(addDays('2024-01-01', -1)).toBe('2023-12-31');
    expect(addDays('2024-03-01', -366)).toBe('2023-03-01');
  });
});

describe('plan: backfill windows', () => {
  const dates = startDates();

  it(`never overlap and cover every day from earliest to today exactly once (${dates.length} todays x ${MONTHS.length} window sizes x ${HISTORY_DAYS.length} history lengths)`, () => {
    let checked = 0;
    for (const today of dates) {
      for (const months of MONTHS) {
        for (const history of HISTORY_DAYS) {
          const earliest = addDays(today, -history);
          const windows = backfillWindows(today, months, earliest);
          const where = `today=${today} months=${months} earliest=${earliest}`;
          // newest first, each well-formed and no longer than `months` calendar months
          for (const w of windows) {
            if (!(w.from <= w.to)) throw new Error(`${where}: inverted window ${JSON.stringify(w)}`);
            if (w.from < addMonths(w.to, -months)) throw new Error(`${where}: window longer than ${months} months ${JSON.stringify(w)}`);
          }
          if (windows[0]?.to !== today || windows[windows.length - 1]?.from !== earliest) throw new Error(`${where}: does not span earliest..today`);
          // consecutive windows touch: the older one ends the day before the newer one starts
          for (let i = 1; i < windows.length; i += 1) {
            if (windows[i]!.to !== addDays(windows[i - 1]!.from, -1)) throw new Error(`${where}: gap or overlap between ${JSON.stringify(windows[i - 1])} and ${JSON.stringify(windows[i])}`);
          }
          // every day exactly once, counted day by day (as day numbers: a bitmap over the range)
          const first = dayNo(earliest);
          const hits = new Uint8Array(dayNo(today) - first + 1);
          for (const w of windows) {
            const last = dayNo(w.to) - first;
            for (let d = dayNo(w.from) - first; d <= last; d += 1) hits[d] = (hits[d] ?? 0) + 1;
          }
          if (hits.some((n) => n !== 1)) throw new Error(`${where}: days not covered exactly once`);
          checked += 1;
        }
      }
    }
    expect(checked).toBe(dates.length * MONTHS.length * HISTORY_DAYS.length);
  });

  it('full-month windows end on the calendar day before the same day months earlier (31 Mar, 1 month: 1 Mar..31 Mar, then 30 Jan..29 Feb)', () => {
    expect(backfillWindows('2024-03-31', 1, '2024-01-01')).toEqual<DayWindow[]>([
      { from: '2024-03-01', to: '2024-03-31' },
      { from: '2024-01-30', to: '2024-02-29' },
      { from: '2024-01-01', to: '2024-01-29' },
    ]);
  });

  it('resumes from the last window read, and is over once earliest is passed', () => {
    const all = backfillWindows('2024-06-15', 3, '2023-01-01');
    // a run interrupted after the second window resumes with the third
    expect(nextBackfillWindow('2024-06-15', all[1]!.from, 3, '2023-01-01')).toEqual(all[2]);
    expect(nextBackfillWindow('2024-06-15', '2023-01-01', 3, '2023-01-01')).toBeUndefined();
    // earliest after today: nothing to read
    expect(backfillWindows('2024-06-15', 3, '2024-06-16')).toEqual([]);
  });
});

describe('plan: incremental window', () => {
  it('starts overlapDays before the last synced day and ends today', () => {
    expect(incrementalWindow('2024-03-10', '2024-03-08', 7, 90)).toEqual({ from: '2024-03-01', to: '2024-03-10' });
    expect(incrementalWindow('2024-03-01', '2024-02-29', 0, 90)).toEqual({ from: '2024-02-29', to: '2024-03-01' });
  });

  it('never reaches further back than the 90 days a bank serves outside the SCA window (inclusive: 90 days in all)', () => {
    const w = incrementalWindow('2024-03-10', '2023-01-01', 7, 90);
    expect(w).toEqual({ from: addDays('2024-03-10', -89), to: '2024-03-10' });
    expect(daysBetween(w.from, w.to)).toHaveLength(90);
    // never synced: the floor
    expect(incrementalWindow('2024-03-10', undefined, 7, 90)).toEqual(w);
    // the overlap itself is cut by the floor
    expect(incrementalWindow('2024-03-10', addDays('2024-03-10', -85), 7, 90).from).toBe(w.from);
  });

  it('a synced day in the future (clock skew) still reads today', () => {
    expect(incrementalWindow('2024-03-10', '2024-03-20', 7, 90)).toEqual({ from: '2024-03-10', to: '2024-03-10' });
    expect(incrementalWindow('2024-03-10', '2024-03-12', 7, 90)).toEqual({ from: '2024-03-05', to: '2024-03-10' });
  });

  it('holds over many days: to is today, from within [today - 89, today], and at most overlapDays before syncedTo', () => {
    for (const today of startDates()) {
      for (const back of [0, 1, 6, 7, 8, 60, 83, 84, 85, 89, 90, 91, 400]) {
        const syncedTo = addDays(today, -back);
        const w = incrementalWindow(today, syncedTo, 7, 90);
        const expected = back + 7 <= 89 ? addDays(syncedTo, -7) : addDays(today, -89);
        if (w.to !== today || w.from !== expected || w.from < addDays(today, -89)) throw new Error(`today=${today} syncedTo=${syncedTo}: ${JSON.stringify(w)}, expected from ${expected}`);
      }
    }
  });
});

describe('plan: refresh spacing', () => {
  const budgetWindow = REGULATORY_WINDOW_MS + 15 * 60_000;

  it('spaces four refreshes a quarter of 24 h 15 min apart: 6 h 3 min 45 s', () => {
    expect(refreshIntervalMs(budgetWindow)).toBe(6 * 3600_000 + 3 * 60_000 + 45_000);
    expect(refreshIntervalMs(budgetWindow, 4) * 4).toBe(budgetWindow);
    expect(refreshIntervalMs(budgetWindow, 2)).toBe(budgetWindow / 2);
    expect(refreshIntervalMs(REGULATORY_WINDOW_MS, 3)).toBe(8 * 3600_000);
  });

  it('rounds up, so that four refreshes never fit in less than the window', () => {
    expect(refreshIntervalMs(REGULATORY_WINDOW_MS + 1, 4)).toBe(6 * 3600_000 + 1);
  });

  it('refuses more than 4 refreshes per window, fewer than 1, or a window under 24 h', () => {
    expect(() => refreshIntervalMs(budgetWindow, 5)).toThrow(RangeError);
    expect(() => refreshIntervalMs(budgetWindow, 0)).toThrow(RangeError);
    expect(() => refreshIntervalMs(REGULATORY_WINDOW_MS - 1)).toThrow(RangeError);
  });

  it('spreads connections with a stable offset inside the span', () => {
    const span = 30 * 60_000;
    const offsets = Array.from({ length: 500 }, (_, i) => spreadOffsetMs(`conn-${i}`, span));
    for (const o of offsets) expect(o >= 0 && o < span).toBe(true);
    expect(spreadOffsetMs('conn-7', span)).toBe(offsets[7]);
    expect(new Set(offsets.map((o) => Math.floor(o / (span / 10)))).size).toBe(10); // not bunched in one tenth
    expect(spreadOffsetMs('x', 0)).toBe(0);
  });

  it('keeps the user IP for 45 minutes at the Lloyds Banking Group brands, the default elsewhere', () => {
    expect(postConsentWindowMs('ob-lloyds', 5 * 60_000)).toBe(45 * 60_000);
    expect(postConsentWindowMs('ob-barclays', 5 * 60_000)).toBe(5 * 60_000);
    expect(postConsentWindowMs('ob-halifax', 60 * 60_000)).toBe(60 * 60_000);
    expect(DAY_MS).toBe(86_400_000);
  });
});

describe('splitting a refused backfill window', () => {
  it('asks for the newer half, rounded up, down to about a month; capping keeps the newest days', () => {
    const year = { from: '2025-12-03', to: '2026-12-02' };
    expect(windowDays(year)).toBe(365);
    const widths: number[] = [];
    for (let w: DayWindow | undefined = year; w; w = splitWindow(w)) {
      expect(w.to).toBe(year.to);
      widths.push(windowDays(w));
    }
    expect(widths).toEqual([365, 183, 92, 46, MIN_SPLIT_WINDOW_DAYS]);
    expect(splitWindow({ from: '2026-11-01', to: '2026-12-01' })).toBeUndefined();
    expect(capWindow(year, 92)).toEqual({ from: '2026-09-02', to: '2026-12-02' });
    expect(capWindow(year, undefined)).toBe(year);
    expect(capWindow({ from: '2026-12-01', to: '2026-12-02' }, 92)).toEqual({ from: '2026-12-01', to: '2026-12-02' });
    // consecutive capped windows still touch: the next one ends the day before the capped one began
    const next = nextBackfillWindow('2026-12-02', capWindow(year, 92).from, 12, '2020-01-01')!;
    expect(next.to).toBe('2026-09-01');
  });
});
