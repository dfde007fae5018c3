import { TOPICS, topicName } from '@ais/contracts-events';
import { fetcherV1 } from '@ais/contracts-proto-ts';
import { EventConsumer } from '@ais/platform-kafka';
import { MongoIdempotencyGuard } from '@ais/platform-mongo';
import { Service } from '@ais/platform-runtime';
import { loadConfig } from './config';
import { MongoCallBudgetStore } from './data/call-budget.store';
import { ProbeRepository } from './data/probe.model';
import { fetcherHandlers } from './grpc/fetcher.service';
import { subscribeDiagnostics } from './kafka/diagnostics.consumer';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('data-fetcher', config);
  try {
    const mongo = await service.mongo(config);
    const kafka = service.kafka(config);
    const prefix = config.KAFKA_TOPIC_PREFIX;
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, prefix, [TOPICS.connection, TOPICS.fetch, TOPICS.raw, TOPICS.diagnostics, TOPICS.deadLetter]);
    const producer = await service.producer(kafka);
    const probes = new ProbeRepository(mongo);
    const idempotency = new MongoIdempotencyGuard(mongo);
    await idempotency.ensureIndexes();
    // The unattended-call ledger is not used yet (issue 9); its indexes exist from the first start.
    await new MongoCallBudgetStore(mongo).ensureIndexes();
    const consumer = new EventConsumer(kafka, {
      groupId: config.KAFKA_GROUP_ID,
      logger: service.logger,
      producer,
      deadLetterTopic: topicName(TOPICS.deadLetter, prefix),
      idempotency,
    });
    subscribeDiagnostics(consumer, probes, prefix);
    service.lifecycle.on('intake', 'kafka-consumer', () => consumer.stop());
    service.readiness(() => consumer.healthy);
    const grpc = service.grpcServer().add('ais.fetcher.v1.FetcherService', fetcherV1.FetcherServiceService, fetcherHandlers({ probes }));
    await service.serve(grpc, config, () => consumer.start(service.kafkaStartup));
  } catch (error) {
    await service.fail(error);
  }
}

void main();
