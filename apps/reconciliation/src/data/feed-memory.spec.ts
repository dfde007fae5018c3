import { FeedMemory } from './feed-memory';
import type { TransactionDoc } from './store';

const U = 'u1';
const doc = (id: string, seq: number, amount = '-1.00'): TransactionDoc => ({ _id: id, seq, amount }) as TransactionDoc;
const seqs = (m: FeedMemory, after: number, upTo: number) => {
  const c = m.changes(U, after, upTo);
  return c && { docs: c.docs.map((d) => `${d._id}@${d.seq}`), fromStore: c.fromStore };
};

describe('FeedMemory: what the change feed may send without reading the store', () => {
  it('answers for ranges it saw reserved one after another, and for nothing else', () => {
    const m = new FeedMemory();
    expect(m.changes(U, 0, 0)).toBeUndefined();
    m.reserved(U, 1, 3);
    m.wrote(U, 1, doc('a', 1));
    m.wrote(U, 3, doc('b', 3)); // 2: another collection's change, or a gap
    m.reserved(U, 4, 1);
    m.wrote(U, 4, doc('c', 4));
    expect(seqs(m, 0, 4)).toEqual({ docs: ['a@1', 'b@3', 'c@4'], fromStore: [] });
    expect(seqs(m, 1, 3)).toEqual({ docs: ['b@3'], fromStore: [] });
    // below its start (numbers reserved before this process knew the user) or past its end: the store answers
    expect(m.changes(U, 0, 5)).toBeUndefined();
    // a reservation that does not follow the last one (another process reserved in between) starts over
    m.reserved(U, 9, 2);
    expect(m.changes(U, 4, 10)).toBeUndefined();
    expect(seqs(m, 8, 10)).toEqual({ docs: [], fromStore: [] });
  });

  it('a row written again is sent under its latest number only; a writer without documents sends the store', () => {
    const m = new FeedMemory();
    m.reserved(U, 1, 5);
    m.wrote(U, 1, doc('a', 1));
    m.wrote(U, 2, doc('b', 2));
    m.wrote(U, 3, doc('a', 3, '-2.00'));
    // analysis changes b: its new number is read from the store, and so is its old one (the write may fail first)
    m.elsewhere(U, [{ id: 'b', seq: 4 }]);
    m.touched(U, 'a', { lastFetchId: 'f2' });
    expect(seqs(m, 0, 5)).toEqual({ docs: ['a@3'], fromStore: [2, 4] });
    expect(m.changes(U, 0, 5)!.docs[0]).toMatchObject({ amount: '-2.00', lastFetchId: 'f2' });
  });

  it('drops what was published, and forgets a user (erasure, failed write) or everyone (rebalance)', () => {
    const m = new FeedMemory();
    m.reserved(U, 1, 4);
    m.wrote(U, 1, doc('a', 1));
    m.wrote(U, 2, doc('b', 2));
    m.elsewhere(U, [{ id: 'c', seq: 3 }]);
    m.published(U, 2);
    expect(m.size()).toEqual({ users: 1, docs: 0 });
    expect(seqs(m, 2, 4)).toEqual({ docs: [], fromStore: [3] });
    m.published(U, 4);
    expect(m.size()).toEqual({ users: 0, docs: 0 });
    m.reserved(U, 5, 1);
    m.wrote(U, 5, doc('d', 5));
    m.reserved('u2', 1, 1);
    m.forget(U);
    expect(m.changes(U, 4, 5)).toBeUndefined();
    expect(m.changes('u2', 0, 1)).toBeDefined();
    m.forgetAll();
    expect(m.changes('u2', 0, 1)).toBeUndefined();
  });

  it('a user holding more unpublished documents than its bound is forgotten (the store answers)', () => {
    const m = new FeedMemory(2);
    m.reserved(U, 1, 3);
    m.wrote(U, 1, doc('a', 1));
    m.wrote(U, 2, doc('b', 2));
    expect(m.held(U)).toBe(2);
    m.wrote(U, 3, doc('c', 3));
    expect(m.held(U)).toBe(0);
    expect(m.changes(U, 0, 3)).toBeUndefined();
  });

  it('a number it did not see reserved makes the user unknown', () => {
    const m = new FeedMemory();
    m.reserved(U, 1, 2);
    m.wrote(U, 7, doc('x', 7));
    expect(m.changes(U, 0, 2)).toBeUndefined();
  });
});
