/**
 * Deterministic data generation. Everything derives from (sandbox seed, user data key, account key) through the
 * mulberry32 PRNG, so the same seed always yields the same ledger. Ledgers are generated lazily, one per account on
 * first access, and cached by the caller (see DatasetCache).
 *
 * Time model: each generated item has a transaction time and a settlement time. At clock time `now` an item is
 *   - invisible if txTime > now,
 *   - pending   if txTime <= now < settleAt,
 *   - booked    if settleAt <= now (booked timestamp = settlement date at 00:00).
 * so pending items turn into booked ones (with a new transaction_id) as the clock advances.
 */
import { DAY, HOUR, MINUTE } from '../clock';
import { createRng, type Rng, seedOf } from './ids';
import type { Profile } from './users';

export type AccountKind = 'current' | 'savings';

export interface AccountSpec {
  key: string;
  kind: AccountKind;
  displayName: string;
  accountType: 'TRANSACTION' | 'SAVINGS';
  historyDays: number;
  purchasesPerDay: number;
  openingMinor: number;
  overdraftMinor: number;
  /** Monthly salary (current accounts). */
  salaryMinor: number;
  standingOrders: StandingOrderSpec[];
  directDebits: DirectDebitSpec[];
}

export interface CardSpec {
  key: string;
  displayName: string;
  network: 'VISA' | 'MASTERCARD' | 'AMEX';
  cardType: 'CREDIT' | 'CHARGE';
  historyDays: number;
  purchasesPerDay: number;
  creditLimitMinor: number;
}

export interface StandingOrderSpec {
  payee: string;
  reference: string;
  amountMinor: number;
  dayOfMonth: number;
  firstPaymentDaysAgo: number;
}

export interface DirectDebitSpec {
  name: string;
  mandate: string;
  amountMinor: number;
  dayOfMonth: number;
  category: [string, string];
}

export interface UserDataSpec {
  accounts: AccountSpec[];
  cards: CardSpec[];
}

export interface LedgerItem {
  seq: number;
  txTime: number;
  settleAt: number;
  /** Account view: negative = money out. Card view: positive = purchase. */
  amountMinor: number;
  description: string;
  merchantName?: string;
  category: string;
  classification: string[];
  providerCategory: string;
  type: 'DEBIT' | 'CREDIT';
  location?: string;
}

export interface Ledger {
  /** Sorted by settleAt, then seq. */
  items: LedgerItem[];
  /** Running balance after each item (same index). */
  runningMinor: number[];
  openingMinor: number;
}

const FUTURE_DAYS = 400;

export function dataSpecFor(profile: Profile, dataKey: string): UserDataSpec {
  const rng = createRng(seedOf('spec', dataKey));
  const so = (payee: string, reference: string, amountMinor: number, dayOfMonth: number): StandingOrderSpec => ({
    payee,
    reference,
    amountMinor,
    dayOfMonth,
    firstPaymentDaysAgo: 400 + rng.int(0, 300),
  });
  const dd = (name: string, mandate: string, amountMinor: number, dayOfMonth: number, category: [string, string]): DirectDebitSpec => ({
    name,
    mandate,
    amountMinor,
    dayOfMonth,
    category,
  });
  const standardDds = [
    dd('EE', 'EE-' + rng.int(100000, 999999), 2500, 17, ['Bills and Utilities', 'Mobile phone']),
    dd('BT INTERNET', 'BT' + rng.int(100000, 999999), 1699, 18, ['Bills and Utilities', 'Internet']),
    dd('PAYPAL', 'PP' + rng.int(100000, 999999), 499, 18, ['Shopping', 'General']),
    dd('BRITISH GAS', 'BG' + rng.int(100000, 999999), 6500, 10, ['Bills and Utilities', 'Utilities']),
    dd('LONDON BOROUGH CNCL TAX', 'CT' + rng.int(100000, 999999), 12800, 1, ['Taxes', 'Council tax']),
  ];
  if (profile === 'small') {
    return {
      accounts: [
        {
          key: 'cur',
          kind: 'current',
          displayName: 'Current Account',
          accountType: 'TRANSACTION',
          historyDays: 180,
          purchasesPerDay: 0.35,
          openingMinor: 45_000,
          overdraftMinor: 25_000,
          salaryMinor: 140_000,
          standingOrders: [],
          directDebits: standardDds.slice(0, 1),
        },
      ],
      cards: [],
    };
  }
  const heavy = profile === 'heavy';
  return {
    accounts: [
      {
        key: 'cur',
        kind: 'current',
        displayName: heavy ? 'Classic Current Account' : 'Club Lloyds',
        accountType: 'TRANSACTION',
        historyDays: heavy ? 6 * 365 + 30 : 2 * 365,
        purchasesPerDay: heavy ? 12 : 2.5,
        openingMinor: 150_000,
        overdraftMinor: heavy ? 500_000 : 100_000,
        salaryMinor: heavy ? 1_050_000 : 320_000,
        standingOrders: [so('JOHN DOE', 'SAVINGS', 20_000, 26), so('HOMELY LETTINGS', 'RENT FLAT 2', 85_000, 1)],
        directDebits: standardDds,
      },
      {
        key: 'sav',
        kind: 'savings',
        displayName: 'Easy Saver',
        accountType: 'SAVINGS',
        historyDays: heavy ? 6 * 365 + 30 : 2 * 365,
        purchasesPerDay: 0,
        openingMinor: 500_000,
        overdraftMinor: 0,
        salaryMinor: 0,
        standingOrders: [],
        directDebits: [],
      },
    ],
    cards: [
      {
        key: 'cc',
        displayName: 'Club Credit Card',
        network: 'VISA',
        cardType: 'CREDIT',
        historyDays: heavy ? 6 * 365 : 2 * 365,
        purchasesPerDay: heavy ? 2 : 0.8,
        creditLimitMinor: 330_000,
      },
    ],
  };
}

