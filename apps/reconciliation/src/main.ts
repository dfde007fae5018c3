import { TOPICS } from '@ais/contracts-events';
import { reconciliationV1 } from '@ais/contracts-proto-ts';
import { EventProducer, withStartupRetry } from '@ais/platform-kafka';
import { Service } from '@ais/platform-runtime';
import { loadConfig } from './config';
import { ChangeFeedPublisher } from './data/changefeed';
import { ReconciliationStore } from './data/store';
import { reconciliationHandlers } from './grpc/reconciliation.service';
import { EnrichedConsumer } from './kafka/enriched.consumer';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('reconciliation', config);
  try {
    const mongo = await service.mongo(config);
    const kafka = service.kafka(config);
    const prefix = config.KAFKA_TOPIC_PREFIX;
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, prefix, [TOPICS.enriched, TOPICS.connection, TOPICS.ledger, TOPICS.deadLetter]);
    // Shutdown order: consumers and the sweep stop (intake), then the producer (drain), then Mongo (flush).
    const producer = new EventProducer(kafka, { service: 'reconciliation' });
    await withStartupRetry(() => producer.connect(), { step: 'producer connection', ...service.kafkaStartup });
    service.lifecycle.on('drain', 'kafka-producer', () => producer.disconnect());
    const store = new ReconciliationStore(mongo);
    await store.ensureIndexes();

    const publisher = new ChangeFeedPublisher({ store, producer, logger: service.logger, topicPrefix: prefix });
    const consumer = new EnrichedConsumer({ kafka, store, producer, publisher, logger: service.logger, groupId: config.KAFKA_GROUP_ID, topicPrefix: prefix, fromBeginning: true });
    service.lifecycle.on('intake', 'kafka-consumer', async () => {
      await consumer.stop();
      await publisher.stop();
    });
    service.readiness(() => consumer.healthy);
    const grpc = service
      .grpcServer()
      .add('ais.reconciliation.v1.ReconciliationService', reconciliationV1.ReconciliationServiceService, reconciliationHandlers({ store }));
    await service.serve(grpc, config, async () => {
      await consumer.start(service.kafkaStartup);
      publisher.startSweep(config.CHANGEFEED_SWEEP_MS, config.CHANGEFEED_SWEEP_MIN_AGE_MS);
    });
  } catch (error) {
    await service.fail(error);
  }
}

void main();
