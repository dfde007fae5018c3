import type { eventsV1, MessageEncoder } from '@ais/contracts-proto-ts';

/** What the typed producer/consumer need to know about one topic's protobuf message type. */
export interface EventCodec<T> extends MessageEncoder<T> {
  decode(input: Uint8Array): T;
}

/** Every event message has the envelope as field `meta`. */
export interface WithMeta {
  meta?: eventsV1.EventMeta | undefined;
}

export interface TopicBinding<T extends WithMeta> {
  topic: string;
  codec: EventCodec<T>;
  /** Partitioning key: order holds per key (account, user, connection). */
  keyOf(event: T): string;
}
