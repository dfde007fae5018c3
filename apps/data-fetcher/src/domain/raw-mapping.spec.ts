/**
 * Raw mapping of every kind, fed with TrueLayer's own OpenAPI examples parsed by the client's schemas (what the
 * engine receives), and amounts checked as exact decimal strings.
 */
import { DATA_SCHEMAS, type DataItem, type DataResource } from '@ais/truelayer-client';
import { dataApiExample } from '../../test/support/openapi';
import { metaMap, rawAccount, rawBalance, rawCard, rawDirectDebit, rawIdentity, rawStandingOrder, rawTransaction } from './raw-mapping';

/** The example's results, parsed as the client parses a response. */
function results<R extends DataResource>(resource: R, example: string): DataItem<R>[] {
  const parsed = DATA_SCHEMAS[resource].safeParse(dataApiExample(example));
  if (!parsed.success) throw new Error(`${example} does not parse as ${resource}: ${parsed.error.message}`);
  return parsed.data.results as DataItem<R>[];
}

const DECIMAL = /^-?\d+(\.\d+)?$/;

/** A mapped amount is a plain decimal string that denotes exactly the number (or string) it came from. */
function expectExactAmount(mapped: string, source: unknown): void {
  if (source === undefined || source === null) {
    expect(mapped).toBe('');
    return;
  }
  expect(mapped).toMatch(DECIMAL);
  if (typeof source === 'number') {
    expect(Number(mapped)).toBe(source);
    expect(mapped).toBe(Object.is(source, -0) ? '0' : String(source));
  } else expect(mapped).toBe(String(source).trim().replace(/^\+/, ''));
}

