/**
 * Kafka client factory (kafkajs) with logs bridged into pino, plus topic administration.
 * kafkajs is in maintenance: everything else in the code base goes through this library.
 */
import { Kafka, logLevel, type ITopicConfig, type LogEntry, type Admin } from 'kafkajs';
import type { Logger } from '@ais/platform-logger';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  logger: Logger;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(settings: KafkaSettings): Kafka {
  const log = settings.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: settings.connectionTimeoutMs ?? 10_000,
    requestTimeout: settings.requestTimeoutMs ?? 30_000,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 10_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // Broker-side noise during rebalances is WARN in kafkajs; keep it, but structured.
        log[LEVELS[level] ?? 'info']({ namespace, ...rest }, message);
      },
  });
}

export interface TopicSpec {
  topic: string;
  numPartitions?: number;
  configEntries?: ITopicConfig['configEntries'];
}

/** Creates missing topics and waits for their leaders. Existing topics are left as they are. */
export async function ensureTopics(kafka: Kafka, topics: TopicSpec[], defaultPartitions = 3): Promise<string[]> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.topic,
          numPartitions: t.numPartitions ?? defaultPartitions,
          replicationFactor: -1,
          ...(t.configEntries ? { configEntries: t.configEntries } : {}),
        })),
      });
    }
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}
