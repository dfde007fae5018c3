/** Kafka helpers shared by the benchmarks. */
import type { Admin, Kafka } from 'kafkajs';

/** High watermark of every partition of `topic`. */
export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Whether consumer group `groupId` has committed the high watermark of every partition of `topic` (read now). */
export async function committedToEnd(admin: Admin, groupId: string, topic: string): Promise<boolean> {
  const ends = (await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)] as const);
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committed = new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  return ends.every(([p, high]) => high === 0n || (committed.get(p) ?? -1n) >= high);
}
