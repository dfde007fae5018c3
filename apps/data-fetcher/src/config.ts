import type { ErrorPolicyOptions } from './domain/error-policy';
import type { FetcherSettings } from './domain/fetcher';
import { checkSecurity, commonSchema, metricsSchema, grpcServerSchema, grpcTlsSchema, vaultOptionalSchema, kafkaSchema, kafkaConsumerSchema, loadConfigOrExit, mongoSchema, z, env } from '@ais/platform-config';

const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const schema = commonSchema
  .extend(metricsSchema.shape)
  .extend(mongoSchema.shape)
  .extend(kafkaSchema.shape)
  .extend(kafkaConsumerSchema.shape)
  .extend(grpcServerSchema.shape)
  .extend(grpcTlsSchema.shape)
  .extend(vaultOptionalSchema.shape)
  .extend({
    MONGODB_DB: z.string().min(1).default('data_fetcher').describe('Database name.'),
    KAFKA_CLIENT_ID: z.string().min(1).default('data-fetcher').describe('Kafka client id (broker logs and quotas).'),
    KAFKA_GROUP_ID: z.string().min(1).default('data-fetcher').describe('Consumer group of the fetch commands (ais.fetch.v1).'),
    KAFKA_CREATE_TOPICS: env.bool.default(true).describe('Create the topics the service uses at start if they are missing (off where topics are provisioned).'),
    TOKEN_VAULT_ADDR: env.hostPort.describe('token-vault (GetAccessToken): the only source of access tokens; data-fetcher never stores one.'),
    GRPC_DEADLINE_MS: env.ms.default(10_000).describe('Deadline of a gRPC call to token-vault.'),
    TRUELAYER_ENV: z.enum(['production', 'sandbox', 'custom']).default('sandbox').describe('TrueLayer hosts: `production`, `sandbox` (TrueLayer\'s), or `custom` (the simulator) with TRUELAYER_API_URL.'),
    TRUELAYER_AUTH_URL: z.url().optional().describe('Auth server origin when TRUELAYER_ENV=custom.'),
    TRUELAYER_API_URL: z.url().optional().describe('Data API origin when TRUELAYER_ENV=custom.'),
    TRUELAYER_TIMEOUT_MS: env.ms.default(30_000).describe('Per attempt.'),
    CLOCK: env.clock.describe('`real`, or `scaled:<realAnchorMs>:<simAnchorMs>:<rate>` (tests: the simulator runs the same clock).'),
    WEBHOOK_URI: env.url.optional().describe('Public URL of the gateway\'s webhook route (POST /v1/webhooks/truelayer); unset: async tasks are polled.'),
    WEBHOOK_GRACE_MS: env.ms.default(2_000).describe('How long a webhook for a task not recorded yet waits for it, while its connection is starting tasks.'),
    ASYNC_REFRESH: env.bool.default(true).describe('Background refreshes as async tasks (TrueLayer\'s recommendation for unattended reads).'),
    BACKFILL_WINDOW_MONTHS: count(1, 24).default(12).describe('Months of transactions asked per call while backfilling history (a window the bank refuses as too wide is halved, down to a month).'),
    BACKFILL_MAX_MONTHS: count(1, 240).default(84).describe('How far back the post-consent fetch goes at most (providers serve up to 5–6 years).'),
    POST_CONSENT_WINDOW_MS: env.ms.default(5 * 60_000).describe('After consent, full history (and X-PSU-IP) for this long; longer for the providers in plan.ts.'),
    SYNC_OVERLAP_DAYS: count(0, 60).default(7).describe('Each incremental window starts this many days before the end of the last successful one.'),
    HISTORY_DAYS_OUTSIDE_SCA: count(1, 365).default(90).describe('Days of history a bank serves outside the post-consent window (TrueLayer: 90).'),
    REFRESHES_PER_WINDOW: count(1, 4).default(4).describe('Background refreshes per rolling budget window (at most 4: each spends one unattended call per endpoint).'),
    BUDGET_SAFETY_MARGIN_MS: z.coerce.number().int().min(0).default(15 * 60_000).describe('Added to the 24 h of the unattended budget (skew between instances, delay until the bank counts).'),
    SCHEDULER_ENABLED: env.bool.default(true).describe('Run the background refresh scheduler in this instance.'),
    SCHEDULER_TICK_MS: env.ms.default(1_000).describe('How often the scheduler looks for connections due a refresh.'),
    SCHEDULER_BATCH: count(1, 1000).default(50).describe('Connections the scheduler claims per tick.'),
    SCHEDULER_CONCURRENCY: count(1, 64).default(4).describe('Connections fetched at the same time by one instance.'),
    FETCH_LEASE_MS: env.ms
      .default(30_000)
      .describe(
        "Real-time lease on a connection while it is fetched, renewed every third of it: how long a crashed instance's connections wait before another instance takes them over (a stopping instance hands its post-consent fetches and background refreshes over at once).",
      ),
    USER_REFRESH_LEASE_MS: env.ms.default(60_000).describe('Lease on a connection while a user-requested refresh runs.'),
    TASK_POLL_AFTER_MS: env.ms.default(5 * 60_000).describe('Clock time after which a task without webhook is polled.'),
    TASK_POLL_INTERVAL_MS: env.ms.default(60_000).describe('Period of polling an async task without webhook.'),
    TASK_CLAIM_MS: env.ms.default(2 * 60_000).describe('How long one instance holds an async task it is polling or completing.'),
    TASK_MAX_AGE_MS: env.ms.default(30 * 60_000).describe('A task not finished after this long (clock time) is given up and its unit started again as a new task.'),
    TASK_RETENTION_MS: env.ms.default(7 * 86_400_000).describe('How long finished async task records are kept.'),
    JOURNAL_RETENTION_MS: env.ms.default(30 * 86_400_000).describe('The call journal keeps this much (TTL index fetch_journal_ttl).'),
    RETRY_MAX_ATTEMPTS: count(1, 10).default(4).describe('Attempts of one TrueLayer call before it is given up.'),
    RETRY_BASE_DELAY_MS: env.ms.default(1_000).describe('First backoff delay (exponential with jitter).'),
    RETRY_MAX_DELAY_MS: env.ms.default(5 * 60_000).describe('Largest backoff delay.'),
    RETRY_MAX_INLINE_MS: env.ms.default(60_000).describe('A backoff longer than this is not slept inline: the work is rescheduled.'),
    CIRCUIT_FAILURE_THRESHOLD: count(1, 1000).default(5).describe('Consecutive failures of a provider that open its circuit.'),
    CIRCUIT_COOL_DOWN_MS: env.ms.default(30_000).describe('How long an open circuit waits before it lets a trial call through.'),
  })
  .superRefine(checkSecurity);

