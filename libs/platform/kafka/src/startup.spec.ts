import { KafkaJSAggregateError, KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { isAlreadyExists, isRetriableKafkaError, KafkaStartupError, withStartupRetry } from './startup';

// What kafkajs throws for the broker-side codes a fresh broker answers with.
const protocol = (type: string, code: number, message: string, retriable: boolean) => new KafkaJSProtocolError({ message, type, code, retriable } as never);
const unknownTopic = () => protocol('UNKNOWN_TOPIC_OR_PARTITION', 3, 'This server does not host this topic-partition', false);
const coordinatorLoading = () => protocol('COORDINATOR_LOAD_IN_PROGRESS', 14, "The coordinator is loading and hence can't process requests", true);
const alreadyExists = () => protocol('TOPIC_ALREADY_EXISTS', 36, 'Topic with this name already exists', false);

describe('isRetriableKafkaError', () => {
  it('retries what a broker that has just started answers, also inside kafkajs retry and aggregate errors', () => {
    expect(isRetriableKafkaError(unknownTopic())).toBe(true);
    expect(isRetriableKafkaError(coordinatorLoading())).toBe(true);
    expect(isRetriableKafkaError(protocol('LEADER_NOT_AVAILABLE', 5, 'There is no leader for this topic-partition', true))).toBe(true);
    expect(isRetriableKafkaError(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9'))).toBe(true);
    expect(isRetriableKafkaError(new KafkaJSNumberOfRetriesExceeded(unknownTopic(), { retryCount: 8, retryTime: 1000 } as never))).toBe(true);
    expect(isRetriableKafkaError(new KafkaJSAggregateError('x', [unknownTopic(), alreadyExists()] as never))).toBe(true);
  });

  it('does not retry configuration mistakes', () => {
    expect(isRetriableKafkaError(new KafkaJSNonRetriableError('Invalid topics array'))).toBe(false);
    expect(isRetriableKafkaError(protocol('TOPIC_AUTHORIZATION_FAILED', 29, 'Not authorized to access topics', false))).toBe(false);
    expect(isRetriableKafkaError(protocol('INVALID_REPLICATION_FACTOR', 38, 'Replication-factor is invalid', false))).toBe(false);
  });

  it('treats "already exists" from a concurrent creator as success', () => {
    expect(isAlreadyExists(alreadyExists())).toBe(true);
    expect(isAlreadyExists(new KafkaJSAggregateError('x', [alreadyExists(), alreadyExists()] as never))).toBe(true);
    expect(isAlreadyExists(new KafkaJSAggregateError('x', [alreadyExists(), unknownTopic()] as never))).toBe(false);
  });
});

describe('withStartupRetry', () => {
  const opts = { step: 'topics x', brokers: ['127.0.0.1:9'], initialDelayMs: 5 };

  it('retries retriable errors until the step succeeds', async () => {
    const errors = [unknownTopic(), coordinatorLoading()];
    const attempt = jest.fn(async () => {
      const e = errors.shift();
      if (e) throw e;
      return 'ok';
    });
    await expect(withStartupRetry(attempt, { ...opts, budgetMs: 5_000 })).resolves.toBe('ok');
    expect(attempt).toHaveBeenCalledTimes(3);
  });

  it('stops at once on an error retrying cannot fix, naming the brokers', async () => {
    const attempt = jest.fn(() => Promise.reject(new KafkaJSNonRetriableError('Invalid topics array')));
    const error = (await withStartupRetry(attempt, { ...opts, budgetMs: 5_000 }).catch((e: unknown) => e)) as KafkaStartupError;
    expect(error).toBeInstanceOf(KafkaStartupError);
    expect(error.code).toBe('kafka_startup_failed');
    expect(error.message).toContain('127.0.0.1:9');
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('gives up at the budget with the last error, also when an attempt never returns', async () => {
    const t0 = Date.now();
    let n = 0;
    const attempt = () => (++n === 1 ? Promise.reject(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9')) : new Promise<never>(() => undefined));
    const error = (await withStartupRetry(attempt, { ...opts, budgetMs: 300 }).catch((e: unknown) => e)) as KafkaStartupError;
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(error.code).toBe('kafka_unreachable');
    expect(error.message).toBe('cannot reach Kafka at 127.0.0.1:9 within 300 ms (topics x; STARTUP_TIMEOUT_MS): Connection error: connect ECONNREFUSED 127.0.0.1:9');
  });
});
