/**
 * Typed configuration. Every service declares one zod schema for its environment and calls {@link loadConfig}
 * before it opens a port or a connection. Nothing else in the code base reads `process.env`.
 */
import { z } from 'zod';
import { clockSpecSchema } from './clock';

export { z };
export {
  type Clock,
  type ClockSpec,
  ClockSpecError,
  clockFromSpec,
  clockSpecSchema,
  formatClockSpec,
  parseClockSpec,
  scaledClockSpec,
  type SpecClock,
} from './clock';

export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly issues: readonly string[],
  ) {
    super(`${service}: invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Parses `env` with `schema`; throws a {@link ConfigError} listing every problem (never the offending values). */
export function loadConfig<S extends z.ZodType>(service: string, schema: S, env: Env = process.env): Readonly<z.infer<S>> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(root)';
      const present = typeof issue.path[0] === 'string' && env[issue.path[0]] !== undefined;
      return present ? `${key}: ${issue.message}` : `${key}: is required but not set`;
    });
    throw new ConfigError(service, issues);
  }
  return Object.freeze(result.data) as Readonly<z.infer<S>>;
}

/** Reads the config or, on failure, prints the problems to stderr and exits with status 78 (EX_CONFIG). */
export function loadConfigOrExit<S extends z.ZodType>(service: string, schema: S, env: Env = process.env): Readonly<z.infer<S>> {
  try {
    return loadConfig(service, schema, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${JSON.stringify({ level: 'fatal', service, msg: error.message, issues: error.issues })}\n`);
      process.exit(78);
    }
    throw error;
  }
}

/** Snapshot of the process environment, the single place the code base touches `process.env`. */
export function processEnv(): Env {
  return process.env;
}

const port = z.coerce.number().int().min(0).max(65535);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const hostPort = z.string().regex(/^[A-Za-z0-9_.-]+:\d{1,5}$/, 'expected host:port');

/** Building blocks that services compose into their own schema. */
export const env = {
  port,
  bool,
  hostPort,
  url: z.url(),
  ms: z.coerce.number().int().positive(),
  list: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),
  /** `real` (default) or `scaled:<realAnchorMs>:<simAnchorMs>:<rate>`; parses to a ClockSpec (see clock.ts). */
  clock: clockSpecSchema,
};

export const commonSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development').describe('Runtime mode; `production` refuses the development-only settings (insecure gRPC, TrueLayer credentials from the environment).'),
  DEPLOYMENT_ENVIRONMENT: z.string().default('local').describe('Name of the environment (local, staging, production); a label on logs and traces.'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Lowest pino level written to stdout.'),
  SHUTDOWN_TIMEOUT_MS: env.ms.default(15_000).describe('On SIGTERM/SIGINT: how long the service drains (stops intake, finishes work, closes connections) before it exits anyway.'),
  STARTUP_TIMEOUT_MS: env.ms.default(10_000).describe('How long start-up keeps retrying a server that is not ready yet before the service exits with one fatal line.'),
  NODE_OPTIONS: z
    .string()
    .optional()
    .describe(
      'Read by Node.js itself, before the service starts. Each image sets V8 heap limits here (`--max-old-space-size`, `--max-semi-space-size`) so that the service stays under its memory target; measured in docs/BENCHMARKS.md, "Resident memory". A value set in a deployment replaces the image\'s, so keep those flags in it.',
    ),
  MALLOC_ARENA_MAX: z
    .string()
    .regex(/^[1-9]\d*$/, 'a positive integer')
    .optional()
    .describe('Read by glibc\'s allocator, not the service: how many malloc arenas the process may use. Each image sets 2 (glibc\'s default is 8 per core, each holding on to freed memory); measured with MALLOC_MMAP_THRESHOLD_ in docs/BENCHMARKS.md, "Resident memory".'),
  MALLOC_MMAP_THRESHOLD_: z
    .string()
    .regex(/^\d+$/, 'a number of bytes')
    .optional()
    .describe('Read by glibc\'s allocator, not the service: allocations of at least this many bytes get their own memory map, returned to the system when freed. Each image sets 131072 (128 KiB), which also stops glibc from raising the threshold as it does by default, after which the driver\'s and Kafka\'s large transient buffers stay resident in malloc\'s arenas; measured in docs/BENCHMARKS.md, "Resident memory".'),
});

