// loading the library wraps kafkajs' produce protocol (kafka.ts)
import './kafka';
import { CompressionTypes } from 'kafkajs';
import { crc32c, encodeProduceRequestBytes, fastProduceEncoding, produceEncodings, type ProduceArgs } from './produce-encoding';
import { kafkajsVersion, PATCHED_KAFKAJS_VERSION } from './request-queue';

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs internals of the pinned version */
type Built = { request: { apiVersion: number; encode: () => Promise<{ buf: Buffer; offset: number; buffer: Buffer }> } };
/** kafkajs' own v3 produce request, not wrapped: the reference every encoding is compared with. */
const kafkajsV3 = require('kafkajs/src/protocol/requests/produce/v3/request') as (args: ProduceArgs) => Built['request'];
const produce = require('kafkajs/src/protocol/requests/produce') as { protocol: (o: { version: number }) => (args: ProduceArgs) => Built };
const Long = require('kafkajs/src/utils/long') as { fromValue(v: unknown): unknown };
const kafkajsCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
/* eslint-enable @typescript-eslint/no-require-imports */

const NOW = 1_764_000_000_123;

async function kafkajsBytes(args: ProduceArgs): Promise<Buffer> {
  const now = jest.spyOn(Date, 'now').mockReturnValue(NOW);
  try {
    return Buffer.from((await kafkajsV3(args).encode()).buffer);
  } finally {
    now.mockRestore();
  }
}

function oursBytes(args: ProduceArgs): Buffer | undefined {
  return encodeProduceRequestBytes(args, () => NOW);
}

/** A change-feed record as EventProducer sends it: user id key, protobuf value, the six envelope headers. */
function changeRecord(i: number, valueBytes = 620) {
  return {
    key: `user-${i % 3}`,
    value: Buffer.alloc(valueBytes, i % 251),
    headers: {
      'ais-event-id': `7d0c9a4e-${String(i).padStart(4, '0')}-4f6a-9c1e-2b3d4e5f6a7b`,
      'ais-event-type': 'ledger.change',
      'ais-schema-version': '1',
      'ais-producer': 'reconciliation',
      'content-type': 'application/x-protobuf',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    },
  };
}

function args(messages: ProduceArgs['topicData'][number]['partitions'][number]['messages'], extra: Partial<ProduceArgs> = {}): ProduceArgs {
  return { acks: -1, timeout: 30_000, compression: CompressionTypes.None, topicData: [{ topic: 'ais.ledger.v1', partitions: [{ partition: 2, firstSequence: 0, messages }] }], ...extra };
}