interface MerchantTemplate {
  description: string;
  merchant: string;
  classification: [string, string];
  min: number;
  max: number;
  weight: number;
  online?: boolean;
  category?: string;
  providerCategory?: string;
}

const MERCHANTS: readonly MerchantTemplate[] = [
  { description: 'TESCO STORES 2341', merchant: 'Tesco', classification: ['Shopping', 'Groceries'], min: 300, max: 9000, weight: 12 },
  { description: 'SAINSBURYS SMRKT STORE 128', merchant: 'Sainsburys', classification: ['Shopping', 'Groceries'], min: 300, max: 8000, weight: 9 },
  { description: 'WAITROSE 0642', merchant: 'Waitrose', classification: ['Shopping', 'Groceries'], min: 500, max: 7000, weight: 4 },
  { description: 'LIDL GB LONDON', merchant: 'Lidl', classification: ['Shopping', 'Groceries'], min: 300, max: 5000, weight: 5 },
  { description: 'AMAZON.CO.UK*MK1AB2CD3', merchant: 'Amazon', classification: ['Shopping', 'General'], min: 499, max: 12000, weight: 8, online: true },
  { description: 'PAYPAL EBAY', merchant: 'Ebay', classification: ['Shopping', 'General'], min: 299, max: 6000, weight: 3, online: true },
  { description: 'GOOGLE PLAY STORE', merchant: 'Google play', classification: ['Entertainment', 'Games'], min: 99, max: 999, weight: 3, online: true },
  { description: 'NETFLIX.COM', merchant: 'Netflix', classification: ['Entertainment', 'Movies & TV'], min: 1099, max: 1099, weight: 1, online: true },
  { description: 'SPOTIFY P0A1B2C3', merchant: 'Spotify', classification: ['Entertainment', 'Music'], min: 1199, max: 1199, weight: 1, online: true },
  { description: 'PRET A MANGER', merchant: 'Pret A Manger', classification: ['Food & Dining', 'Coffee shops'], min: 250, max: 1200, weight: 8 },
  { description: 'COSTA COFFEE 43011', merchant: 'Costa Coffee', classification: ['Food & Dining', 'Coffee shops'], min: 250, max: 900, weight: 6 },
  { description: 'STARBUCKS LONDON', merchant: 'Starbucks', classification: ['Food & Dining', 'Coffee shops'], min: 250, max: 900, weight: 4 },
  { description: 'DELIVEROO.CO.UK', merchant: 'Deliveroo', classification: ['Food & Dining', 'Food delivery'], min: 1200, max: 4500, weight: 4, online: true },
  { description: 'JUST EAT.CO.UK LTD', merchant: 'Just Eat', classification: ['Food & Dining', 'Food delivery'], min: 1200, max: 4000, weight: 3, online: true },
  { description: 'NANDOS SOHO', merchant: "Nando's", classification: ['Food & Dining', 'Restaurants'], min: 1500, max: 6000, weight: 3 },
  { description: 'TFL TRAVEL CH', merchant: 'Transport for London', classification: ['Auto & Transport', 'Public transport'], min: 170, max: 1500, weight: 9 },
  { description: 'UBER *TRIP HELP.UBER.COM', merchant: 'Uber', classification: ['Auto & Transport', 'Taxi'], min: 600, max: 3500, weight: 4, online: true },
  { description: 'SHELL BRENT CROSS', merchant: 'Shell', classification: ['Auto & Transport', 'Gas & Fuel'], min: 2500, max: 8000, weight: 2 },
  { description: 'TRAINLINE.COM', merchant: 'Trainline', classification: ['Travel', 'Rail'], min: 1200, max: 15000, weight: 2, online: true },
  { description: 'BOOTS 1123', merchant: 'Boots', classification: ['Personal Care', 'Pharmacy'], min: 300, max: 4000, weight: 4 },
  { description: 'ARGOS LTD', merchant: 'Argos', classification: ['Shopping', 'General'], min: 500, max: 15000, weight: 2 },
  { description: 'ASOS.COM LTD', merchant: 'Asos', classification: ['Shopping', 'Clothing'], min: 1500, max: 9000, weight: 2, online: true },
  { description: 'PUREGYM LTD', merchant: 'PureGym', classification: ['Health & Fitness', 'Gym'], min: 2499, max: 2499, weight: 1 },
  { description: 'TALKTALK TELECOM', merchant: 'Talktalk', classification: ['Bills and Utilities', 'Internet'], min: 2000, max: 4700, weight: 1, online: true },
  { description: 'LINK ATM 23 HIGH STREET', merchant: 'ATM', classification: ['Uncategorized', 'Cash'], min: 1000, max: 10000, weight: 2, category: 'ATM', providerCategory: 'CPT' },
];

