/**
 * Token lifecycle helpers. TrueLayer keeps only the most recently issued access token valid and refresh tokens may
 * rotate, so refreshes for one connection must never run in parallel (reference §3.3).
 */

/** True when the access token expires within `skewMs` (default 60 s) of `nowMs`. */
export function isAccessTokenExpiring(tokens: { expiresAt: Date }, nowMs: number = Date.now(), skewMs = 60_000): boolean {
  return tokens.expiresAt.getTime() - skewMs <= nowMs;
}

/**
 * In-process single flight: concurrent `run(key, fn)` calls with the same key share one execution. Use the
 * connection's credentials_id as key around `auth.refresh` (a cross-process lock is still needed when several
 * service instances can refresh the same connection).
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const p = (async () => {
      try {
        return await fn();
      } finally {
        this.inFlight.delete(key);
      }
    })();
    this.inFlight.set(key, p);
    return p;
  }

  get size(): number {
    return this.inFlight.size;
  }
}
