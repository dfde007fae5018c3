import { mongoose } from './index';
import { installShortStrings, originalToUtf8, toUtf8 } from './bson-strings';

const { BSON } = mongoose.mongo;

/** What a call returns, or the error it throws (class and message), so that the two are compared whole. */
function outcome(fn: () => string): { value: string } | { error: string } {
  try {
    return { value: fn() };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
}

describe("short BSON strings (the driver's bson, as loaded by this library)", () => {
  it('is installed on the bson the driver decodes with', () => {
    expect(BSON.ByteUtils.toUTF8).toBe(toUtf8);
    expect(installShortStrings()).toBe(true);
    expect(originalToUtf8()).not.toBe(toUtf8);
  });

  it("returns bson's string, or bson's error, for every kind of input", () => {
    const cases: [string, number[]][] = [
      ['empty', []],
      ['one byte', [0x61]],
      ['ascii, 3 bytes', [...Buffer.from('GBP')]],
      ['ascii, 20 bytes', [...Buffer.from('transactionCategory!')]],
      ['ascii, 21 bytes', [...Buffer.from('transactionCategory!!')]],
      ['two-byte UTF-8', [...Buffer.from('Café Noir')]],
      ['four-byte UTF-8', [...Buffer.from('💷 out')]],
      ['a U+FFFD written by the bank', [...Buffer.from('a\ufffdb')]],
      ['invalid: a lone continuation byte', [0x61, 0x80, 0x62]],
      ['invalid: 0xff', [0xff]],
      ['invalid: truncated sequence', [0x61, 0xe2, 0x82]],
      ['invalid, long', [...Buffer.from('x'.repeat(30)), 0xff]],
    ];
    for (const [name, bytes] of cases) {
      // the string in the middle of a larger buffer, as a document's field is
      const buffer = Buffer.from([0x7b, ...bytes, 0x7d]);
      for (const fatal of [false, true]) {
        const ours = outcome(() => toUtf8(buffer, 1, 1 + bytes.length, fatal));
        const bsons = outcome(() => originalToUtf8()(buffer, 1, 1 + bytes.length, fatal));
        expect({ name, fatal, ...ours }).toEqual({ name, fatal, ...bsons });
      }
    }
    // the invalid cases are refused when validation is asked for: the comparison above covers the error path
    expect(outcome(() => toUtf8(Buffer.from([0x7b, 0xff, 0x7d]), 1, 2, true))).toMatchObject({ error: expect.stringContaining('Invalid UTF-8') });
    // a plain Uint8Array (not a Buffer) takes bson's path
    expect(toUtf8(new Uint8Array([0x47, 0x42, 0x50]), 0, 3, true)).toBe('GBP');
  });

  it('decodes a stored transaction document to the same value as bson alone', () => {
    const doc = {
      _id: 'tx_8f2a',
      status: 'booked',
      bookedAt: new Date('2026-11-30T10:00:00.000Z'),
      amount: '-12.34',
      currency: 'GBP',
      description: 'CARD PAYMENT TO CAFÉ NOIR 3297 ON 12 MAR',
      classification: ['Shopping', 'General'],
      enrichment: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', merchantName: 'Café Noir', confidence: 0.9 },
      runningBalance: { amount: '123.45', currency: 'GBP' },
      seq: 42,
    };
    const bytes = BSON.serialize(doc);
    const ours = BSON.deserialize(bytes);
    const restore = BSON.ByteUtils.toUTF8;
    try {
      (BSON.ByteUtils as { toUTF8: unknown }).toUTF8 = originalToUtf8();
      expect(ours).toEqual(BSON.deserialize(bytes));
    } finally {
      (BSON.ByteUtils as { toUTF8: unknown }).toUTF8 = restore;
    }
    expect(ours).toEqual(doc);
  });
});
