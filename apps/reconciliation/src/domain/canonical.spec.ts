import { createHash } from 'node:crypto';
import { canonicalJson, contentHash, sha256Hex } from './canonical';

/** The first implementation, kept as the reference the stored hashes were taken with. */
function reference(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A stored row's content as reconciliation hashes it (domain/dedupe.ts `toContent`), fields in its order. */
const content = {
  status: 'booked',
  bookedAt: new Date('2026-03-04T05:06:07.089Z'),
  amount: '-12.5',
  currency: 'GBP',
  description: 'CAFÉ "NERO" \\ LONDON\n',
  transactionType: 'DEBIT',
  transactionCategory: 'PURCHASE',
  classification: ['Food & Dining', 'Coffee shops'],
  merchantName: 'Caffè Nero',
  runningBalance: { amount: '1234.56', currency: 'GBP' },
  meta: { provider_transaction_category: 'DEB', bank_transaction_id: '9882ks-00js', address: '{"city":"London"}' },
  normalisedProviderTransactionId: 'txn-00af',
  providerTransactionId: '',
};

/** mulberry32: the same values on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = ['a', 'B', 'z', '_', '0', '9', ' ', '"', '\\', '\n', '\u0001', 'é', '€', '😀', '\ud800', '{', ','];

function randomValue(next: () => number, depth: number): unknown {
  const str = (): string => Array.from({ length: Math.floor(next() * 8) }, () => ALPHABET[Math.floor(next() * ALPHABET.length)]).join('');
  const kind = Math.floor(next() * (depth > 2 ? 7 : 9));
  switch (kind) {
    case 0:
      return str();
    case 1:
      return Math.round((next() - 0.5) * 1e6) / 100;
    case 2:
      return next() < 0.5;
    case 3:
      return null;
    case 4:
      return undefined;
    case 5:
      return new Date(Math.floor(next() * 4e12));
    case 6:
      return [0.1, 1e21, -0, Number.NaN, Number.POSITIVE_INFINITY][Math.floor(next() * 5)];
    case 7:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 6); i > 0; i -= 1) o[next() < 0.2 ? String(Math.floor(next() * 20)) : str()] = randomValue(next, depth + 1);
      return o;
    }
  }
}

describe('canonical JSON and content hashes', () => {
  it('gives the bytes, and so the hashes, that stored rows were written with', () => {
    expect(canonicalJson(content)).toBe(
      '{"amount":"-12.5","bookedAt":"2026-03-04T05:06:07.089Z","classification":["Food & Dining","Coffee shops"],"currency":"GBP","description":"CAFÉ \\"NERO\\" \\\\ LONDON\\n","merchantName":"Caffè Nero","meta":{"address":"{\\"city\\":\\"London\\"}","bank_transaction_id":"9882ks-00js","provider_transaction_category":"DEB"},"normalisedProviderTransactionId":"txn-00af","providerTransactionId":"","runningBalance":{"amount":"1234.56","currency":"GBP"},"status":"booked","transactionCategory":"PURCHASE","transactionType":"DEBIT"}',
    );
    // taken with the first implementation (createHash, entries, sort with a comparator)
    expect(contentHash(content)).toBe('e75d11ce55879e5c56775b0d6f3bbadb');
    expect(contentHash({ ...content, runningBalance: null, meta: {}, classification: [] })).toBe('ffaf9e521e1a8f112e938b9c7b9f2cb4');
  });

  it('equals the first implementation on 20,000 random values (key order, undefined, dates, escapes, numbers, nesting)', () => {
    const next = rng(20261202);
    for (let i = 0; i < 20_000; i += 1) {
      const value = randomValue(next, 0);
      expect(canonicalJson(value)).toBe(reference(value));
    }
  });

  it('does not depend on the order keys were set in, and drops undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"z":1}]},"b":1}');
    expect(contentHash({ x: 1, y: 2 })).toBe(contentHash({ y: 2, x: 1, z: undefined }));
    expect(contentHash({ x: 1, y: 2 })).not.toBe(contentHash({ x: 1, y: 3 }));
  });

  it('sha256Hex is sha256 in hex', () => {
    for (const text of ['', 'abc', 'é€😀', 'x'.repeat(10_000)]) expect(sha256Hex(text)).toBe(createHash('sha256').update(text).digest('hex'));
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
