/**
 * Kafka client factory (kafkajs) with logs bridged into pino, plus topic administration.
 * kafkajs is in maintenance: everything else in the code base goes through this library.
 */
// first: kafkajs' producer must find the linear grouping in the module cache when it loads (group-messages.ts)
import './group-messages';
import { Kafka, logLevel, type ITopicConfig, type LogEntry, type Admin, type KafkaConfig, type SASLOptions } from 'kafkajs';
import { readFileSync } from 'node:fs';
import type { Logger } from '@ais/platform-logger';
import { fastProduceEncoding } from './produce-encoding';
import { fixRequestQueueTimerLoop } from './request-queue';
import { isAlreadyExists, withStartupRetry } from './startup';

// every Kafka client of the process, this library's or not: no timer loop on idle connections (request-queue.ts),
// produce requests written into one buffer (produce-encoding.ts), and a send's messages grouped by partition in
// linear time (group-messages.ts, installed by its import above)
fixRequestQueueTimerLoop();
fastProduceEncoding();

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  logger: Logger;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Transport security for production brokers (docs/SECURITY.md); absent = plaintext (the local stack). */
  security?: KafkaSecurity;
}

export interface KafkaSecurity {
  /** TLS to the brokers; `caFile` adds a private CA to the trusted ones. */
  tls?: { caFile?: string | undefined } | undefined;
  /** SASL with a per-service user; the password is read from a file (a mounted secret), never from the environment. */
  sasl?: { mechanism: 'scram-sha-256' | 'scram-sha-512' | 'plain'; username: string; passwordFile: string } | undefined;
}

/** kafkajs' `ssl` and `sasl` options for {@link KafkaSecurity} (files are read once, at start). */
export function kafkaSecurityOptions(security: KafkaSecurity | undefined): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (security?.tls) out.ssl = security.tls.caFile ? { ca: [readFileSync(security.tls.caFile, 'utf8')], rejectUnauthorized: true } : true;
  if (security?.sasl) {
    const password = readFileSync(security.sasl.passwordFile, 'utf8').trim();
    out.sasl = { mechanism: security.sasl.mechanism, username: security.sasl.username, password } as SASLOptions;
  }
  return out;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * kafkajs's retry of a request the broker did not answer (producers, consumers, the cluster's metadata): 200 ms,
 * doubling (±20%), at most 2 s apart, 20 times: over 30 s of patience in all, as before with 8 retries up to 10 s
 * apart, but a broker that is back is noticed within 2 s rather than 10 (after a broker restart of 13 s, producers
 * sat in a 10 s backoff with the broker up; docs/CHAOS.md, restart:kafka). The factor and multiplier are kafkajs's
 * defaults, set here because kafkajs takes others when NODE_ENV is `test`.
 */
export const KAFKA_RETRY = Object.freeze({ initialRetryTime: 200, retries: 20, maxRetryTime: 2_000, factor: 0.2, multiplier: 2 });

export function createKafka(settings: KafkaSettings): Kafka {
  const log = settings.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: settings.connectionTimeoutMs ?? 10_000,
    requestTimeout: settings.requestTimeoutMs ?? 30_000,
    retry: KAFKA_RETRY,
    ...kafkaSecurityOptions(settings.security),
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

export interface EnsureTopicsOptions {
  /** Partitions of topics created without `numPartitions`. Default 3. */
  defaultPartitions?: number;
  /** How long to keep retrying a broker that is not ready yet (ms). Default 10 000. */
  budgetMs?: number;
  /** Brokers, for the error message. */
  brokers?: readonly string[];
  logger?: Pick<Logger, 'warn'>;
}

/**
 * Creates missing topics and waits until every partition of every listed topic has a leader that serves it.
 * Idempotent and safe to race: a topic another process created first ("already exists") counts as created, and
 * the "not ready yet" errors of a broker that has just started are retried with backoff within `budgetMs`.
 * Resolves with the topics this call created.
 */
export async function ensureTopics(kafka: Kafka, topics: TopicSpec[], opts: EnsureTopicsOptions = {}): Promise<string[]> {
  const names = topics.map((t) => t.topic);
  const created = new Set<string>();
  const admin: Admin = kafka.admin({ retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 } });
  try {
    await withStartupRetry(
      async () => {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.topic));
        if (missing.length > 0) {
          try {
            const didCreate = await admin.createTopics({
              waitForLeaders: false,
              topics: missing.map((t) => ({
                topic: t.topic,
                numPartitions: t.numPartitions ?? opts.defaultPartitions ?? 3,
                replicationFactor: -1,
                ...(t.configEntries ? { configEntries: t.configEntries } : {}),
              })),
            });
            if (didCreate) missing.forEach((t) => created.add(t.topic));
          } catch (error) {
            if (!isAlreadyExists(error)) throw error;
          }
        }
        await awaitLeaders(admin, names);
      },
      {
        step: `topics ${names.join(', ')}`,
        brokers: opts.brokers ?? [],
        budgetMs: opts.budgetMs ?? 10_000,
        onRetry: ({ attempt, delayMs, error }) =>
          opts.logger?.warn({ attempt, delayMs, err: error }, 'kafka not ready for topic provisioning yet; retrying'),
      },
    );
    return [...created];
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Throws a retriable error unless every partition of `topics` has a leader that answers for it. */
async function awaitLeaders(admin: Admin, topics: string[]): Promise<void> {
  const { topics: meta } = await admin.fetchTopicMetadata({ topics });
  for (const t of meta) {
    if (t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0)) {
      throw Object.assign(new Error(`topic ${t.name}: leader not available yet`), { retriable: true, type: 'LEADER_NOT_AVAILABLE' });
    }
  }
  // Metadata can name a leader before that broker serves the partition; ListOffsets goes to each leader and
  // fails with "does not host this topic-partition" until it does.
  for (const t of topics) await admin.fetchTopicOffsets(t);
}
