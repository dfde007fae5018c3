/** Builds Data API v1 result objects for a connection from the generated ledgers. */
import { DAY } from '../clock';
import {
  type AccountSpec,
  balanceAt,
  bookedBetween,
  bookedDate,
  bookedEnd,
  type CardSpec,
  type DatasetCache,
  dataSpecFor,
  type LedgerItem,
  monthlyOccurrence,
  pendingAt,
  type View,
} from './dataset';
import { hashId, randomHex } from './ids';
import { findProvider, type Provider } from './providers';
import type { Connection } from './state';
import type { Switches } from './switches';

export type Json = Record<string, unknown>;

export interface ResolvedAccount {
  id: string;
  spec: AccountSpec;
}
export interface ResolvedCard {
  id: string;
  spec: CardSpec;
}

const money = (minor: number): number => Math.round(minor) / 100;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function isoSeconds(t: number): string {
  return new Date(t).toISOString().slice(0, 19);
}

export function formatTimestamp(t: number, provider: Provider): string {
  return provider.timestampStyle === 'naive' ? isoSeconds(t) : `${isoSeconds(t)}+00:00`;
}

function ibanCheck(country: string, bban: string): string {
  const rearranged = `${bban}${country}00`.toUpperCase();
  let digits = '';
  for (const ch of rearranged) digits += /[A-Z]/.test(ch) ? String(ch.charCodeAt(0) - 55) : ch;
  let rem = 0;
  for (const d of digits) rem = (rem * 10 + Number(d)) % 97;
  return pad(98 - rem);
}

function digitsFrom(hex: string, count: number): string {
  let out = '';
  for (const ch of hex) {
    out += String(parseInt(ch, 16) % 10);
    if (out.length === count) break;
  }
  return out;
}

export class DataService {
  constructor(
    private readonly cache: DatasetCache,
    private readonly switches: Switches,
    private readonly now: () => number,
  ) {}

  provider(conn: Connection): Provider {
    const p = findProvider(conn.providerId);
    if (!p) throw new Error(`unknown provider ${conn.providerId}`);
    return p;
  }

  private currency(conn: Connection): 'GBP' | 'EUR' {
    return this.provider(conn).country === 'uk' ? 'GBP' : 'EUR';
  }

  private idSalt(conn: Connection): string {
    return this.switches.transactionIdInstability ? `${conn.credentialsId}|${randomHex(8)}` : conn.credentialsId;
  }

  accounts(conn: Connection): ResolvedAccount[] {
    return dataSpecFor(conn.user.profile, conn.user.dataKey).accounts.map((spec) => ({
      id: hashId(32, conn.credentialsId, 'account', spec.key, conn.accountEpoch),
      spec,
    }));
  }

  cards(conn: Connection): ResolvedCard[] {
    return dataSpecFor(conn.user.profile, conn.user.dataKey).cards.map((spec) => ({
      id: hashId(40, conn.credentialsId, 'card', spec.key, conn.accountEpoch),
      spec,
    }));
  }

  findAccount(conn: Connection, id: string): ResolvedAccount | undefined {
    return this.accounts(conn).find((a) => a.id === id);
  }

  findCard(conn: Connection, id: string): ResolvedCard | undefined {
    return this.cards(conn).find((c) => c.id === id);
  }

  me(conn: Connection, logoBase: string): Json {
    const p = this.provider(conn);
    return {
      client_id: conn.clientId,
      credentials_id: conn.credentialsId,
      consent_status: 'Authorised',
      consent_status_updated_at: new Date(conn.consentStatusUpdatedAt).toISOString(),
      consent_created_at: new Date(conn.consentCreatedAt).toISOString(),
      consent_expires_at: new Date(conn.consentExpiresAt).toISOString(),
      provider: { display_name: p.display_name, logo_uri: `${logoBase}/logos/${p.provider_id}.svg`, provider_id: p.provider_id },
      scopes: [...conn.scopes],
      privacy_policy: 'Feb2019',
    };
  }

  info(conn: Connection): Json {
    const user = conn.user;
    const slug = user.fullName.toLowerCase().replace(/[^a-z]+/g, '.');
    return {
      full_name: user.fullName,
      date_of_birth: '1980-01-01T00:00:00',
      addresses: [{ address: '1 Market Street', city: 'San Francisco', zip: '94103', country: 'US' }],
      emails: [`${slug}@example.com`],
      phones: ['+447700900123'],
      update_timestamp: new Date(this.now()).toISOString(),
    };
  }

