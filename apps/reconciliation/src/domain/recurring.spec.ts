import { anchorDay, applyMandates, cadenceOfFrequency, detectSeries, medianDecimal, seriesIdOf, type MandateInput, type RecurringTx } from './recurring';

const DAY = 86_400_000;
const d = (iso: string) => new Date(`${iso}T00:00:00Z`);

/** The business day a payment due on `day` of a month lands on: Saturday and Sunday move back to Friday. */
function payday(year: number, month: number, day: number): Date {
  const due = new Date(Date.UTC(year, month, day));
  const dow = due.getUTCDay();
  return new Date(due.getTime() - (dow === 6 ? 1 : dow === 0 ? 2 : 0) * DAY);
}

let n = 0;
function tx(bookedAt: Date, amount: string, extra: Partial<RecurringTx> = {}): RecurringTx {
  n += 1;
  return { id: `t${String(n).padStart(4, '0')}`, accountId: 'acc-cur', bookedAt, amount, currency: 'GBP', description: 'DD NETFLIX.COM', merchantKey: 'netflix', merchantName: 'Netflix', primary: 'ENTERTAINMENT', detailed: 'ENTERTAINMENT_TV_AND_MOVIES', ...extra };
}

describe('recurring series', () => {
  it('finds a monthly bill whose payments move to Friday when the 25th is a weekend', () => {
    const dates = Array.from({ length: 8 }, (_, m) => payday(2026, m, 25));
    // the fixture really has weekend shifts (Jan 25 2026 is a Sunday, Apr 25 a Saturday)
    expect(dates.map((x) => x.getUTCDate())).toEqual([23, 25, 25, 24, 25, 25, 24, 25]);
    const rows = dates.map((x) => tx(x, '-45.00', { merchantKey: 'thames-water', merchantName: 'Thames Water', description: 'THAMES WATER DD', primary: 'RENT_AND_UTILITIES', detailed: 'RENT_AND_UTILITIES_WATER' }));
    const [s, ...rest] = detectSeries('u1', rows, d('2026-09-01'));
    expect(rest).toEqual([]);
    expect(s).toMatchObject({
      cadence: 'monthly',
      amount: '-45',
      currency: 'GBP',
      occurrences: 8,
      direction: 'outflow',
      lastDate: d('2026-08-25'),
      nextExpectedDate: d('2026-09-25'),
      primary: 'RENT_AND_UTILITIES',
      detailed: 'RENT_AND_UTILITIES_WATER',
      income: false,
      active: true,
      source: 'history',
    });
    expect(s!.memberIds).toEqual(rows.map((r) => r.id));
    expect(s!.seriesId).toBe(seriesIdOf('u1', 'thames-water', 'monthly', 'outflow'));
  });

  it('month ends: the 31st clamps to shorter months and still reads as monthly, not four-weekly', () => {
    const rows = ['2026-01-31', '2026-02-27', '2026-03-31', '2026-04-30', '2026-05-29'].map((x) => tx(d(x), '-700', { merchantKey: 'landlord' }));
    const [s] = detectSeries('u1', rows, d('2026-06-10'));
    expect(s).toMatchObject({ cadence: 'monthly', nextExpectedDate: d('2026-06-30') });
    // due on the 1st, paid on the 30th or 27th of the month before when the 1st is a weekend
    const first = [0, 1, 2, 3, 4].map((m) => payday(2026, m, 1));
    expect(first.map((x) => x.toISOString().slice(5, 10))).toEqual(['01-01', '01-30', '02-27', '04-01', '05-01']);
    const [rent] = detectSeries('u1', first.map((x) => tx(x, '-900', { merchantKey: 'rent' })), d('2026-05-10'));
    expect(rent).toMatchObject({ cadence: 'monthly', occurrences: 5, nextExpectedDate: d('2026-06-01') });
  });

  it('weekly (one day late once, one week missed) and four-weekly are told apart from monthly', () => {
    const weekly = [0, 7, 14, 22, 28, 42, 49].map((k) => tx(new Date(d('2026-03-02').getTime() + k * DAY), '-3.20', { merchantKey: 'gym-class' }));
    const fourWeekly = [0, 28, 56, 84].map((k) => tx(new Date(d('2026-01-09').getTime() + k * DAY), '1200', { merchantKey: 'acme-payroll', description: 'ACME PAYROLL', primary: 'INCOME', detailed: 'INCOME_WAGES' }));
    const series = detectSeries('u1', [...weekly, ...fourWeekly], d('2026-04-22'));
    expect(series.map((s) => [s.merchantKey, s.cadence, s.occurrences, s.active])).toEqual(
      expect.arrayContaining([
        ['gym-class', 'weekly', 7, true],
        ['acme-payroll', 'four_weekly', 4, true],
      ]),
    );
    expect(series).toHaveLength(2);
    expect(series.find((s) => s.cadence === 'four_weekly')!.nextExpectedDate).toEqual(d('2026-05-01')); // Jan 9 + 4 × 28 days
  });

  it('yearly needs three occurrences: two years of renewals are not enough, three are', () => {
    const two = [d('2024-05-03'), d('2025-05-02')].map((x) => tx(x, '-95', { merchantKey: 'aa-membership' }));
    expect(detectSeries('u1', two, d('2025-06-01'))).toEqual([]);
    const three = [...two, tx(d('2026-05-05'), '-99', { merchantKey: 'aa-membership' })];
    const [s] = detectSeries('u1', three, d('2026-06-01'));
    expect(s).toMatchObject({ cadence: 'yearly', occurrences: 3, amount: '-95', active: true });
    expect(s!.nextExpectedDate!.getUTCFullYear()).toBe(2027);
    expect(s!.nextExpectedDate!.getUTCMonth()).toBe(4);
  });

  it('quarterly with weekend shifts is found; a two-month gap is not quarterly', () => {
    const dates = [payday(2025, 7, 15), payday(2025, 10, 15), payday(2026, 1, 15), payday(2026, 4, 15)];
    expect(dates.map((x) => x.getUTCDate())).toEqual([15, 14, 13, 15]);
    const rows = dates.map((x) => tx(x, '-120', { merchantKey: 'water-rates' }));
    const [s] = detectSeries('u1', rows, d('2026-06-01'));
    expect(s).toMatchObject({ cadence: 'quarterly', occurrences: 4, nextExpectedDate: d('2026-08-15'), active: true });
    expect(detectSeries('u1', rows.slice(1), d('2026-06-01'))[0]).toMatchObject({ cadence: 'quarterly', occurrences: 3 });
    const uneven = ['2025-10-01', '2026-01-01', '2026-03-01'].map((x) => tx(d(x), '-120', { merchantKey: 'uneven' }));
    expect(detectSeries('u1', uneven, d('2026-04-01'))).toEqual([]);
  });

  it('a subscription whose price changes once is one series, typical amount at the new price', () => {
    const rows = ['-5.99', '-5.99', '-5.99', '-8.99', '-8.99', '-8.99'].map((a, m) => tx(new Date(Date.UTC(2026, m, 14)), a));
    const series = detectSeries('u1', rows, d('2026-07-01'));
    expect(series).toHaveLength(1);
    expect(series[0]).toMatchObject({ cadence: 'monthly', occurrences: 6, amount: '-8.99' });
    // two changes back and forth are not a price change
    const noisy = ['-5.99', '-8.99', '-5.99', '-8.99'].map((a, m) => tx(new Date(Date.UTC(2026, m, 14)), a, { merchantKey: 'flippy' }));
    expect(detectSeries('u1', noisy, d('2026-05-01'))).toEqual([]);
  });

  it('irregular payments to one merchant are not a series; a monthly amount among them is', () => {
    const days = [0, 3, 20, 60, 69, 110];
    const shopping = days.map((k, i) => tx(new Date(d('2026-01-02').getTime() + k * DAY), `-${[23.5, 61, 12.49, 80, 34, 5.2][i]}`, { merchantKey: 'amazon', primary: 'GENERAL_MERCHANDISE', detailed: 'GENERAL_MERCHANDISE_ONLINE_MARKETPLACES' }));
    const sameAmountIrregular = [0, 3, 20, 61, 70].map((k) => tx(new Date(d('2026-01-02').getTime() + k * DAY), '-10', { merchantKey: 'corner-shop' }));
    expect(detectSeries('u1', [...shopping, ...sameAmountIrregular], d('2026-05-01'))).toEqual([]);
    const prime = [0, 1, 2, 3].map((m) => tx(new Date(Date.UTC(2026, m, 7)), '-8.99', { merchantKey: 'amazon', primary: 'ENTERTAINMENT', detailed: 'ENTERTAINMENT_TV_AND_MOVIES' }));
    const found = detectSeries('u1', [...shopping, ...prime], d('2026-04-20'));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ merchantKey: 'amazon', cadence: 'monthly', amount: '-8.99', occurrences: 4 });
    expect(found[0]!.memberIds).toEqual(prime.map((p) => p.id));
  });

  it('a series not paid for more than ~1.5 intervals is inactive', () => {
    const rows = [0, 1, 2, 3].map((m) => tx(new Date(Date.UTC(2026, m, 10)), '-12'));
    expect(detectSeries('u1', rows, d('2026-05-20'))[0]!.active).toBe(true);
    expect(detectSeries('u1', rows, d('2026-06-01'))[0]!.active).toBe(false);
  });

  it('salary: an inflow with pay-like descriptions is income even when enrichment missed it; a friend paying back is not', () => {
    const salary = [0, 1, 2, 3].map((m) => tx(payday(2026, m, 28), m === 2 ? '2510.10' : '2500.00', { merchantKey: '', merchantName: '', description: `BGC ACME WIDGETS LTD SALARY ${m}`, primary: 'TRANSFER_IN', detailed: 'TRANSFER_IN_OTHER_TRANSFER_IN' }));
    const friend = [0, 1, 2, 3].map((m) => tx(new Date(Date.UTC(2026, m, 5)), '50', { merchantKey: 'j-smith', description: 'J SMITH RENT SHARE', primary: 'TRANSFER_IN', detailed: 'TRANSFER_IN_ACCOUNT_TRANSFER' }));
    const enriched = [0, 1, 2].map((m) => tx(new Date(Date.UTC(2026, m, 15)), '300', { merchantKey: 'dwp', description: 'DWP UC', primary: 'INCOME', detailed: 'INCOME_OTHER_INCOME' }));
    const series = detectSeries('u1', [...salary, ...friend, ...enriched], d('2026-04-30'));
    const byKey = new Map(series.map((s) => [s.merchantKey, s]));
    expect(byKey.get('acme-widgets-salary')).toMatchObject({ direction: 'inflow', income: true, primary: 'INCOME', detailed: 'INCOME_WAGES', categorySource: 'salary_rule', amount: '2500', cadence: 'monthly' });
    expect(byKey.get('j-smith')).toMatchObject({ direction: 'inflow', income: false, primary: 'TRANSFER_IN' });
    expect(byKey.get('dwp')).toMatchObject({ income: true, detailed: 'INCOME_OTHER_INCOME', categorySource: 'enrichment' });
  });

  it('ids are deterministic (replays) and differ by user, cadence and direction', () => {
    const mk = () => [0, 1, 2].map((m) => ({ ...tx(new Date(Date.UTC(2026, m, 3)), '-20'), id: `x${m}` }));
    expect(detectSeries('u1', mk(), d('2026-03-10'))).toEqual(detectSeries('u1', mk().reverse(), d('2026-03-10')));
    const ids = new Set([seriesIdOf('u1', 'k', 'monthly', 'outflow'), seriesIdOf('u2', 'k', 'monthly', 'outflow'), seriesIdOf('u1', 'k', 'weekly', 'outflow'), seriesIdOf('u1', 'k', 'monthly', 'inflow')]);
    expect(ids.size).toBe(4);
  });

  it('medians are exact decimals', () => {
    expect(medianDecimal(['-9.99', '-10.01'])).toBe('-10');
    expect(medianDecimal(['1.5', '2'])).toBe('1.75');
    expect(medianDecimal(['0.1', '0.2', '100'])).toBe('0.2');
    expect(medianDecimal(['0.01', '0.02'])).toBe('0.015');
  });
});