const CARD_MERCHANTS = MERCHANTS.filter((m) => m.category === undefined);

function dayStart(t: number): number {
  return Math.floor(t / DAY) * DAY;
}

function daysInMonthUtc(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/** The UTC timestamp of `dayOfMonth` in the month of `t` (clamped to the month length). */
function monthDay(t: number, dayOfMonth: number): number {
  const d = new Date(t);
  const dim = daysInMonthUtc(d.getUTCFullYear(), d.getUTCMonth());
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), Math.min(dayOfMonth, dim));
}

function amount(rng: Rng, min: number, max: number): number {
  return rng.int(min, max);
}

function purchaseCount(rng: Rng, perDay: number): number {
  if (perDay <= 0) return 0;
  if (perDay < 2) return Math.floor(perDay) + (rng.chance(perDay - Math.floor(perDay)) ? 1 : 0);
  return rng.int(Math.floor(perDay / 2), Math.ceil(perDay * 1.5));
}

function buildLedger(items: LedgerItem[], openingMinor: number): Ledger {
  items.sort((a, b) => a.settleAt - b.settleAt || a.seq - b.seq);
  const runningMinor: number[] = [];
  let bal = openingMinor;
  for (const it of items) {
    bal += it.amountMinor;
    runningMinor.push(bal);
  }
  return { items, runningMinor, openingMinor };
}

