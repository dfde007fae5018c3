import { AppError } from '@ais/platform-errors';
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
    expect(decodeCursor(encodeCursor(42))).toBe(42);
    expect(decodeCursor('')).toBe(0);
  });

  it('reject tampered values with the field named', () => {
    const bad = [
      Buffer.from('{"b":"2026-01-02","i":"x"}').toString('base64url'),
      Buffer.from('{"b":"2026-01-02T03:04:05.678Z","i":{"$ne":1}}').toString('base64url'),
      'garbage',
    ];
    for (const t of bad) expect(() => decodeTxToken(t)).toThrow(expect.objectContaining({ kind: 'invalid_argument', violations: [{ field: 'page_token', description: 'malformed' }] }));
    for (const c of [Buffer.from('{"s":-1}').toString('base64url'), Buffer.from('{"s":"5"}').toString('base64url'), Buffer.from('{"s":1.5}').toString('base64url')]) {
      expect(() => decodeCursor(c)).toThrow(expect.objectContaining({ violations: [{ field: 'cursor', description: 'malformed' }] }));
    }
  });
});
