import {
  accountKey,
  budgetKeyId,
  CallBudget,
  cardKey,
  connectionKey,
  DEFAULT_SAFETY_MARGIN_MS,
  isRefundable,
  planClaims,
  REGULATORY_WINDOW_MS,
  slotId,
  summarize,
  UNATTENDED_CALLS_PER_WINDOW,
  type BudgetKey,
  type SlotDoc,
  type SlotStore,
} from './call-budget';
import { maxInAnyWindow } from '../../test/support/windows';

const H = 3600_000;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

/**
 * The store's contract in memory: each method is one atomic step, and every call yields to the event loop
 * first (a random number of times), so concurrent callers interleave between their reads and writes as they
 * would against a real server.
 */
class MemorySlotStore implements SlotStore {
  readonly docs = new Map<string, SlotDoc>();
  constructor(private readonly random: () => number = Math.random) {}

  private async yieldRandomly(): Promise<void> {
    const n = Math.floor(this.random() * 4);
    for (let i = 0; i < n; i += 1) await new Promise((r) => setImmediate(r));
  }
  async insert(doc: SlotDoc): Promise<boolean> {
    await this.yieldRandomly();
    if (this.docs.has(doc._id)) return false;
    this.docs.set(doc._id, { ...doc });
    return true;
  }
  async takeLapsed(id: string, seen: Date, lapsedBy: Date, set: Partial<SlotDoc>): Promise<boolean> {
    await this.yieldRandomly();
    const doc = this.docs.get(id);
    if (!doc || doc.usedAt.getTime() !== seen.getTime() || doc.usedAt.getTime() > lapsedBy.getTime()) return false;
    const { refundedAt: _r, refundReason: _rr, ...rest } = doc;
    this.docs.set(id, { ...rest, ...set } as SlotDoc);
    return true;
  }
  async refund(id: string, grantId: string, refundedAt: Date, refundReason: string): Promise<boolean> {
    await this.yieldRandomly();
    const doc = this.docs.get(id);
    if (!grantId || !doc || doc.grantId !== grantId) return false;
    this.docs.set(id, { ...doc, usedAt: doc.previousUsedAt, grantId: '', refundedAt, refundReason });
    return true;
  }
  async slotsOf(ids: readonly string[]): Promise<SlotDoc[]> {
    await this.yieldRandomly();
    return ids.flatMap((id) => (this.docs.has(id) ? [{ ...this.docs.get(id)! }] : []));
  }
  async slotsOfConnection(connectionId: string): Promise<SlotDoc[]> {
    await this.yieldRandomly();
    return [...this.docs.values()].filter((d) => d.connectionId === connectionId).map((d) => ({ ...d }));
  }
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fixedClock = (d: Date) => ({ now: () => d });
const key: BudgetKey = accountKey('conn+/=1', 'acc-1', 'transactions');

describe('budget keys', () => {
  it('keeps connection, resource and endpoint apart, whatever characters the ids hold', () => {
    const ids = new Set([
      budgetKeyId(accountKey('a|b', 'c', 'balance')),
      budgetKeyId(accountKey('a', 'b|c', 'balance')),
      budgetKeyId(accountKey('a#0', 'c', 'balance')),
      budgetKeyId(cardKey('a', 'c', 'balance')),
      budgetKeyId(accountKey('a', 'c', 'pending')),
      budgetKeyId(connectionKey('a', 'info')),
    ]);
    expect(ids.size).toBe(6);
    expect(slotId(key, 3)).toBe(`${budgetKeyId(key)}#3`);
    expect(budgetKeyId(key).split('#')).toHaveLength(1);
  });
});

describe('planClaims and summarize (pure)', () => {
  const window = REGULATORY_WINDOW_MS;
  it('tries never-used slots first, then lapsed ones oldest first, and never a slot used inside the window', () => {
    const now = at(30 * H);
    const plan = planClaims(
      [
        { slot: 0, usedAt: at(5 * H) }, // lapsed (25 h ago)
        { slot: 1, usedAt: at(10 * H) }, // 20 h ago: in use
        { slot: 3, usedAt: at(1 * H) }, // lapsed, older
      ],
      now,
      window,
    );
    expect(plan).toEqual([
      { slot: 2, kind: 'insert' },
      { slot: 3, kind: 'take_lapsed' },
      { slot: 0, kind: 'take_lapsed' },
    ]);
  });

  it('treats a slot used exactly one window ago as free, and one used a millisecond later as taken', () => {
    const now = at(window);
    expect(planClaims([0, 1, 2, 3].map((slot) => ({ slot, usedAt: T0 })), now, window)).toHaveLength(4);
    expect(planClaims([0, 1, 2, 3].map((slot) => ({ slot, usedAt: at(1) })), now, window)).toEqual([]);
  });

  it('reports used, left and when the oldest counted call leaves the window', () => {
    const now = at(30 * H);
    const full = [at(7 * H), at(10 * H), at(20 * H), at(29 * H)].map((usedAt) => ({ usedAt }));
    expect(summarize(full, now, window)).toMatchObject({ used: 4, left: 0, nextFreeAt: at(31 * H) });
    const partly = [at(1 * H), at(10 * H)].map((usedAt) => ({ usedAt }));
    expect(summarize(partly, now, window)).toMatchObject({ used: 1, left: 3, nextFreeAt: now, calls: [at(10 * H)] });
    expect(summarize([], now, window)).toMatchObject({ used: 0, left: 4, nextFreeAt: now });
  });
});

describe('refund rule', () => {
  it('refunds only calls that provably never reached the bank', () => {
    expect(isRefundable({ kind: 'not_sent', reason: 'no access token' })).toBe(true);
    expect(isRefundable({ kind: 'truelayer_error', code: 'validation_error', httpStatus: 400 })).toBe(true);
    expect(isRefundable({ kind: 'truelayer_error', code: 'invalid_token', httpStatus: 401 })).toBe(true);
    // Bank-side or unknown outcomes count.
    for (const [code, status] of [
      ['provider_request_limit_exceeded', 429],
      ['provider_too_many_requests', 429],
      ['provider_timeout', 504],
      ['internal_server_error', 500],
      ['invalid_date_range', 400],
      ['sca_exceeded', 403],
      ['access_denied', 403],
      ['request_timeout', 0],
      ['validation_error', 500], // the code with an unexpected status is not proof
    ] as const) {
      expect(isRefundable({ kind: 'truelayer_error', code, httpStatus: status })).toBe(false);
    }
    expect(isRefundable({ kind: 'other', reason: 'socket hang up' })).toBe(false);
  });
});

describe('CallBudget', () => {
  it('uses a 24 h window plus the safety margin, and rejects a negative margin', () => {
    const store = new MemorySlotStore();
    expect(new CallBudget(store, { clock: fixedClock(T0), instance: 'a' }).windowMs).toBe(REGULATORY_WINDOW_MS + DEFAULT_SAFETY_MARGIN_MS);
    expect(new CallBudget(store, { clock: fixedClock(T0), instance: 'a', safetyMarginMs: 0 }).windowMs).toBe(REGULATORY_WINDOW_MS);
    expect(() => new CallBudget(store, { clock: fixedClock(T0), instance: 'a', safetyMarginMs: -1 })).toThrow(RangeError);
  });

  it('grants four calls per key, then refuses until the oldest leaves the window', async () => {
    const budget = new CallBudget(new MemorySlotStore(), { clock: fixedClock(T0), instance: 'a', safetyMarginMs: 0 });
    const times = [0, 1 * H, 2 * H, 3 * H];
    for (const [i, t] of times.entries()) {
      // and says how many calls the window has left after it: 3, 2, 1, 0
      expect(await budget.tryConsume(key, at(t))).toMatchObject({ granted: true, slot: i, usedAt: at(t), left: 3 - i });
    }
    expect(await budget.tryConsume(key, at(5 * H))).toEqual({ granted: false, nextAvailableAt: at(24 * H) });
    expect(await budget.tryConsume(key, at(24 * H - 1))).toEqual({ granted: false, nextAvailableAt: at(24 * H) });
    // the oldest call left the window: a grant that fills the window again leaves nothing
    expect(await budget.tryConsume(key, at(24 * H))).toMatchObject({ granted: true, slot: 0, left: 0 });
    expect(await budget.remaining(key, at(24 * H))).toEqual({ used: 4, left: 0, nextFreeAt: at(25 * H) });
    // Another endpoint and another account have their own budgets.
    expect(await budget.tryConsume(accountKey(key.connectionId, 'acc-1', 'balance'), at(5 * H))).toMatchObject({ granted: true });
    expect(await budget.tryConsume(accountKey(key.connectionId, 'acc-2', 'transactions'), at(5 * H))).toMatchObject({ granted: true });
  });

  it('uses the injected clock when no time is given, and records who took the slot and why', async () => {
    const store = new MemorySlotStore();
    let now = T0;
    const budget = new CallBudget(store, { clock: { now: () => now }, instance: 'df-7', newId: () => 'g-1' });
    expect(await budget.tryConsume(key, undefined, { reason: 'backfill', correlationId: 'job-9' })).toMatchObject({ granted: true, usedAt: T0, grantId: 'g-1' });
    expect(store.docs.get(slotId(key, 0))).toMatchObject({ instance: 'df-7', reason: 'backfill', correlationId: 'job-9', endpoint: 'transactions', resourceId: 'account:acc-1' });
    now = at(H);
    expect(await budget.remaining(key)).toEqual({ used: 1, left: 3, nextFreeAt: at(H) });
  });

  it('refunds a call that never reached the bank once, and keeps counting every other call', async () => {
    const store = new MemorySlotStore();
    const budget = new CallBudget(store, { clock: fixedClock(T0), instance: 'a', safetyMarginMs: 0 });
    const first = await budget.tryConsume(key, at(0));
    if (!first.granted) throw new Error('expected a grant');
    expect(await budget.refund(first, { kind: 'truelayer_error', code: 'provider_timeout', httpStatus: 504 }, at(1000))).toBe(false);
    expect((await budget.remaining(key, at(1000))).used).toBe(1);
    expect(await budget.refund(first, { kind: 'truelayer_error', code: 'validation_error', httpStatus: 400 }, at(1000))).toBe(true);
    expect(await budget.refund(first, { kind: 'truelayer_error', code: 'validation_error', httpStatus: 400 }, at(1000))).toBe(false);
    expect(await budget.remaining(key, at(1000))).toEqual({ used: 0, left: 4, nextFreeAt: at(1000) });
    expect(store.docs.get(slotId(key, first.slot))).toMatchObject({ refundReason: 'validation_error (HTTP 400)', refundedAt: at(1000) });

    // A slot that had been used a day earlier goes back to that use when refunded, so it is free again at once.
    const usedAtBySlot = new Map<number, Date>();
    for (let i = 0; i < 4; i += 1) {
      const r = await budget.tryConsume(key, at(H + i));
      if (r.granted) usedAtBySlot.set(r.slot, r.usedAt);
    }
    expect(usedAtBySlot.size).toBe(4);
    const reused = await budget.tryConsume(key, at(30 * H));
    if (!reused.granted) throw new Error('expected a grant');
    expect(await budget.remaining(key, at(30 * H))).toMatchObject({ used: 1 });
    expect(await budget.refund(reused, { kind: 'not_sent', reason: 'circuit open' }, at(30 * H))).toBe(true);
    expect(await budget.remaining(key, at(30 * H))).toMatchObject({ used: 0, left: 4 });
    expect(reused.slot).toBe(1); // the oldest lapsed slot (slot 0 was refunded, so it was taken last, at H + 3)
    expect(store.docs.get(slotId(key, reused.slot))!.usedAt).toEqual(usedAtBySlot.get(reused.slot));
  });

  it('never forgets a use that raced in between a read and a refunded take (compare-and-set on the value read)', async () => {
    // A reads the slots, B takes slot 0 before A writes, A (clock a day ahead) takes a slot and refunds it. A refund
    // must put back B's use, not the value A had read, or a fifth call would fit into B's window.
    const store = new MemorySlotStore(() => 0);
    const budget = (instance: string) => new CallBudget(store, { clock: fixedClock(T0), instance, safetyMarginMs: 0 });
    const [a, b, c] = [budget('a'), budget('b'), budget('c')];
    for (let i = 0; i < 4; i += 1) expect((await a.tryConsume(key, T0)).granted).toBe(true);
    const take = store.takeLapsed.bind(store);
    let raced = false;
    store.takeLapsed = async (...args) => {
      if (!raced) {
        raced = true;
        expect(await b.tryConsume(key, at(25 * H))).toMatchObject({ granted: true, slot: 0 });
      }
      return take(...args);
    };
    const grantA = await a.tryConsume(key, at(50 * H));
    if (!grantA.granted) throw new Error('expected a grant');
    expect(grantA.slot).not.toBe(0); // its compare-and-set on slot 0 lost to B
    expect(await a.refund(grantA, { kind: 'not_sent', reason: 'circuit open' }, at(50 * H))).toBe(true);
    const after = await Promise.all([0, 1, 2, 3].map(() => c.tryConsume(key, at(26 * H))));
    expect(after.filter((r) => r.granted)).toHaveLength(3); // B's call at 25 h still holds slot 0
    const counted = [0, 0, 0, 0, 25 * H, ...after.flatMap((r) => (r.granted ? [r.usedAt.getTime() - T0.getTime()] : []))];
    expect(maxInAnyWindow(counted, REGULATORY_WINDOW_MS)).toBe(4);
  });

  it('grants exactly four to 30 concurrent callers on three instances, and again after the window', async () => {
    const random = prng(7);
    for (let round = 0; round < 20; round += 1) {
      const store = new MemorySlotStore(random);
      const instances = ['a', 'b', 'c'].map((instance) => new CallBudget(store, { clock: fixedClock(T0), instance, safetyMarginMs: 0 }));
      const k = accountKey(`c${round}`, 'acc', 'balance');
      const first = await Promise.all(Array.from({ length: 30 }, (_, i) => instances[i % 3]!.tryConsume(k, T0)));
      const grantedSlots = first.flatMap((r) => (r.granted ? [r.slot] : []));
      expect(grantedSlots.sort()).toEqual([0, 1, 2, 3]);
      for (const r of first) if (!r.granted) expect(r.nextAvailableAt).toEqual(at(REGULATORY_WINDOW_MS));
      const later = at(REGULATORY_WINDOW_MS);
      const second = await Promise.all(Array.from({ length: 30 }, (_, i) => instances[i % 3]!.tryConsume(k, later)));
      expect(second.filter((r) => r.granted)).toHaveLength(UNATTENDED_CALLS_PER_WINDOW);
    }
  });

  it('never grants more than four in any rolling window, with skewed instance clocks and refunds (randomised)', async () => {
    const random = prng(42);
    const store = new MemorySlotStore(random);
    const window = REGULATORY_WINDOW_MS;
    const instances = [0, 1, 2].map((i) => new CallBudget(store, { clock: fixedClock(T0), instance: `i${i}`, safetyMarginMs: 0 }));
    const keys = Array.from({ length: 5 }, (_, i) => accountKey('conn', `acc${i}`, 'transactions'));
    const counted = new Map<string, number[]>(keys.map((k) => [budgetKeyId(k), []]));
    for (let tick = 0; tick < 120; tick += 1) {
      const base = tick * 40 * 60_000; // every 40 simulated minutes, 80 hours in all
      await Promise.all(
        instances.flatMap((budget, i) =>
          keys.map(async (k) => {
            const now = at(base + Math.floor(random() * 20 * 60_000) - i * 5 * 60_000); // up to 20 min of skew
            const r = await budget.tryConsume(k, now);
            if (!r.granted) return;
            if (random() < 0.1) {
              expect(await budget.refund(r, { kind: 'truelayer_error', code: 'validation_error', httpStatus: 400 }, now)).toBe(true);
            } else counted.get(budgetKeyId(k))!.push(now.getTime());
          }),
        ),
      );
    }
    for (const times of counted.values()) {
      expect(maxInAnyWindow(times, window)).toBeLessThanOrEqual(UNATTENDED_CALLS_PER_WINDOW);
      expect(times.length).toBeGreaterThanOrEqual(12); // demand exceeds supply: all four are used every day
    }
  });

  it('reports usage per resource and endpoint of one connection only', async () => {
    const budget = new CallBudget(new MemorySlotStore(), { clock: fixedClock(T0), instance: 'a', safetyMarginMs: 0 });
    await budget.tryConsume(accountKey('c1', 'acc', 'transactions'), at(0));
    await budget.tryConsume(accountKey('c1', 'acc', 'transactions'), at(H));
    await budget.tryConsume(accountKey('c1', 'acc', 'balance'), at(2 * H));
    await budget.tryConsume(cardKey('c1', 'card', 'balance'), at(3 * H));
    await budget.tryConsume(accountKey('c2', 'acc', 'transactions'), at(0));
    const usage = await budget.usage('c1', at(24 * H + 30 * 60_000));
    expect(usage).toEqual([
      { resourceId: 'account:acc', endpoint: 'balance', used: 1, left: 3, nextFreeAt: at(24 * H + 30 * 60_000), calls: [at(2 * H)] },
      { resourceId: 'account:acc', endpoint: 'transactions', used: 1, left: 3, nextFreeAt: at(24 * H + 30 * 60_000), calls: [at(H)] },
      { resourceId: 'card:card', endpoint: 'balance', used: 1, left: 3, nextFreeAt: at(24 * H + 30 * 60_000), calls: [at(3 * H)] },
    ]);
    expect(await budget.usage('nobody', T0)).toEqual([]);
  });
});
