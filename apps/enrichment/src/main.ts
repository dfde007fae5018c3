import { TOPICS, topicName } from '@ais/contracts-events';
import { enrichmentV1 } from '@ais/contracts-proto-ts';
import { Service } from '@ais/platform-runtime';
import { loadConfig } from './config';
import { UserRuleStore } from './data/user-rules.store';
import { enrichmentHandlers } from './grpc/enrichment.service';
import { RawEnrichmentConsumer } from './kafka/raw.consumer';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('enrichment', config);
  try {
    const mongo = await service.mongo(config);
    const rules = new UserRuleStore(mongo);
    await rules.ensureIndexes();
    const kafka = service.kafka(config);
    const prefix = config.KAFKA_TOPIC_PREFIX;
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, prefix, [TOPICS.raw, TOPICS.enriched, TOPICS.deadLetter]);
    const producer = await service.producer(kafka);
    const consumer = new RawEnrichmentConsumer(kafka, {
      groupId: config.KAFKA_GROUP_ID,
      prefix,
      producer,
      rules,
      logger: service.logger,
      deadLetterTopic: topicName(TOPICS.deadLetter, prefix),
      fromBeginning: config.KAFKA_FROM_BEGINNING,
      partitionsConsumedConcurrently: config.KAFKA_PARTITIONS_CONCURRENTLY,
      sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    });
    // Intake stops first (the current batch finishes and commits), then the producer and Mongo flush.
    service.lifecycle.on('intake', 'kafka-consumer', () => consumer.stop());
    service.readiness(() => consumer.healthy);
    service.consumerLag(kafka, config.KAFKA_GROUP_ID, [topicName(TOPICS.raw, prefix)]);
    const grpc = service.grpcServer(await service.grpcTls(config)).add('ais.enrichment.v1.EnrichmentService', enrichmentV1.EnrichmentServiceService, enrichmentHandlers({ rules, clock: { now: () => new Date() } }));
    await service.serve(grpc, config, () => consumer.start(service.kafkaStartup));
  } catch (error) {
    await service.fail(error);
  }
}

void main();
