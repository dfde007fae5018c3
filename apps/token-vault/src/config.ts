import { checkSecurity, commonSchema, grpcServerSchema, grpcTlsSchema, kafkaSchema, loadConfigOrExit, mongoSchema, vaultSchema, z, env } from '@ais/platform-config';

const days = z
  .string()
  .transform((s) => s.split(',').map((x) => Number(x.trim())))
  .pipe(z.array(z.number().int().positive().max(90)).min(1));

export const schema = commonSchema
  .extend(mongoSchema.shape)
  .extend(kafkaSchema.shape)
  .extend(vaultSchema.shape)
  .extend(grpcServerSchema.shape)
  .extend(grpcTlsSchema.shape)
  .extend({
    MONGODB_DB: z.string().min(1).default('token_vault'),
    KAFKA_CLIENT_ID: z.string().min(1).default('token-vault'),
    KAFKA_CREATE_TOPICS: env.bool.default(true),
    /** TrueLayer hosts: `production`, `sandbox` (TrueLayer's), or `custom` (the simulator) with both URLs. */
    /** Business time (token and consent expiry): `real`, or a scaled clock shared with the simulator in tests. */
    CLOCK: env.clock,
    TRUELAYER_ENV: z.enum(['production', 'sandbox', 'custom']).default('sandbox'),
    TRUELAYER_AUTH_URL: z.url().optional(),
    TRUELAYER_API_URL: z.url().optional(),
    /** Vault KV v2 path (under VAULT_KV_MOUNT) holding `client_id` and `client_secret`. */
    TRUELAYER_CREDENTIALS_PATH: z.string().default('ais/truelayer'),
    TRUELAYER_TIMEOUT_MS: env.ms.default(15_000),
    /** `vault` (always in production) or `env` (explicit development mode only: TRUELAYER_CLIENT_ID/SECRET). */
    TRUELAYER_CREDENTIALS_SOURCE: z.enum(['vault', 'env']).default('vault'),
    TRUELAYER_CLIENT_ID: z.string().optional(),
    TRUELAYER_CLIENT_SECRET: z.string().optional(),
    /** Transit key encrypting tokens (derived; context = connection id + field). */
    TOKEN_TRANSIT_KEY: z.string().regex(/^[a-z0-9-]{1,64}$/).default('ais-tokens'),
    /** Refresh when the access token expires within this window. */
    REFRESH_AHEAD_MS: env.ms.default(120_000),
    /** Serve a decrypted access token from memory for this long before re-reading its connection (0 = never). */
    TOKEN_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
    /** How long one instance may hold a connection's refresh lock. */
    REFRESH_LOCK_MS: env.ms.default(30_000),
    /** Keep refresh tokens alive: refresh any connection not refreshed for this long. */
    KEEPALIVE_AFTER_MS: env.ms.default(24 * 3600_000),
    CONSENT_EXPIRY_HORIZONS_DAYS: days.default([14, 7, 1]),
    RECONSENT_WINDOW_DAYS: z.coerce.number().int().min(1).max(89).default(14),
    /** Period of the background jobs (keep-alive, consent watcher, rewrap); 0 disables them in this instance. */
    JOBS_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
    /**
     * Stored bank data after a consent ended (revoked or expired; tokens are purged at once either way): `delete`
     * erases the connection's data in every service DATA_RETENTION_DAYS after the end, `keep` keeps it until the
     * user is erased (DELETE /v1/users/{id}).
     */
    DATA_RETENTION: z.enum(['delete', 'keep']).default('delete'),
    DATA_RETENTION_DAYS: z.coerce.number().min(0).max(3650).default(30),
    /** How often one instance (under a lease) rewraps stored tokens to the newest Transit key version; 0 = never. */
    TOKEN_REWRAP_INTERVAL_MS: z.coerce.number().int().min(0).default(24 * 3600_000),
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
