/** Backoff and Retry-After helpers (pure; randomness and time are injected). */

export interface RetryOptions {
  /** Total attempts including the first one. Default 3. `1` disables retries. */
  maxAttempts?: number;
  /** Backoff base in ms (attempt n waits up to base * 2^(n-1)). Default 200. */
  baseDelayMs?: number;
  /** Cap for a single backoff delay in ms. Default 5000. */
  maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the error is returned with `retryAfterMs`. Default 30000. */
  maxRetryAfterMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 30_000,
});

/** "Full jitter" backoff: uniform in [0, min(cap, base * 2^(retry-1))]. `retry` is 1 for the first retry. */
export function fullJitterDelay(retry: number, opts: Required<RetryOptions>, random: () => number): number {
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * exp);
}

/** Parses a Retry-After header (delta-seconds or HTTP-date) into ms from `nowMs`; undefined if absent/invalid. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Default sleep: resolves after `ms`, rejects with the signal's reason if it aborts first. */
export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
