/**
 * Short strings read from BSON without garbage. bson 7.3's `ByteUtils.toUTF8` reads a string of at most 20 bytes
 * (every field name, and most short values: currencies, statuses, categories, amounts) by pushing its bytes onto a
 * new array and spreading that into `String.fromCharCode`: a few hundred bytes of garbage per string, about 10 KB
 * per transaction document read. In a heavy user's consent that was 306 MB of the 1,687 MB reconciliation
 * allocated, for the 31,800 rows of the history read back through the read API (a sampling heap profile,
 * docs/BENCHMARKS.md, consent), and under the images' heap limits garbage is collection time.
 *
 * Here a string from a Buffer is one `toString('utf8', start, end)`, which allocates the string alone. It is the
 * string bson returns: bson decodes a short string's bytes below 128 one by one, and everything else with this very
 * call. Any input that is not a Buffer, and any string that holds a replacement character when validation is asked
 * for, go to bson's own code, so invalid UTF-8 is refused exactly as bson refuses it (bson-strings.spec.ts compares
 * the two).
 *
 * Applied once, when this library is loaded, to the bson the driver decodes with (`mongoose.mongo.BSON`: the
 * driver and bson read `ByteUtils.toUTF8` from that object at each call).
 */
import mongoose from 'mongoose';

type ToUtf8 = (buffer: Uint8Array, start: number, end: number, fatal: boolean) => string;

const byteUtils = mongoose.mongo.BSON.ByteUtils as unknown as { toUTF8: ToUtf8 };

let bsonToUtf8: ToUtf8 | undefined;

/** bson's own `toUTF8` (before the replacement). */
export function originalToUtf8(): ToUtf8 {
  return bsonToUtf8 ?? byteUtils.toUTF8;
}

/** The replacement: a string from a Buffer in one call, anything else by bson. */
export function toUtf8(buffer: Uint8Array, start: number, end: number, fatal: boolean): string {
  const bson = bsonToUtf8!;
  if (!Buffer.isBuffer(buffer)) return bson(buffer, start, end, fatal);
  const text = buffer.toString('utf8', start, end);
  return fatal && text.includes('\ufffd') ? bson(buffer, start, end, fatal) : text;
}

/** Installs `toUtf8` on the driver's bson (idempotent); false when bson's `toUTF8` is not the function known here. */
export function installShortStrings(): boolean {
  if (bsonToUtf8 !== undefined) return byteUtils.toUTF8 === toUtf8;
  const current = byteUtils.toUTF8;
  if (typeof current !== 'function' || current.length !== 4) return false;
  bsonToUtf8 = current.bind(byteUtils);
  byteUtils.toUTF8 = toUtf8;
  return true;
}

installShortStrings();
