import { TOPICS } from '@ais/contracts-events';
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { clockFromSpec } from '@ais/platform-config';
import { Leases } from '@ais/platform-mongo';
import { Service } from '@ais/platform-runtime';
import { loadConfig } from './config';
import { ConnectionRepository, connectionModel } from './data/connection.model';
import { VaultTokenCipher } from './data/token-cipher';
import { trueLayerFromVault } from './data/truelayer';
import { ConnectionService } from './domain/connection-service';
import { tokenVaultHandlers } from './grpc/token-vault.service';
import { KafkaConnectionEvents } from './kafka/connection-events';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('token-vault', config);
  try {
    const base = clockFromSpec(config.CLOCK);
    const clock = { now: () => new Date(base.now()) };
    const mongo = await service.mongo(config);
    const vault = await service.vault(config);
    const cipher = new VaultTokenCipher(vault, config.TOKEN_TRANSIT_KEY);
    await cipher.init();
    const kafka = service.kafka(config);
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, config.KAFKA_TOPIC_PREFIX, [TOPICS.connection, TOPICS.diagnostics, TOPICS.deadLetter]);
    const producer = await service.producer(kafka);
    const leases = new Leases(mongo);
    await leases.ensureIndexes();
    const connections = new ConnectionService(
      new ConnectionRepository(connectionModel(mongo)),
      leases,
      cipher,
      trueLayerFromVault(vault, {
        env: config.TRUELAYER_ENV,
        authUrl: config.TRUELAYER_AUTH_URL,
        apiUrl: config.TRUELAYER_API_URL,
        credentialsPath: config.TRUELAYER_CREDENTIALS_PATH,
        timeoutMs: config.TRUELAYER_TIMEOUT_MS,
        now: () => base.now(),
      }, config.TRUELAYER_CREDENTIALS_SOURCE === 'env' ? { client_id: config.TRUELAYER_CLIENT_ID!, client_secret: config.TRUELAYER_CLIENT_SECRET! } : undefined),
      new KafkaConnectionEvents(producer, config.KAFKA_TOPIC_PREFIX),
      {
        refreshAheadMs: config.REFRESH_AHEAD_MS,
        lockMs: config.REFRESH_LOCK_MS,
        keepAliveAfterMs: config.KEEPALIVE_AFTER_MS,
        horizonsDays: config.CONSENT_EXPIRY_HORIZONS_DAYS,
        reconsentWindowDays: config.RECONSENT_WINDOW_DAYS,
        jobIntervalMs: Math.max(config.JOBS_INTERVAL_MS, 1_000),
        tokenCacheTtlMs: config.TOKEN_CACHE_TTL_MS,
        retention: { mode: config.DATA_RETENTION, days: config.DATA_RETENTION_DAYS },
      },
      service.logger,
      clock,
    );
    const grpc = service.grpcServer(await service.grpcTls(config, vault)).add(
      'ais.tokenvault.v1.TokenVaultService',
      tokenvaultV1.TokenVaultServiceService,
      tokenVaultHandlers({ connections, producer, topicPrefix: config.KAFKA_TOPIC_PREFIX }),
    );
    if (config.JOBS_INTERVAL_MS > 0) {
      let running: Promise<unknown> = Promise.resolve();
      const timer = setInterval(() => {
        running = connections.runJobs().catch((err: unknown) => service.logger.error({ err }, 'background jobs failed'));
      }, config.JOBS_INTERVAL_MS);
      timer.unref();
      service.lifecycle.on('intake', 'jobs', () => clearInterval(timer));
      service.lifecycle.on('drain', 'jobs', () => running.then(() => undefined));
    }
    if (config.TOKEN_REWRAP_INTERVAL_MS > 0) {
      const owner = `rewrap-${process.pid}-${Date.now()}`;
      const rewrap = async () => {
        if (!(await leases.acquire('rewrap', owner, config.TOKEN_REWRAP_INTERVAL_MS))) return;
        const n = await connections.rewrapTokens();
        service.logger.info({ rewrapped: n }, 'token ciphertexts rewrapped to the newest key version');
      };
      const timer = setInterval(() => void rewrap().catch((err: unknown) => service.logger.error({ err }, 'rewrap failed')), config.TOKEN_REWRAP_INTERVAL_MS);
      timer.unref();
      service.lifecycle.on('intake', 'rewrap', () => clearInterval(timer));
    }
    await service.serve(grpc, config);
  } catch (error) {
    await service.fail(error);
  }
}

void main();
