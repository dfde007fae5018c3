import { changeEventId } from './changefeed';

describe('change event ids', () => {
  it('are UUIDs derived from user and seq: the same change always has the same id, others differ', () => {
    const id = changeEventId('user-1', 42);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(changeEventId('user-1', 42)).toBe(id);
    expect(new Set([id, changeEventId('user-1', 43), changeEventId('user-2', 42), changeEventId('user-14', 2)]).size).toBe(4);
  });
});
