/**
 * The unattended-call budget (ARCHITECTURE.md invariant 3): at most {@link UNATTENDED_CALLS_PER_WINDOW} calls to
 * TrueLayer without the user present, per connection × account (or card) × endpoint, in any rolling 24 hours,
 * even with several data-fetcher instances racing on one shared store, and without transactions.
 *
 * ## Design: four slots per key
 *
 * A key (connection, resource, endpoint) owns four slot documents, `_id = <key>#<slot>` for slot 0..3, each
 * holding `usedAt`, the time of the last call that used it. A call is granted only by taking a slot, and a slot is
 * taken by exactly one single-document write:
 * - a slot that does not exist yet is taken by **inserting** it (the unique `_id` lets one insert win);
 * - an existing slot is taken by **one conditional update** `{_id, usedAt: {$eq: seen, $lte: now - window}} →
 *   {$set: {usedAt: now, previousUsedAt: seen, ...}}`, a compare-and-set on the value just read, atomic per
 *   document on MongoDB and on the local MongoDB-wire server (racing conditional updates have exactly one
 *   winner: libs/platform/mongo/test/store.int-spec.ts).
 *
 * ## Why it cannot overrun (proof sketch)
 * 1. Every grant is a write to one slot that the writer won; two grants never share a write (unique `_id` for the
 *    insert, atomic compare-and-set for the update), so grants on one slot are totally ordered by the store.
 * 2. If counted grant g2 follows counted grant g1 on the same slot, g2 was an update whose condition required
 *    the slot's current `usedAt` to be at most `t2 - window`; that value is t1 or a later counted grant's time
 *    (a refund, below, puts back exactly the value its grant replaced, i.e. the previous counted grant's time,
 *    because the grant was a compare-and-set on that value), so `t2 - t1 >= window >= 24 h`. Refunded grants
 *    never reached the bank and are not counted.
 * 3. So any half-open interval [t, t + 24 h) holds at most one counted grant per slot, and with four slots at
 *    most four per key. No read-then-write decides a grant, so no interleaving of instances can add a fifth.
 * The times are the granting instance's clock; the window is 24 h plus a safety margin (default 15 min) that
 * absorbs clock skew between instances and the delay between a grant and the bank seeing the call.
 *
 * ## Refunds: calls that provably never reached the bank
 * A grant is handed back (its slot's `usedAt` restored to the value before the grant) only when the call
 * provably never reached the bank: it was never sent (e.g. no access token, circuit open), or TrueLayer itself
 * rejected it before any bank call: 400 `validation_error` (TrueLayer validates the parameters) or 401
 * `invalid_token` (TrueLayer cannot forward a call it cannot authenticate). Everything else counts, including
 * timeouts, 5xx, `provider_request_limit_exceeded` and every other bank-side failure: third parties observe that
 * failed calls count (reference §7), and a timeout may have reached the bank. See {@link isRefundable}.
 *
 * This module is transport-free: the store is the {@link SlotStore} port (apps/data-fetcher/src/data/).
 */
import { randomUUID } from 'node:crypto';

export const UNATTENDED_CALLS_PER_WINDOW = 4;
export const REGULATORY_WINDOW_MS = 24 * 3600_000;
/** Added to the 24 h window: clock skew between instances plus the delay until the bank sees the call. */
export const DEFAULT_SAFETY_MARGIN_MS = 15 * 60_000;

/** Data API endpoints that are budgeted separately (one budget per connection × resource × endpoint). */
export const BUDGET_ENDPOINTS = [
  'info',
  'accounts',
  'cards',
  'balance',
  'transactions',
  'pending',
  'standing_orders',
  'direct_debits',
] as const;
export type BudgetEndpoint = (typeof BUDGET_ENDPOINTS)[number];

export interface BudgetKey {
  connectionId: string;
  /** `account:<id>`, `card:<id>`, or `connection` for connection-level endpoints (`/info`, `/accounts`, `/cards`). */
  resourceId: string;
  endpoint: BudgetEndpoint;
}

