import { emittableCategories } from './categorize';
import { MERCHANTS } from './merchants.data';
import { ALL_RULES } from './rules';
import { DETAILED, isDetailed, isPrimary, otherOf, PFC, primaryOf, PRIMARIES, TAXONOMY_VERSION, validatePair } from '@ais/contracts-events';
import { trueLayerTargets } from './truelayer-classification';

describe('taxonomy (Plaid PFC v1)', () => {
  it('has 16 primaries and 104 detailed categories, each prefixed by its primary', () => {
    expect(TAXONOMY_VERSION).toBe('plaid-pfc-v1');
    expect(PRIMARIES).toHaveLength(16);
    expect(DETAILED).toHaveLength(104);
    expect(new Set(DETAILED).size).toBe(104);
    for (const p of PRIMARIES) for (const d of PFC[p]) expect(d.startsWith(`${p}_`)).toBe(true);
  });

  it('validates names and pairs', () => {
    expect(isPrimary('FOOD_AND_DRINK')).toBe(true);
    expect(isDetailed('FOOD_AND_DRINK_GROCERIES')).toBe(true);
    expect(isDetailed('FOOD_AND_DRINK_PIZZA')).toBe(false);
    expect(primaryOf('TRANSFER_OUT_WITHDRAWAL')).toBe('TRANSFER_OUT');
    expect(validatePair('FOOD_AND_DRINK', 'FOOD_AND_DRINK_GROCERIES')).toBeUndefined();
    expect(validatePair('TRAVEL', 'FOOD_AND_DRINK_GROCERIES')).toMatch(/not under/);
    expect(otherOf('TRAVEL')).toBe('TRAVEL_OTHER_TRAVEL');
  });

  it('every category the categoriser can emit exists in the taxonomy', () => {
    for (const d of [...emittableCategories(), ...MERCHANTS.map((m) => m.category), ...ALL_RULES.map((r) => r.category), ...trueLayerTargets()]) {
      expect([d, isDetailed(d)]).toEqual([d, true]);
    }
  });

  it('merchant keys are slugs, one name per key, and rule ids are unique', () => {
    const names = new Map<string, string>();
    for (const m of MERCHANTS) {
      expect(m.key).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      expect(names.get(m.key) ?? m.name).toBe(m.name);
      names.set(m.key, m.name);
    }
    const ids = ALL_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
