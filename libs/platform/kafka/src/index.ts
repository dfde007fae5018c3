export { createKafka, ensureTopics, kafkaSecurityOptions, type EnsureTopicsOptions, type KafkaSecurity, type KafkaSettings, type TopicSpec } from './kafka';
export { kafkajsRequestQueue } from './request-queue';
export { produceEncodings } from './produce-encoding';
export { isAlreadyExists, isRetriableKafkaError, KafkaStartupError, RETRIABLE_TYPES, withStartupRetry, type StartupRetryOptions } from './startup';
export { groupSession, keepHeartbeating } from './group-session';
export { DEFAULT_MAX_REQUEST_BYTES, EventProducer, newMeta, headersFor, partitionOfKey, requestChunks, type ProducerSettings } from './producer';
export {
  EventConsumer,
  replayDeadLetter,
  headersToRecord,
  inConsumerSpan,
  type ConsumerSettings,
  type EventHandler,
  type IdempotencyGuard,
  type MessageContext,
} from './consumer';
export type { EventCodec, TopicBinding, WithMeta } from './codec';
export { adminLagSource, countDeadLetters, readLag, watchConsumerLag, type LagSource, type LagWatch } from './metrics';
