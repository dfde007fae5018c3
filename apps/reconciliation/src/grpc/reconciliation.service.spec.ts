import { AppError } from '@ais/platform-errors';
import { MAX_WINDOW_MS, MIN_WINDOW_MS, windowHint } from '../data/queries';
import { decodeCursor, decodePageToken, decodeTxToken, encodeCursor, encodePageToken, encodeTxToken } from './reconciliation.service';

describe('page tokens', () => {
  it('round-trip the last id of a page', () => {
    expect(decodePageToken(encodePageToken('acc_123'))).toBe('acc_123');
    expect(decodePageToken('')).toBeUndefined();
  });

  it('reject tokens this service did not issue', () => {
    for (const bad of ['not-base64-json', Buffer.from('{"a":{"$gt":""}}').toString('base64url'), Buffer.from('{"a":"x y"}').toString('base64url')]) {
      expect(() => decodePageToken(bad)).toThrow(AppError);
    }
  });
});

describe('transaction page tokens and change cursors', () => {
  it('round-trip', () => {
    const key = { bookedAt: new Date('2026-01-02T03:04:05.678Z'), id: 'txn_abc' };
    expect(decodeTxToken(encodeTxToken(key))).toEqual(key);
    const hinted = { ...key, windowMs: windowHint([{ bookedAt: new Date('2026-01-09T00:00:00Z') }, key]) };
    expect(hinted.windowMs).toBe(Math.round((new Date('2026-01-09T00:00:00Z').getTime() - key.bookedAt.getTime()) * 1.25));
    expect(decodeTxToken(encodeTxToken(hinted))).toEqual(hinted);
    expect(decodeCursor(encodeCursor(42))).toBe(42);
    expect(decodeCursor('')).toBe(0);
  });

  it('reject tampered values with the field named', () => {
    const bad = [
      Buffer.from('{"b":"2026-01-02","i":"x"}').toString('base64url'),
      Buffer.from('{"b":"2026-01-02T03:04:05.678Z","i":{"$ne":1}}').toString('base64url'),
      'garbage',
      // a first window outside windowHint's bounds (an unbounded sort of the history is not a client's to ask for)
      Buffer.from(`{"b":"2026-01-02T03:04:05.678Z","i":"x","w":${MAX_WINDOW_MS + 1}}`).toString('base64url'),
      Buffer.from(`{"b":"2026-01-02T03:04:05.678Z","i":"x","w":${MIN_WINDOW_MS - 1}}`).toString('base64url'),
      Buffer.from('{"b":"2026-01-02T03:04:05.678Z","i":"x","w":"1e12"}').toString('base64url'),
    ];
    for (const t of bad) expect(() => decodeTxToken(t)).toThrow(expect.objectContaining({ kind: 'invalid_argument', violations: [{ field: 'page_token', description: 'malformed' }] }));
    for (const c of [Buffer.from('{"s":-1}').toString('base64url'), Buffer.from('{"s":"5"}').toString('base64url'), Buffer.from('{"s":1.5}').toString('base64url')]) {
      expect(() => decodeCursor(c)).toThrow(expect.objectContaining({ violations: [{ field: 'cursor', description: 'malformed' }] }));
    }
  });
});

describe('windowHint', () => {
  const at = (iso: string) => ({ bookedAt: new Date(iso) });
  it('is the span of the page a quarter wider, at least an hour and at most a year', () => {
    expect(windowHint([at('2026-03-01T00:00:00Z'), at('2026-02-01T00:00:00Z')])).toBe(Math.round(28 * 86_400_000 * 1.25));
    expect(windowHint([at('2026-03-01T00:00:00Z'), at('2026-03-01T00:00:00Z')])).toBe(MIN_WINDOW_MS);
    expect(windowHint([at('2026-03-01T00:00:00Z')])).toBe(MIN_WINDOW_MS);
    expect(windowHint([at('2030-01-01T00:00:00Z'), at('2020-01-01T00:00:00Z')])).toBe(MAX_WINDOW_MS);
  });
});
