/**
 * A fix for kafkajs 2.2.4's request queue, which keeps a timer loop running on every broker connection.
 *
 * kafkajs keeps a request queue per connection. After each check of its pending requests it arms the next check
 * with `setTimeout(throttledUntil - now)`. With no throttle (`throttledUntil` = -1) that delay is negative, so the
 * check runs again 1 ms later, and again, for as long as the connection is open: about a thousand timer callbacks a
 * second per connection, idle or not (upstream issues 1556 and 1704; the fixes proposed there are not released).
 * Here it cost each service about 1 CPU second in 30 idle seconds, against 0.2-0.6 without the loop (the five
 * services of one stack, idle; `docs/BENCHMARKS.md`, consent to history).
 *
 * The replacement arms a check only while requests are pending. They wait for one of two things:
 * - a throttle: the check is armed for its end, or 10 ms when the end is now or past (the marginal case of
 *   upstream PR 1532, so a request never waits for nothing);
 * - the in-flight limit: every response and every timeout already runs a check.
 * A request pushed later arms its own check. Nothing else of the queue changes.
 *
 * Applied once, when this library is loaded. Only the version known to carry the loop is patched. Another version
 * keeps its own code, and `request-queue.spec.ts` fails on it, so an upgrade is reviewed here.
 */
/** The kafkajs version whose request queue is fixed here. */
export const PATCHED_KAFKAJS_VERSION = '2.2.4';

/** As upstream: the delay of a check when a throttle ends now or has ended. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

/** The fields of kafkajs' RequestQueue that the fix reads and writes. */
interface RequestQueueInternals {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

function scheduleCheckPendingRequests(this: RequestQueueInternals): void {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const untilUnthrottled = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_REQUESTS_INTERVAL_MS,
  );
}

/**
 * kafkajs' RequestQueue class: an internal module, the very one kafkajs loads (the package has no `exports` map, and
 * a plain `require` resolves it through the same module registry as `import 'kafkajs'`, jest's included).
 */
export function kafkajsRequestQueue(): { prototype: RequestQueueInternals } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('kafkajs/src/network/requestQueue') as { prototype: RequestQueueInternals };
}

/** The installed kafkajs version. */
export function kafkajsVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('kafkajs/package.json') as { version: string }).version;
}

/** Replaces the request queue's check scheduling (idempotent); true when the installed version is the patched one. */
export function fixRequestQueueTimerLoop(): boolean {
  if (kafkajsVersion() !== PATCHED_KAFKAJS_VERSION) return false;
  kafkajsRequestQueue().prototype.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  return true;
}
