import type { TxOp } from '../domain/dedupe';
import { WRITE_SPLIT_MIN, writeChunks } from './store';

const touches = (n: number, id = (i: number) => `txn_${i}`): TxOp[] => Array.from({ length: n }, (_, i) => ({ op: 'touch', id: id(i), lastFetchId: 'f', missingSince: null }));

describe('writeChunks: the parts of one message write sent at once', () => {
  it('splits a full message into contiguous parts of about equal size that cover every operation once', () => {
    expect(writeChunks(touches(500), 2)).toEqual([
      [0, 250],
      [250, 500],
    ]);
    expect(writeChunks(touches(501), 2)).toEqual([
      [0, 251],
      [251, 501],
    ]);
    expect(writeChunks(touches(500), 4)).toEqual([
      [0, 125],
      [125, 250],
      [250, 375],
      [375, 500],
    ]);
  });

  it('keeps a part worth its round trip: no part below half the split minimum', () => {
    expect(writeChunks(touches(WRITE_SPLIT_MIN - 1), 2)).toEqual([[0, WRITE_SPLIT_MIN - 1]]);
    expect(writeChunks(touches(WRITE_SPLIT_MIN), 2)).toEqual([
      [0, WRITE_SPLIT_MIN / 2],
      [WRITE_SPLIT_MIN / 2, WRITE_SPLIT_MIN],
    ]);
    expect(writeChunks(touches(WRITE_SPLIT_MIN * 1.5), 8)).toHaveLength(3);
    expect(writeChunks(touches(3), 2)).toEqual([[0, 3]]);
    expect(writeChunks([], 2)).toEqual([]);
  });

  it('writes in one part with parallelism 1, or when two operations name the same row (their order holds only within one bulk write)', () => {
    expect(writeChunks(touches(500), 1)).toEqual([[0, 500]]);
    expect(writeChunks(touches(500, (i) => (i === 499 ? 'txn_3' : `txn_${i}`)), 2)).toEqual([[0, 500]]);
  });
});
