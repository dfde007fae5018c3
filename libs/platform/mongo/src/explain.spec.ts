import { explainUsesIndex } from './index';

describe('explainUsesIndex', () => {
  // The shape MongoDB 7 returns for find(...).explain(): the chosen plan, and plans it rejected.
  const mongodb = {
    queryPlanner: {
      winningPlan: { stage: 'LIMIT', inputStage: { stage: 'FETCH', inputStage: { stage: 'IXSCAN', indexName: 'user_timestamp_keyset', keyPattern: { user_id: 1 } } } },
      rejectedPlans: [{ stage: 'FETCH', inputStage: { stage: 'IXSCAN', indexName: 'account_transaction_unique' } }],
    },
  };

  it('finds the index of the winning plan on MongoDB and ignores rejected plans', () => {
    expect(explainUsesIndex(mongodb, 'user_timestamp_keyset')).toBe(true);
    expect(explainUsesIndex(mongodb, 'account_transaction_unique')).toBe(false);
  });

  it('reports a collection scan as not using the index', () => {
    expect(explainUsesIndex({ queryPlanner: { winningPlan: { stage: 'COLLSCAN', direction: 'forward' } } }, 'user_timestamp_keyset')).toBe(false);
  });

  it('reads the PostgreSQL plan that the local server returns', () => {
    const local = {
      queryPlanner: {
        Plan: { 'Node Type': 'Limit', Plans: [{ 'Node Type': 'Sort', Plans: [{ 'Node Type': 'Bitmap Heap Scan', Plans: [{ 'Node Type': 'Bitmap Index Scan', 'Index Name': 'user_timestamp_keyset' }] }] }] },
      },
    };
    expect(explainUsesIndex(local, 'user_timestamp_keyset')).toBe(true);
    expect(explainUsesIndex(local, '_id_')).toBe(false);
  });
});
