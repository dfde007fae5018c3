/**
 * Follows the change feed on Kafka: ais.ledger.v1 (docs/asyncapi.json), key = user id, values ChangeEvent
 * (protobuf). Each event is applied to its user's replica (skipped when its seq was applied already: delivery is at
 * least once), and a batch's replicas are saved before its offsets are committed, so a crash re-delivers at most
 * what was not saved, and the re-delivered events are skipped by their seq.
 */
import { eventsV1 } from '@ais/contracts-proto-ts';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { applyChangeEvent, type Replica } from './replica';
import { loadReplica, saveReplica, stateFileOf } from './state-file';

export interface KafkaFeedOptions {
  brokers: string[];
  /** The deployment's KAFKA_TOPIC_PREFIX, if any. */
  topicPrefix?: string;
  groupId: string;
  /** Directory of the replicas (one file per user). */
  stateDir: string;
  /** Only these users (default: every user on the topic). */
  users?: string[];
  /** Called after each event is applied (the replica is saved at the end of the event's batch). */
  onEvent?: (event: eventsV1.ChangeEvent, replica: Replica) => void;
}

export async function startKafkaFeed(o: KafkaFeedOptions): Promise<{ stop(): Promise<void> }> {
  const topic = o.topicPrefix ? `${o.topicPrefix}.ais.ledger.v1` : 'ais.ledger.v1';
  const kafka = new Kafka({ clientId: `change-feed-consumer-${o.groupId}`, brokers: o.brokers, logLevel: logLevel.NOTHING });
  const consumer: Consumer = kafka.consumer({ groupId: o.groupId, maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  /** The replicas this process holds (loaded once; this group member is their only writer). */
  const replicas = new Map<string, Replica>();
  const replicaOf = (userId: string): Replica => replicas.get(userId) ?? loadReplica(stateFileOf(o.stateDir, userId), userId);
  await consumer.run({
    // a batch is applied in memory and its replicas saved before kafkajs commits its offsets (when this returns)
    eachBatch: async ({ batch, heartbeat }) => {
      const touched = new Set<string>();
      for (const message of batch.messages) {
        if (!message.value) continue;
        const event = eventsV1.ChangeEvent.decode(message.value);
        if (o.users && !o.users.includes(event.userId)) continue;
        const replica = applyChangeEvent(replicaOf(event.userId), event, eventsV1.ChangeEvent.toJSON(event) as Record<string, unknown>);
        replicas.set(event.userId, replica);
        touched.add(event.userId);
        o.onEvent?.(event, replica);
      }
      for (const userId of touched) saveReplica(stateFileOf(o.stateDir, userId), replicas.get(userId)!);
      await heartbeat();
    },
  });
  return { stop: () => consumer.disconnect() };
}
