import { enrichmentV1 } from '@ais/contracts-proto-ts';
import { categorize } from '../domain/categorize';
import { toResponse, validateCategorize, validateRule } from './enrichment.service';

const req = (over: Partial<enrichmentV1.CategorizeRequest> = {}): enrichmentV1.CategorizeRequest => ({ ...enrichmentV1.CategorizeRequest.fromPartial({ description: 'TESCO', amount: '-2.99' }), ...over });
const rule = (over: Partial<enrichmentV1.UserRule> = {}): enrichmentV1.UserRule => ({
  ...enrichmentV1.UserRule.fromPartial({ clientId: 'c', userId: 'u', detailedCategory: 'FOOD_AND_DRINK_GROCERIES', merchantKey: 'tesco' }),
  ...over,
});

describe('gRPC mapping', () => {
  it('fills every field: PFC primary and detailed, merchant name and key, source, reason, confidence, versions', () => {
    const base = { description: 'CRD 1234 TESCO STORES 2341 LONDON GB', amount: '-12.34', providerClassification: [] as string[], merchantName: '' };
    expect(toResponse(categorize(base))).toEqual({ category: 'FOOD_AND_DRINK', subcategory: 'FOOD_AND_DRINK_GROCERIES', merchant: 'Tesco', source: 'merchant', merchantKey: 'tesco', reason: 'merchant:tesco', confidence: 0.9, version: '1.0.0', taxonomy: 'plaid-pfc-v1' });
    expect(toResponse(categorize({ ...base, providerClassification: ['Shopping', 'Groceries'] })).source).toBe('provider');
    expect(toResponse(categorize({ ...base, description: 'LINK ATM 23 HIGH STREET', transactionCategory: 'ATM' }))).toMatchObject({ source: 'rule', reason: 'rule:atm' });
    expect(toResponse(categorize({ ...base, description: 'ZZQX' })).source).toBe('fallback');
  });
});

describe('request validation', () => {
  it('amounts are decimals in major units, as raw events carry them', () => {
    for (const amount of ['-2.99', '1238.6', '0', '-1250', '+5.00']) expect(validateCategorize(req({ amount }))).toEqual([]);
    for (const amount of ['', 'abc', '1e5', '-2,99', '1.2.3']) expect(validateCategorize(req({ amount }))).toEqual([{ field: 'amount', description: expect.stringContaining('major units') }]);
  });

  it('client_id and user_id go together; fields are named inside a batch', () => {
    expect(validateCategorize(req({ clientId: 'c' }), 'transactions[3].')).toEqual([{ field: 'transactions[3].user_id', description: expect.any(String) }]);
    expect(validateCategorize(req({ clientId: 'c', userId: 'u' }))).toEqual([]);
  });

  it('a rule needs a detailed category of the taxonomy, a merchant key or text, and a known direction', () => {
    expect(validateRule(rule())).toEqual([]);
    expect(validateRule(rule({ merchantKey: '', descriptionContains: 'gym' }))).toEqual([]);
    expect(validateRule(rule({ detailedCategory: 'FOOD_AND_DRINK' })).map((v) => v.field)).toEqual(['rule.detailed_category']);
    expect(validateRule(rule({ merchantKey: '', descriptionContains: '  ' })).map((v) => v.field)).toEqual(['rule.merchant_key']);
    expect(validateRule(rule({ direction: 'sideways' })).map((v) => v.field)).toEqual(['rule.direction']);
    expect(validateRule(rule({ ruleId: 'bad id!' })).map((v) => v.field)).toEqual(['rule.rule_id']);
    expect(validateRule(rule({ clientId: '', userId: '' })).map((v) => v.field)).toEqual(['rule.client_id', 'rule.user_id']);
    expect(validateRule(undefined)).toEqual([{ field: 'rule', description: 'required' }]);
  });
});
