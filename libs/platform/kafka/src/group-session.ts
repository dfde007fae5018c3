/**
 * How a consumer keeps its group membership alive, and how soon the group notices a consumer that died.
 *
 * The broker drops a member that sends no heartbeat for the session timeout; until then it holds that member's
 * partitions, and a replacement's first join waits for the drop (kafkajs has no static membership). With kafkajs's
 * 30 s default a SIGKILLed service's input waited about 30 s after the restart (docs/CHAOS.md, "down" of the kills);
 * 10 s keeps clear of the broker's lower bound (6 s) with room for a heartbeat or two lost on a loaded machine.
 *
 * kafkajs sends a heartbeat only when the consumer asks (between messages, `heartbeat()` in `eachBatch`), so one
 * message that takes longer than the session (a handler retrying through a store outage, a change-feed run) would
 * have the member dropped mid-batch and its partitions moved. {@link keepHeartbeating} covers that: while a batch
 * runs it asks every heartbeat interval (kafkajs sends at most one per interval and shares one request between
 * concurrent asks). A process whose event loop is blocked for the whole session is still dropped, as it should be.
 */
import type { EachBatchPayload } from 'kafkajs';

/** Default session timeout of the platform's consumers (`KAFKA_SESSION_TIMEOUT_MS`). */
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;

/**
 * A consumer's session timeout (default {@link DEFAULT_SESSION_TIMEOUT_MS}) and its heartbeat interval, a third of
 * it (kafkajs's ratio, 3 s of 30 s), at least 1 s: spread into `kafka.consumer({...})`, and the interval given to
 * {@link keepHeartbeating}.
 */
export function groupSession(sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS): { sessionTimeout: number; heartbeatInterval: number } {
  return { sessionTimeout: sessionTimeoutMs, heartbeatInterval: Math.max(1_000, Math.floor(sessionTimeoutMs / 3)) };
}

/**
 * Asks for a heartbeat every `everyMs` until the returned function is called. A failed heartbeat (the group is
 * rebalancing, the coordinator moved) is left to the batch loop: its own next `heartbeat()` or commit fails the
 * same way and kafkajs rejoins.
 */
export function keepHeartbeating(heartbeat: EachBatchPayload['heartbeat'], everyMs: number): () => void {
  const timer = setInterval(() => {
    heartbeat().catch(() => undefined);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
