/**
 * The start-up and shutdown skeleton every service shares, in the order STYLE.md §2 and §20 fix:
 * config (already parsed by the caller) → logger → connections → servers/consumers → signal handlers, and on
 * SIGTERM: not ready → stop intake → drain → flush (producer, Mongo, telemetry) → exit, with a hard timeout.
 *
 * Start-up failures (unreachable server, bad credentials) end the process once with a clear log line and exit
 * status 1; nothing loops.
 */
import { topicName, type TopicName } from '@ais/contracts-events';
import { kafkaSecurityFrom, mongoSecurityFrom } from '@ais/platform-config';
import { isAppError } from '@ais/platform-errors';
import { GrpcServer, grpcTlsFrom, type GrpcTls, type GrpcTlsSettings } from '@ais/platform-grpc';
import { adminLagSource, createKafka, ensureTopics, EventProducer, watchConsumerLag, withStartupRetry } from '@ais/platform-kafka';
import { Lifecycle } from '@ais/platform-lifecycle';
import { createLogger, type Logger } from '@ais/platform-logger';
import { connectMongo, type Connection } from '@ais/platform-mongo';
import { Vault } from '@ais/platform-vault';
import { startMetrics, telemetry, type MetricsHandle } from '@ais/platform-telemetry';
import type { Kafka } from 'kafkajs';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** .proto files for gRPC reflection: next to a bundled service (dist/apps/<name>/proto) or the repo's /proto. */
export const PROTO_ROOT = [join(__dirname, 'proto'), resolve(__dirname, '../../../../proto')].find((dir) => existsSync(dir)) ?? '';

export interface BaseConfig {
  NODE_ENV: string;
  DEPLOYMENT_ENVIRONMENT: string;
  LOG_LEVEL: string;
  SHUTDOWN_TIMEOUT_MS: number;
  /** How long start-up keeps retrying a Kafka broker that is not ready (per step: topics, producer, group join). */
  STARTUP_TIMEOUT_MS: number;
  /** The Prometheus endpoint (metricsSchema); absent or 0 = off. */
  METRICS_HOST?: string;
  METRICS_PORT?: number;
}

export class Service {
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  private readonly readyChecks: Array<() => boolean> = [];
  private readonly forceHooks: Array<() => void> = [];
  private exitCode: number | undefined;
  private kafkaBrokers: readonly string[] = [];
  private tls: GrpcTls | undefined;
  /** The metrics endpoint, started with the service (instruments record from then on) and stopped at flush. */
  readonly metrics: MetricsHandle;

  constructor(
    readonly name: string,
    readonly config: BaseConfig,
    readonly version = '0.1.0',
  ) {
    this.logger = createLogger({ service: name, version, environment: config.DEPLOYMENT_ENVIRONMENT, level: config.LOG_LEVEL });
    this.lifecycle = new Lifecycle({
      timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
      logger: this.logger,
      onTimeout: () => this.forceHooks.forEach((force) => force()),
      exit: (code) => process.exit(this.exitCode ?? code),
      // Last resort, from another thread: SIGKILL 2 s after the hard timeout if the main thread is stuck.
      watchdogGraceMs: 2_000,
    });
    this.lifecycle.on('flush', 'telemetry', () => telemetry().shutdown());
    this.metrics = startMetrics({
      serviceName: name,
      serviceVersion: version,
      environment: config.DEPLOYMENT_ENVIRONMENT,
      host: config.METRICS_HOST ?? '127.0.0.1',
      port: config.METRICS_PORT ?? 0,
    });
    if (this.metrics.enabled) this.lifecycle.on('flush', 'metrics', () => this.metrics.shutdown());
  }

  /** Adds a readiness condition (all must hold for /readyz or gRPC SERVING). */
  readiness(check: () => boolean): void {
    this.readyChecks.push(check);
  }

  get ready(): boolean {
    return !this.lifecycle.shuttingDown && this.readyChecks.every((c) => c());
  }

  async mongo(cfg: { MONGODB_URI: string; MONGODB_DB: string; MONGODB_CONNECT_TIMEOUT_MS: number } & Parameters<typeof mongoSecurityFrom>[0]): Promise<Connection> {
    const conn = await connectMongo({ uri: cfg.MONGODB_URI, db: cfg.MONGODB_DB, logger: this.logger, connectTimeoutMs: cfg.MONGODB_CONNECT_TIMEOUT_MS, security: mongoSecurityFrom(cfg) });
    this.lifecycle.on('flush', 'mongo', () => conn.close());
    this.readiness(() => conn.readyState === 1);
    return conn;
  }

  kafka(cfg: { KAFKA_BROKERS: string[]; KAFKA_CLIENT_ID: string; KAFKA_CONNECT_TIMEOUT_MS: number } & Parameters<typeof kafkaSecurityFrom>[0]): Kafka {
    this.kafkaBrokers = cfg.KAFKA_BROKERS;
    return createKafka({ brokers: cfg.KAFKA_BROKERS, clientId: cfg.KAFKA_CLIENT_ID, logger: this.logger, connectionTimeoutMs: cfg.KAFKA_CONNECT_TIMEOUT_MS, security: kafkaSecurityFrom(cfg) });
  }

  /** Budget and brokers for Kafka start-up steps (e.g. `consumer.start(service.kafkaStartup)`). */
  get kafkaStartup(): { budgetMs: number; brokers: readonly string[] } {
    return { budgetMs: this.config.STARTUP_TIMEOUT_MS, brokers: this.kafkaBrokers };
  }

