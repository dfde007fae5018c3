import { TOPICS, topicName } from '@ais/contracts-events';
import { enrichmentV1, eventsV1, reconciliationV1 } from '@ais/contracts-proto-ts';
import { createGrpcClient } from '@ais/platform-grpc';
import { EventProducer, withStartupRetry } from '@ais/platform-kafka';
import { Service } from '@ais/platform-runtime';
import { loadConfig } from './config';
import { Analysis, refreshesAfter } from './data/analysis';
import { ChangeFeedPublisher } from './data/changefeed';
import { Erasures } from './data/erasure';
import { ReadQueries } from './data/queries';
import { reenrichUser } from './data/reenrich';
import { ReconciliationStore } from './data/store';
import { DEFAULT_READ_AHEAD, reconciliationHandlers } from './grpc/reconciliation.service';
import { EnrichedConsumer } from './kafka/enriched.consumer';
import { KafkaLedgerPosition } from './kafka/ledger-position';

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
    const queries = new ReadQueries(store, mongo);
    await queries.ensureIndexes();
    const analysis = new Analysis(mongo, store, { historyCacheUsers: config.ANALYSIS_CACHE_USERS, historyCacheRows: config.ANALYSIS_CACHE_ROWS, historySnapshotRows: config.ANALYSIS_HISTORY_ROWS });
    await analysis.ensureIndexes();
    const erasures = new Erasures(mongo, store, analysis);
    await erasures.ensureIndexes();

    // the sweep publishes only the users of the partitions this instance holds: one publisher per user; a run cut
    // short (a crash, a rebalance) is resumed after what it put on the ledger, read back (changefeed.ts)
    const position = new KafkaLedgerPosition({ kafka, topicPrefix: prefix, groupId: config.KAFKA_GROUP_ID, logger: service.logger });
    const publisher: ChangeFeedPublisher = new ChangeFeedPublisher({ store, producer, logger: service.logger, topicPrefix: prefix, erasures, position, owns: (userId): boolean => consumer.ownsUser(userId) });
    const consumer: EnrichedConsumer = new EnrichedConsumer({
      kafka,
      store,
      producer,
      publisher,
      erasures,
      logger: service.logger,
      groupId: config.KAFKA_GROUP_ID,
      topicPrefix: prefix,
      fromBeginning: true,
      partitionsConsumedConcurrently: config.KAFKA_PARTITIONS_CONCURRENTLY,
      sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
      // derived data, written by the same consumer (the user's only writer): standing orders and direct debits are
      // stored, then recurring series and own-account transfers are brought up to date after each applied message
      // that can change them (decided by the message, not per Kafka batch, whose bounds differ between a live run
      // and a replay: data/analysis.ts, "When it runs")
      hooks: {
        onOtherPayload: (userId, event) => applyMandates(analysis, userId, event),
        afterEvent: async (userId, { at, data }) => {
          if (!data || refreshesAfter(data)) await analysis.refresh(userId, at);
        },
        // the history cache is valid only while the users' partitions stay ours (data/analysis.ts), and so are what
        // the change feed remembers of their writes (data/feed-memory.ts) and the connections found not erased
        onGroupJoin: () => {
          analysis.forgetAll();
          store.forgetAll();
          erasures.forgetAll();
          publisher.forgetAll();
        },
      },
    });
    service.lifecycle.on('intake', 'kafka-consumer', async () => {
      await consumer.stop();
      await publisher.stop();
      await position.close();
    });
    service.readiness(() => consumer.healthy);
    service.consumerLag(kafka, config.KAFKA_GROUP_ID, [topicName(TOPICS.enriched, prefix), topicName(TOPICS.connection, prefix)]);
    // "always categorise this merchant as ...": the rule is enrichment's (it applies to every later sync); the stored
    // history is re-enriched through the user's partition (ReEnrichment events), so the feed shows what changed
    const tls = await service.grpcTls(config);
    const enrichment = createGrpcClient(enrichmentV1.EnrichmentServiceClient, config.ENRICHMENT_ADDR, config.GRPC_DEADLINE_MS, tls.channel('enrichment'));
    service.lifecycle.on('drain', 'enrichment-client', () => enrichment.close());
    // The rule is stored before the edit answers; the user's history is re-enriched in the background (it reads every
    // stored row and calls enrichment in pages, seconds for a heavy user), and each changed row reaches the feed. A
    // failure is logged with the command that redoes it; shutdown waits for runs in progress.
    const reenriching = new Set<Promise<unknown>>();
    const userRules = async (clientId: string, userId: string, merchantKey: string, detailedCategory: string): Promise<void> => {
      await enrichment.putUserRule({ rule: { ruleId: `merchant-${merchantKey}`, clientId, userId, detailedCategory, merchantKey, descriptionContains: '', direction: '' } });
      const run = reenrichUser({ store, enrichment, producer, logger: service.logger, topicPrefix: prefix }, userId, { clientId }).catch((err: unknown) =>
        service.logger.error({ err, userId }, 're-enrichment after a new merchant rule failed; redo it with apps/reconciliation/scripts/reenrich.ts --user'),
      );
      reenriching.add(run);
      void run.finally(() => reenriching.delete(run));
    };
    service.lifecycle.on('intake', 're-enrichment', () => Promise.allSettled([...reenriching]).then(() => undefined));
    const grpc = service
      .grpcServer(tls)
      .add('ais.reconciliation.v1.ReconciliationService', reconciliationV1.ReconciliationServiceService, reconciliationHandlers({ queries, producer, topicPrefix: prefix, logger: service.logger, userRules, erasures, readAhead: { ...DEFAULT_READ_AHEAD, maxEntries: config.READ_AHEAD_PAGES } }));
    await service.serve(grpc, config, async () => {
      await consumer.start(service.kafkaStartup);
      publisher.startSweep(config.CHANGEFEED_SWEEP_MS, config.CHANGEFEED_SWEEP_MIN_AGE_MS);
    });
  } catch (error) {
    await service.fail(error);
  }
}

/** Standing orders and direct debits of an enriched batch go to analysis (identity is not stored here). */
async function applyMandates(analysis: Analysis, userId: string, event: eventsV1.EnrichedEvent): Promise<void> {
  const raw = event.payload?.$case === 'batch' ? event.payload.batch.raw : undefined;
  const p = raw?.payload;
  if (!raw || !p || (p.$case !== 'standingOrders' && p.$case !== 'directDebits')) return;
  const meta = {
    clientId: event.clientId || raw.clientId,
    connectionId: raw.connectionId,
    providerAccountId: raw.accountId,
    fetchedAt: raw.fetchedAt ?? event.meta?.occurredAt ?? new Date(0),
    complete: raw.batch?.complete !== false && (raw.batch?.count ?? 1) <= 1,
  };
  if (p.$case === 'standingOrders') await analysis.applyMandates(userId, meta, 'standing_orders', p.standingOrders.standingOrders);
  else await analysis.applyMandates(userId, meta, 'direct_debits', p.directDebits.directDebits);
}

void main();