export type Config = z.infer<typeof schema>;

/** The engine's settings from the configuration (main.ts and the benchmark build the Fetcher with them). */
export function fetcherSettings(config: Config): FetcherSettings {
  return {
    backfillWindowMonths: config.BACKFILL_WINDOW_MONTHS,
    backfillMaxMonths: config.BACKFILL_MAX_MONTHS,
    postConsentWindowMs: config.POST_CONSENT_WINDOW_MS,
    overlapDays: config.SYNC_OVERLAP_DAYS,
    historyDaysOutsideSca: config.HISTORY_DAYS_OUTSIDE_SCA,
    refreshesPerWindow: config.REFRESHES_PER_WINDOW,
    webhookUri: config.WEBHOOK_URI ?? '',
    asyncRefresh: config.ASYNC_REFRESH,
    taskPollAfterMs: config.TASK_POLL_AFTER_MS,
    taskPollIntervalMs: config.TASK_POLL_INTERVAL_MS,
    taskClaimMs: config.TASK_CLAIM_MS,
    taskMaxAgeMs: config.TASK_MAX_AGE_MS,
    taskAttempts: config.RETRY_MAX_ATTEMPTS,
    taskRetentionMs: config.TASK_RETENTION_MS,
    publishChunk: 8,
  };
}

/** The error policy's limits from the configuration (clock and randomness are the caller's). */
export function errorPolicyOptions(config: Config): Omit<ErrorPolicyOptions, 'clock' | 'random'> {
  return {
    maxAttempts: config.RETRY_MAX_ATTEMPTS,
    backoff: { baseDelayMs: config.RETRY_BASE_DELAY_MS, maxDelayMs: config.RETRY_MAX_DELAY_MS },
    maxInlineDelayMs: config.RETRY_MAX_INLINE_MS,
    // TrueLayer serves 90 days outside the SCA window; one day less keeps a narrowed `from` inside it
    narrowWindowDays: config.HISTORY_DAYS_OUTSIDE_SCA - 1,
  };
}

export const loadConfig = (): Readonly<Config> => loadConfigOrExit('data-fetcher', schema);
