/*
 * Operator command: lists the dead-letter topic and puts chosen records back on their source topic, byte for byte
 * with their original headers (the consumer then runs them again; e.g. data-fetcher's dead-lettered fetch work is
 * a `fetch_requested` event on ais.fetch.v1, which data-fetcher runs when it reads it).
 *
 *   npm run dlq -- [--env <stack.env>] [--prefix <KAFKA_TOPIC_PREFIX>] [--source <topic>] [--code <error code>]
 *                  [--event-id <id>] [--since <ISO time>] [--limit <n>] [--replay]
 *
 * Without --replay it only lists what matches (a dry run). Brokers come from KAFKA_BROKERS, else the env file
 * (default $AIS_STACK_DIR/stack.env, else .infra/stack.env). It reads the topic up to its end as of the start and
 * stops; it commits no offsets, so listing twice shows the same records. Replaying twice replays twice: the
 * consumers are idempotent on the event id, so a second replay of one record is skipped there.
 */
import { HEADERS, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1 } from '@ais/contracts-proto-ts';
import { createLogger } from '@ais/platform-logger';
import { createKafka, EventProducer, replayDeadLetter } from '@ais/platform-kafka';
import { readStackEnv } from '@ais/testing';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';

export interface DlqFilter {
  source?: string | undefined;
  code?: string | undefined;
  eventId?: string | undefined;
  since?: Date | undefined;
}

export function matches(record: eventsV1.DeadLetter, f: DlqFilter): boolean {
  if (f.source && record.sourceTopic !== f.source) return false;
  if (f.code && record.errorCode !== f.code) return false;
  if (f.eventId && record.eventId !== f.eventId) return false;
  if (f.since && (!record.failedAt || record.failedAt.getTime() < f.since.getTime())) return false;
  return true;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const brokers = process.env['KAFKA_BROKERS']
    ? process.env['KAFKA_BROKERS'].split(',')
    : readStackEnv(arg('--env') ?? join(resolve(process.env['AIS_STACK_DIR'] ?? join(__dirname, '../../.infra')), 'stack.env')).KAFKA_BROKERS.split(',');
  const prefix = arg('--prefix') ?? process.env['KAFKA_TOPIC_PREFIX'] ?? '';
  const topic = topicName(TOPICS.deadLetter, prefix);
  const since = arg('--since');
  const filter: DlqFilter = { source: arg('--source'), code: arg('--code'), eventId: arg('--event-id'), since: since ? new Date(since) : undefined };
  if (filter.since && Number.isNaN(filter.since.getTime())) throw new Error('--since must be an ISO date-time');
  const limit = Number(arg('--limit') ?? Number.MAX_SAFE_INTEGER);
  const replay = process.argv.includes('--replay');

  const kafka = createKafka({ brokers, clientId: 'dlq-replay', connectionTimeoutMs: 10_000, logger: createLogger({ service: 'dlq-replay', level: 'warn' }) });
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  await admin.disconnect();
  const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
  const producer = new EventProducer(kafka, { service: 'dlq-replay' });
  if (replay) await producer.connect();
  const consumer = kafka.consumer({ groupId: `dlq-replay-${randomUUID()}`, maxWaitTimeInMs: 500 });
  let seen = 0;
  let chosen = 0;
  try {
    if (pending.size > 0) {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      let finish: () => void = () => undefined;
      const done = new Promise<void>((r) => (finish = r));
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (!pending.has(partition)) return;
          if (BigInt(message.offset) + 1n >= ends.get(partition)!) pending.delete(partition);
          seen += 1;
          if (message.value && chosen < limit) {
            const record = eventsV1.DeadLetter.decode(message.value);
            if (matches(record, filter)) {
              chosen += 1;
              const reason = message.headers?.[HEADERS.deadLetterReason]?.toString() ?? record.errorMessage;
              process.stdout.write(
                `${replay ? 'replay' : 'match '} ${record.failedAt?.toISOString() ?? '-'} ${record.sourceTopic} event=${record.eventId} code=${record.errorCode} reason=${JSON.stringify(reason.slice(0, 200))}\n`,
              );
              if (replay) await replayDeadLetter(producer, record);
            }
          }
          if (pending.size === 0) finish();
        },
      });
      await done;
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
    if (replay) await producer.disconnect();
  }
  process.stdout.write(`[dlq] ${topic}: ${seen} record(s) read, ${chosen} ${replay ? 'replayed' : 'matching (dry run: add --replay to replay them)'}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`[dlq] FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
