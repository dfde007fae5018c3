import { AppError } from './index';
import { requireIds } from './index';

describe('requireIds', () => {
  it('accepts opaque ids and lists every bad field at once', () => {
    expect(() => requireIds({ user_id: 'user-1@acme', client_id: 'c.1' })).not.toThrow();
    let err: unknown;
    try {
      requireIds({ user_id: '', client_id: 'x'.repeat(129), probe_id: 'ok' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).violations.map((v) => v.field)).toEqual(['user_id', 'client_id']);
    expect(() => requireIds({ user_id: '{"$ne":null}' })).toThrow(AppError);
  });
});
