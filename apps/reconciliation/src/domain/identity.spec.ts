import type { eventsV1 } from '@ais/contracts-proto-ts';
import { fromRawAccount, fromRawCard } from './raw';
import { matchAccounts, newAccountId, type FetchedAccount, type KnownAccount } from './identity';

const current: FetchedAccount = {
  kind: 'account',
  accountId: 'tl-acc-1',
  providerId: 'ob-lloyds',
  displayName: 'Club Lloyds',
  currency: 'GBP',
  type: 'TRANSACTION',
  sortCode: '30-94-57',
  number: '12345678',
};
const savings: FetchedAccount = { ...current, accountId: 'tl-acc-2', displayName: 'Easy Saver', type: 'SAVINGS', sortCode: '30-94-57', number: '87654321' };
const known = (f: FetchedAccount, id: string, connectionId = 'conn-1'): KnownAccount => {
  const { accountId, ...rest } = f;
  return { ...rest, id, connectionId, providerAccountIds: [accountId] };
};

describe('account identity across re-consents', () => {
  it('the same TrueLayer id matches first (an extended consent, a redelivered list)', () => {
    const [r] = matchAccounts([current], [known(current, 'acc_a')], { connectionId: 'conn-1' });
    expect(r).toMatchObject({ matchedId: 'acc_a', rule: 'provider_account_id' });
  });

  it('a reauth that changes account_id keeps the internal id through sort code and number', () => {
    const reauth = [
      { ...current, accountId: 'tl-acc-1-new', sortCode: '309457' },
      { ...savings, accountId: 'tl-acc-2-new' },
    ];
    const results = matchAccounts(reauth, [known(current, 'acc_a'), known(savings, 'acc_b')], { connectionId: 'conn-2', previousConnectionId: 'conn-1' });
    expect(results.map((r) => [r.matchedId, r.rule])).toEqual([
      ['acc_a', 'domestic_number'],
      ['acc_b', 'domestic_number'],
    ]);
  });

  it('IBAN matches before the domestic number and ignores spacing and case', () => {
    const eu: FetchedAccount = { ...current, providerId: 'ob-ing', currency: 'EUR', sortCode: '', number: '', iban: 'NL91 ABNA 0417 1643 00' };
    const [r] = matchAccounts([{ ...eu, accountId: 'new' }], [known({ ...eu, iban: 'nl91abna0417164300' }, 'acc_eu')], { connectionId: 'conn-9' });
    expect(r).toMatchObject({ matchedId: 'acc_eu', rule: 'iban' });
  });

  it('cards match on last four digits and name on card, never across networks', () => {
    const visa: FetchedAccount = { kind: 'card', accountId: 'tl-card-1', providerId: 'ob-amex', displayName: 'Gold', currency: 'GBP', type: 'CREDIT', partialCardNumber: '1234', nameOnCard: 'Ann Smith', cardNetwork: 'VISA' };
    const [same] = matchAccounts([{ ...visa, accountId: 'tl-card-9', nameOnCard: 'ANN SMITH' }], [known(visa, 'acc_card')], { connectionId: 'conn-2' });
    expect(same).toMatchObject({ matchedId: 'acc_card', rule: 'card' });
    const [other] = matchAccounts([{ ...visa, accountId: 'tl-card-9', cardNetwork: 'MASTERCARD' }], [known(visa, 'acc_card')], { connectionId: 'conn-2', previousConnectionId: 'conn-1' });
    expect(other?.matchedId).toBeUndefined();
  });

  it('without any numbers, the previous connection links accounts with the same name, type and currency', () => {
    const bare: FetchedAccount = { kind: 'account', accountId: 'x-1', providerId: 'ob-monzo', displayName: 'Current Account', currency: 'GBP', type: 'TRANSACTION' };
    const k = known(bare, 'acc_bare', 'conn-1');
    expect(matchAccounts([{ ...bare, accountId: 'x-2' }], [k], { connectionId: 'conn-2', previousConnectionId: 'conn-1' })[0]).toMatchObject({ matchedId: 'acc_bare', rule: 'previous_connection' });
    // not the renewed connection: no link (a second, unrelated connection to the same bank)
    expect(matchAccounts([{ ...bare, accountId: 'x-2' }], [k], { connectionId: 'conn-3' })[0]?.matchedId).toBeUndefined();
  });

  it('never merges two different accounts: conflicting numbers win over a matching name and previous connection', () => {
    const other = { ...current, accountId: 'tl-new', number: '99999999' };
    const [r] = matchAccounts([other], [known(current, 'acc_a')], { connectionId: 'conn-2', previousConnectionId: 'conn-1' });
    expect(r?.matchedId).toBeUndefined();
    // a different provider or currency is never the same account either
    expect(matchAccounts([{ ...current, providerId: 'ob-hsbc' }], [known(current, 'acc_a')], { connectionId: 'c' })[0]?.matchedId).toBeUndefined();
    expect(matchAccounts([{ ...current, currency: 'EUR' }], [known(current, 'acc_a')], { connectionId: 'c' })[0]?.matchedId).toBeUndefined();
  });

  it('ambiguity: two known cards fit one fetched card equally, so neither is taken', () => {
    const c: FetchedAccount = { kind: 'card', accountId: 'tl-c', providerId: 'ob-x', displayName: 'Card', currency: 'GBP', type: 'CREDIT', partialCardNumber: '4242', nameOnCard: 'A B' };
    const [r] = matchAccounts([{ ...c, accountId: 'tl-c-new' }], [known(c, 'acc_1', 'conn-0'), known({ ...c, accountId: 'tl-c-old' }, 'acc_2', 'conn-0')], { connectionId: 'conn-2' });
    expect(r?.matchedId).toBeUndefined();
    expect(r?.ambiguousWith).toEqual(['acc_1', 'acc_2']);
  });

  it('ambiguity is resolved by a weaker rule only among the candidates of the stronger one', () => {
    const c: FetchedAccount = { kind: 'card', accountId: 'tl-c', providerId: 'ob-x', displayName: 'Card', currency: 'GBP', type: 'CREDIT', partialCardNumber: '4242', nameOnCard: 'A B' };
    const [r] = matchAccounts([{ ...c, accountId: 'tl-c-new' }], [known(c, 'acc_1', 'conn-1'), known({ ...c, accountId: 'tl-c-old' }, 'acc_2', 'conn-0')], { connectionId: 'conn-2', previousConnectionId: 'conn-1' });
    expect(r).toMatchObject({ matchedId: 'acc_1', rule: 'previous_connection' });
  });

  it('two fetched accounts that want the same known account: neither takes it', () => {
    const bare: FetchedAccount = { kind: 'account', accountId: 'x-1', providerId: 'ob-monzo', displayName: 'Pot', currency: 'GBP', type: 'SAVINGS' };
    const results = matchAccounts([{ ...bare, accountId: 'x-2' }, { ...bare, accountId: 'x-3' }], [known(bare, 'acc_pot')], { connectionId: 'conn-2', previousConnectionId: 'conn-1' });
    expect(results.map((r) => r.matchedId)).toEqual([undefined, undefined]);
  });

  it('a strong match is not taken away by a weaker one of another fetched account', () => {
    const a = { ...current, displayName: 'Same' };
    const b = { ...savings, displayName: 'Same', type: 'TRANSACTION' };
    const results = matchAccounts([{ ...b, accountId: 'n2' }, { ...a, accountId: 'n1' }], [known(a, 'acc_a'), known(b, 'acc_b')], { connectionId: 'conn-2', previousConnectionId: 'conn-1' });
    expect(results.map((r) => r.matchedId)).toEqual(['acc_b', 'acc_a']);
  });

  it('new internal ids are deterministic (a replay into an empty store gives the same ids)', () => {
    expect(newAccountId('u1', 'conn-1', current)).toBe(newAccountId('u1', 'conn-1', { ...current }));
    expect(newAccountId('u1', 'conn-1', current)).not.toBe(newAccountId('u2', 'conn-1', current));
    expect(newAccountId('u1', 'conn-1', current)).toMatch(/^acc_[A-Za-z0-9_-]{22}$/);
  });

  it('maps from the generated RawAccount and RawCard', () => {
    const raw: eventsV1.RawAccount = {
      accountId: 'tl-1',
      accountType: 'TRANSACTION',
      displayName: 'Club Lloyds',
      currency: 'GBP',
      accountNumber: { number: '12345678', sortCode: '30-94-57', swiftBic: 'LOYDGB2L', iban: '', routingNumber: '', bsb: '' },
      providerId: 'ob-lloyds',
    };
    expect(fromRawAccount(raw)).toMatchObject({ kind: 'account', accountId: 'tl-1', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' });
    const rawCard: eventsV1.RawCard = {
      accountId: 'tl-c',
      cardNetwork: 'VISA',
      cardType: 'CREDIT',
      currency: 'GBP',
      displayName: 'Card',
      partialCardNumber: '4242',
      nameOnCard: 'A B',
      validFrom: '2024-01',
      validTo: '2029-01',
      providerId: 'ob-x',
    };
    expect(fromRawCard(rawCard)).toMatchObject({ kind: 'card', type: 'CREDIT', partialCardNumber: '4242', cardNetwork: 'VISA' });
  });
});
