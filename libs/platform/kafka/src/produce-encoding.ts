/**
 * A faster encoder of kafkajs 2.2.4's produce requests (versions 3 to 7, uncompressed), byte for byte the request
 * kafkajs builds.
 *
 * kafkajs encodes each record with seven `Encoder`s: one for the record and one per header. Each allocates a zeroed
 * 512-byte buffer and grows it by copying, and every varint goes through a temporary array and `Buffer.from`. The
 * change feed sends one record per change with six headers, so a heavy user's first sync (31,600 changes) spent
 * about 1 CPU second per 15,000 records in that code in reconciliation alone (a CPU profile of the consent benchmark,
 * docs/BENCHMARKS.md), and left about 3.5 KB of garbage per record.
 *
 * `encodeProduceRequest` sizes the request first and writes it into one buffer. It handles what this platform
 * sends: records without a timestamp, keys and values that are strings, buffers or null, header values that are
 * strings or buffers (or arrays of them). Anything else (a record timestamp, compression, a number as a value, a
 * null header value, which kafkajs refuses) returns `undefined`, and kafkajs' own encoder builds that request, with
 * its own behaviour.
 *
 * Applied once, when this library is loaded, by wrapping the produce request's `protocol` of the version known here.
 * Another version keeps its own code, and `produce-encoding.spec.ts` fails on it, so an upgrade is reviewed here.
 */
import { PATCHED_KAFKAJS_VERSION, kafkajsVersion } from './request-queue';

/** The produce arguments kafkajs passes to a request version (messages as `producer.send` got them). */
export interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: {
    topic: string;
    partitions: {
      partition: number;
      firstSequence?: number;
      messages: { key?: unknown; value?: unknown; headers?: Record<string, unknown> | undefined; timestamp?: unknown }[];
    }[];
  }[];
}

/** kafkajs' Encoder: the object its request framing expects back from `encode` (`buf` and `offset`). */
interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
}
type EncoderClass = new (initialSize?: number) => KafkajsEncoder;
interface LongValue {
  getHighBits(): number;
  getLowBits(): number;
}

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs internals of the pinned version (no exports map) */
const kafkajsInternals = () => ({
  Encoder: require('kafkajs/src/protocol/encoder') as EncoderClass,
  Long: require('kafkajs/src/utils/long') as { fromValue(v: unknown): LongValue },
  produce: require('kafkajs/src/protocol/requests/produce') as { protocol: (o: { version: number }) => ((args: ProduceArgs) => { request: { encode: () => Promise<unknown> } }) | undefined },
});
/* eslint-enable @typescript-eslint/no-require-imports */

const MAGIC_BYTE = 2;

/** CRC-32C (Castagnoli, reflected) lookup tables for eight bytes at a time ("slicing-by-8"). */
const CRC_TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[0]![n] = c;
  }
  for (let n = 0; n < 256; n++) for (let i = 1; i < 8; i++) t[i]![n] = (t[i - 1]![n]! >>> 8) ^ t[0]![t[i - 1]![n]! & 0xff]!;
  return t as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
})();

/**
 * CRC-32C of `b`, the checksum of a record batch: what kafkajs' `crc32C` computes a byte at a time, eight bytes a
 * step (about twice as fast on a request of 2,000 change-feed records; produce-encoding.spec.ts compares the two).
 */