  account(conn: Connection, acc: ResolvedAccount): Json {
    const p = this.provider(conn);
    const h = hashId(24, conn.user.dataKey, acc.spec.key, 'number');
    const number = digitsFrom(h, 8);
    const sortDigits = digitsFrom(hashId(12, conn.user.dataKey, 'sort'), 6);
    const account_number: Json = {};
    if (p.country === 'uk') {
      const bank = p.provider_id === 'mock' ? 'MOCK' : p.provider_id.replace(/^ob-/, '').replace(/[^a-z]/g, '').toUpperCase().padEnd(4, 'X').slice(0, 4);
      const bban = `${bank}${sortDigits}${number}`;
      account_number['iban'] = `GB${ibanCheck('GB', bban)}${bban}`;
      account_number['number'] = number;
      account_number['sort_code'] = `${sortDigits.slice(0, 2)}-${sortDigits.slice(2, 4)}-${sortDigits.slice(4, 6)}`;
      account_number['swift_bic'] = `${bank}GB2L`;
    } else {
      const country = p.country.toUpperCase();
      const bban = digitsFrom(hashId(40, conn.user.dataKey, acc.spec.key, 'bban'), 20);
      account_number['iban'] = `${country}${ibanCheck(country, bban)}${bban}`;
      account_number['swift_bic'] = 'NOT_SUPPORTED_BY_PROVIDER';
    }
    return {
      update_timestamp: new Date(this.now()).toISOString(),
      account_id: acc.id,
      account_type: acc.spec.accountType,
      display_name: acc.spec.displayName,
      currency: this.currency(conn),
      account_number,
      provider: { provider_id: p.provider_id },
    };
  }

  accountBalance(conn: Connection, acc: ResolvedAccount): Json {
    const ledger = this.cache.account(conn.user.dataKey, acc.spec);
    const { currentMinor, pendingMinor } = balanceAt(ledger, this.now());
    const out: Json = {
      currency: this.currency(conn),
      available: money(currentMinor + pendingMinor + acc.spec.overdraftMinor),
      current: money(currentMinor),
      update_timestamp: new Date(this.now()).toISOString(),
    };
    if (acc.spec.accountType === 'TRANSACTION') out['overdraft'] = money(acc.spec.overdraftMinor);
    return out;
  }

  private transaction(conn: Connection, accountKey: string, v: View, pending: boolean, card: boolean, salt: string): Json {
    const p = this.provider(conn);
    const it: LedgerItem = v.item;
    const base = `${conn.user.dataKey}|${accountKey}|${it.seq}`;
    const currency = this.currency(conn);
    const out: Json = {
      transaction_id: hashId(32, base, pending ? 'pending' : 'booked', salt),
      timestamp: formatTimestamp(pending ? it.txTime : bookedDate(it), p),
      description: it.description,
      amount: money(it.amountMinor),
      currency,
      transaction_type: it.type,
      transaction_category: it.category,
      transaction_classification: pending ? [] : [...it.classification],
    };
    const meta: Json = { provider_transaction_category: it.providerCategory };
    if (!pending) {
      const providerTxId = hashId(20, base, 'provider');
      out['normalised_provider_transaction_id'] = `txn-${hashId(17, base, 'normalised')}`;
      out['provider_transaction_id'] = providerTxId;
      if (it.merchantName) out['merchant_name'] = it.merchantName;
      if (v.runningMinor !== undefined) out['running_balance'] = { amount: money(v.runningMinor), currency };
      meta['bank_transaction_id'] = providerTxId;
    }
    if (card) {
      meta['cardNumber'] = `4${digitsFrom(hashId(8, conn.user.dataKey, 'pan'), 3)}********${digitsFrom(hashId(8, conn.user.dataKey, accountKey, 'pan4'), 4)}`;
      if (it.location) meta['location'] = it.location;
    }
    out['meta'] = meta;
    return out;
  }

  accountTransactions(conn: Connection, acc: ResolvedAccount, range: { fromMs: number; toMs: number }, pending: boolean): Json[] {
    const ledger = this.cache.account(conn.user.dataKey, acc.spec);
    const views = pending ? pendingAt(ledger, this.now(), range.fromMs, range.toMs) : bookedBetween(ledger, this.now(), range.fromMs, range.toMs);
    const salt = this.idSalt(conn);
    return views.map((v) => this.transaction(conn, acc.spec.key, v, pending, false, salt));
  }

  standingOrders(conn: Connection, acc: ResolvedAccount): Json[] {
    const now = this.now();
    const p = this.provider(conn);
    const amount = (minor: number): number | string => (this.switches.specTypedAmounts ? money(minor).toFixed(2) : money(minor));
    return acc.spec.standingOrders.map((so) => {
      const first = monthlyOccurrence(now - so.firstPaymentDaysAgo * DAY, so.dayOfMonth, 'next');
      const out: Json = {
        frequency: `IntrvlMnthDay:01:${pad(so.dayOfMonth)}`,
        status: 'Active',
        timestamp: `${new Date(now).toISOString().slice(0, 23)}+00:00`,
        currency: this.currency(conn),
        meta: { provider_account_id: hashId(8, conn.user.dataKey, acc.spec.key) + '-' + hashId(4, 'a', acc.spec.key) + '-4e6b-891e-' + hashId(12, conn.user.dataKey) },
        next_payment_date: `${isoSeconds(monthlyOccurrence(now, so.dayOfMonth, 'next'))}+00:00`,
        next_payment_amount: amount(so.amountMinor),
        first_payment_date: `${isoSeconds(first)}+00:00`,
        first_payment_amount: amount(so.amountMinor),
        final_payment_date: '9999-12-31T00:00:00+00:00',
        final_payment_amount: amount(0),
        payee: so.payee,
        reference: so.reference,
      };
      if (p.provider_id === 'mock') delete out['payee'];
      return out;
    });
  }

