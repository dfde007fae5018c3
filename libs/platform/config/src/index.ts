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
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  DEPLOYMENT_ENVIRONMENT: z.string().default('local'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_MS: env.ms.default(15_000),
  /** How long start-up keeps retrying a server that is not ready yet before the service exits with one fatal line. */
  STARTUP_TIMEOUT_MS: env.ms.default(10_000),
});

export const mongoSchema = z.object({
  MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'expected a mongodb:// URI'),
  MONGODB_DB: z.string().min(1),
  MONGODB_CONNECT_TIMEOUT_MS: env.ms.default(10_000),
});

export const kafkaSchema = z.object({
  KAFKA_BROKERS: env.list.pipe(z.array(hostPort).min(1)),
  KAFKA_CLIENT_ID: z.string().min(1),
  KAFKA_CONNECT_TIMEOUT_MS: env.ms.default(10_000),
  KAFKA_TOPIC_PREFIX: z.string().regex(/^[a-z0-9._-]*$/).default(''),
});

export const vaultSchema = z.object({
  VAULT_ADDR: z.url(),
  VAULT_TOKEN: z.string().min(1),
  VAULT_KV_MOUNT: z.string().default('secret'),
  VAULT_TRANSIT_MOUNT: z.string().default('transit'),
  VAULT_TIMEOUT_MS: env.ms.default(5_000),
});

export const grpcServerSchema = z.object({
  GRPC_HOST: z.string().default('127.0.0.1'),
  GRPC_PORT: port.default(0),
});
