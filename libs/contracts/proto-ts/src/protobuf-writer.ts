/**
 * Messages encoded through one writer per process: the writing side of what protobuf-strings.ts does for reading.
 *
 * The generated `encode(message)` makes a new `BinaryWriter` for every message, which starts at 128 bytes and is
 * regrown and copied as it fills; a caller then copied the finished bytes once more into a `Buffer`. For a small
 * message that is most of its cost, and the platform encodes many: the change feed one event per change, data-fetcher
 * every item of a result to size its messages. A 240-byte transaction took 5.8-8.1 µs that way and 3.1-3.6 µs through
 * the shared writer (docs/BENCHMARKS.md, consent, "One protobuf writer").
 *
 * `finish()` copies out what was written and resets the writer, which keeps its grown buffer (as large as the largest
 * message so far: 512 KB for a full enriched batch). Encoding is synchronous, so nothing else writes to it meanwhile.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** A generated message type's encoder (ts-proto: `encode(message, writer = new BinaryWriter())`). */
export interface MessageEncoder<T> {
  encode(message: T, writer?: BinaryWriter): { finish(): Uint8Array };
}

let shared = new BinaryWriter();

/**
 * `message`'s bytes, their own copy. An encode that throws (a value out of its field's range) leaves the writer
 * part-written, so it is replaced, never reused.
 */
export function encodeBytes<T>(codec: MessageEncoder<T>, message: T): Uint8Array {
  try {
    return codec.encode(message, shared).finish();
  } catch (error) {
    shared = new BinaryWriter();
    throw error;
  }
}

/** `message` encoded as a Buffer over its own bytes (`encodeBytes`, no second copy). */
export function encodeMessage<T>(codec: MessageEncoder<T>, message: T): Buffer {
  const bytes = encodeBytes(codec, message);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