describe('raw mapping of TrueLayer OpenAPI examples', () => {
  it.each([
    ['GetAccountTransactions200Response', 'transactions'],
    ['GetAccountTransactionsAU200Response', 'transactions'],
    ['GetAccountTransactions200Response', 'pendingTransactions'],
    ['GetCardTransactions200Response', 'cardTransactions'],
  ] as const)('transactions: %s as %s', (example, resource) => {
    const items = results(resource, example);
    expect(items.length).toBeGreaterThan(0);
    for (const t of items) {
      const raw = rawTransaction(t);
      expect(raw.transactionId).toBe(t.transaction_id);
      expect(raw.description).toBe(t.description);
      expect(raw.currency).toBe(t.currency);
      expect(raw.normalisedProviderTransactionId).toBe(t.normalised_provider_transaction_id ?? '');
      expect(raw.providerTransactionId).toBe(t.provider_transaction_id ?? '');
      expect(raw.transactionClassification).toEqual(t.transaction_classification ?? []);
      expect(raw.timestamp).toBeInstanceOf(Date);
      expectExactAmount(raw.amount, t.amount);
      if (t.running_balance) expectExactAmount(raw.runningBalance!.amount, t.running_balance.amount);
      else expect(raw.runningBalance).toBeUndefined();
      for (const v of Object.values(raw.meta)) expect(typeof v).toBe('string');
    }
  });

  it('transactions: the first UK example field by field, amounts as written in the document', () => {
    const [t] = results('transactions', 'GetAccountTransactions200Response');
    expect(rawTransaction(t!)).toEqual({
      transactionId: '03c333979b729315545816aaa365c33f',
      normalisedProviderTransactionId: 'txn-ajdifh38fheu5hgue',
      providerTransactionId: '9882ks-00js',
      timestamp: new Date('2018-03-06T00:00:00Z'),
      description: 'GOOGLE PLAY STORE',
      amount: '-2.99',
      currency: 'GBP',
      transactionType: 'DEBIT',
      transactionCategory: 'PURCHASE',
      transactionClassification: ['Entertainment', 'Games'],
      merchantName: 'Google play',
      runningBalance: { amount: '1238.6', currency: 'GBP' },
      meta: { bank_transaction_id: '9882ks-00js', provider_transaction_category: 'DEB' },
    });
  });

  it.each([
    ['GetAccountBalance200Response', 'balance'],
    ['GetAccountBalanceAU200Response', 'balance'],
    ['GetCardBalance200Response', 'cardBalance'],
  ] as const)('balance: %s', (example, resource) => {
    for (const b of results(resource, example)) {
      const raw = rawBalance(b);
      const src = b as Record<string, unknown>;
      expect(raw.currency).toBe(b.currency);
      expectExactAmount(raw.current, src['current']);
      expectExactAmount(raw.available, src['available']);
      expectExactAmount(raw.overdraft, src['overdraft']);
      expectExactAmount(raw.creditLimit, src['credit_limit']);
      expectExactAmount(raw.lastStatementBalance, src['last_statement_balance']);
      expectExactAmount(raw.paymentDue, src['payment_due']);
    }
  });

  it('balance: account and card examples field by field (the card example has an unparseable update_timestamp: left unset)', () => {
    expect(rawBalance(results('balance', 'GetAccountBalance200Response')[0]!)).toEqual({
      currency: 'GBP',
      current: '1161.2',
      available: '2150.8',
      overdraft: '1000',
      creditLimit: '',
      lastStatementBalance: '',
      lastStatementDate: undefined,
      paymentDue: '',
      paymentDueDate: undefined,
      updateTimestamp: new Date('2017-02-07T17:33:30.001Z'),
    });
    const card = rawBalance(results('cardBalance', 'GetCardBalance200Response')[0]!);
    expect(card).toMatchObject({ currency: 'GBP', current: '20', available: '3279', overdraft: '', creditLimit: '3300', lastStatementBalance: '420', paymentDue: '5' });
    expect(card.lastStatementDate).toEqual(new Date('2017-01-28T00:00:00Z'));
    expect(card.paymentDueDate).toEqual(new Date('2017-02-24T00:00:00Z'));
    expect(card.updateTimestamp).toBeUndefined(); // "2017-02-247T17:29:24.740802Z" in the document
  });

  it.each(['GetAccounts200Response', 'GetAccountsAU200Response'])('accounts: %s', (example) => {
    for (const a of results('accounts', example)) {
      const raw = rawAccount(a);
      expect(raw).toMatchObject({ accountId: a.account_id, accountType: a.account_type, displayName: a.display_name, currency: a.currency, providerId: a.provider?.provider_id ?? '' });
      expect(raw.accountNumber).toEqual({
        number: a.account_number?.number ?? '',
        sortCode: a.account_number?.sort_code ?? '',
        swiftBic: a.account_number?.swift_bic ?? '',
        iban: a.account_number?.iban ?? '',
        routingNumber: a.account_number?.routing_number ?? '',
        bsb: a.account_number?.bsb ?? '',
      });
      expect(raw.updateTimestamp).toBeInstanceOf(Date);
    }
    if (example === 'GetAccounts200Response') {
      expect(rawAccount(results('accounts', example)[0]!).accountNumber).toEqual({ number: '12345678', sortCode: '12-34-56', swiftBic: 'LOYDGB2L', iban: 'GB35LOYD12345678901234', routingNumber: '', bsb: '' });
    }
  });

  it('cards: GetCards200Response', () => {
    const items = results('cards', 'GetCards200Response');
    expect(items).toHaveLength(2);
    expect(rawCard(items[0]!)).toEqual({
      accountId: 'f7b093437032c216d4350b7d442b9c5ccc0e9f19',
      cardNetwork: 'VISA',
      cardType: 'CREDIT',
      currency: 'GBP',
      displayName: 'Club Credit Card',
      partialCardNumber: '0044',
      nameOnCard: 'A. N. Other',
      validFrom: '2017-01',
      validTo: '2018-01',
      providerId: 'lloyds',
      updateTimestamp: new Date('2017-02-07T17:29:24.740Z'),
    });
  });

  it('standing orders: GetAccountStandingOrders200Response, amounts exact whether numbers or (spec-typed) strings', () => {
    const items = results('standingOrders', 'GetAccountStandingOrders200Response');
    expect(items.length).toBe(2);
    for (const s of items) {
      const raw = rawStandingOrder(s);
      expect(raw.frequency).toBe(s.frequency);
      expectExactAmount(raw.nextPaymentAmount, s.next_payment_amount);
      expectExactAmount(raw.firstPaymentAmount, s.first_payment_amount);
      expectExactAmount(raw.finalPaymentAmount, s.final_payment_amount);
    }
    const first = rawStandingOrder(items[0]!);
    expect(first).toMatchObject({ status: 'Active', currency: 'GBP', nextPaymentAmount: '500', firstPaymentAmount: '0', finalPaymentAmount: '0', reference: 'Savings', payee: '' });
    expect(first.timestamp).toEqual(new Date('2019-07-24T11:29:47.414Z'));
    expect(first.finalPaymentDate).toEqual(new Date('9999-12-31T00:00:00Z'));
    expect(first.meta).toEqual({ provider_account_id: '12345ca1-18fd-4e6b-891e-0597cac6bb8c' });
    // The schema types these amounts as strings: a string keeps its exact digits (no float round trip).
    const typed = rawStandingOrder({ ...items[0]!, next_payment_amount: '500.10', first_payment_amount: '0.00', final_payment_amount: '+12345678901234567890.12' } as never);
    expect([typed.nextPaymentAmount, typed.firstPaymentAmount, typed.finalPaymentAmount]).toEqual(['500.10', '0.00', '12345678901234567890.12']);
  });

  it('direct debits: GetAccountDirectDebits200Response', () => {
    const items = results('directDebits', 'GetAccountDirectDebits200Response');
    expect(items).toHaveLength(3);
    for (const d of items) {
      const raw = rawDirectDebit(d);
      expect(raw).toMatchObject({ directDebitId: d.direct_debit_id, name: d.name, currency: d.currency ?? '' });
      expectExactAmount(raw.previousPaymentAmount, d.previous_payment_amount);
    }
    const first = rawDirectDebit(items[0]!);
    expect(first).toMatchObject({ directDebitId: '004ea8ce16b6ff57090b7bf8c7b483a1', name: 'EE', status: 'Active', previousPaymentAmount: '25', currency: 'GBP' });
    expect(first.timestamp).toEqual(new Date('2019-07-19T16:28:37.798Z'));
    expect(first.previousPaymentTimestamp).toEqual(new Date('2018-09-16T23:00:00Z'));
    expect(first.meta).toEqual({ provider_mandate_identification: '6', provider_account_id: '1000000000000000001' });
  });

  it.each(['GetInfoTypical200Response', 'GetInfoAllFields200Response'])('identity: %s', (example) => {
    for (const i of results('info', example)) {
      const raw = rawIdentity(i);
      expect(raw.fullName).toBe(i.full_name);
      expect(raw.emails).toEqual(i.emails ?? []);
      expect(raw.phones).toEqual(i.phones ?? []);
      expect(raw.updateTimestamp).toBeInstanceOf(Date);
    }
    if (example === 'GetInfoAllFields200Response') {
      expect(rawIdentity(results('info', example)[0]!)).toMatchObject({ fullName: 'John Doe', branchId: 'stet-caisse-d-epargne-normandie', emails: ['joe.doe@example.com'], phones: ['+447777123456'], addresses: [] });
    }
  });
});

