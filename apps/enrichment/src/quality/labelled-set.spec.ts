import { evaluate, loadLabelledSet, primaryAccuracy, run, toMajorUnits } from './labelled-set';
import { PRIMARIES } from '@ais/contracts-events';

describe('the labelled set', () => {
  const set = loadLabelledSet();

  it('has at least 320 lines over every primary category, with a holdout of every 5th line', () => {
    expect(set.length).toBeGreaterThanOrEqual(320);
    const primaries = new Set(set.map((t) => t.expected.primary));
    for (const p of PRIMARIES) expect([p, primaries.has(p)]).toEqual([p, true]);
    expect(set.filter((t) => t.part === 'holdout').length).toBe(Math.floor(set.length / 5));
  });

  it('is categorised with at least 90% primary accuracy, on the whole and on the holdout', () => {
    const e = evaluate(set);
    expect(primaryAccuracy(e, 'all')).toBeGreaterThanOrEqual(0.9);
    expect(primaryAccuracy(e, 'holdout')).toBeGreaterThanOrEqual(0.9);
  });

  it('is fed major units as raw events carry them, and no result depends on the magnitude of the amount', () => {
    expect(toMajorUnits(-23.45)).toBe('-23.45');
    expect(toMajorUnits(1850)).toBe('1850');
    for (const tx of set) {
      const major = run(tx);
      for (const scaled of [tx.amount * 100, tx.amount / 100, Math.sign(tx.amount || 1) * 1e6]) {
        expect([tx.line, run({ ...tx, amount: scaled })]).toEqual([tx.line, major]);
      }
    }
  });
});
