/**
 * Lanes: the messages of one consumed Kafka batch of ais.enriched.v1, one lane per user (message key), each lane in
 * offset order. The consumer applies a batch's lanes at the same time (kafka/enriched.consumer.ts), so one user's
 * backfill on a partition no longer holds back the other users of that partition; a user's messages stay one after
 * another, in order, which is all the SINGLE WRITER PER USER needs. How many users a process applies at once, over
 * all its partitions, is bounded by `Slots` (the memory a user's turn holds is bounded per user).
 */
import type { KafkaMessage } from 'kafkajs';

/** The batch's message indexes grouped by key, each group in offset order, groups in the order of their first message. */
export function lanesOf(messages: readonly Pick<KafkaMessage, 'key'>[]): number[][] {
  const lanes = new Map<string, number[]>();
  messages.forEach((m, i) => {
    const key = m.key ? m.key.toString() : '';
    const lane = lanes.get(key);
    if (lane) lane.push(i);
    else lanes.set(key, [i]);
  });
  return [...lanes.values()];
}

/**
 * Resolves a batch's offsets in offset order while its messages finish in any order: an offset is resolved once it
 * and every offset before it in the batch have finished, so a commit never passes a message still being applied
 * (after a stop, what finished past the first unfinished one is delivered again, which applying tolerates).
 */
export class InOrderOffsets {
  private next = 0;
  private readonly finished: boolean[];

  constructor(
    private readonly offsets: readonly string[],
    private readonly resolve: (offset: string) => void,
  ) {
    this.finished = offsets.map(() => false);
  }

  /** Message `index` of the batch has finished (applied or dead-lettered). */
  finish(index: number): void {
    this.finished[index] = true;
    while (this.next < this.offsets.length && this.finished[this.next]) {
      this.resolve(this.offsets[this.next]!);
      this.next += 1;
    }
  }
}

/** A counting semaphore, first come first served: at most `size` holders at once. */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = Math.max(1, Math.floor(size));
  }

  async take(): Promise<void> {
    if (this.free > 0 && this.waiting.length === 0) {
      this.free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }

  /** Runs `fn` holding a slot. */
  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.take();
    try {
      return await fn();
    } finally {
      this.give();
    }
  }
}
