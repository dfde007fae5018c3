import { commonSchema, grpcServerSchema, kafkaSchema, loadConfigOrExit, mongoSchema, z, env } from '@ais/platform-config';

export const schema = commonSchema
  .extend(mongoSchema.shape)
  .extend(kafkaSchema.shape)
  .extend(grpcServerSchema.shape)
  .extend({
    MONGODB_DB: z.string().min(1).default('reconciliation'),
    KAFKA_CLIENT_ID: z.string().min(1).default('reconciliation'),
    KAFKA_CREATE_TOPICS: env.bool.default(true),
  });

export type Config = z.infer<typeof schema>;
export const loadConfig = (): Readonly<Config> => loadConfigOrExit('reconciliation', schema);
