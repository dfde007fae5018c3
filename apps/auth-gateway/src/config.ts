import { checkSecurity, commonSchema, metricsSchema, env, grpcTlsSchema, kafkaSchema, loadConfigOrExit, mongoSchema, vaultSchema, z } from '@ais/platform-config';

/** JSON held in one environment variable, parsed then validated by `schema`. */
function jsonEnv<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/** apple-app-site-association: at least the `applinks` section. */
export const aasaSchema = z.looseObject({
  applinks: z.looseObject({
    details: z.array(z.looseObject({ appIDs: z.array(z.string()).optional(), appID: z.string().optional(), components: z.array(z.looseObject({})).optional(), paths: z.array(z.string()).optional() })).optional(),
  }),
});

/** Digital Asset Links statements. */
export const assetLinksSchema = z.array(
  z.looseObject({
    relation: z.array(z.string()).min(1),
    target: z.looseObject({ namespace: z.string(), package_name: z.string().optional(), sha256_cert_fingerprints: z.array(z.string()).optional() }),
  }),
);

export const schema = commonSchema
  .extend(metricsSchema.shape)
  .extend(mongoSchema.shape)
  .extend(kafkaSchema.shape)
  .extend(vaultSchema.shape)
  .extend(grpcTlsSchema.shape)
  .extend({
    MONGODB_DB: z.string().min(1).default('auth_gateway').describe('Database name.'),
    KAFKA_CLIENT_ID: z.string().min(1).default('auth-gateway').describe('Kafka: the gateway only produces (accepted TrueLayer webhooks to ais.fetch.v1).'),
    KAFKA_CREATE_TOPICS: env.bool.default(true).describe('Create the topics the service uses at start if they are missing (off where topics are provisioned).'),
    HTTP_HOST: z.string().default('127.0.0.1').describe('Address of the public HTTP edge (API, hosted pages, webhook).'),
    HTTP_PORT: env.port.default(0).describe('Port of the public HTTP edge; 0 picks a free port.'),
    ADMIN_HOST: z.string().default('127.0.0.1').describe('Operator surface (diagnostics, API-client provisioning); bind to loopback or a private interface only.'),
    ADMIN_PORT: env.port.default(0).describe('Port of the operator surface; 0 picks a free port.'),
    TOKEN_VAULT_ADDR: env.hostPort.describe('token-vault\'s gRPC address (host:port).'),
    DATA_FETCHER_ADDR: env.hostPort.describe('data-fetcher\'s gRPC address (host:port).'),
    RECONCILIATION_ADDR: env.hostPort.optional().describe('reconciliation\'s gRPC address (the read API); unset: the read routes answer 503.'),
    EDIT_DEADLINE_MS: env.ms.default(10_000).describe('Deadline of an edit call: reconciliation waits (up to its own setting, 5 s) for the edit to be applied.'),
    GRPC_DEADLINE_MS: env.ms.default(5_000).describe('Deadline of a gRPC call to another service.'),
    REFRESH_DEADLINE_MS: env.ms.default(60_000).describe('Deadline of RefreshConnection: a SYNC refresh reads every data kind of a connection while the user waits.'),
    HTTP_BODY_LIMIT: z.string().default('100kb').describe('Largest JSON/form body the API accepts (express body-parser size, e.g. 100kb).'),
    WEBHOOK_BODY_LIMIT: z.string().default('8kb').describe('Body limit of the unauthenticated TrueLayer webhook (its JSON is a few hundred bytes).'),
    TRUST_PROXY: z.string().default('loopback').describe('Express `trust proxy`: which proxies\' X-Forwarded-* headers are believed (client address, protocol).'),
    PUBLIC_BASE_URL: env.url.optional().describe('Public origin of this gateway as browsers see it (hosted pages, callback). Default: http://HTTP_HOST:<bound port>.'),
    GATEWAY_KEYS_VAULT_PATH: z.string().min(1).default('ais/auth-gateway/keys').describe('Vault KV path of the gateway\'s own secrets (API-key pepper, state key); created on first start.'),
    TRUELAYER_CLIENT_ID: z.string().min(1).default('sandbox-ais-platform').describe('TrueLayer client id (public; the secret lives in token-vault only).'),
    TRUELAYER_AUTH_BASE_URL: env.url.default('https://auth.truelayer-sandbox.com').describe('Auth server origin (auth dialog, /api/providers).'),
    TRUELAYER_REDIRECT_URI: env.url.optional().describe('Registered redirect URI; default `${PUBLIC_BASE_URL}/v1/callback`.'),
    TRUELAYER_PROVIDERS: env.list.pipe(z.array(z.string().min(1)).min(1)).default(['uk-ob-all', 'uk-oauth-all']).describe('Comma-separated TrueLayer provider selection of the auth link (e.g. uk-ob-all,uk-oauth-all).'),
    TRUELAYER_SCOPES: env.list
      .pipe(z.array(z.string().regex(/^[a-z_:]+$/)).min(1))
      .default(['info', 'accounts', 'balance', 'cards', 'transactions', 'direct_debits', 'standing_orders', 'offline_access']).describe('Comma-separated scopes asked in the auth link.'),
    TRUELAYER_COUNTRIES: env.list.default([]).describe('Country filter offered by the hosted bank picker (TrueLayer\'s codes: uk, ie, fr, ...).'),
    PROVIDERS_CACHE_MS: env.ms.default(600_000).describe('How long the bank picker caches TrueLayer\'s provider list.'),
    CONNECT_SESSION_TTL_MS: env.ms.max(30 * 60_000).default(10 * 60_000).describe('Lifetime of a connect session and of its `state` (minutes, not hours).'),
    BOUNCE_TTL_MS: env.ms.default(15 * 60_000).describe('How long a finished session\'s bounce page stays reachable.'),
    AUTH_SESSION_PURGE_INTERVAL_MS: env.ms.default(60_000).describe('Period of the job that deletes old connect sessions.'),
    AUTH_SESSION_RETENTION_MS: env.ms.default(24 * 3_600_000).describe('Keep finished/expired session records this long (audit) before the purge job deletes them.'),
    DEFAULT_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600).describe('Requests per minute of an API client without a limit of its own.'),
    RATE_LIMIT_IP_API_PER_MINUTE: z.coerce.number().int().positive().default(1200).describe('Per client address (`req.ip`, see TRUST_PROXY) and one-minute window, shared by every instance (MongoDB `rate_buckets`): caller-API requests before the key lookup (keep it above the largest per-key limit of the clients that share an address), failed key checks, and hosted pages + callback + bounce page together.'),
    RATE_LIMIT_IP_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().positive().default(20).describe('Failed API-key checks per client address and minute before it is refused.'),
    RATE_LIMIT_IP_PAGES_PER_MINUTE: z.coerce.number().int().positive().default(300).describe('Hosted page, callback and bounce page requests per client address and minute.'),
    RATE_LIMIT_STORE_TIMEOUT_MS: env.ms.default(250).describe('A rate-limit count slower than this is made in process memory instead (fail open to the local limiter).'),
    BOUNCE_AUTO_REDIRECT_SECONDS: z.coerce.number().int().min(0).max(30).default(0).describe('Seconds before the bounce page opens the return URL by itself (0: the user taps).'),
    PRODUCT_NAME: z.string().min(1).default('our service').describe('Product name shown on the hosted pages.'),
    PRIVACY_POLICY_URL: env.url.default('https://example.com/privacy').describe('Privacy policy linked from the permission screen.'),
    WELL_KNOWN_AASA_JSON: jsonEnv(aasaSchema).optional().describe('Served at /.well-known/apple-app-site-association (JSON). 404 when unset.'),
    WELL_KNOWN_ASSETLINKS_JSON: jsonEnv(assetLinksSchema).optional().describe('Served at /.well-known/assetlinks.json (JSON array). 404 when unset.'),
  })
  .superRefine(checkSecurity);

export type Config = z.infer<typeof schema>;
export const loadConfig = (): Readonly<Config> => loadConfigOrExit('auth-gateway', schema);