export const accountKey = (connectionId: string, accountId: string, endpoint: BudgetEndpoint): BudgetKey => ({
  connectionId,
  resourceId: `account:${accountId}`,
  endpoint,
});
export const cardKey = (connectionId: string, cardId: string, endpoint: BudgetEndpoint): BudgetKey => ({
  connectionId,
  resourceId: `card:${cardId}`,
  endpoint,
});
export const connectionKey = (connectionId: string, endpoint: BudgetEndpoint): BudgetKey => ({
  connectionId,
  resourceId: 'connection',
  endpoint,
});

/**
 * The key as one string. Each part is percent-encoded, so the separators `|` and `#` never occur inside a part
 * (TrueLayer connection ids are base64 and may hold `+`, `/`, `=`): distinct keys never share a string.
 */
export function budgetKeyId(key: BudgetKey): string {
  return [key.connectionId, key.resourceId, key.endpoint].map(encodeURIComponent).join('|');
}

export function slotId(key: BudgetKey, slot: number): string {
  return `${budgetKeyId(key)}#${slot}`;
}

/** What the store keeps per slot. */
export interface SlotDoc {
  _id: string;
  connectionId: string;
  resourceId: string;
  endpoint: BudgetEndpoint;
  slot: number;
  /** Time of the last counted call that used the slot (the epoch when it was never used or refunded). */
  usedAt: Date;
  /** `usedAt` before the current grant: what a refund restores. */
  previousUsedAt: Date;
  /** Id of the current grant; a refund must name it. Empty after a refund. */
  grantId: string;
  /** Who took it and why (the support report shows them). */
  instance: string;
  reason: string;
  correlationId: string;
  refundedAt?: Date;
  refundReason?: string;
}

/** The store port: single-document atomic writes only. */
export interface SlotStore {
  /** Inserts a never-used slot; false when the `_id` exists (someone else took it first). */
  insert(doc: SlotDoc): Promise<boolean>;
  /**
   * Takes an existing slot iff its `usedAt` still equals `seen` and is at most `lapsedBy` (one conditional update,
   * a compare-and-set); true when this call won.
   */
  takeLapsed(id: string, seen: Date, lapsedBy: Date, set: Omit<SlotDoc, '_id' | 'connectionId' | 'resourceId' | 'endpoint' | 'slot'>): Promise<boolean>;
  /** Restores `usedAt = previousUsedAt` iff the slot still holds `grantId` (one conditional update). */
  refund(id: string, grantId: string, at: Date, reason: string): Promise<boolean>;
  /** The slots of one key (at most four, read by `_id`). */
  slotsOf(ids: readonly string[]): Promise<SlotDoc[]>;
  /** Every slot of one connection (served by the `call_budget_connection` index). */
  slotsOfConnection(connectionId: string): Promise<SlotDoc[]>;
}

export interface Clock {
  now(): Date;
}

export interface ConsumeMeta {
  /** Why the call is made, e.g. `scheduled` or `backfill` (user-present calls are not budgeted). */
  reason: string;
  /** Trace or job id, for the support report. */
  correlationId?: string;
}

export type ConsumeResult =
  /** `left`: calls left for the key in its window after this grant, as read just before the claim (for metrics). */
  | { granted: true; slot: number; grantId: string; usedAt: Date; key: BudgetKey; left: number }
  | { granted: false; nextAvailableAt: Date };

export interface KeyUsage {
  used: number;
  left: number;
  /** When the next slot frees up (now when one is free). */
  nextFreeAt: Date;
}

export interface EndpointUsage extends KeyUsage {
  resourceId: string;
  endpoint: BudgetEndpoint;
  /** Times of the calls counted in the current window, oldest first. */
  calls: Date[];
}