export function generateAccountLedger(seed: string, dataKey: string, spec: AccountSpec, anchor: number): Ledger {
  const rng = createRng(seedOf(seed, dataKey, spec.key));
  const start = dayStart(anchor) - spec.historyDays * DAY;
  const end = dayStart(anchor) + FUTURE_DAYS * DAY;
  const items: LedgerItem[] = [];
  let seq = 0;
  // Approximate balance (in transaction order) used only to keep the account within realistic bounds.
  let approx = spec.openingMinor;
  const push = (item: Omit<LedgerItem, 'seq'>): void => {
    items.push({ ...item, seq: seq++ });
    approx += item.amountMinor;
  };
  for (let day = start; day < end; day += DAY) {
    const dom = new Date(day).getUTCDate();
    const dim = daysInMonthUtc(new Date(day).getUTCFullYear(), new Date(day).getUTCMonth());
    if (spec.kind === 'current') {
      if (dom === Math.min(25, dim)) {
        const t = day + 1 * HOUR;
        push({ txTime: t, settleAt: t, amountMinor: spec.salaryMinor + amount(rng, -5_000, 5_000), description: 'ACME LTD SALARY', category: 'CREDIT', classification: [], providerCategory: 'BGC', type: 'CREDIT' });
        if (approx < spec.salaryMinor) {
          push({ txTime: t + HOUR, settleAt: t + HOUR, amountMinor: spec.salaryMinor - approx + 50_000, description: 'FROM EASY SAVER', category: 'TRANSFER', classification: [], providerCategory: 'TFR', type: 'CREDIT' });
        } else if (approx > 3 * spec.salaryMinor) {
          push({ txTime: t + HOUR, settleAt: t + HOUR, amountMinor: -(approx - Math.round(1.5 * spec.salaryMinor)), description: 'TO EASY SAVER', category: 'TRANSFER', classification: [], providerCategory: 'TFR', type: 'DEBIT' });
        }
      }
      for (const so of spec.standingOrders) {
        if (dom === Math.min(so.dayOfMonth, dim) && day >= dayStart(anchor) - so.firstPaymentDaysAgo * DAY) {
          const t = day + 2 * HOUR;
          push({ txTime: t, settleAt: t, amountMinor: -so.amountMinor, description: `${so.payee} ${so.reference}`, category: 'STANDING_ORDER', classification: [], providerCategory: 'SO', type: 'DEBIT' });
        }
      }
      for (const dd of spec.directDebits) {
        if (dom === Math.min(dd.dayOfMonth, dim)) {
          const t = day + 3 * HOUR;
          push({ txTime: t, settleAt: t, amountMinor: -dd.amountMinor, description: dd.name, merchantName: dd.name, category: 'DIRECT_DEBIT', classification: [...dd.category], providerCategory: 'DD', type: 'DEBIT' });
        }
      }
      if (dom === 1) {
        const t = day + 4 * HOUR;
        push({ txTime: t, settleAt: t, amountMinor: -300, description: 'MONTHLY ACCOUNT FEE', category: 'FEE_CHARGE', classification: ['Fees & Charges', 'Bank fees'], providerCategory: 'CHG', type: 'DEBIT' });
      }
      const n = purchaseCount(rng, spec.purchasesPerDay);
      for (let i = 0; i < n; i += 1) {
        const m = rng.weighted(MERCHANTS);
        const t = day + 7 * HOUR + rng.int(0, 15 * 60) * MINUTE;
        const delayDays = m.category === 'ATM' ? 0 : rng.int(1, 3);
        const settleAt = delayDays === 0 ? t : dayStart(t) + delayDays * DAY + 6 * HOUR;
        push({
          txTime: t,
          settleAt,
          amountMinor: -amount(rng, m.min, m.max),
          description: m.description,
          merchantName: m.category === 'ATM' ? undefined : m.merchant,
          category: m.category ?? 'PURCHASE',
          classification: m.category === 'ATM' ? [] : [...m.classification],
          providerCategory: m.providerCategory ?? 'POS',
          type: 'DEBIT',
        });
      }
      if (rng.chance(0.03)) {
        const t = day + 12 * HOUR;
        push({ txTime: t, settleAt: t, amountMinor: amount(rng, 1000, 20000), description: 'FASTER PAYMENT RECEIVED J SMITH', category: 'TRANSFER', classification: [], providerCategory: 'FPI', type: 'CREDIT' });
      }
    } else {
      if (dom === Math.min(26, dim)) {
        const t = day + 2 * HOUR;
        push({ txTime: t, settleAt: t, amountMinor: 20_000, description: 'FROM JOHN DOE SAVINGS', category: 'TRANSFER', classification: [], providerCategory: 'TFR', type: 'CREDIT' });
      }
      if (dom === dim) {
        const t = day + 23 * HOUR;
        push({ txTime: t, settleAt: t, amountMinor: amount(rng, 150, 900), description: 'INTEREST PAID', category: 'INTEREST', classification: [], providerCategory: 'INT', type: 'CREDIT' });
      }
      if (rng.chance(0.01)) {
        const t = day + 10 * HOUR;
        push({ txTime: t, settleAt: t, amountMinor: -amount(rng, 5000, 50000), description: 'TO CURRENT ACCOUNT', category: 'TRANSFER', classification: [], providerCategory: 'TFR', type: 'DEBIT' });
      }
    }
  }
  return buildLedger(items, spec.openingMinor);
}

export function generateCardLedger(seed: string, dataKey: string, spec: CardSpec, anchor: number): Ledger {
  const rng = createRng(seedOf(seed, dataKey, 'card', spec.key));
  const start = dayStart(anchor) - spec.historyDays * DAY;
  const end = dayStart(anchor) + FUTURE_DAYS * DAY;
  const items: LedgerItem[] = [];
  let seq = 0;
  let monthSpend = 0;
  let lastMonthSpend = 0;
  for (let day = start; day < end; day += DAY) {
    const dom = new Date(day).getUTCDate();
    if (dom === 1) {
      lastMonthSpend = monthSpend;
      monthSpend = 0;
    }
    if (dom === 5 && lastMonthSpend > 0) {
      const t = day + 5 * HOUR;
      items.push({ seq: seq++, txTime: t, settleAt: t, amountMinor: -lastMonthSpend, description: 'PAYMENT RECEIVED - THANK YOU', category: 'CREDIT', classification: [], providerCategory: 'PAY', type: 'CREDIT' });
    }
    const n = purchaseCount(rng, spec.purchasesPerDay);
    for (let i = 0; i < n; i += 1) {
      const m = rng.weighted(CARD_MERCHANTS);
      const t = day + 8 * HOUR + rng.int(0, 14 * 60) * MINUTE;
      const settleAt = dayStart(t) + rng.int(1, 3) * DAY + 6 * HOUR;
      const value = amount(rng, m.min, m.max);
      monthSpend += value;
      items.push({
        seq: seq++,
        txTime: t,
        settleAt,
        amountMinor: value,
        description: m.description,
        merchantName: m.merchant,
        category: 'PURCHASE',
        classification: [...m.classification],
        providerCategory: 'DEB',
        type: 'DEBIT',
        location: m.online ? 'INTERNET' : 'LONDON',
      });
    }
  }
  return buildLedger(items, 0);
}

