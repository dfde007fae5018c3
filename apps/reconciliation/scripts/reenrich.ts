/*
 * Operator command: re-enriches stored history after an enrichment rules change.
 *
 *   node --require tsx/cjs apps/reconciliation/scripts/reenrich.ts --user <user id> | --all
 *
 * Reads reconciliation's configuration (MONGODB_URI, MONGODB_DB, KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, ENRICHMENT_ADDR,
 * GRPC_DEADLINE_MS, and the GRPC_TLS settings: it calls enrichment as reconciliation, with a certificate of that role), asks enrichment's CategorizeBatch for the stored transactions and publishes ReEnrichment
 * events on ais.enriched.v1; the running reconciliation consumer writes only what changed (data/reenrich.ts).
 */
import { enrichmentV1 } from '@ais/contracts-proto-ts';
import { createGrpcClient, grpcTlsFrom } from '@ais/platform-grpc';
import { createKafka, EventProducer } from '@ais/platform-kafka';
import { createLogger } from '@ais/platform-logger';
import { connectMongo } from '@ais/platform-mongo';
import { Vault } from '@ais/platform-vault';
import { loadConfig } from '../src/config';
import { reenrichAll, reenrichUser } from '../src/data/reenrich';
import { ReconciliationStore } from '../src/data/store';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const user = arg('--user');
  const all = process.argv.includes('--all');
  if (Boolean(user) === all) {
    process.stderr.write('usage: reenrich.ts --user <user id> | --all\n');
    process.exit(2);
  }
  const config = loadConfig();
  const logger = createLogger({ service: 'reconciliation-reenrich', level: config.LOG_LEVEL });
  const mongo = await connectMongo({ uri: config.MONGODB_URI, db: config.MONGODB_DB, logger, connectTimeoutMs: config.MONGODB_CONNECT_TIMEOUT_MS });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'reconciliation-reenrich', logger, connectionTimeoutMs: config.KAFKA_CONNECT_TIMEOUT_MS });
  const producer = new EventProducer(kafka, { service: 'reconciliation' });
  const vault = config.VAULT_ADDR && config.VAULT_TOKEN ? new Vault({ addr: config.VAULT_ADDR, token: config.VAULT_TOKEN, timeoutMs: config.VAULT_TIMEOUT_MS }) : undefined;
  const tls = await grpcTlsFrom(config, 'reconciliation', logger, vault);
  const enrichment = createGrpcClient(enrichmentV1.EnrichmentServiceClient, config.ENRICHMENT_ADDR, config.GRPC_DEADLINE_MS, tls.channel('enrichment'));
  try {
    await producer.connect();
    const deps = { store: new ReconciliationStore(mongo), enrichment, producer, logger, topicPrefix: config.KAFKA_TOPIC_PREFIX };
    const report = user ? await reenrichUser(deps, user) : await reenrichAll(deps);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    enrichment.close();
    tls.close();
    await producer.disconnect();
    await mongo.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`re-enrichment failed: ${(error as Error).message}\n`);
  process.exit(1);
});
