/**
 * Fault injection. A rule matches by endpoint name and/or provider id and can add latency, fail a fraction of calls
 * with a TrueLayer error code, hang the request until the client gives up, or drop async webhooks.
 */
import { DATA_ERRORS } from './errors';
import { mulberry32, seedOf, uuid } from './ids';

export interface FaultRule {
  id: string;
  /** Endpoint name (e.g. `accounts`, `account.transactions`, `token`) or `*`. Default `*`. */
  endpoint: string;
  /** Provider id or `*`. Default `*`. */
  provider: string;
  latencyMs?: number;
  /** TrueLayer error code to return. */
  error?: string;
  /** HTTP status override (default: the catalogue status of `error`). */
  status?: number;
  description?: string;
  /** Probability in [0,1] that the error/timeout fires (default 1). */
  rate: number;
  /** Never respond; the request stays open until the client aborts. */
  timeout?: boolean;
  /** Drop the webhook of async tasks matching this rule. */
  dropWebhook?: boolean;
  /** Remove the rule after it fired this many times. */
  remaining?: number;
  /** Adds a `Retry-After` header (seconds) to the injected error. */
  retryAfterSeconds?: number;
  fired: number;
}

export interface FaultDecision {
  latencyMs: number;
  timeout: boolean;
  error?: { code: string; status: number; description: string; retryAfterSeconds?: number };
  dropWebhook: boolean;
}

export function parseFaultRule(input: Record<string, unknown>): FaultRule | string {
  const str = (k: string): string | undefined => (typeof input[k] === 'string' ? (input[k] as string) : undefined);
  const num = (k: string): number | undefined => (typeof input[k] === 'number' && Number.isFinite(input[k]) ? (input[k] as number) : undefined);
  const rule: FaultRule = {
    id: uuid(),
    endpoint: str('endpoint') ?? '*',
    provider: str('provider') ?? '*',
    latencyMs: num('latencyMs'),
    error: str('error'),
    status: num('status'),
    description: str('description'),
    rate: num('rate') ?? num('errorRate') ?? 1,
    timeout: input['timeout'] === true,
    dropWebhook: input['dropWebhook'] === true,
    remaining: num('count') ?? num('remaining'),
    retryAfterSeconds: num('retryAfterSeconds'),
    fired: 0,
  };
  if (rule.rate < 0 || rule.rate > 1) return 'rate must be within [0,1]';
  if (rule.latencyMs !== undefined && rule.latencyMs < 0) return 'latencyMs must be >= 0';
  if (rule.status !== undefined && (rule.status < 100 || rule.status > 599)) return 'status must be an HTTP status';
  if (rule.error !== undefined && rule.status === undefined && !DATA_ERRORS[rule.error]) return `unknown error code ${rule.error}; pass status too`;
  if (!rule.error && !rule.timeout && !rule.dropWebhook && rule.latencyMs === undefined) return 'rule needs error, timeout, dropWebhook or latencyMs';
  return rule;
}

export class FaultRegistry {
  private rules: FaultRule[] = [];
  private readonly rng: () => number;

  constructor(seed: string) {
    this.rng = mulberry32(seedOf('faults', seed));
  }

  add(rule: FaultRule): FaultRule {
    this.rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    return [...this.rules];
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  private matches(rule: FaultRule, endpoint: string, provider: string | undefined): boolean {
    const endpointOk = rule.endpoint === '*' || rule.endpoint === endpoint || (rule.endpoint.endsWith('*') && endpoint.startsWith(rule.endpoint.slice(0, -1)));
    const providerOk = rule.provider === '*' || rule.provider === provider;
    return endpointOk && providerOk;
  }

  private fire(rule: FaultRule): void {
    rule.fired += 1;
    if (rule.remaining !== undefined) {
      rule.remaining -= 1;
      if (rule.remaining <= 0) this.remove(rule.id);
    }
  }

  decide(endpoint: string, provider: string | undefined): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0, timeout: false, dropWebhook: false };
    for (const rule of [...this.rules]) {
      if (rule.dropWebhook || !this.matches(rule, endpoint, provider)) continue;
      if (rule.latencyMs !== undefined) decision.latencyMs = Math.max(decision.latencyMs, rule.latencyMs);
      if (!rule.error && !rule.timeout) {
        if (rule.latencyMs !== undefined) this.fire(rule);
        continue;
      }
      if (decision.error || decision.timeout) continue;
      if (this.rng() >= rule.rate) continue;
      if (rule.timeout) decision.timeout = true;
      else if (rule.error) {
        const known = DATA_ERRORS[rule.error];
        decision.error = {
          code: rule.error,
          status: rule.status ?? known?.status ?? 500,
          description: rule.description ?? known?.description ?? 'Error.',
          retryAfterSeconds: rule.retryAfterSeconds,
        };
      }
      this.fire(rule);
    }
    return decision;
  }

  shouldDropWebhook(endpoint: string, provider: string | undefined): boolean {
    for (const rule of [...this.rules]) {
      if (rule.dropWebhook && this.matches(rule, endpoint, provider) && this.rng() < rule.rate) {
        this.fire(rule);
        return true;
      }
    }
    return false;
  }
}