  directDebits(conn: Connection, acc: ResolvedAccount): Json[] {
    const now = this.now();
    const salt = this.switches.directDebitIdInstability ? `${conn.credentialsId}|${randomHex(8)}` : conn.credentialsId;
    const providerAccountId = `1${digitsFrom(hashId(40, conn.user.dataKey, acc.spec.key, 'pacc'), 18)}`;
    return acc.spec.directDebits.map((dd, idx) => ({
      direct_debit_id: hashId(32, conn.user.dataKey, acc.spec.key, 'dd', idx, salt),
      timestamp: `${new Date(now).toISOString().slice(0, 23)}+00:00`,
      name: dd.name,
      status: 'Active',
      previous_payment_timestamp: `${isoSeconds(monthlyOccurrence(now, dd.dayOfMonth, 'previous'))}+00:00`,
      previous_payment_amount: money(dd.amountMinor),
      currency: this.currency(conn),
      meta: {
        provider_mandate_identification: dd.mandate,
        provider_account_id: providerAccountId,
        provider_direct_debit_id: hashId(16, conn.user.dataKey, dd.mandate),
      },
    }));
  }

  card(conn: Connection, card: ResolvedCard): Json {
    const now = new Date(this.now());
    const validFrom = `${now.getUTCFullYear() - 2}-${pad(now.getUTCMonth() + 1)}`;
    const validTo = `${now.getUTCFullYear() + 2}-${pad(now.getUTCMonth() + 1)}`;
    return {
      account_id: card.id,
      card_network: card.spec.network,
      card_type: card.spec.cardType,
      currency: this.currency(conn),
      display_name: card.spec.displayName,
      partial_card_number: digitsFrom(hashId(8, conn.user.dataKey, card.spec.key, 'pan4'), 4),
      name_on_card: conn.user.fullName,
      valid_from: validFrom,
      valid_to: validTo,
      update_timestamp: now.toISOString(),
      provider: { provider_id: conn.providerId },
    };
  }

  cardBalance(conn: Connection, card: ResolvedCard): Json {
    const now = this.now();
    const ledger = this.cache.card(conn.user.dataKey, card.spec);
    const { currentMinor, pendingMinor } = balanceAt(ledger, now);
    const statementDate = monthlyOccurrence(now, 28, 'previous');
    const end = bookedEnd(ledger, statementDate);
    const statementMinor = end === 0 ? 0 : (ledger.runningMinor[end - 1] ?? 0);
    const available = money(card.spec.creditLimitMinor - currentMinor - pendingMinor);
    return {
      available: this.switches.specTypedAmounts ? available.toFixed(2) : available,
      currency: this.currency(conn),
      current: money(currentMinor),
      credit_limit: money(card.spec.creditLimitMinor),
      last_statement_balance: money(statementMinor),
      last_statement_date: new Date(statementDate).toISOString().slice(0, 10),
      payment_due: money(Math.max(Math.min(500, statementMinor), Math.round(statementMinor * 0.05))),
      payment_due_date: new Date(statementDate + 25 * DAY).toISOString().slice(0, 10),
      update_timestamp: new Date(now).toISOString(),
    };
  }

  /** Booking dates of the first and the last booked transaction at the clock's now (undefined: none booked yet). */
  bookedSpan(conn: Connection, target: { kind: 'account'; account: ResolvedAccount } | { kind: 'card'; card: ResolvedCard }): { earliestMs: number; latestMs: number } | undefined {
    const ledger = target.kind === 'account' ? this.cache.account(conn.user.dataKey, target.account.spec) : this.cache.card(conn.user.dataKey, target.card.spec);
    const end = bookedEnd(ledger, this.now());
    const first = ledger.items[0];
    const last = ledger.items[end - 1];
    if (end === 0 || first === undefined || last === undefined) return undefined;
    return { earliestMs: bookedDate(first), latestMs: bookedDate(last) };
  }

  cardTransactions(conn: Connection, card: ResolvedCard, range: { fromMs: number; toMs: number }, pending: boolean): Json[] {
    const ledger = this.cache.card(conn.user.dataKey, card.spec);
    const views = pending ? pendingAt(ledger, this.now(), range.fromMs, range.toMs) : bookedBetween(ledger, this.now(), range.fromMs, range.toMs);
    const salt = this.idSalt(conn);
    return views.map((v) => this.transaction(conn, card.spec.key, v, pending, true, salt));
  }
}
