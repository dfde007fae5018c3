import { commonSchema, env, loadConfigOrExit, mongoSchema, z } from '@ais/platform-config';

export const schema = commonSchema.extend(mongoSchema.shape).extend({
  MONGODB_DB: z.string().min(1).default('auth_gateway'),
  /** The public edge. */
  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: env.port.default(0),
  /** Operator surface (diagnostics); bind to loopback or a private interface only. */
  ADMIN_HOST: z.string().default('127.0.0.1'),
  ADMIN_PORT: env.port.default(0),
  TOKEN_VAULT_ADDR: env.hostPort,
  DATA_FETCHER_ADDR: env.hostPort,
  GRPC_DEADLINE_MS: env.ms.default(5_000),
  HTTP_BODY_LIMIT: z.string().default('100kb'),
  TRUST_PROXY: z.string().default('loopback'),
});

export type Config = z.infer<typeof schema>;
export const loadConfig = (): Readonly<Config> => loadConfigOrExit('auth-gateway', schema);
