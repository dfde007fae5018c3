/**
 * The one topic-provisioning step that `npm start`, CI and the integration tests share: creates every platform
 * topic (with an optional prefix) that is missing and waits until each partition's leader serves it, retrying
 * a broker that has only just started. Idempotent; safe to run while services create the same topics.
 */
import { ALL_TOPICS, topicName, type TopicName } from '@ais/contracts-events';
import { createKafka, ensureTopics } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';

export interface ProvisionOptions {
  /** Comma-separated host:port list (stack.env's KAFKA_BROKERS). */
  brokers: string;
  /** Topic prefix (KAFKA_TOPIC_PREFIX); none by default. */
  prefix?: string;
  topics?: readonly TopicName[];
  /** Partitions per topic (the services' default: 3). */
  partitions?: number;
  /** How long to wait for a broker that is not ready (default 30 s). */
  budgetMs?: number;
}

/** Resolves with the topics it created (existing ones are left as they are). */
export async function provisionTopics(options: ProvisionOptions): Promise<string[]> {
  const brokers = options.brokers.split(',').map((b) => b.trim()).filter(Boolean);
  // Quiet: a broker that is still starting makes kafkajs log every retried request; a final failure is thrown.
  const logger = createLogger({ service: 'provision-topics', level: 'silent' });
  const kafka = createKafka({ brokers, clientId: 'ais-provision-topics', logger, connectionTimeoutMs: 3_000 });
  return ensureTopics(
    kafka,
    (options.topics ?? ALL_TOPICS).map((t) => ({ topic: topicName(t, options.prefix ?? '') })),
    { defaultPartitions: options.partitions ?? 3, budgetMs: options.budgetMs ?? 30_000, brokers, logger },
  );
}
