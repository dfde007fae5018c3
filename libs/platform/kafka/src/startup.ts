/**
 * Start-up against a broker that may have come up a moment ago.
 *
 * Right after a broker starts (or right after a topic is created) it answers some requests with errors that mean
 * "not yet": UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this topic-partition"), LEADER_NOT_AVAILABLE,
 * NOT_LEADER_OR_FOLLOWER, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, and connections are refused
 * while it binds. kafkajs retries some of these itself, but not all (createTopics gives up on the first
 * UNKNOWN_TOPIC_OR_PARTITION from its leader check), and its own retries of an unreachable broker take ~38 s.
 * {@link withStartupRetry} retries every retriable error with backoff until a deadline, and ends with one
 * {@link KafkaStartupError} that names the step, the brokers and the last error.
 */
import { AppError } from '@ais/platform-errors';

/** Protocol error types that mean "the cluster is not ready yet": worth another try at start-up. */
export const RETRIABLE_TYPES: ReadonlySet<string> = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'REPLICA_NOT_AVAILABLE',
  'BROKER_NOT_AVAILABLE',
  'NOT_CONTROLLER',
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_LOAD_IN_PROGRESS',
  'COORDINATOR_NOT_AVAILABLE',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR',
  'NOT_COORDINATOR_FOR_GROUP',
  'REBALANCE_IN_PROGRESS',
  'UNKNOWN_LEADER_EPOCH',
  'FENCED_LEADER_EPOCH',
  'KAFKA_STORAGE_ERROR',
  'NOT_ENOUGH_REPLICAS',
]);

const RETRIABLE_TEXT = /does not host this topic-partition|leader not available|not the leader|coordinator (is )?(loading|not available)|load in progress|no broker available|connection (error|timeout)|ECONNREFUSED|ECONNRESET/i;

interface KafkaishError {
  name?: string;
  message?: string;
  type?: string;
  retriable?: boolean;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown[];
}

/** True for errors a fresh broker gives while it is still coming up (also wrapped in kafkajs' retry errors). */
export function isRetriableKafkaError(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 5) return false;
  const e = error as KafkaishError;
  if (Array.isArray(e.errors) && e.errors.length > 0) return e.errors.every((x) => isAlreadyExists(x) || isRetriableKafkaError(x, depth + 1));
  if (e.retriable === true) return true;
  if (e.type && RETRIABLE_TYPES.has(e.type)) return true;
  if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSNoBrokerAvailableError' || e.name === 'KafkaJSRequestTimeoutError') return true;
  if (typeof e.message === 'string' && RETRIABLE_TEXT.test(e.message)) return true;
  return isRetriableKafkaError(e.cause, depth + 1) || isRetriableKafkaError(e.originalError, depth + 1);
}

/** "Topic already exists" (a concurrent creator won): success for whoever wanted the topic. */
export function isAlreadyExists(error: unknown): boolean {
  const e = error as KafkaishError | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.type === 'TOPIC_ALREADY_EXISTS') return true;
  return Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(isAlreadyExists);
}

/** A start-up step against Kafka ran out of its budget or met an error that retrying cannot fix. */
export class KafkaStartupError extends AppError {
  constructor(step: string, brokers: readonly string[], budgetMs: number, cause: unknown, timedOut: boolean) {
    const last = cause instanceof Error ? cause.message : cause === undefined ? 'no answer' : String(cause);
    const message = timedOut
      ? `cannot reach Kafka at ${brokers.join(',')} within ${budgetMs} ms (${step}; STARTUP_TIMEOUT_MS): ${last}`
      : `Kafka at ${brokers.join(',')} refused ${step}: ${last}`;
    super({ kind: 'unavailable', code: timedOut ? 'kafka_unreachable' : 'kafka_startup_failed', message, cause });
    this.name = 'KafkaStartupError';
  }
}

export interface StartupRetryOptions {
  /** What this step does, for the error message (e.g. "topic creation"). */
  step: string;
  brokers: readonly string[];
  /** Budget of this step in ms. */
  budgetMs: number;
  /** Called before each retry (logging). */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `attempt` until it succeeds, retrying retriable Kafka errors with exponential backoff (and jitter), within
 * `budgetMs`. An attempt still running at the deadline is abandoned (kafkajs keeps no promise we must await);
 * the caller is expected to give up and exit.
 */
export async function withStartupRetry<T>(attempt: () => Promise<T>, options: StartupRetryOptions): Promise<T> {
  const { step, brokers, budgetMs } = options;
  const deadline = Date.now() + budgetMs;
  let delay = options.initialDelayMs ?? 100;
  let lastError: unknown;
  for (let n = 1; ; n += 1) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new KafkaStartupError(step, brokers, budgetMs, lastError, true);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      attempt().then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      new Promise<{ ok: false; error: undefined; timeout: true }>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, error: undefined, timeout: true }), remaining);
      }),
    ]);
    clearTimeout(timer);
    if (outcome.ok) return outcome.value;
    if ('timeout' in outcome) throw new KafkaStartupError(step, brokers, budgetMs, lastError, true);
    lastError = outcome.error;
    if (!isRetriableKafkaError(outcome.error)) throw new KafkaStartupError(step, brokers, budgetMs, outcome.error, false);
    const wait = Math.min(delay, Math.max(0, deadline - Date.now()));
    const jittered = Math.round(wait * (0.5 + Math.random() / 2));
    options.onRetry?.({ attempt: n, delayMs: jittered, error: outcome.error });
    await sleep(jittered);
    delay = Math.min(delay * 2, options.maxDelayMs ?? 1_000);
  }
}