function lowerBound(items: LedgerItem[], pred: (i: LedgerItem) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const item = items[mid];
    if (item !== undefined && pred(item)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index one past the last booked item at `now`. */
export function bookedEnd(ledger: Ledger, now: number): number {
  return lowerBound(ledger.items, (i) => i.settleAt <= now);
}

export function bookedDate(item: LedgerItem): number {
  return dayStart(item.settleAt);
}

export interface View {
  item: LedgerItem;
  runningMinor?: number;
}

/** Booked items whose booking date lies in [fromMs, toMs] (inclusive), newest first. */
export function bookedBetween(ledger: Ledger, now: number, fromMs: number, toMs: number): View[] {
  const end = bookedEnd(ledger, now);
  const first = lowerBound(ledger.items, (i) => bookedDate(i) < fromMs);
  const out: View[] = [];
  for (let idx = Math.min(end, ledger.items.length) - 1; idx >= first; idx -= 1) {
    const item = ledger.items[idx];
    if (item === undefined) continue;
    const d = bookedDate(item);
    if (d > toMs) continue;
    out.push({ item, runningMinor: ledger.runningMinor[idx] });
  }
  return out;
}

export function pendingAt(ledger: Ledger, now: number, fromMs: number, toMs: number): View[] {
  const out: View[] = [];
  for (let idx = bookedEnd(ledger, now); idx < ledger.items.length; idx += 1) {
    const item = ledger.items[idx];
    if (item === undefined) continue;
    if (item.settleAt > now + 5 * DAY) break;
    if (item.txTime <= now && item.txTime >= fromMs && item.txTime <= toMs) out.push({ item });
  }
  return out.sort((a, b) => b.item.txTime - a.item.txTime);
}

export function balanceAt(ledger: Ledger, now: number): { currentMinor: number; pendingMinor: number } {
  const end = bookedEnd(ledger, now);
  const currentMinor = end === 0 ? ledger.openingMinor : (ledger.runningMinor[end - 1] ?? ledger.openingMinor);
  let pendingMinor = 0;
  for (const v of pendingAt(ledger, now, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY)) pendingMinor += v.item.amountMinor;
  return { currentMinor, pendingMinor };
}

export function earliestBooked(ledger: Ledger): number | undefined {
  const first = ledger.items[0];
  return first === undefined ? undefined : bookedDate(first);
}

export function monthlyOccurrence(now: number, dayOfMonth: number, direction: 'next' | 'previous'): number {
  const thisMonth = monthDay(now, dayOfMonth);
  if (direction === 'next') {
    if (thisMonth > now) return thisMonth;
    const d = new Date(now);
    return monthDay(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1), dayOfMonth);
  }
  if (thisMonth <= now) return thisMonth;
  const d = new Date(now);
  return monthDay(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1), dayOfMonth);
}

/** Lazily generated, cached ledgers (generation happens on first access per account). */
export class DatasetCache {
  private readonly ledgers = new Map<string, Ledger>();
  constructor(
    private readonly seed: string,
    readonly anchor: number,
  ) {}

  account(dataKey: string, spec: AccountSpec): Ledger {
    const key = `a|${dataKey}|${spec.key}`;
    let ledger = this.ledgers.get(key);
    if (!ledger) {
      ledger = generateAccountLedger(this.seed, dataKey, spec, this.anchor);
      this.ledgers.set(key, ledger);
    }
    return ledger;
  }

  card(dataKey: string, spec: CardSpec): Ledger {
    const key = `c|${dataKey}|${spec.key}`;
    let ledger = this.ledgers.get(key);
    if (!ledger) {
      ledger = generateCardLedger(this.seed, dataKey, spec, this.anchor);
      this.ledgers.set(key, ledger);
    }
    return ledger;
  }

  size(): number {
    return this.ledgers.size;
  }
}
