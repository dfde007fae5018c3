import { categorize } from '../domain/categorize';
import { toResponse } from './enrichment.service';

describe('gRPC mapping onto the current proto fields', () => {
  it('category = PFC primary, subcategory = PFC detailed, merchant = name, source names the deciding source', () => {
    const base = { description: 'CRD 1234 TESCO STORES 2341 LONDON GB', amount: '-1234', providerClassification: [] as string[], merchantName: '' };
    expect(toResponse(categorize(base))).toEqual({ category: 'FOOD_AND_DRINK', subcategory: 'FOOD_AND_DRINK_GROCERIES', merchant: 'Tesco', source: 'rule:merchant:tesco', merchantKey: 'tesco', reason: 'merchant:tesco', confidence: 0.9, version: '1.0.0', taxonomy: 'plaid-pfc-v1' });
    expect(toResponse(categorize({ ...base, providerClassification: ['Shopping', 'Groceries'] })).source).toBe('provider');
    expect(toResponse(categorize({ ...base, description: 'LINK ATM 23 HIGH STREET', transactionCategory: 'ATM' })).source).toBe('rule:atm');
    expect(toResponse(categorize({ ...base, description: 'ZZQX' })).source).toBe('fallback');
  });
});
