import { randomUUID } from 'node:crypto';
import { bindings, EVENT_TYPES, HEADERS, TOPICS, topicName } from '@ais/contracts-events';
import { eventsV1, fetcherV1, tokenvaultV1 } from '@ais/contracts-proto-ts';
import { clockFromSpec } from '@ais/platform-config';
import { createGrpcClient } from '@ais/platform-grpc';
import { EventConsumer, headersFor, newMeta } from '@ais/platform-kafka';
import { registerSecret } from '@ais/platform-logger';
import { Leases, MongoIdempotencyGuard } from '@ais/platform-mongo';
import { Service } from '@ais/platform-runtime';
import { createTrueLayerDataClient, environmentFor } from '@ais/truelayer-client';
import { trace } from '@opentelemetry/api';
import { errorPolicyOptions, fetcherSettings, loadConfig } from './config';
import { MongoCallBudgetStore } from './data/call-budget.store';
import { FetchStateStore } from './data/fetch-state.store';
import { ProbeRepository } from './data/probe.model';
import { CallBudget } from './domain/call-budget';
import { CircuitBreakers, ErrorPolicy } from './domain/error-policy';
import { FetchMetrics } from './domain/fetch-metrics';
import { Fetcher, kafkaRawSink, type DeadLetterSink } from './domain/fetcher';
import { Scheduler } from './domain/scheduler';
import { fetcherHandlers } from './grpc/fetcher.service';
import { subscribeDiagnostics } from './kafka/diagnostics.consumer';
import { subscribeConnections, subscribeFetchWork } from './kafka/fetch.consumers';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('data-fetcher', config);
  try {
    // Business time (schedules, budget, journal): the real clock, or a scaled one shared with the simulator in tests.
    const base = clockFromSpec(config.CLOCK);
    const clock = { now: () => new Date(base.now()) };
    const instance = `data-fetcher-${process.pid}-${randomUUID().slice(0, 8)}`;
    const mongo = await service.mongo(config);
    const kafka = service.kafka(config);
    const prefix = config.KAFKA_TOPIC_PREFIX;
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, prefix, [TOPICS.connection, TOPICS.fetch, TOPICS.raw, TOPICS.diagnostics, TOPICS.deadLetter]);
    const producer = await service.producer(kafka);
    const probes = new ProbeRepository(mongo);
    const idempotency = new MongoIdempotencyGuard(mongo);
    await idempotency.ensureIndexes();
    const budgetStore = new MongoCallBudgetStore(mongo);
    await budgetStore.ensureIndexes();
    const store = new FetchStateStore(mongo, config.JOURNAL_RETENTION_MS);
    await store.ensureIndexes();
    const leases = new Leases(mongo);
    await leases.ensureIndexes();

    const tls = await service.grpcTls(config);
    /** Aborted when the service stops: calls that wait on a peer give up (see the token getter below). */
    const stopping = new AbortController();
    const tokenVault = createGrpcClient(tokenvaultV1.TokenVaultServiceClient, config.TOKEN_VAULT_ADDR, config.GRPC_DEADLINE_MS, tls.channel('token-vault'));
    const environment = environmentFor({ env: config.TRUELAYER_ENV, authUrl: config.TRUELAYER_AUTH_URL, apiUrl: config.TRUELAYER_API_URL });
    // The Data API needs only the user's bearer token: data-fetcher holds no client credentials (token-vault does).
    const truelayer = { data: createTrueLayerDataClient({ environment, timeoutMs: config.TRUELAYER_TIMEOUT_MS, now: () => clock.now().getTime() }) };

    const budget = new CallBudget(budgetStore, { clock, instance, safetyMarginMs: config.BUDGET_SAFETY_MARGIN_MS });
    const metrics = service.metrics.enabled ? new FetchMetrics() : undefined;
    if (metrics) service.lifecycle.on('flush', 'fetch-metrics', () => metrics.stop());
    const policy = new ErrorPolicy({ clock, random: Math.random, ...errorPolicyOptions(config) });
    const breakers = new CircuitBreakers({
      clock,
      failureThreshold: config.CIRCUIT_FAILURE_THRESHOLD,
      coolDownMs: config.CIRCUIT_COOL_DOWN_MS,
      onTransition: (t) => {
        metrics?.circuit(t);
        service.logger.warn({ providerId: t.providerId, from: t.from, to: t.to, failures: t.failures, reason: t.reason }, 'provider circuit breaker changed state');
        trace.getActiveSpan()?.addEvent('circuit_breaker', { 'ais.provider_id': t.providerId, 'ais.circuit.from': t.from, 'ais.circuit.to': t.to, 'ais.circuit.reason': t.reason });
      },
    });
    const fetchTopic = topicName(TOPICS.fetch, prefix);
    const deadLetterTopic = topicName(TOPICS.deadLetter, prefix);
    const deadLetters: DeadLetterSink = {
      async send(work, code, reason) {
        const event: eventsV1.FetchEvent = { meta: newMeta('data-fetcher', EVENT_TYPES.fetchRequested, 1, work.connectionId), payload: { $case: 'fetchRequested', fetchRequested: { ...work, reason: `replay of: ${reason}` } } };
        const headers = headersFor(event.meta!);
        const record: eventsV1.DeadLetter = {
          sourceTopic: fetchTopic,
          sourcePartition: -1,
          sourceOffset: '',
          consumerGroup: config.KAFKA_GROUP_ID,
          errorCode: code,
          errorMessage: reason.slice(0, 2000),
          failedAt: new Date(),
          attempts: config.RETRY_MAX_ATTEMPTS,
          originalKey: Buffer.from(bindings.fetch(prefix).keyOf(event)),
          originalValue: Buffer.from(eventsV1.FetchEvent.encode(event).finish()),
          originalHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
          eventId: event.meta!.eventId,
        };
        await producer.sendRaw(deadLetterTopic, [
          { key: work.userId, value: Buffer.from(eventsV1.DeadLetter.encode(record).finish()), headers: { ...record.originalHeaders, [HEADERS.deadLetterCode]: code, [HEADERS.deadLetterReason]: reason.slice(0, 500) } },
        ]);
        service.logger.warn({ connectionId: work.connectionId, code, reason }, 'fetch work dead-lettered (replay with tools/scripts/replay-dead-letters.ts)');
      },
    };
    const fetcher = new Fetcher({
      store,
      budget,
      policy,
      breakers,
      tokens: {
        get: async (connectionId, force) => {
          // a token-vault restart is waited out within the call's deadline (GRPC_DEADLINE_MS) instead of failing the
          // fetch at once; a shutdown stops the wait (the run ends and is picked up again)
          const { accessToken } = await tokenVault.getAccessToken({ connectionId, forceRefresh: force }, { waitForReady: true, signal: stopping.signal });
          registerSecret(accessToken); // masked in any log line or span of this process
          return accessToken;
        },
      },
      data: truelayer.data,
      raw: kafkaRawSink(producer, prefix),
      deadLetters,
      clock,
      logger: service.logger,
      instance,
      settings: fetcherSettings(config),
      ...(metrics ? { metrics } : {}),
    });
    const scheduler = new Scheduler({
      store,
      fetcher,
      leases,
      instance,
      clock,
      logger: service.logger,
      tickMs: config.SCHEDULER_TICK_MS,
      batch: config.SCHEDULER_BATCH,
      leaseMs: config.FETCH_LEASE_MS,
      concurrency: config.SCHEDULER_CONCURRENCY,
    });

    const consumer = new EventConsumer(kafka, { groupId: config.KAFKA_GROUP_ID, logger: service.logger, producer, deadLetterTopic, idempotency, sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS });
    subscribeDiagnostics(consumer, probes, prefix);
    const intake = { store, fetcher, clock, logger: service.logger, kick: () => scheduler.kick(), postConsentWindowMs: config.POST_CONSENT_WINDOW_MS, budget: budgetStore, raw: kafkaRawSink(producer, prefix) };
    subscribeConnections(consumer, prefix, intake);
    subscribeFetchWork(consumer, prefix, intake);
    service.lifecycle.on('intake', 'kafka-consumer', () => consumer.stop());
    service.lifecycle.on('intake', 'scheduler', () => {
      // the scheduler first: its runs learn they are stopping (and hand their connections over) before the token
      // waits it cancels next fail them
      const stopped = scheduler.stop();
      stopping.abort();
      return stopped;
    });
    service.lifecycle.on('flush', 'grpc-clients', () => tokenVault.close());
    service.readiness(() => consumer.healthy);
    service.consumerLag(kafka, config.KAFKA_GROUP_ID, consumer.topics);
    const grpc = service
      .grpcServer(tls)
      .add('ais.fetcher.v1.FetcherService', fetcherV1.FetcherServiceService, fetcherHandlers({ probes, store, fetcher, budget, breakers, leases, instance, clock, userLeaseMs: config.USER_REFRESH_LEASE_MS, webhookGraceMs: config.WEBHOOK_GRACE_MS }));
    await service.serve(grpc, config, async () => {
      await consumer.start(service.kafkaStartup);
      if (config.SCHEDULER_ENABLED) scheduler.start();
    });
  } catch (error) {
    await service.fail(error);
  }
}

void main();
