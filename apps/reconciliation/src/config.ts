import { checkSecurity, commonSchema, metricsSchema, grpcServerSchema, grpcTlsSchema, vaultOptionalSchema, kafkaSchema, kafkaConsumerSchema, loadConfigOrExit, mongoSchema, z, env } from '@ais/platform-config';

export const schema = commonSchema
  .extend(metricsSchema.shape)
  .extend(mongoSchema.shape)
  .extend(kafkaSchema.shape)
  .extend(kafkaConsumerSchema.shape)
  .extend(grpcServerSchema.shape)
  .extend(grpcTlsSchema.shape)
  .extend(vaultOptionalSchema.shape)
  .extend({
    MONGODB_DB: z.string().min(1).default('reconciliation').describe('Database name.'),
    KAFKA_CLIENT_ID: z.string().min(1).default('reconciliation').describe('Kafka client id (broker logs and quotas).'),
    KAFKA_CREATE_TOPICS: env.bool.default(true).describe('Create the topics the service uses at start if they are missing (off where topics are provisioned).'),
    KAFKA_GROUP_ID: z.string().min(1).default('reconciliation').describe('Consumer group of ais.enriched.v1 and ais.connection.v1.'),
    KAFKA_PARTITIONS_CONCURRENTLY: z.coerce.number().int().min(1).max(64).default(3).describe('Partitions of ais.enriched.v1 one instance applies at the same time; each partition stays in order (one writer per user). 3 against 1: pipeline bench 100k 1,223 against 1,409 us per transaction (docs/BENCHMARKS.md).'),
    CHANGEFEED_SWEEP_MS: env.ms.default(10_000).describe('How often the change feed looks for users with unpublished changes (after a crash).'),
    CHANGEFEED_SWEEP_MIN_AGE_MS: env.ms.default(30_000).describe('How long a user\'s changes stay unpublished before the sweep takes them (the consumer publishes first). Each instance sweeps only the users of the ais.enriched.v1 partitions it holds.'),
    ENRICHMENT_ADDR: z.string().default('127.0.0.1:50054').describe('enrichment\'s gRPC address (host:port), for the re-enrichment command.'),
    GRPC_DEADLINE_MS: env.ms.default(30_000).describe('Deadline of a gRPC call to enrichment.'),
    READ_AHEAD_PAGES: z.coerce.number().int().min(0).max(1000).default(16).describe('Transaction pages the read API may hold read ahead for clients that are paging (grpc/read-ahead.ts), each at most 500 transaction views with the user\'s edits, served within 10 s; 0 turns read-ahead off (behind many instances a page token often reaches another one). With it the heavy user\'s 31,624-row read-back took 4.2-5.9 s against 6.1-7.8 (docs/BENCHMARKS.md, consent).'),
    ANALYSIS_CACHE_USERS: z.coerce.number().int().min(0).default(4).describe('Users whose analysed history the consumer keeps in memory between messages (data/analysis.ts); 0 turns it off. About 2 MB per 2,500-row user; 4 measured the same speed as 32 with 185 MB less peak RSS (docs/BENCHMARKS.md).'),
    ANALYSIS_CACHE_ROWS: z.coerce.number().int().min(0).default(25_000).describe("Rows of analysed history the consumer keeps in memory, all cached users together (data/analysis.ts): users used longest ago leave first, and one whose 760-day window alone holds more is not kept. About 750 bytes a row; bounds the cache's memory under the images' heap limit (docs/BENCHMARKS.md, consent)."),
    ANALYSIS_HISTORY_ROWS: z.coerce.number().int().min(0).default(25_000).describe("Users of at most this many rows in analysis' window keep them stored in one document (analysis_history), read instead of the window when the memory cache misses, e.g. a scheduled refresh (data/analysis.ts); 0 turns it off. About 500 bytes of JSON a row (129 stored on the local store, compressed: docs/SCALE.md)."),
  })
  .superRefine(checkSecurity);

export type Config = z.infer<typeof schema>;
export const loadConfig = (): Readonly<Config> => loadConfigOrExit('reconciliation', schema);
