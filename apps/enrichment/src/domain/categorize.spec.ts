import { categorize } from './categorize';

const base = { description: '', amount: '-1000', providerClassification: [] as string[], merchantName: '' };

describe('categorize', () => {
  it("prefers TrueLayer's classification", () => {
    expect(categorize({ ...base, description: 'TESCO STORES 123', providerClassification: ['Bills and Utilities', 'Phone'] })).toEqual({
      category: 'Bills and Utilities',
      subcategory: 'Phone',
      merchant: 'Tesco',
      source: 'provider',
    });
  });

  it('falls back to merchant rules, and keeps Uber Eats out of the taxi rule', () => {
    expect(categorize({ ...base, description: 'CARD PAYMENT TO TESCO STORES 3297' })).toMatchObject({ category: 'Shopping', subcategory: 'Groceries', merchant: 'Tesco', source: 'rule:tesco' });
    expect(categorize({ ...base, description: 'UBER *TRIP HELP.UBER.COM' }).source).toBe('rule:uber');
    expect(categorize({ ...base, description: 'UBER EATS LONDON' }).source).not.toBe('rule:uber');
  });

  it('uses the direction of money when nothing matches', () => {
    expect(categorize({ ...base, description: 'XYZ LTD', amount: '2500' })).toMatchObject({ category: 'Income', source: 'fallback' });
    expect(categorize({ ...base, description: 'XYZ LTD', merchantName: 'xyz ltd' })).toMatchObject({ category: 'Uncategorized', merchant: 'Xyz Ltd' });
  });
});