describe('standing orders and direct debits', () => {
  const so = (extra: Partial<MandateInput> = {}): MandateInput => ({
    id: 'so_1',
    kind: 'standing_order',
    accountId: 'acc-cur',
    name: 'MRS P LANDLORD',
    reference: 'FLAT 2 RENT',
    amount: '-850',
    currency: 'GBP',
    frequency: 'IntrvlMnthDay:01:01',
    active: true,
    nextPaymentDate: d('2026-05-01'),
    lastPaymentDate: null,
    ...extra,
  });

  it('maps UK Open Banking frequency codes', () => {
    expect(['IntrvlWkDay:01:05', 'IntrvlWkDay:02:05', 'IntrvlDay:28', 'IntrvlMnthDay:01:26', 'IntrvlMnthDay:03:01', 'QtrDay:ENGLISH', 'IntrvlMnthDay:12:01', 'EvryDay', 'IntrvlMnthDay:06:01'].map(cadenceOfFrequency)).toEqual([
      'weekly',
      'fortnightly',
      'four_weekly',
      'monthly',
      'quarterly',
      'quarterly',
      'yearly',
      null,
      null,
    ]);
  });

  it('links a standing order to the series its payee names; the mandate sets the next date', () => {
    const rows = [0, 1, 2, 3].map((m) => tx(payday(2026, m, 1), '-850', { merchantKey: '', merchantName: '', description: 'SO MRS P LANDLORD FLAT 2 RENT', primary: 'RENT_AND_UTILITIES', detailed: 'RENT_AND_UTILITIES_RENT' }));
    const detected = detectSeries('u1', rows, d('2026-04-20'));
    expect(detected).toHaveLength(1);
    const out = applyMandates('u1', detected, rows, [so()], d('2026-04-20'));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ source: 'standing_order', mandateId: 'so_1', occurrences: 4, nextExpectedDate: d('2026-05-01') });
    // an amount that does not fit, or another account, does not link: the mandate then announces its own series
    const apart = applyMandates('u1', detected, rows, [so({ amount: '-1500', id: 'so_2', name: 'MRS P LANDLORD' })], d('2026-04-20'));
    expect(apart.find((s) => s.mandateId === 'so_2')).toMatchObject({ source: 'standing_order', occurrences: 0, memberIds: [] });
    expect(apart.find((s) => s.source === 'history')!.mandateId).toBeNull();
  });

  it('a standing order without a next payment date gets it from its first payment and frequency', () => {
    const at = d('2026-04-20');
    const monthly = applyMandates('u1', [], [], [so({ nextPaymentDate: null, firstPaymentDate: d('2025-11-30'), name: 'GYM CLUB' })], at);
    expect(monthly[0]).toMatchObject({ cadence: 'monthly', nextExpectedDate: d('2026-04-30'), active: true });
    const weekly = applyMandates('u1', [], [], [so({ nextPaymentDate: null, firstPaymentDate: d('2026-04-01'), frequency: 'IntrvlWkDay:01:03', name: 'POCKET MONEY' })], at);
    expect(weekly[0]).toMatchObject({ cadence: 'weekly', nextExpectedDate: d('2026-04-22') });
  });

  it('a direct debit with no history yet yields a series, next date a month after its previous payment; inactive mandates yield none', () => {
    const dd: MandateInput = { id: 'dd_1', kind: 'direct_debit', accountId: 'acc-cur', name: 'OCTOPUS ENERGY', reference: '', amount: '-96.40', currency: 'GBP', frequency: '', active: true, nextPaymentDate: null, lastPaymentDate: d('2026-04-12') };
    const out = applyMandates('u1', [], [], [dd, { ...so(), active: false }], d('2026-04-20'));
    expect(out).toEqual([
      expect.objectContaining({ seriesId: seriesIdOf('u1', 'octopus-energy', 'monthly', 'outflow'), source: 'direct_debit', cadence: 'monthly', amount: '-96.4', nextExpectedDate: d('2026-05-12'), active: true, occurrences: 0 }),
    ]);
  });
});

