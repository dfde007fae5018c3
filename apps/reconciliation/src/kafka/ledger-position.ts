/**
 * Where a user's changes stand on ais.ledger.v1, for the change-feed publisher's exact resume (data/changefeed.ts,
 * "Delivery guarantee"): the user's partition, a lower bound of a partition's end (anything produced from now on
 * lands at or after it), and, after a run that may have produced without recording it (a crash), the highest
 * sequence number of the user found on the partition from a given offset to its current end.
 *
 * That read-back is rare (a publish run in flight when its process died, or when its user's partition moved away) and
 * reads only what was produced on one partition since the interrupted run began. kafkajs has no fetch without a
 * consumer group, so it joins a throwaway group (one member, no commits), seeks the partition and reads to the end
 * measured before it started; the group is deleted after.
 */
import { bindings } from '@ais/contracts-events';
import { AppError } from '@ais/platform-errors';
import { partitionOfKey } from '@ais/platform-kafka';
import type { Logger } from '@ais/platform-logger';
import type { Admin, Kafka } from 'kafkajs';
import { randomUUID } from 'node:crypto';

export interface LedgerPosition {
  /** The ledger partition of the user (the producers' partitioner; ais.ledger.v1 is keyed by user id). */
  partitionOf(userId: string): Promise<number>;
  /** An offset at or before where the next record produced to `partition` lands. */
  endBound(partition: number): Promise<number>;
  /** A produce to `partition` landed at `offset` (keeps `endBound` fresh without asking the broker). */
  landed(partition: number, offset: number): void;
  /** The highest `seq` of the user's events on `partition` from offset `from` to its end now (0 when none). */
  highestSeq(userId: string, partition: number, from: number): Promise<number>;
  close(): Promise<void>;
}

export interface KafkaLedgerPositionOptions {
  kafka: Kafka;
  topicPrefix?: string;
  /** Names the throwaway read-back groups (`<groupId>-ledger-readback-<uuid>`). */
  groupId: string;
  logger: Logger;
  /** Longest a read-back may take before it fails (retriable: the run is retried, nothing is produced meanwhile). */
  readTimeoutMs?: number;
}

export class KafkaLedgerPosition implements LedgerPosition {
  private readonly topic: string;
  private readonly codec: ReturnType<typeof bindings.ledger>['codec'];
  private admin: Promise<Admin> | undefined;
  private partitions: number | undefined;
  /** Per partition, an offset no later than its end: the last one its end was read at or a produce landed at. */
  private readonly ends = new Map<number, number>();

  constructor(private readonly o: KafkaLedgerPositionOptions) {
    const b = bindings.ledger(o.topicPrefix ?? '');
    this.topic = b.topic;
    this.codec = b.codec;
  }

  private connected(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.o.kafka.admin();
      this.admin = admin.connect().then(
        () => admin,
        (error: unknown) => {
          this.admin = undefined;
          throw error;
        },
      );
    }
    return this.admin;
  }

  /** The partitions' end offsets now (the high watermarks). */
  private async endsNow(): Promise<Map<number, number>> {
    const offsets = await (await this.connected()).fetchTopicOffsets(this.topic);
    this.partitions = offsets.length;
    return new Map(offsets.map((p) => [p.partition, Number(p.high)]));
  }

  async partitionOf(userId: string): Promise<number> {
    if (this.partitions === undefined) await this.endsNow();
    return partitionOfKey(userId, this.partitions!);
  }

  async endBound(partition: number): Promise<number> {
    const known = this.ends.get(partition);
    if (known !== undefined) return known;
    const ends = await this.endsNow();
    for (const [p, end] of ends) this.landed(p, end);
    return this.ends.get(partition) ?? 0;
  }

  landed(partition: number, offset: number): void {
    if (offset > (this.ends.get(partition) ?? -1)) this.ends.set(partition, offset);
  }

  async highestSeq(userId: string, partition: number, from: number): Promise<number> {
    const end = (await this.endsNow()).get(partition) ?? 0;
    this.landed(partition, end);
    if (from >= end) return 0;
    const groupId = `${this.o.groupId}-ledger-readback-${randomUUID()}`;
    const consumer = this.o.kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
    let highest = 0;
    let read = 0;
    const started = Date.now();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: false });
      let resolve: () => void = () => undefined;
      const done = new Promise<void>((r) => (resolve = r));
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (batch.partition !== partition) return;
          for (const m of batch.messages) {
            const offset = Number(m.offset);
            if (offset < from) continue;
            if (offset >= end) return resolve();
            read += 1;
            if (m.key?.toString() === userId && m.value) highest = Math.max(highest, Number(this.codec.decode(m.value).seq));
            if (offset === end - 1) return resolve();
          }
        },
      });
      // applied once the group assigns the partition (kafkajs keeps a seek made after `run` until then)
      consumer.seek({ topic: this.topic, partition, offset: String(from) });
      const timeoutMs = this.o.readTimeoutMs ?? 60_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      const outcome = await Promise.race([done, timedOut]).finally(() => clearTimeout(timer));
      if (outcome === 'timeout') {
        throw new AppError({ code: 'ledger_read_back_timeout', message: `reading ais.ledger.v1 partition ${partition} from ${from} to ${end} took over ${timeoutMs} ms`, kind: 'unavailable', retriable: true });
      }
      this.o.logger.info({ userId, partition, from, end, read, highestSeq: highest, ms: Date.now() - started }, 'change feed: read back what an interrupted run published');
      return highest;
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await this.connected()
        .then((admin) => admin.deleteGroups([groupId]))
        .catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    if (admin) await (await admin.catch(() => undefined))?.disconnect();
  }
}
