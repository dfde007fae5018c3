/**
 * The change feed's memory of a user's recent transaction changes, kept by the process that writes them, so that
 * the publisher (data/changefeed.ts) sends what was just written without reading it back from the store. Reading a
 * batch's rows back cost about as much as writing them on the local store (about 240 µs a row, docs/BENCHMARKS.md).
 *
 * What it knows, per user: a range of sequence numbers (start, end] that this process reserved one after another
 * (`reserved`; a reservation that does not follow the last one starts a new range), and for the transaction changes
 * among them either the document as written (`wrote`: a new row whole, a changed row as the stored document it was
 * computed from with the fields set on it) or that the document is to be read from the store by its number
 * (`elsewhere`: analysis and re-enrichment, which do not hold whole documents). Every other number of the range is
 * a change of another collection (read from there as before) or a gap (an add that inserted nothing).
 *
 * `changes` answers only for a range it covers entirely; the publisher reads the store otherwise (after a restart,
 * a rebalance, an erasure, or a write that failed part-way, which `forget` the user). This is correct because of
 * the SINGLE WRITER PER USER (data/store.ts): while this consumer owns the user's partition every change of the
 * user's transactions is made here, by the store's writes (which call `wrote` or `elsewhere`) or by analysis (which
 * calls `elsewhere`), and the consumer calls `forgetAll` when its partitions may have changed.
 *
 * A row written again supersedes its earlier entry (the store path never sends a number a row no longer carries).
 * Entries up to the published number are dropped (`published`).
 */
import type { TransactionDoc } from './store';

interface UserFeed {
  start: number;
  end: number;
  docs: Map<number, TransactionDoc>;
  /** Row id → its number in `docs`. */
  seqOf: Map<string, number>;
  /** Numbers of transaction changes to read from the store. */
  fromStore: Set<number>;
}

export interface RememberedChanges {
  /** The documents of the range, in sequence order. */
  docs: TransactionDoc[];
  /** Numbers of the range whose documents are read from the store (by `seq`). */
  fromStore: number[];
}

export class FeedMemory {
  private readonly users = new Map<string, UserFeed>();

  /**
   * `maxDocsPerUser`: a user holding more unpublished documents than this is forgotten (its changes are then read
   * from the store), a bound on memory if nothing publishes; the consumer publishes a user early well before it
   * (kafka/enriched.consumer.ts, `publishEarlyAt`).
   */
  constructor(private readonly maxDocsPerUser = 10_000) {}

  /** `n` numbers from `first` were reserved for the user. */
  reserved(userId: string, first: number, n: number): void {
    const u = this.users.get(userId);
    if (u && u.end === first - 1) u.end = first + n - 1;
    else this.users.set(userId, { start: first - 1, end: first + n - 1, docs: new Map(), seqOf: new Map(), fromStore: new Set() });
  }

  /** A transaction row as stored after a completed write that gave it `seq`. */
  wrote(userId: string, seq: number, doc: TransactionDoc): void {
    const u = this.inRange(userId, seq);
    if (!u) return;
    const before = u.seqOf.get(doc._id);
    if (before !== undefined) u.docs.delete(before);
    if (u.docs.size >= this.maxDocsPerUser) return void this.users.delete(userId);
    u.docs.set(seq, doc);
    u.seqOf.set(doc._id, seq);
  }

  /** Unpublished documents held for the user. */
  held(userId: string): number {
    return this.users.get(userId)?.docs.size ?? 0;
  }

  /** Fields set on a row without a new number (a `touch`: fetch bookkeeping). */
  touched(userId: string, id: string, set: Partial<TransactionDoc>): void {
    const u = this.users.get(userId);
    const seq = u?.seqOf.get(id);
    if (u && seq !== undefined) u.docs.set(seq, { ...u.docs.get(seq)!, ...set });
  }

  /**
   * Rows about to be written with these numbers by a writer that does not hold their documents: they are read from
   * the store, and so is the number each row had here before (the write may fail before it moves the row).
   */
  elsewhere(userId: string, rows: readonly { id: string; seq: number }[]): void {
    for (const r of rows) {
      const u = this.inRange(userId, r.seq);
      if (!u) return;
      const before = u.seqOf.get(r.id);
      if (before !== undefined) {
        u.docs.delete(before);
        u.seqOf.delete(r.id);
        u.fromStore.add(before);
      }
      u.fromStore.add(r.seq);
    }
  }

  /** The changes in (afterSeq, upTo], or undefined when the range is not wholly known here. */
  changes(userId: string, afterSeq: number, upTo: number): RememberedChanges | undefined {
    const u = this.users.get(userId);
    if (!u || afterSeq < u.start || upTo > u.end) return undefined;
    const docs = [...u.docs].filter(([s]) => s > afterSeq && s <= upTo).sort(([a], [b]) => a - b);
    return { docs: docs.map(([, d]) => d), fromStore: [...u.fromStore].filter((s) => s > afterSeq && s <= upTo).sort((a, b) => a - b) };
  }

  /** Everything up to `seq` was published: its entries are dropped. */
  published(userId: string, seq: number): void {
    const u = this.users.get(userId);
    if (!u) return;
    for (const [s, d] of u.docs) {
      if (s > seq) continue;
      u.docs.delete(s);
      if (u.seqOf.get(d._id) === s) u.seqOf.delete(d._id);
    }
    for (const s of u.fromStore) if (s <= seq) u.fromStore.delete(s);
    if (u.docs.size === 0 && u.fromStore.size === 0 && u.end <= seq) this.users.delete(userId);
  }

  /** The user's changes are no longer known here (an erasure, a write that failed part-way). */
  forget(userId: string): void {
    this.users.delete(userId);
  }

  /** The consumer's partitions may have changed: nothing is known any more. */
  forgetAll(): void {
    this.users.clear();
  }

  /** Users and documents held (for tests and metrics). */
  size(): { users: number; docs: number } {
    let docs = 0;
    for (const u of this.users.values()) docs += u.docs.size;
    return { users: this.users.size, docs };
  }

  private inRange(userId: string, seq: number): UserFeed | undefined {
    const u = this.users.get(userId);
    if (u && seq > u.start && seq <= u.end) return u;
    // a number this memory did not see reserved: the user's range is unknown from here on
    if (u) this.users.delete(userId);
    return undefined;
  }
}
