/**
 * Short protobuf strings read without garbage. @bufbuild/protobuf 2.17's `BinaryReader.string` (which the
 * generated code decodes every string field with) reads a string of at most 32 bytes by copying its bytes into a
 * new array and applying `String.fromCharCode` to it: a few hundred bytes of garbage per string. A raw or enriched
 * event carries up to 1,000 transactions of a dozen short strings each, and in a heavy user's consent the strings
 * of the events reconciliation decoded were 112 MB of the 1,441 MB it allocated (a sampling heap profile,
 * docs/BENCHMARKS.md, consent); the gateway decodes every read-API page the same way.
 *
 * Here a string read from a Node Buffer (what Kafka and gRPC hand the decoders) is one
 * `toString('utf8', start, end)`, which allocates the string alone, the text the reader returns: bytes below 128
 * are the same characters either way, and valid UTF-8 decodes to one text (longer strings the reader decodes with
 * `TextDecoder`, which gives the same). Anything else goes to the reader's own code from the same position: a reader
 * over a plain Uint8Array or with a text decoder of its own, and any string whose text holds a replacement
 * character (invalid UTF-8, refused when the reader is strict and replaced as the reader replaces it when not).
 * protobuf-strings.spec.ts compares the two.
 *
 * Applied once, when this library is loaded, to the prototype the generated code's readers share.
 */
import { BinaryReader, getTextEncoding } from '@bufbuild/protobuf/wire';

interface ReaderInternals {
  buf: Uint8Array;
  pos: number;
  decodeUtf8: unknown;
  uint32(): number;
  assertBounds(): void;
}

type ReadString = (this: BinaryReader, strict?: boolean) => string;

let readerString: ReadString | undefined;

/** The reader's own `string` (before the replacement). */
export function originalString(): ReadString {
  return readerString ?? (BinaryReader.prototype.string as ReadString);
}

/** The replacement: a string from a Buffer in one call, anything else by the reader's own code. */
export function readString(this: BinaryReader, strict?: boolean): string {
  const r = this as unknown as ReaderInternals;
  const own = readerString!;
  const buf = r.buf;
  if (!Buffer.isBuffer(buf) || r.decodeUtf8 !== getTextEncoding().decodeUtf8) return own.call(this, strict);
  const at = r.pos;
  const len = r.uint32();
  const start = r.pos;
  r.pos += len;
  r.assertBounds();
  const text = buf.toString('utf8', start, r.pos);
  if (text.includes('\ufffd')) {
    r.pos = at;
    return own.call(this, strict);
  }
  return text;
}

/** Installs `readString` on the readers' prototype (idempotent); false when the reader has no `string` to replace. */
export function installShortProtoStrings(): boolean {
  if (readerString !== undefined) return BinaryReader.prototype.string === readString;
  const current = BinaryReader.prototype.string as ReadString | undefined;
  if (typeof current !== 'function') return false;
  readerString = current;
  BinaryReader.prototype.string = readString;
  return true;
}

installShortProtoStrings();
