import type { eventsV1 } from '@ais/contracts-proto-ts';

/** What the typed producer/consumer need to know about one topic's protobuf message type. */
export interface EventCodec<T> {
  encode(message: T): { finish(): Uint8Array };
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
