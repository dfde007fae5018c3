import { explainBoundsBothEnds, explainUsesIndex, mongoose } from './index';

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

describe('explainBoundsBothEnds', () => {
  const ixscan = (bookedAt: string[]) => ({
    queryPlanner: { winningPlan: { stage: 'LIMIT', inputStage: { stage: 'FETCH', inputStage: { stage: 'IXSCAN', indexName: 'timeline', indexBounds: { userId: ['["u", "u"]'], bookedAt } } } } },
  });

  it('reads MongoDB index bounds: an open end is MaxKey, MinKey or the infinite date', () => {
    expect(explainBoundsBothEnds(ixscan(['[new Date(1764633600000), new Date(1761955200000)]']), 'timeline', 'bookedAt')).toBe(true);
    expect(explainBoundsBothEnds(ixscan(['[new Date(9223372036854775807), new Date(1761955200000)]']), 'timeline', 'bookedAt')).toBe(false);
    expect(explainBoundsBothEnds(ixscan(['[MaxKey, MinKey]']), 'timeline', 'bookedAt')).toBe(false);
    // a number's open ends, as MongoDB prints them
    expect(explainBoundsBothEnds(ixscan(['[5.0, inf.0]']), 'timeline', 'bookedAt')).toBe(false);
    expect(explainBoundsBothEnds(ixscan(['[-inf.0, 5.0)']), 'timeline', 'bookedAt')).toBe(false);
    expect(explainBoundsBothEnds(ixscan(['[1.0, 5.0)']), 'timeline', 'bookedAt')).toBe(true);
    expect(explainBoundsBothEnds(ixscan(['[new Date(1764633600000), new Date(1761955200000)]']), 'other', 'bookedAt')).toBe(false);
  });

  // Index Cond as FerretDB 2 over DocumentDB prints it: clientId = c, userId = u, bookedAt >= 2024-09-23, then
  // (in the second plan) bookedAt <= 2025-10-28.
  const eq = (k: string, v: string) => `(document OPERATOR(documentdb_api_catalog.@=) 'BSONHEX${Buffer.from(mongoose.mongo.BSON.serialize({ [k]: v })).toString('hex')}'::documentdb_core.bson)`;
  const GTE = `(document OPERATOR(documentdb_api_catalog.@>=) 'BSONHEX1700000009626f6f6b656441740022a84f1f9201000000'::documentdb_core.bson)`;
  const LTE = `(document OPERATOR(documentdb_api_catalog.@<=) 'BSONHEX1700000009626f6f6b656441740022984b229401000000'::documentdb_core.bson)`;
  const local = (cond: string) => ({ queryPlanner: { Plan: { 'Node Type': 'Limit', Plans: [{ 'Node Type': 'Sort', Plans: [{ 'Node Type': 'Index Scan', 'Index Name': 'timeline', 'Index Cond': cond }] }] } } });

  it('reads the index condition of the PostgreSQL plan that the local server returns', () => {
    expect(explainBoundsBothEnds(local(`(${eq('clientId', 'c')} AND ${eq('userId', 'u')} AND ${GTE} AND ${LTE})`), 'timeline', 'bookedAt')).toBe(true);
    expect(explainBoundsBothEnds(local(`(${eq('clientId', 'c')} AND ${eq('userId', 'u')} AND ${GTE})`), 'timeline', 'bookedAt')).toBe(false);
    expect(explainBoundsBothEnds(local(`(${eq('clientId', 'c')} AND ${eq('userId', 'u')} AND ${GTE} AND ${LTE})`), 'timeline', 'userId')).toBe(true);
    expect(explainBoundsBothEnds(local(`(${eq('clientId', 'c')} AND ${eq('userId', 'u')})`), 'timeline', 'accountId')).toBe(false);
  });
});
