import { pairTransfers, type OwnAccount, type TransferTx } from './transfers';

const DAY = 86_400_000;
const T0 = new Date('2026-03-02T09:00:00Z');
const on = (day: number) => new Date(T0.getTime() + day * DAY);

const accounts: OwnAccount[] = [
  { id: 'cur', kind: 'account', displayName: 'Club Lloyds', number: '12345678', sortCode: '30-94-57', partialCardNumber: '', cardNetwork: '' },
  { id: 'sav', kind: 'account', displayName: 'Easy Saver', number: '87654321', sortCode: '30-94-57', partialCardNumber: '', cardNetwork: '' },
  { id: 'card', kind: 'card', displayName: 'Platinum Card', number: '', sortCode: '', partialCardNumber: '4242', cardNetwork: 'VISA' },
];

function tx(id: string, accountId: string, day: number, amount: string, description: string, extra: Partial<TransferTx> = {}): TransferTx {
  return { id, accountId, bookedAt: on(day), amount, currency: 'GBP', description, transactionCategory: 'PURCHASE', primary: '', detailed: '', ...extra };
}

describe('own-account transfers', () => {
  it('pairs current → savings by words, by the other account number, or by TrueLayer / enrichment categories', () => {
    const rows = [
      tx('o1', 'cur', 0, '-200.00', 'TO SAVINGS'),
      tx('i1', 'sav', 1, '200', 'FROM CURRENT'),
      tx('o2', 'cur', 10, '-55.5', 'MOB TFR 87654321 ref monthly'),
      tx('i2', 'sav', 10, '55.50', 'TRANSFER'),
      tx('o3', 'sav', 20, '-75', 'WITHDRAWAL', { transactionCategory: 'TRANSFER' }),
      tx('i3', 'cur', 22, '75', 'J DOE', { primary: 'TRANSFER_IN', detailed: 'TRANSFER_IN_ACCOUNT_TRANSFER' }),
    ];
    expect(pairTransfers(rows, accounts).map((p) => [p.outId, p.inId, p.days])).toEqual([
      ['o1', 'i1', 1],
      ['o2', 'i2', 0],
      ['o3', 'i3', 2],
    ]);
  });

  it('never pairs rows of one account, unequal amounts, other currencies, more than 3 days apart, or without evidence', () => {
    const rows = [
      tx('a1', 'cur', 0, '-100', 'TO SAVINGS'),
      tx('a2', 'cur', 0, '100', 'FROM SAVINGS'), // same account
      tx('b1', 'cur', 5, '-100', 'TO SAVINGS'),
      tx('b2', 'sav', 5, '100.01', 'FROM CURRENT'), // unequal
      tx('c1', 'cur', 10, '-40', 'TO SAVINGS'),
      tx('c2', 'sav', 10, '40', 'FROM CURRENT', { currency: 'EUR' }), // other currency
      tx('d1', 'cur', 20, '-60', 'TO SAVINGS'),
      tx('d2', 'sav', 24, '60', 'FROM CURRENT'), // 4 days
      tx('e1', 'cur', 30, '-12.99', 'TESCO STORES'),
      tx('e2', 'sav', 30, '12.99', 'INTEREST'), // equal and opposite, but nothing says transfer
      tx('f1', 'cur', 40, '-30', 'TO SAVINGS'),
      tx('f2', 'sav', 40, '-30', 'FROM CURRENT'), // same sign
    ];
    expect(pairTransfers(rows, accounts)).toEqual([]);
    // and the control: fixing one thing makes a pair
    expect(pairTransfers([rows[6]!, { ...rows[7]!, bookedAt: on(23) }], accounts).map((p) => p.outId)).toEqual(['d1']);
  });

  it('is one-to-one with ambiguity: closest days first, independent of input order', () => {
    const rows = [
      tx('outA', 'cur', 0, '-100', 'TO SAVINGS'),
      tx('outB', 'cur', 2, '-100', 'TO SAVINGS'),
      tx('inX', 'sav', 2, '100', 'FROM CURRENT'),
      tx('inY', 'sav', 1, '100', 'FROM CURRENT'),
      tx('inZ', 'sav', 3, '100', 'FROM CURRENT'),
    ];
    // candidates: A-Y 1 day, A-X 2, A-Z 3, B-X 0, B-Y 1, B-Z 1: B takes X (0 days), then A takes Y; Z stays alone
    const expected = [
      ['outA', 'inY'],
      ['outB', 'inX'],
    ];
    expect(pairTransfers(rows, accounts).map((p) => [p.outId, p.inId])).toEqual(expected);
    expect(pairTransfers([...rows].reverse(), accounts).map((p) => [p.outId, p.inId])).toEqual(expected);
    const ids = pairTransfers(rows, accounts).flatMap((p) => [p.outId, p.inId]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('at equal distance, stronger evidence wins', () => {
    const rows = [tx('out', 'cur', 0, '-80', 'FPO 309457 87654321'), tx('inWeak', 'card', 0, '80', 'PAYMENT RECEIVED', { transactionCategory: 'TRANSFER' }), tx('inStrong', 'sav', 0, '80', 'FROM CURRENT')];
    expect(pairTransfers(rows, accounts).map((p) => p.inId)).toEqual(['inStrong']);
  });

  it('a card repayment from the current account to the own credit card is a transfer', () => {
    const rows = [
      tx('pay', 'cur', 0, '-250.00', 'LLOYDS BANK CREDIT CARD 4242', { transactionCategory: 'DIRECT_DEBIT', primary: 'LOAN_PAYMENTS', detailed: 'LOAN_PAYMENTS_CREDIT_CARD_PAYMENT' }),
      tx('recv', 'card', 2, '250', 'PAYMENT RECEIVED - THANK YOU', { transactionCategory: 'CREDIT' }),
      tx('shop', 'card', 1, '-250', 'JOHN LEWIS'), // same amount on the card, but a purchase
    ];
    expect(pairTransfers(rows, accounts).map((p) => [p.outId, p.inId])).toEqual([['pay', 'recv']]);
  });
});
