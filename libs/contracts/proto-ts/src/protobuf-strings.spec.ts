import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { eventsV1 } from './index';
import { installShortProtoStrings, originalString, readString } from './protobuf-strings';

/** What a read returns (or throws) and where the reader stands after it. */
function outcome(reader: BinaryReader, read: (r: BinaryReader) => string): { value?: string; error?: string; pos: number } {
  try {
    const value = read(reader);
    return { value, pos: reader.pos };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}`, pos: reader.pos };
  }
}

/** A length-delimited field's bytes (as a string field is written), between two other bytes. */
function field(bytes: number[]): Buffer {
  const w = new BinaryWriter();
  w.bytes(new Uint8Array(bytes));
  return Buffer.from([0x01, ...w.finish(), 0x02]);
}

describe('short protobuf strings (the readers of the generated code, as this library loads them)', () => {
  it("is installed on the readers' prototype", () => {
    expect(BinaryReader.prototype.string).toBe(readString);
    expect(installShortProtoStrings()).toBe(true);
    expect(originalString()).not.toBe(readString);
  });

  it("returns the reader's string or error, and leaves the reader where the reader's own code does", () => {
    const cases: [string, number[]][] = [
      ['empty', []],
      ['ascii, 3 bytes', [...Buffer.from('GBP')]],
      ['ascii, 32 bytes', [...Buffer.from('x'.repeat(32))]],
      ['ascii, 33 bytes', [...Buffer.from('x'.repeat(33))]],
      ['two-byte UTF-8', [...Buffer.from('Café Noir')]],
      ['four-byte UTF-8', [...Buffer.from('💷 out')]],
      ['a leading U+FEFF (text, not a byte-order mark)', [...Buffer.from('\ufeffGBP')]],
      ['a U+FFFD the bank wrote', [...Buffer.from('a\ufffdb')]],
      ['invalid: a lone continuation byte', [0x61, 0x80, 0x62]],
      ['invalid: 0xff', [0xff]],
      ['invalid: truncated sequence', [0x61, 0xe2, 0x82]],
      ['invalid, long', [...Buffer.from('x'.repeat(40)), 0xff]],
    ];
    for (const [name, bytes] of cases) {
      const buf = field(bytes);
      for (const strict of [false, true]) {
        const at1 = (b: Uint8Array) => {
          const r = new BinaryReader(b);
          r.pos = 1;
          return r;
        };
        const ours = outcome(at1(buf), (r) => r.string(strict));
        const theirs = outcome(at1(buf), (r) => originalString().call(r, strict));
        expect({ name, strict, ...ours }).toEqual({ name, strict, ...theirs });
        // a reader over a plain Uint8Array takes the reader's own path
        expect(outcome(at1(new Uint8Array(buf)), (r) => r.string(strict))).toEqual(theirs);
      }
    }
    // a field running past the end is refused as the reader refuses it
    const short = Buffer.from([0x05, 0x61]);
    expect(outcome(new BinaryReader(short), (r) => r.string())).toEqual(outcome(new BinaryReader(short), (r) => originalString().call(r)));
    expect(outcome(new BinaryReader(short), (r) => r.string()).error).toMatch(/premature EOF|out of range/i);
  });

  it('decodes an event to the same message as the reader alone', () => {
    const event = eventsV1.RawDataEvent.fromPartial({
      userId: 'user-8f2a',
      connectionId: 'conn-1',
      accountId: 'acc-1',
      payload: {
        $case: 'transactions',
        transactions: {
          transactions: Array.from({ length: 50 }, (_, i) => ({
            transactionId: `tx-${i}`,
            description: i % 2 ? 'CARD PAYMENT TO CAFÉ NOIR 3297 ON 12 MAR' : 'TFL TRAVEL CH',
            transactionType: 'DEBIT',
            transactionCategory: 'PURCHASE',
            currency: 'GBP',
            transactionClassification: ['Shopping', 'General'],
            merchantName: i % 3 ? 'Tesco' : '',
          })),
        },
      },
    });
    const bytes = Buffer.from(eventsV1.RawDataEvent.encode(event).finish());
    const ours = eventsV1.RawDataEvent.decode(bytes);
    BinaryReader.prototype.string = originalString();
    try {
      expect(ours).toEqual(eventsV1.RawDataEvent.decode(bytes));
    } finally {
      BinaryReader.prototype.string = readString;
    }
    expect(ours).toEqual(event);
    const rows = ours.payload?.$case === 'transactions' ? ours.payload.transactions.transactions : [];
    expect(rows).toHaveLength(50);
    expect(rows.map((t) => t.description).slice(0, 2)).toEqual(['TFL TRAVEL CH', 'CARD PAYMENT TO CAFÉ NOIR 3297 ON 12 MAR']);
  });
});
