import { changeEventId, coversRange } from './changefeed';
import type { TransactionDoc } from './store';

describe('change event ids', () => {
  it('are UUIDs derived from user and seq: the same change always has the same id, others differ', () => {
    const id = changeEventId('user-1', 42);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(changeEventId('user-1', 42)).toBe(id);
    expect(new Set([id, changeEventId('user-1', 43), changeEventId('user-2', 42), changeEventId('user-14', 2)]).size).toBe(4);
  });
});

describe('a remembered range that covers every number', () => {
  const doc = (seq: number) => ({ seq }) as TransactionDoc;
  it('holds only when the documents and the numbers read from the store take each number of the range once', () => {
    expect(coversRange({ docs: [doc(5), doc(6)], fromStore: [7] }, 4, 7)).toBe(true);
    expect(coversRange({ docs: [], fromStore: [] }, 4, 4)).toBe(true);
    // a number of another collection (or a gap, or a row written twice) is not held
    expect(coversRange({ docs: [doc(5), doc(7)], fromStore: [] }, 4, 7)).toBe(false);
    // a number twice does not stand for a missing one
    expect(coversRange({ docs: [doc(5), doc(6)], fromStore: [6] }, 4, 7)).toBe(false);
    // numbers outside the range do not count
    expect(coversRange({ docs: [doc(4), doc(5), doc(6)], fromStore: [] }, 4, 7)).toBe(false);
    expect(coversRange({ docs: [doc(5), doc(6), doc(8)], fromStore: [] }, 4, 7)).toBe(false);
  });
});