/** How a budgeted call ended, for {@link isRefundable}. */
export type CallOutcome =
  | { kind: 'not_sent'; reason: string }
  | { kind: 'truelayer_error'; code: string; httpStatus: number }
  | { kind: 'other'; reason: string };

/** TrueLayer answers that prove the bank was never called (see the module comment). */
export const NEVER_REACHED_BANK: Readonly<Record<string, number>> = Object.freeze({
  validation_error: 400,
  invalid_token: 401,
});

export function isRefundable(outcome: CallOutcome): boolean {
  if (outcome.kind === 'not_sent') return true;
  if (outcome.kind === 'truelayer_error') return NEVER_REACHED_BANK[outcome.code] === outcome.httpStatus;
  return false;
}

export function describeOutcome(outcome: CallOutcome): string {
  return outcome.kind === 'truelayer_error' ? `${outcome.code} (HTTP ${outcome.httpStatus})` : `${outcome.kind}: ${outcome.reason}`;
}

const EPOCH = new Date(0);

export type ClaimPlan = { slot: number; kind: 'insert' } | { slot: number; kind: 'take_lapsed' };

/**
 * Which slots to try, in order: never-used slots first (inserts), then lapsed ones, oldest first. Pure: the
 * plan is only a hint; each attempt is decided by the store's atomic write, never by this read.
 */
export function planClaims(existing: readonly Pick<SlotDoc, 'slot' | 'usedAt'>[], now: Date, windowMs: number): ClaimPlan[] {
  const bySlot = new Map(existing.map((s) => [s.slot, s]));
  const lapsedBy = now.getTime() - windowMs;
  const inserts: ClaimPlan[] = [];
  const lapsed: { slot: number; usedAt: number }[] = [];
  for (let slot = 0; slot < UNATTENDED_CALLS_PER_WINDOW; slot += 1) {
    const doc = bySlot.get(slot);
    if (!doc) inserts.push({ slot, kind: 'insert' });
    else if (doc.usedAt.getTime() <= lapsedBy) lapsed.push({ slot, usedAt: doc.usedAt.getTime() });
  }
  lapsed.sort((a, b) => a.usedAt - b.usedAt || a.slot - b.slot);
  return [...inserts, ...lapsed.map(({ slot }): ClaimPlan => ({ slot, kind: 'take_lapsed' }))];
}

/** Used / left / next free time of one key from its slots. */
export function summarize(slots: readonly Pick<SlotDoc, 'usedAt'>[], now: Date, windowMs: number): KeyUsage & { calls: Date[] } {
  const from = now.getTime() - windowMs;
  const calls = slots
    .map((s) => s.usedAt)
    .filter((t) => t.getTime() > from)
    .sort((a, b) => a.getTime() - b.getTime());
  const used = calls.length;
  const left = UNATTENDED_CALLS_PER_WINDOW - used;
  const oldest = calls[0];
  const nextFreeAt = left > 0 || !oldest ? now : new Date(oldest.getTime() + windowMs);
  return { used, left, nextFreeAt, calls };
}

export interface CallBudgetOptions {
  clock: Clock;
  /** Name of this instance, stored on the slots it takes. */
  instance: string;
  /** Extra time on top of 24 h (default {@link DEFAULT_SAFETY_MARGIN_MS}). */
  safetyMarginMs?: number;
  /** Grant ids (default random UUIDs). */
  newId?: () => string;
  /** Rounds of read-then-claim when every claim lost a race (default 3). */
  maxRounds?: number;
}

/** The ledger: grants, refunds and reports unattended calls. */
export class CallBudget {
  readonly windowMs: number;
  private readonly clock: Clock;
  private readonly instance: string;
  private readonly newId: () => string;
  private readonly maxRounds: number;

