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
    MONGODB_DB: z.string().min(1).default('enrichment').describe('Database name.'),
    KAFKA_CLIENT_ID: z.string().min(1).default('enrichment').describe('Kafka client id (broker logs and quotas).'),
    KAFKA_CREATE_TOPICS: env.bool.default(true).describe('Create the topics the service uses at start if they are missing (off where topics are provisioned).'),
    KAFKA_GROUP_ID: z.string().min(1).default('enrichment').describe('Consumer group of the ais.raw.v1 -> ais.enriched.v1 stage.'),
    KAFKA_FROM_BEGINNING: env.bool.default(true).describe('A new group starts at the beginning of ais.raw.v1 (nothing fetched is skipped).'),
    KAFKA_PARTITIONS_CONCURRENTLY: z.coerce.number().int().min(1).max(64).default(3).describe('Partitions of ais.raw.v1 one instance enriches at the same time.'),
  })
  .superRefine(checkSecurity);

export type Config = z.infer<typeof schema>;
export const loadConfig = (): Readonly<Config> => loadConfigOrExit('enrichment', schema);