/** The Prometheus endpoint (`GET /metrics`, its own HTTP server): METRICS_PORT 0 or unset = off. */
export const metricsSchema = z.object({
  METRICS_HOST: z.string().min(1).default('127.0.0.1').describe('Address the Prometheus endpoint (`GET /metrics`) binds to; loopback by default, set 0.0.0.0 for a scraper on another host.'),
  METRICS_PORT: port.default(0).describe('Port of the Prometheus endpoint; 0 turns it off (docs/METRICS.md lists the metrics).'),
});

export const mongoSchema = z.object({
  MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'expected a mongodb:// URI').describe('MongoDB connection string (`mongodb://` or `mongodb+srv://`); credentials go in MONGODB_USERNAME / MONGODB_PASSWORD_FILE, not here.'),
  MONGODB_DB: z.string().min(1).describe('Database name.'),
  MONGODB_CONNECT_TIMEOUT_MS: env.ms.default(10_000).describe('Connect and server-selection timeout of the MongoDB driver.'),
  MONGODB_TLS: bool.default(false).describe('TLS to MongoDB (production, docs/SECURITY.md).'),
  MONGODB_TLS_CA_FILE: z.string().min(1).optional().describe('PEM file of the CA that signed the MongoDB servers\' certificates.'),
  MONGODB_TLS_CERT_KEY_FILE: z.string().min(1).optional().describe('PEM file with a client certificate and key (x.509 authentication), if the cluster asks for one.'),
  MONGODB_USERNAME: z.string().min(1).optional().describe('The service\'s own MongoDB user (with MONGODB_PASSWORD_FILE).'),
  MONGODB_PASSWORD_FILE: z.string().min(1).optional().describe('File holding the MongoDB user\'s password (mounted, e.g. rendered by Vault Agent); never the password itself.'),
  MONGODB_AUTH_SOURCE: z.string().min(1).optional().describe('Database the MongoDB user is defined in (driver default: admin).'),
});

export const kafkaSchema = z.object({
  KAFKA_BROKERS: env.list.pipe(z.array(hostPort).min(1)).describe('Comma-separated host:port list of bootstrap brokers.'),
  KAFKA_CLIENT_ID: z.string().min(1).describe('Kafka client id (broker logs and quotas).'),
  KAFKA_CONNECT_TIMEOUT_MS: env.ms.default(10_000).describe('Connection timeout to a broker.'),
  KAFKA_TOPIC_PREFIX: z.string().regex(/^[a-z0-9._-]*$/).default('').describe('Prefix put before every topic name (isolates tests or tenants on a shared cluster).'),
  KAFKA_TLS: bool.default(false).describe('TLS to the brokers (production, docs/SECURITY.md).'),
  KAFKA_TLS_CA_FILE: z.string().min(1).optional().describe('PEM file of the CA that signed the brokers\' certificates.'),
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-256', 'scram-sha-512', 'plain']).optional().describe('SASL mechanism of the service\'s Kafka user (with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE).'),
  KAFKA_SASL_USERNAME: z.string().min(1).optional().describe('The service\'s own Kafka user.'),
  KAFKA_SASL_PASSWORD_FILE: z.string().min(1).optional().describe('File holding the Kafka user\'s password (mounted, e.g. rendered by Vault Agent); never the password itself.'),
});

/** A service that consumes Kafka topics in a consumer group. */
export const kafkaConsumerSchema = z.object({
  KAFKA_SESSION_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(6_000)
    .max(300_000)
    .default(10_000)
    .describe(
      "The consumer group drops an instance after this long without a heartbeat, and only then gives its partitions to another (or to the instance's own replacement after a crash). Heartbeats go every third of it, during long messages too. At least 6 s (the broker's group.min.session.timeout.ms).",
    ),
});