export function crc32c(b: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let c = -1;
  let i = 0;
  const n = b.length;
  for (const end = n - (n & 7); i < end; i += 8) {
    const a = c ^ (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
    c = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^ t3[b[i + 4]!]! ^ t2[b[i + 5]!]! ^ t1[b[i + 6]!]! ^ t0[b[i + 7]!]!;
  }
  for (; i < n; i++) c = t0[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
const TRANSACTIONAL_MASK = 16;

function sizeOfVarInt(value: number): number {
  let v = (value << 1) ^ (value >> 31);
  let bytes = 1;
  while ((v & 0xffffff80) !== 0) {
    bytes += 1;
    v >>>= 7;
  }
  return bytes;
}

function writeVarInt(buf: Buffer, offset: number, value: number): number {
  let v = (value << 1) ^ (value >> 31);
  while ((v & 0xffffff80) !== 0) {
    buf[offset++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[offset++] = v & 0x7f;
  return offset;
}

/** A key, value or header value as bytes: a buffer, a UTF-8 string, or null (absent). */
type Bytes = Buffer | string | null;

function bytesOf(value: unknown): Bytes | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || Buffer.isBuffer(value)) return value;
  return undefined; // kafkajs' own behaviour for anything else
}

/** Strings up to this length are measured and written by a loop here, not by a call into the runtime. */
const SHORT = 64;

/** UTF-8 length of a string (a short ASCII string is its own length: every other character takes 2 or more bytes). */
function utf8Length(s: string): number {
  if (s.length > SHORT) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

function lengthOf(b: Buffer | string): number {
  return typeof b === 'string' ? utf8Length(b) : b.length;
}

/** Writes `s` (`length` bytes in UTF-8) at `offset`; a short ASCII string byte by byte. */
function writeString(buf: Buffer, offset: number, s: string, length: number): number {
  if (length === s.length && length <= SHORT) {
    for (let i = 0; i < length; i++) buf[offset + i] = s.charCodeAt(i);
    return offset + length;
  }
  return offset + buf.write(s, offset, length, 'utf8');
}

/** A record reduced to what is written: sizes are taken once. */
interface PlannedRecord {
  body: number;
  key: Bytes;
  keyLength: number;
  value: Bytes;
  valueLength: number;
  headers: { key: string; keyLength: number; value: Buffer | string; valueLength: number }[];
}

function planRecord(message: ProduceArgs['topicData'][number]['partitions'][number]['messages'][number], offsetDelta: number): PlannedRecord | undefined {
  if (message.timestamp !== undefined && message.timestamp !== null) return undefined;
  const key = bytesOf(message.key);
  const value = bytesOf(message.value);
  if (key === undefined || value === undefined) return undefined;
  const keyLength = key === null ? -1 : lengthOf(key);
  const valueLength = value === null ? -1 : lengthOf(value);
  if (message.headers === null) return undefined;
  const headers: PlannedRecord['headers'] = [];
  const all = message.headers ?? {};
  for (const k of Object.keys(all)) {
    const v = all[k];
    for (const hv of Array.isArray(v) ? (v as unknown[]) : [v]) {
      if (typeof hv !== 'string' && !Buffer.isBuffer(hv)) return undefined;
      headers.push({ key: k, keyLength: utf8Length(k), value: hv, valueLength: lengthOf(hv) });
    }
  }
  let body = 1 + 1 + sizeOfVarInt(offsetDelta); // attributes, timestamp delta 0, offset delta
  body += keyLength < 0 ? 1 : sizeOfVarInt(keyLength) + keyLength;
  body += valueLength < 0 ? 1 : sizeOfVarInt(valueLength) + valueLength;
  body += sizeOfVarInt(headers.length);
  for (const h of headers) body += sizeOfVarInt(h.keyLength) + h.keyLength + sizeOfVarInt(h.valueLength) + h.valueLength;
  return { body, key, keyLength, value, valueLength, headers };
}

function writeBytes(buf: Buffer, offset: number, b: Bytes, length: number): number {
  if (b === null) return writeVarInt(buf, offset, -1);
  offset = writeVarInt(buf, offset, length);
  if (typeof b === 'string') return writeString(buf, offset, b, length);
  b.copy(buf, offset);
  return offset + length;
}

function writeInt64(buf: Buffer, offset: number, value: LongValue): number {
  buf.writeInt32BE(value.getHighBits(), offset);
  buf.writeInt32BE(value.getLowBits(), offset + 4);
  return offset + 8;
}

/**
 * The produce request kafkajs 2.2.4 would encode for these arguments (versions 3 to 7 share one body), as one
 * buffer; `undefined` when the arguments need kafkajs' own encoder (see the file comment). `now` stands for the
 * `Date.now()` kafkajs reads once per partition for records without a timestamp.
 */
export function encodeProduceRequestBytes(args: ProduceArgs, now: () => number = Date.now): Buffer | undefined {
  const { Long } = kafkajsInternals();
  if (args.compression !== undefined && args.compression !== 0) return undefined;
  const transactionalId = args.transactionalId ?? null;
  if (transactionalId !== null && typeof transactionalId !== 'string') return undefined;
  // kafkajs' RecordBatch defaults (undefined only: a null is passed on as it is)
  const producerId = Long.fromValue(args.producerId === undefined ? -1 : args.producerId);
  const producerEpoch = args.producerEpoch === undefined ? 0 : args.producerEpoch;
  const attributes = transactionalId ? TRANSACTIONAL_MASK : 0;

  let size = 2 + (transactionalId === null ? 0 : Buffer.byteLength(transactionalId, 'utf8')) + 2 + 4 + 4;
  const topics = [];
  for (const t of args.topicData) {
    const partitions = [];
    size += 2 + Buffer.byteLength(t.topic, 'utf8') + 4;
    for (const p of t.partitions) {
      if (p.messages.length === 0) return undefined;
      const records: PlannedRecord[] = [];
      let recordsSize = 0;
      for (let i = 0; i < p.messages.length; i++) {
        const r = planRecord(p.messages[i]!, i);
        if (!r) return undefined;
        records.push(r);
        recordsSize += sizeOfVarInt(r.body) + r.body;
      }
      // RecordBatch: first offset (8), length (4), then `batch`: leader epoch, magic, crc, then the body
      const bodySize = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4 + recordsSize;
      const batchSize = 4 + 1 + 4 + bodySize;
      const recordBatchSize = 8 + 4 + batchSize;
      size += 4 + 4 + recordBatchSize;
      partitions.push({ p, records, bodySize, batchSize, recordBatchSize });
    }
    topics.push({ t, partitions });
  }

  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  if (transactionalId === null) o = buf.writeInt16BE(-1, o);
  else {
    const n = Buffer.byteLength(transactionalId, 'utf8');
    o = buf.writeInt16BE(n, o);
    o += buf.write(transactionalId, o, n, 'utf8');
  }
  o = buf.writeInt16BE(args.acks, o);
  o = buf.writeInt32BE(args.timeout, o);
  o = buf.writeInt32BE(topics.length, o);
  for (const { t, partitions } of topics) {
    const n = Buffer.byteLength(t.topic, 'utf8');
    o = buf.writeInt16BE(n, o);
    o += buf.write(t.topic, o, n, 'utf8');
    o = buf.writeInt32BE(partitions.length, o);
    for (const { p, records, bodySize, batchSize, recordBatchSize } of partitions) {
      const timestamp = Long.fromValue(now());
      o = buf.writeInt32BE(p.partition, o);
      o = buf.writeInt32BE(recordBatchSize, o);
      o = writeInt64(buf, o, Long.fromValue(0)); // first offset
      o = buf.writeInt32BE(batchSize, o);
      o = buf.writeInt32BE(0, o); // partition leader epoch
      o = buf.writeInt8(MAGIC_BYTE, o);
      const crcAt = o;
      o += 4;
      const bodyStart = o;
      o = buf.writeInt16BE(attributes, o);
      o = buf.writeInt32BE(records.length - 1, o); // last offset delta
      o = writeInt64(buf, o, timestamp); // first timestamp
      o = writeInt64(buf, o, timestamp); // max timestamp
      o = writeInt64(buf, o, producerId);
      o = buf.writeInt16BE(producerEpoch, o);
      o = buf.writeInt32BE(p.firstSequence === undefined ? 0 : p.firstSequence, o);
      o = buf.writeInt32BE(records.length, o);
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        o = writeVarInt(buf, o, r.body);
        buf[o++] = 0; // attributes
        buf[o++] = 0; // timestamp delta: every record of the batch is stamped with the batch's time
        o = writeVarInt(buf, o, i);
        o = writeBytes(buf, o, r.key, r.keyLength);
        o = writeBytes(buf, o, r.value, r.valueLength);
        o = writeVarInt(buf, o, r.headers.length);
        for (const h of r.headers) {
          o = writeBytes(buf, o, h.key, h.keyLength);
          o = writeBytes(buf, o, h.value, h.valueLength);
        }
      }
      if (o - bodyStart !== bodySize) throw new Error(`produce encoding: body of ${o - bodyStart} bytes, sized ${bodySize}`);
      buf.writeUInt32BE(crc32c(buf.subarray(bodyStart, o)), crcAt);
    }
  }
  if (o !== size) throw new Error(`produce encoding: ${o} bytes written, sized ${size}`);
  return buf;
}

/** Produce requests encoded here (`fast`) and by kafkajs' own encoder (`kafkajs`) since the library was loaded. */
export const produceEncodings = { fast: 0, kafkajs: 0 };

/** `encodeProduceRequestBytes` as the kafkajs Encoder a request's `encode` returns, or undefined. */
function encodeProduceRequest(args: ProduceArgs): KafkajsEncoder | undefined {
  const bytes = encodeProduceRequestBytes(args);
  if (!bytes) {
    produceEncodings.kafkajs += 1;
    return undefined;
  }
  produceEncodings.fast += 1;
  const { Encoder } = kafkajsInternals();
  const encoder = new Encoder(0);
  encoder.buf = bytes;
  encoder.offset = bytes.length;
  return encoder;
}

const WRAPPED = Symbol.for('ais.platform-kafka.fastProduceEncoding');

/**
 * Wraps kafkajs' produce `protocol` (idempotent) so that versions 3 to 7 encode with `encodeProduceRequest`, and
 * fall back to kafkajs' own `encode` for what it does not handle. True when the installed version is the patched one.
 */
export function fastProduceEncoding(): boolean {
  if (kafkajsVersion() !== PATCHED_KAFKAJS_VERSION) return false;
  const { produce } = kafkajsInternals();
  const current = produce.protocol as typeof produce.protocol & { [WRAPPED]?: true };
  if (current[WRAPPED]) return true;
  const wrapped = (options: { version: number }) => {
    const build = current(options);
    if (!build || options.version < 3 || options.version > 7) return build;
    return (args: ProduceArgs) => {
      const built = build(args);
      const original = built.request.encode;
      built.request.encode = async () => encodeProduceRequest(args) ?? original();
      return built;
    };
  };
  produce.protocol = Object.assign(wrapped, { [WRAPPED]: true as const });
  return true;
}
