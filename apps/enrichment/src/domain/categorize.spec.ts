import { categorize, Categorizer, emittableCategories, ENRICHMENT_VERSION, SOURCE_ORDER, type CategorizeInput, type UserRule } from './categorize';
import { DETAILED, isDetailed, TAXONOMY_VERSION } from '@ais/contracts-events';

const base: CategorizeInput = { description: '', amount: '-10.00', providerClassification: [], merchantName: '' };

describe('categorize: sources in order', () => {
  const tesco: CategorizeInput = { ...base, description: 'CRD 1234 TESCO STORES 3297 LONDON GB', transactionCategory: 'PURCHASE', transactionId: 'tx-1' };

  it('a user override of the transaction beats everything, then a user rule', () => {
    const rules: UserRule[] = [
      { id: 'r1', detailed: 'GENERAL_MERCHANDISE_SUPERSTORES', merchantKey: 'tesco' },
      { id: 'o1', detailed: 'FOOD_AND_DRINK_OTHER_FOOD_AND_DRINK', transactionId: 'tx-1' },
    ];
    expect(categorize({ ...tesco, providerClassification: ['Shopping', 'Groceries'] }, rules)).toMatchObject({ source: 'user', reason: 'override:o1', confidence: 1, detailed: 'FOOD_AND_DRINK_OTHER_FOOD_AND_DRINK' });
    expect(categorize({ ...tesco, transactionId: 'tx-2', providerClassification: ['Shopping', 'Groceries'] }, rules)).toMatchObject({ source: 'user', reason: 'user-rule:r1', primary: 'GENERAL_MERCHANDISE' });
  });

  it("then TrueLayer's classification, mapped onto PFC", () => {
    expect(categorize({ ...tesco, providerClassification: ['Bills and Utilities', 'Mobile phone'] })).toMatchObject({ source: 'provider', detailed: 'RENT_AND_UTILITIES_TELEPHONE', merchant: { name: 'Tesco', key: 'tesco' } });
    // A generic class refined by the dictionary within the same primary.
    expect(categorize({ ...base, description: 'AMAZON.CO.UK*MK1AB2CD3', providerClassification: ['Shopping', 'General'] })).toMatchObject({ source: 'provider', detailed: 'GENERAL_MERCHANDISE_ONLINE_MARKETPLACES' });
    // Unknown classification strings are ignored, never an error.
    expect(categorize({ ...tesco, providerClassification: ['Space travel', 'Rockets'] }).source).toBe('merchant');
  });

  it('structural rules beat the dictionary (an ATM at a supermarket, a salary from a supermarket)', () => {
    expect(categorize({ ...base, description: 'CASH SAINSBURYS BANK 12MAR', transactionCategory: 'ATM' })).toMatchObject({ source: 'rule', detailed: 'TRANSFER_OUT_WITHDRAWAL' });
    expect(categorize({ ...base, description: 'TESCO STORES LTD SALARY', amount: '1850.00', transactionType: 'CREDIT', transactionCategory: 'CREDIT' })).toMatchObject({ source: 'rule', detailed: 'INCOME_WAGES' });
  });

  it('then the merchant dictionary, then keyword rules, then the fallback', () => {
    expect(categorize(tesco)).toMatchObject({ source: 'merchant', detailed: 'FOOD_AND_DRINK_GROCERIES', reason: 'merchant:tesco' });
    expect(categorize({ ...base, description: 'UBER *TRIP HELP.UBER.COM' }).reason).toBe('merchant:uber');
    expect(categorize({ ...base, description: 'UBER * EATS PENDING' }).reason).toBe('merchant:uber-eats');
    expect(categorize({ ...base, description: 'SQ *THE OLD FORGE BARBERS' })).toMatchObject({ source: 'rule', detailed: 'PERSONAL_CARE_HAIR_AND_BEAUTY' });
    expect(categorize({ ...base, description: 'XYZQ 77 LTD', transactionCategory: 'PURCHASE' })).toMatchObject({ source: 'fallback', primary: 'GENERAL_MERCHANDISE' });
  });

  it('the fallback reads the direction and the payment type', () => {
    expect(categorize({ ...base, description: 'J BLOGGS', amount: '25.00', transactionCategory: 'TRANSFER' })).toMatchObject({ source: 'fallback', detailed: 'TRANSFER_IN_ACCOUNT_TRANSFER' });
    expect(categorize({ ...base, description: 'J BLOGGS', transactionCategory: 'STANDING_ORDER' })).toMatchObject({ source: 'fallback', detailed: 'TRANSFER_OUT_ACCOUNT_TRANSFER' });
    // Card endpoints report purchases as positive DEBITs: transaction_type wins over the sign.
    expect(categorize({ ...base, description: 'XYZQ', amount: '10.00', transactionType: 'DEBIT', transactionCategory: 'PURCHASE' }).detailed).toBe('GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE');
  });

  it('the Categorizer consults its user-rule port first', async () => {
    const rulesFor = jest.fn(async () => [{ id: 'r', detailed: 'ENTERTAINMENT_OTHER_ENTERTAINMENT' as const, descriptionContains: 'tesco' }]);
    const c = await new Categorizer({ rulesFor }).categorize('client-1', 'user-1', tesco);
    expect(rulesFor).toHaveBeenCalledWith('client-1', 'user-1');
    expect(c).toMatchObject({ source: 'user', detailed: 'ENTERTAINMENT_OTHER_ENTERTAINMENT' });
  });
});

describe('categorize: results', () => {
  const inputs: CategorizeInput[] = [
    { ...base, description: 'TESCO STORES 2341' },
    { ...base, description: 'LINK ATM', transactionCategory: 'ATM' },
    { ...base, description: 'NETFLIX.COM', providerClassification: ['Entertainment', 'Movies & TV'] },
    { ...base, description: 'THE CROWN INN' },
    { ...base, description: '???', amount: '1.00' },
  ];

  it('carry a confidence in (0, 1], the enrichment version and the taxonomy version', () => {
    for (const input of inputs) {
      const c = categorize(input);
      expect(c.confidence).toBeGreaterThan(0);
      expect(c.confidence).toBeLessThanOrEqual(1);
      expect(c.version).toBe(ENRICHMENT_VERSION);
      expect(c.taxonomy).toBe(TAXONOMY_VERSION);
      expect(SOURCE_ORDER).toContain(c.source);
    }
  });

  it('confidence falls with the source: user > provider > merchant > keyword > fallback', () => {
    const user = categorize({ ...base, description: 'TESCO', transactionId: 't' }, [{ id: 'o', detailed: 'INCOME_WAGES', transactionId: 't' }]).confidence;
    const provider = categorize({ ...base, description: 'ZZ', providerClassification: ['Food & Dining', 'Restaurants'] }).confidence;
    const merchant = categorize({ ...base, description: 'TESCO STORES' }).confidence;
    const keyword = categorize({ ...base, description: 'THE CROWN INN' }).confidence;
    const fallback = categorize({ ...base, description: 'ZZQX' }).confidence;
    expect(user).toBeGreaterThan(provider);
    expect(merchant).toBeGreaterThan(keyword);
    expect(provider).toBeGreaterThan(keyword);
    expect(keyword).toBeGreaterThan(fallback);
  });

  it('only emits categories of the taxonomy', () => {
    const emitted = emittableCategories();
    expect(emitted.length).toBeGreaterThan(80);
    for (const d of emitted) expect(isDetailed(d)).toBe(true);
    expect(DETAILED.length).toBe(104);
  });
});