/** The Kafka client's security settings from {@link kafkaSchema}'s variables. */
export function kafkaSecurityFrom(cfg: {
  KAFKA_TLS?: boolean;
  KAFKA_TLS_CA_FILE?: string | undefined;
  KAFKA_SASL_MECHANISM?: 'scram-sha-256' | 'scram-sha-512' | 'plain' | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD_FILE?: string | undefined;
}): { tls?: { caFile?: string | undefined }; sasl?: { mechanism: 'scram-sha-256' | 'scram-sha-512' | 'plain'; username: string; passwordFile: string } } {
  return {
    ...(cfg.KAFKA_TLS ? { tls: { caFile: cfg.KAFKA_TLS_CA_FILE } } : {}),
    ...(cfg.KAFKA_SASL_MECHANISM && cfg.KAFKA_SASL_USERNAME && cfg.KAFKA_SASL_PASSWORD_FILE
      ? { sasl: { mechanism: cfg.KAFKA_SASL_MECHANISM, username: cfg.KAFKA_SASL_USERNAME, passwordFile: cfg.KAFKA_SASL_PASSWORD_FILE } }
      : {}),
  };
}

/** The MongoDB client's security settings from {@link mongoSchema}'s variables. */
export function mongoSecurityFrom(cfg: {
  MONGODB_TLS?: boolean;
  MONGODB_TLS_CA_FILE?: string | undefined;
  MONGODB_TLS_CERT_KEY_FILE?: string | undefined;
  MONGODB_USERNAME?: string | undefined;
  MONGODB_PASSWORD_FILE?: string | undefined;
  MONGODB_AUTH_SOURCE?: string | undefined;
}): { tls?: { caFile?: string | undefined; certificateKeyFile?: string | undefined }; auth?: { username: string; passwordFile: string; authSource?: string | undefined } } {
  return {
    ...(cfg.MONGODB_TLS ? { tls: { caFile: cfg.MONGODB_TLS_CA_FILE, certificateKeyFile: cfg.MONGODB_TLS_CERT_KEY_FILE } } : {}),
    ...(cfg.MONGODB_USERNAME && cfg.MONGODB_PASSWORD_FILE ? { auth: { username: cfg.MONGODB_USERNAME, passwordFile: cfg.MONGODB_PASSWORD_FILE, authSource: cfg.MONGODB_AUTH_SOURCE } } : {}),
  };
}

/** Cross-field rules of the Kafka and MongoDB security variables (a half-set SASL or user is an error, not plaintext). */
export function checkTransportSecurity(cfg: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const sasl = ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD_FILE'];
  const setSasl = sasl.filter((k) => cfg[k] !== undefined);
  if (setSasl.length > 0 && setSasl.length < sasl.length) {
    for (const k of sasl.filter((x) => cfg[x] === undefined)) ctx.addIssue({ code: 'custom', path: [k], message: 'Kafka SASL needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE' });
  }
  const user = ['MONGODB_USERNAME', 'MONGODB_PASSWORD_FILE'];
  const setUser = user.filter((k) => cfg[k] !== undefined);
  if (setUser.length === 1) {
    for (const k of user.filter((x) => cfg[x] === undefined)) ctx.addIssue({ code: 'custom', path: [k], message: 'a MongoDB user needs MONGODB_USERNAME and MONGODB_PASSWORD_FILE' });
  }
}

export const vaultSchema = z.object({
  VAULT_ADDR: z.url().describe('Vault (or OpenBao) address.'),
  VAULT_TOKEN: z.string().min(1).describe('Vault token of this service (its policies limit it to its own paths); a deployment reads it from the Vault Agent\'s token file, never from a manifest.'),
  VAULT_KV_MOUNT: z.string().default('secret').describe('Mount of the KV v2 engine.'),
  VAULT_TRANSIT_MOUNT: z.string().default('transit').describe('Mount of the Transit engine.'),
  VAULT_TIMEOUT_MS: env.ms.default(5_000).describe('Timeout of one Vault request.'),
});

export const grpcServerSchema = z.object({
  GRPC_HOST: z.string().default('127.0.0.1').describe('Address the gRPC server binds (0.0.0.0 in a container).'),
  GRPC_PORT: port.default(0).describe('Port of the gRPC server; 0 picks a free port (logged in `service ready`).'),
});

