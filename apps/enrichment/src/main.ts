import { TOPICS } from '@ais/contracts-events';
import { enrichmentV1 } from '@ais/contracts-proto-ts';
import { Service } from '@ais/platform-runtime';
import { loadConfig } from './config';
import { enrichmentHandlers } from './grpc/enrichment.service';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('enrichment', config);
  try {
    await service.mongo(config);
    const kafka = service.kafka(config);
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, config.KAFKA_TOPIC_PREFIX, [TOPICS.raw, TOPICS.enriched, TOPICS.deadLetter]);
    await service.producer(kafka);
    const grpc = service.grpcServer().add('ais.enrichment.v1.EnrichmentService', enrichmentV1.EnrichmentServiceService, enrichmentHandlers());
    await service.serve(grpc, config);
  } catch (error) {
    await service.fail(error);
  }
}

void main();
