import { TOPICS } from '@ais/contracts-events';
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { Service } from '@ais/platform-runtime';
import { loadConfig } from './config';
import { ConnectionRepository, connectionModel } from './data/connection.model';
import { tokenVaultHandlers } from './grpc/token-vault.service';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('token-vault', config);
  try {
    const mongo = await service.mongo(config);
    await service.vault(config);
    const kafka = service.kafka(config);
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, config.KAFKA_TOPIC_PREFIX, [TOPICS.connection, TOPICS.diagnostics, TOPICS.deadLetter]);
    const producer = await service.producer(kafka);
    const connections = new ConnectionRepository(connectionModel(mongo));
    const grpc = service.grpcServer().add(
      'ais.tokenvault.v1.TokenVaultService',
      tokenvaultV1.TokenVaultServiceService,
      tokenVaultHandlers({ connections, producer, topicPrefix: config.KAFKA_TOPIC_PREFIX }),
    );
    await service.serve(grpc, config);
  } catch (error) {
    await service.fail(error);
  }
}

void main();
