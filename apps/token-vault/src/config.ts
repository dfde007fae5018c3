import { checkSecurity, commonSchema, metricsSchema, grpcServerSchema, grpcTlsSchema, kafkaSchema, loadConfigOrExit, mongoSchema, vaultSchema, z, env } from '@ais/platform-config';

const days = z
  .string()
  .transform((s) => s.split(',').map((x) => Number(x.trim())))
  .pipe(z.array(z.number().int().positive().max(90)).min(1));

export const schema = commonSchema
  .extend(metricsSchema.shape)
  .extend(mongoSchema.shape)
  .extend(kafkaSchema.shape)
  .extend(vaultSchema.shape)
  .extend(grpcServerSchema.shape)
  .extend(grpcTlsSchema.shape)
  .extend({
    MONGODB_DB: z.string().min(1).default('token_vault').describe('Database name.'),
    KAFKA_CLIENT_ID: z.string().min(1).default('token-vault').describe('Kafka client id (broker logs and quotas).'),
    KAFKA_CREATE_TOPICS: env.bool.default(true).describe('Create the topics the service uses at start if they are missing (off where topics are provisioned).'),
    CLOCK: env.clock.describe('Business time (token and consent expiry): `real`, or a scaled clock shared with the simulator in tests.'),
    TRUELAYER_ENV: z.enum(['production', 'sandbox', 'custom']).default('sandbox').describe('TrueLayer hosts: `production`, `sandbox` (TrueLayer\'s), or `custom` (the simulator) with both URLs.'),
    TRUELAYER_AUTH_URL: z.url().optional().describe('Auth server origin (token endpoint) when TRUELAYER_ENV=custom.'),
    TRUELAYER_API_URL: z.url().optional().describe('Data API origin when TRUELAYER_ENV=custom.'),
    TRUELAYER_CREDENTIALS_PATH: z.string().default('ais/truelayer').describe('Vault KV v2 path (under VAULT_KV_MOUNT) holding `client_id` and `client_secret`.'),
    TRUELAYER_TIMEOUT_MS: env.ms.default(15_000).describe('Timeout of one call to TrueLayer\'s auth server.'),
    TRUELAYER_CREDENTIALS_SOURCE: z.enum(['vault', 'env']).default('vault').describe('`vault` (always in production) or `env` (explicit development mode only: TRUELAYER_CLIENT_ID/SECRET).'),
    TRUELAYER_CLIENT_ID: z.string().optional().describe('Client id when TRUELAYER_CREDENTIALS_SOURCE=env (development only).'),
    TRUELAYER_CLIENT_SECRET: z.string().optional().describe('Client secret when TRUELAYER_CREDENTIALS_SOURCE=env (development only; production reads it from Vault).'),
    TOKEN_TRANSIT_KEY: z.string().regex(/^[a-z0-9-]{1,64}$/).default('ais-tokens').describe('Transit key encrypting tokens (derived; context = connection id + field).'),
    REFRESH_AHEAD_MS: env.ms.default(120_000).describe('Refresh when the access token expires within this window.'),
    TOKEN_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(1_000).describe('Serve a decrypted access token from memory for this long before re-reading its connection (0 = never).'),
    REFRESH_LOCK_MS: env.ms.default(30_000).describe('How long one instance may hold a connection\'s refresh lock.'),
    KEEPALIVE_AFTER_MS: env.ms.default(24 * 3600_000).describe('Keep refresh tokens alive: refresh any connection not refreshed for this long.'),
    CONSENT_EXPIRY_HORIZONS_DAYS: days.default([14, 7, 1]).describe('Comma-separated days before a consent expires at which a consent-expiring event is published.'),
    RECONSENT_WINDOW_DAYS: z.coerce.number().int().min(1).max(89).default(14).describe('Days before expiry from which a connection may be re-consented.'),
    JOBS_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000).describe('Period of the background jobs (keep-alive, consent watcher, rewrap); 0 disables them in this instance.'),
    DATA_RETENTION: z.enum(['delete', 'keep']).default('delete').describe('Stored bank data after a consent ended (revoked or expired; tokens are purged at once either way): `delete` erases the connection\'s data in every service DATA_RETENTION_DAYS after the end, `keep` keeps it until the user is erased (DELETE /v1/users/{id}).'),
    DATA_RETENTION_DAYS: z.coerce.number().min(0).max(3650).default(30).describe('Days after a consent ended before its data is erased (DATA_RETENTION=delete).'),
    TOKEN_REWRAP_INTERVAL_MS: z.coerce.number().int().min(0).default(24 * 3600_000).describe('How often one instance (under a lease) rewraps stored tokens to the newest Transit key version; 0 = never.'),
  })
  .superRefine((cfg, ctx) => {
    checkSecurity(cfg, ctx);
    if (cfg.TRUELAYER_CREDENTIALS_SOURCE === 'env') {
      if (cfg.NODE_ENV !== 'development') {
        ctx.addIssue({ code: 'custom', path: ['TRUELAYER_CREDENTIALS_SOURCE'], message: 'env credentials are allowed only with NODE_ENV=development' });
      }
      if (!cfg.TRUELAYER_CLIENT_ID || !cfg.TRUELAYER_CLIENT_SECRET) {
        ctx.addIssue({ code: 'custom', path: ['TRUELAYER_CLIENT_ID'], message: 'TRUELAYER_CREDENTIALS_SOURCE=env needs TRUELAYER_CLIENT_ID and TRUELAYER_CLIENT_SECRET' });
      }
    }
    if (cfg.TRUELAYER_ENV === 'custom' && (!cfg.TRUELAYER_AUTH_URL || !cfg.TRUELAYER_API_URL)) {
      ctx.addIssue({ code: 'custom', path: ['TRUELAYER_AUTH_URL'], message: 'TRUELAYER_ENV=custom needs TRUELAYER_AUTH_URL and TRUELAYER_API_URL' });
    }
  });

export type Config = z.infer<typeof schema>;

export const loadConfig = (): Readonly<Config> => loadConfigOrExit('token-vault', schema);
