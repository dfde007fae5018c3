import { AppError } from '@ais/platform-errors';
import { decodePageToken, encodePageToken } from './reconciliation.service';

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
