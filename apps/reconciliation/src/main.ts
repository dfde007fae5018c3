import { TOPICS } from '@ais/contracts-events';
import { reconciliationV1 } from '@ais/contracts-proto-ts';
import { Service } from '@ais/platform-runtime';
import { loadConfig } from './config';
import { ReadQueries } from './data/queries';
import { ReconciliationStore } from './data/store';
import { reconciliationHandlers } from './grpc/reconciliation.service';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('reconciliation', config);
  try {
    const mongo = await service.mongo(config);
    const kafka = service.kafka(config);
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, config.KAFKA_TOPIC_PREFIX, [TOPICS.enriched, TOPICS.ledger, TOPICS.deadLetter]);
    const producer = await service.producer(kafka);
    const store = new ReconciliationStore(mongo);
    await store.ensureIndexes();
    const queries = new ReadQueries(store, mongo);
    await queries.ensureIndexes();
    const grpc = service
      .grpcServer()
      .add('ais.reconciliation.v1.ReconciliationService', reconciliationV1.ReconciliationServiceService, reconciliationHandlers({ queries, producer, topicPrefix: config.KAFKA_TOPIC_PREFIX, logger: service.logger }));
    await service.serve(grpc, config);
  } catch (error) {
    await service.fail(error);
  }
}

void main();