describe('raw mapping: amounts and open maps', () => {
  it('never writes a float artefact or an exponent', () => {
    const t = (amount: number | string) => rawTransaction({ transaction_id: 't', timestamp: '2024-01-01T00:00:00Z', description: 'd', amount, currency: 'GBP' } as never).amount;
    expect(t(-2.99)).toBe('-2.99');
    expect(t(0.1)).toBe('0.1');
    expect(t(1238.6)).toBe('1238.6');
    expect(t(-0)).toBe('0');
    expect(t(1e21)).toBe('1000000000000000000000');
    expect(t(1.5e-7)).toBe('0.00000015');
    expect(t(-123456789.01)).toBe('-123456789.01');
    expect(t('-0010.50')).toBe('-0010.50');
    expect(() => t('12,50')).toThrow(RangeError);
    expect(() => t(Number.NaN)).toThrow(RangeError);
  });

  it('meta: strings kept, others JSON-encoded, null and undefined dropped', () => {
    expect(metaMap({ a: 'x', b: 2, c: true, d: { e: [1] }, f: null, g: undefined })).toEqual({ a: 'x', b: '2', c: 'true', d: '{"e":[1]}' });
    expect(metaMap(undefined)).toEqual({});
    expect(metaMap('text')).toEqual({});
  });
});