/** Vault settings for services that need Vault only for their gRPC certificates (required when GRPC_TLS=vault). */
export const vaultOptionalSchema = vaultSchema.partial({ VAULT_ADDR: true, VAULT_TOKEN: true });

const commaList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

/** gRPC transport security (libs/platform/grpc/src/tls.ts, docs/SECURITY.md). */
export const grpcTlsSchema = z.object({
  GRPC_TLS: z.enum(['vault', 'files', 'insecure']).default('vault').describe('`vault` (certificates from Vault PKI), `files` (from a mesh/agent), `insecure` (NODE_ENV=development only).'),
  GRPC_TLS_TRUST_DOMAIN: z.string().regex(/^[a-z0-9.-]+$/, 'expected a SPIFFE trust domain').default('ais-platform').describe('SPIFFE trust domain of the services\' identities (spiffe://<domain>/<service>).'),
  GRPC_TLS_PKI_MOUNT: z.string().min(1).default('pki').describe('Mount of Vault\'s PKI engine (GRPC_TLS=vault).'),
  GRPC_TLS_PKI_ROLE: z.string().default('').describe('Vault PKI role; empty = the service\'s name.'),
  GRPC_TLS_CERT_TTL_MS: env.ms.default(24 * 3_600_000).describe('Lifetime asked for a leaf certificate (GRPC_TLS=vault); renewed at two thirds of it.'),
  GRPC_TLS_ALT_NAMES: commaList('localhost').describe('Comma-separated DNS names put in the server certificate (GRPC_TLS=vault).'),
  GRPC_TLS_IP_SANS: commaList('127.0.0.1').describe('Comma-separated IP addresses put in the server certificate (GRPC_TLS=vault).'),
  GRPC_TLS_CERT_FILE: z.string().min(1).optional().describe('PEM certificate of this service (GRPC_TLS=files), re-read every GRPC_TLS_FILES_REFRESH_MS.'),
  GRPC_TLS_KEY_FILE: z.string().min(1).optional().describe('PEM private key of that certificate (GRPC_TLS=files).'),
  GRPC_TLS_CA_FILE: z.string().min(1).optional().describe('PEM CA bundle that peers\' certificates must chain to (GRPC_TLS=files).'),
  GRPC_TLS_FILES_REFRESH_MS: env.ms.default(60_000).describe('How often the certificate files are re-read (GRPC_TLS=files).'),
});

/** Cross-field rules of {@link grpcTlsSchema}, for a service schema's superRefine. */
export function checkGrpcTls(
  cfg: { NODE_ENV: string; GRPC_TLS: string; GRPC_TLS_CERT_FILE?: string | undefined; GRPC_TLS_KEY_FILE?: string | undefined; GRPC_TLS_CA_FILE?: string | undefined; VAULT_ADDR?: string | undefined; VAULT_TOKEN?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (cfg.GRPC_TLS === 'insecure' && cfg.NODE_ENV !== 'development') {
    ctx.addIssue({ code: 'custom', path: ['GRPC_TLS'], message: 'insecure gRPC is allowed only with NODE_ENV=development' });
  }
  if (cfg.GRPC_TLS === 'files') {
    for (const key of ['GRPC_TLS_CERT_FILE', 'GRPC_TLS_KEY_FILE', 'GRPC_TLS_CA_FILE'] as const) {
      if (!cfg[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'GRPC_TLS=files needs GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE and GRPC_TLS_CA_FILE' });
    }
  }
  if (cfg.GRPC_TLS === 'vault') {
    for (const key of ['VAULT_ADDR', 'VAULT_TOKEN'] as const) {
      if (!cfg[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'GRPC_TLS=vault needs VAULT_ADDR and VAULT_TOKEN' });
    }
  }
}

/** Every cross-field security rule a service's schema needs: gRPC TLS, Kafka and MongoDB credentials. */
export function checkSecurity(cfg: Parameters<typeof checkGrpcTls>[0] & Record<string, unknown>, ctx: z.RefinementCtx): void {
  checkGrpcTls(cfg, ctx);
  checkTransportSecurity(cfg, ctx);
}
