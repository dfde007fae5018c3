/**
 * Unattended-call budget: per connection × account × endpoint, at most `limit` calls without X-PSU-IP in any rolling
 * 24 h window (PSD2 RTS Art. 36(5)(b) as enforced by banks). Calls that reach the provider count, failed or not.
 */
import { DAY } from '../clock';

export class UnattendedBudget {
  private readonly calls = new Map<string, number[]>();

  static key(credentialsId: string, accountId: string, endpoint: string): string {
    return `${credentialsId}|${accountId}|${endpoint}`;
  }

  /** Returns false when the budget is exhausted; otherwise records the call and returns true. */
  tryConsume(key: string, now: number, limit: number): boolean {
    const recent = (this.calls.get(key) ?? []).filter((t) => t > now - DAY);
    if (recent.length >= limit) {
      this.calls.set(key, recent);
      return false;
    }
    recent.push(now);
    this.calls.set(key, recent);
    return true;
  }

  used(key: string, now: number): number {
    return (this.calls.get(key) ?? []).filter((t) => t > now - DAY).length;
  }

  snapshot(now: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.calls) out[k] = v.filter((t) => t > now - DAY).length;
    return out;
  }

  clear(): void {
    this.calls.clear();
  }
}

/** Response cache for identical data GETs (same connection, path and query). */
export class ResponseCache {
  private readonly entries = new Map<string, { expiresAt: number; status: number; body: unknown }>();

  get(key: string, now: number): { status: number; body: unknown; remainingSeconds: number } | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return { status: e.status, body: e.body, remainingSeconds: Math.max(0, Math.ceil((e.expiresAt - now) / 1000)) };
  }

  set(key: string, now: number, ttlSeconds: number, status: number, body: unknown): void {
    if (ttlSeconds <= 0) return;
    this.entries.set(key, { expiresAt: now + ttlSeconds * 1000, status, body });
  }

  clear(): void {
    this.entries.clear();
  }
}