  constructor(
    private readonly store: SlotStore,
    options: CallBudgetOptions,
  ) {
    const margin = options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
    if (!Number.isFinite(margin) || margin < 0) throw new RangeError('safetyMarginMs must be >= 0');
    this.windowMs = REGULATORY_WINDOW_MS + margin;
    this.clock = options.clock;
    this.instance = options.instance;
    this.newId = options.newId ?? randomUUID;
    this.maxRounds = options.maxRounds ?? 3;
  }

  /** Takes one unattended call for `key`, or says when the next one frees up. */
  async tryConsume(key: BudgetKey, now: Date = this.clock.now(), meta: ConsumeMeta = { reason: 'scheduled' }): Promise<ConsumeResult> {
    const ids = this.ids(key);
    const lapsedBy = new Date(now.getTime() - this.windowMs);
    let slots: SlotDoc[] = [];
    for (let round = 0; round < this.maxRounds; round += 1) {
      slots = await this.store.slotsOf(ids);
      const plan = planClaims(slots, now, this.windowMs);
      if (plan.length === 0) return { granted: false, nextAvailableAt: summarize(slots, now, this.windowMs).nextFreeAt };
      for (const claim of plan) {
        const grantId = this.newId();
        const previous = slots.find((s) => s.slot === claim.slot)?.usedAt ?? EPOCH;
        const fields = {
          usedAt: now,
          previousUsedAt: previous,
          grantId,
          instance: this.instance,
          reason: meta.reason,
          correlationId: meta.correlationId ?? '',
        };
        const won =
          claim.kind === 'insert'
            ? await this.store.insert({ _id: ids[claim.slot]!, ...key, slot: claim.slot, ...fields })
            : await this.store.takeLapsed(ids[claim.slot]!, previous, lapsedBy, fields);
        if (won) return { granted: true, slot: claim.slot, grantId, usedAt: now, key, left: Math.max(0, summarize(slots, now, this.windowMs).left - 1) };
      }
    }
    // Every claim lost its race `maxRounds` times: say when the earliest of the slots read last frees up (at
    // worst `now`, when one was refunded meanwhile: the caller may ask again at once).
    return { granted: false, nextAvailableAt: summarize(slots, now, this.windowMs).nextFreeAt };
  }

  /**
   * Hands a grant back when its call provably never reached the bank ({@link isRefundable}); true when the slot
   * was restored. Anything else is refused (false) and the call keeps counting.
   */
  async refund(grant: { key: BudgetKey; slot: number; grantId: string }, outcome: CallOutcome, now: Date = this.clock.now()): Promise<boolean> {
    if (!isRefundable(outcome)) return false;
    return this.store.refund(slotId(grant.key, grant.slot), grant.grantId, now, describeOutcome(outcome));
  }

  /** Calls left for `key` in the window ending at `now`. */
  async remaining(key: BudgetKey, now: Date = this.clock.now()): Promise<KeyUsage> {
    const { used, left, nextFreeAt } = summarize(await this.store.slotsOf(this.ids(key)), now, this.windowMs);
    return { used, left, nextFreeAt };
  }

  /** Per resource × endpoint of one connection: used, left, next free time and the counted calls. */
  async usage(connectionId: string, now: Date = this.clock.now()): Promise<EndpointUsage[]> {
    const groups = new Map<string, SlotDoc[]>();
    for (const slot of await this.store.slotsOfConnection(connectionId)) {
      const id = `${slot.resourceId}|${slot.endpoint}`;
      groups.set(id, [...(groups.get(id) ?? []), slot]);
    }
    return [...groups.values()]
      .map((slots) => ({ resourceId: slots[0]!.resourceId, endpoint: slots[0]!.endpoint, ...summarize(slots, now, this.windowMs) }))
      .sort((a, b) => a.resourceId.localeCompare(b.resourceId) || a.endpoint.localeCompare(b.endpoint));
  }

  private ids(key: BudgetKey): string[] {
    return Array.from({ length: UNATTENDED_CALLS_PER_WINDOW }, (_, slot) => slotId(key, slot));
  }
}