describe('produce requests written into one buffer (produce-encoding.ts)', () => {
  it('encodes the change feed\'s records byte for byte as kafkajs does', async () => {
    const a = args(Array.from({ length: 300 }, (_, i) => changeRecord(i)));
    const ours = oursBytes(a);
    expect(ours).toBeDefined();
    expect(ours!.equals(await kafkajsBytes(a))).toBe(true);
  });

  it('matches kafkajs on the edges of the format: multi-byte text, empty and null keys and values, buffer and repeated headers, long varints', async () => {
    const cases: ProduceArgs[] = [
      args([
        { key: 'clé-ünïcødé-😀', value: 'välue with ✓ and 漢字', headers: { 'h-ü': 'wert-ß', emoji: '🚀' } },
        { key: null, value: Buffer.alloc(0) },
        { key: '', value: '', headers: {} },
        { key: Buffer.from([0, 1, 2, 255]), value: null, headers: { bin: Buffer.from([9, 8, 7]), list: ['a', Buffer.from('b'), 'ccc'] } },
        { value: Buffer.alloc(20_000, 7) }, // a value whose length takes a three-byte varint
      ]),
      // more than 64 records: offset deltas and record counts past one varint byte; a record of ~70 KB
      args([...Array.from({ length: 200 }, (_, i) => changeRecord(i, i % 17)), changeRecord(200, 70_000)]),
      // several topics and partitions, a transactional id, a producer id and epoch, a first sequence
      {
        acks: 1,
        timeout: 5_000,
        transactionalId: 'tx-1',
        producerId: Long.fromValue(4_294_967_301),
        producerEpoch: 3,
        topicData: [
          { topic: 'ais.raw.v1', partitions: [{ partition: 0, firstSequence: 7, messages: [changeRecord(1)] }, { partition: 5, messages: [changeRecord(2), changeRecord(3)] }] },
          { topic: 'tøpic-ü', partitions: [{ partition: 1, firstSequence: 0, messages: [{ key: 'k', value: 'v' }] }] },
        ],
      },
      // an empty transactional id is no transaction for kafkajs (the attribute bit stays off)
      { ...args([{ key: 'k', value: 'v' }]), transactionalId: '', producerId: -1, producerEpoch: 0 },
    ];
    for (const a of cases) {
      const ours = oursBytes(a);
      expect(ours).toBeDefined();
      expect(ours!.toString('hex')).toBe((await kafkajsBytes(a)).toString('hex'));
    }
  });

  it('checksums a record batch as kafkajs does (CRC-32C), at every length and alignment', () => {
    const bytes = Buffer.from(Array.from({ length: 4_200 }, (_, i) => (i * 131 + (i >> 3)) & 0xff));
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283); // the CRC-32C check value
    for (let start = 0; start < 9; start++) for (const length of [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1_000, 4_096]) {
      const part = bytes.subarray(start, start + length);
      expect(crc32c(part)).toBe(kafkajsCrc32C(part));
    }
  });

  it('leaves to kafkajs what it does not handle: record timestamps, compression, other value types, null header values', () => {
    expect(oursBytes(args([{ key: 'k', value: 'v', timestamp: String(NOW) }]))).toBeUndefined();
    expect(oursBytes(args([{ key: 'k', value: 'v' }], { compression: CompressionTypes.GZIP }))).toBeUndefined();
    expect(oursBytes(args([{ key: 'k', value: 42 }]))).toBeUndefined();
    expect(oursBytes(args([{ key: 'k', value: 'v', headers: { h: null } }]))).toBeUndefined();
  });

  it('is what the produce protocol of versions 3 to 7 encodes with, and kafkajs\' own encoder for the rest', async () => {
    for (const version of [3, 4, 5, 6, 7]) {
      const a = args([changeRecord(1), changeRecord(2)]);
      const before = { ...produceEncodings };
      const now = jest.spyOn(Date, 'now').mockReturnValue(NOW);
      try {
        const built = produce.protocol({ version })(a);
        expect(built.request.apiVersion).toBe(version);
        const encoded = await built.request.encode();
        expect(Buffer.from(encoded.buffer).equals(await kafkajsBytes(a))).toBe(true);
      } finally {
        now.mockRestore();
      }
      expect(produceEncodings.fast).toBe(before.fast + 1);
      // a timestamped record: kafkajs encodes it, with its own result
      const stamped = args([{ key: 'k', value: 'v', timestamp: String(NOW - 5) }]);
      const fallback = await produce.protocol({ version })(stamped).request.encode();
      expect(Buffer.from(fallback.buffer).equals(await kafkajsBytes(stamped))).toBe(true);
      expect(produceEncodings.kafkajs).toBe(before.kafkajs + 1);
    }
  });

  // last: it applies the wrapping itself, which the cases above must find applied by loading the library
  it('is the version whose encoding it reproduces (an upgrade of kafkajs is reviewed here), and wraps once', async () => {
    expect(kafkajsVersion()).toBe(PATCHED_KAFKAJS_VERSION);
    expect(fastProduceEncoding()).toBe(true);
    const before = produceEncodings.fast;
    await produce.protocol({ version: 7 })(args([changeRecord(1)])).request.encode();
    expect(produceEncodings.fast).toBe(before + 1);
  });
});