  /**
   * Creates missing topics and waits for their partitions' leaders (development and tests; production provisions
   * topics out of band). Safe when topics already exist or another process creates them at the same time; a broker
   * that is still starting is retried within STARTUP_TIMEOUT_MS.
   */
  async topics(kafka: Kafka, prefix: string, names: TopicName[], partitions = 3): Promise<void> {
    const created = await ensureTopics(
      kafka,
      names.map((n) => ({ topic: topicName(n, prefix) })),
      { defaultPartitions: partitions, budgetMs: this.config.STARTUP_TIMEOUT_MS, brokers: this.kafkaBrokers, logger: this.logger },
    );
    if (created.length > 0) this.logger.info({ created }, 'kafka topics created');
  }

  async producer(kafka: Kafka): Promise<EventProducer> {
    const producer = new EventProducer(kafka, { service: this.name });
    await withStartupRetry(() => producer.connect(), { step: 'producer connection', ...this.kafkaStartup });
    this.lifecycle.on('flush', 'kafka-producer', () => producer.disconnect());
    return producer;
  }

  /** Reports the group's lag on the metrics endpoint (ais_kafka_consumer_lag, read at most every 5 s); stopped at flush. */
  consumerLag(kafka: Kafka, groupId: string, topics: readonly string[]): void {
    if (!this.metrics.enabled) return;
    const watch = watchConsumerLag({ source: adminLagSource(kafka), groupId, topics: () => [...topics], logger: this.logger });
    this.lifecycle.on('flush', 'consumer-lag', () => watch.stop());
  }

  async vault(cfg: { VAULT_ADDR: string; VAULT_TOKEN: string; VAULT_KV_MOUNT: string; VAULT_TRANSIT_MOUNT: string; VAULT_TIMEOUT_MS: number }): Promise<Vault> {
    const vault = new Vault({ addr: cfg.VAULT_ADDR, token: cfg.VAULT_TOKEN, kvMount: cfg.VAULT_KV_MOUNT, transitMount: cfg.VAULT_TRANSIT_MOUNT, timeoutMs: cfg.VAULT_TIMEOUT_MS });
    if (!(await vault.healthy())) {
      throw Object.assign(new Error(`Vault at ${cfg.VAULT_ADDR} is unreachable, sealed or not initialised`), { code: 'vault_unavailable' });
    }
    return vault;
  }

  /**
   * The process's gRPC transport security (GRPC_TLS): with `vault`, its first certificate is issued here (start-up
   * fails clearly when Vault refuses) and renewed in the background until shutdown. One per process.
   */
  async grpcTls(
    cfg: GrpcTlsSettings & { VAULT_ADDR?: string | undefined; VAULT_TOKEN?: string | undefined; VAULT_KV_MOUNT: string; VAULT_TRANSIT_MOUNT: string; VAULT_TIMEOUT_MS: number },
    vault?: Vault,
  ): Promise<GrpcTls> {
    if (this.tls) return this.tls;
    let issuer = vault;
    if (cfg.GRPC_TLS === 'vault' && !issuer) {
      issuer = await this.vault({ ...cfg, VAULT_ADDR: cfg.VAULT_ADDR ?? '', VAULT_TOKEN: cfg.VAULT_TOKEN ?? '' });
    }
    try {
      this.tls = await grpcTlsFrom(cfg, this.name, this.logger, issuer);
    } catch (error) {
      const code = isAppError(error) ? error.code : 'grpc_tls_unavailable';
      const hint = cfg.GRPC_TLS === 'vault' ? ` (Vault PKI role ${cfg.GRPC_TLS_PKI_MOUNT}/roles/${cfg.GRPC_TLS_PKI_ROLE || this.name}; see docs/SECURITY.md)` : '';
      throw Object.assign(new Error(`gRPC TLS (${cfg.GRPC_TLS}) could not start: ${(error as Error).message}${hint}`), { code });
    }
    const tls = this.tls;
    this.lifecycle.on('flush', 'grpc-tls', () => tls.close());
    return tls;
  }

  grpcServer(tls: GrpcTls): GrpcServer {
    const server = new GrpcServer({ logger: this.logger, tls, ...(PROTO_ROOT ? { reflectionProtoRoot: PROTO_ROOT } : {}) });
    this.lifecycle.on('readiness', 'grpc-health', () => server.setServing('NOT_SERVING'));
    this.lifecycle.on('intake', 'grpc-server', () => server.shutdown());
    this.forceHooks.push(() => server.forceShutdown());
    return server;
  }

  /** Binds the gRPC server, flips health to SERVING and logs `service ready` with the port. */
  async serve(server: GrpcServer, cfg: { GRPC_HOST: string; GRPC_PORT: number }, before?: () => Promise<void>): Promise<number> {
    await this.metrics.listening;
    const port = await server.listen(cfg.GRPC_HOST, cfg.GRPC_PORT);
    if (before) await before();
    server.setServing('SERVING');
    this.started({ grpcPort: port });
    return port;
  }

  /** Marks the service started: installs signal handlers and logs one `service ready` line with its endpoints. */
  started(endpoints: Record<string, string | number>): void {
    this.lifecycle.installSignalHandlers();
    const metricsPort = this.metrics.enabled ? { metricsPort: this.config.METRICS_PORT ?? 0 } : {};
    this.logger.info({ ...endpoints, ...metricsPort, pid: process.pid }, 'service ready');
  }

  /** Logs a start-up failure once, clearly, and exits 1. */
  async fail(error: unknown): Promise<never> {
    const code = isAppError(error) ? error.code : ((error as { code?: string }).code ?? 'startup_failed');
    this.logger.fatal({ err: error, code }, `start-up failed: ${(error as Error).message}`);
    this.exitCode = 1;
    await this.lifecycle.shutdown('startup-failed').catch(() => undefined);
    process.exit(1);
  }
}