describe('anchorDay', () => {
  // the definition, computed the plain way: every date's distance to the nearest anchor of `day` (clamped to the
  // month's length) in its month or the two around it
  const DAY = 86_400_000;
  function reference(dates: Date[]): number {
    const anchorOf = (year: number, month: number, day: number) => Date.UTC(year, month, Math.min(day, new Date(Date.UTC(year, month + 1, 0)).getUTCDate())) / DAY;
    let best = { day: 1, total: Infinity, hits: -1 };
    for (let day = 1; day <= 31; day += 1) {
      let total = 0;
      let hits = 0;
      for (const d of dates) {
        const n = Math.floor(d.getTime() / DAY);
        const dev = Math.min(...[-1, 0, 1].map((k) => Math.abs(n - anchorOf(d.getUTCFullYear(), d.getUTCMonth() + k, day))));
        total += dev;
        if (dev === 0) hits += 1;
      }
      if (total < best.total || (total === best.total && hits > best.hits)) best = { day, total, hits };
    }
    return best.day;
  }

  it('is the day with the least total distance to the nearest anchors (then most hits, then earliest) on random dates', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const chosen = new Set<number>();
    for (let trial = 0; trial < 400; trial += 1) {
      // monthly-ish dates around a due day (month ends, leap Februaries, year ends), some far off
      const due = 1 + Math.floor(rand() * 31);
      const n = 2 + Math.floor(rand() * 10);
      const start = Date.UTC(2019 + Math.floor(rand() * 8), Math.floor(rand() * 12), 1);
      const dates = Array.from({ length: n }, (_, i) => {
        const m = new Date(start);
        const shift = rand() < 0.8 ? Math.floor(rand() * 7) - 3 : Math.floor(rand() * 40) - 20;
        return new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + i * (1 + Math.floor(rand() * 2)), due) + shift * DAY + Math.floor(rand() * DAY));
      });
      const got = anchorDay(dates);
      expect({ trial, got }).toEqual({ trial, got: reference(dates) });
      chosen.add(got);
    }
    // the trials reach most days of the month, so the comparison is not of one answer
    expect(chosen.size).toBeGreaterThan(25);
  });
});
