/**
 * The unattended-call ledger on the real MongoDB-wire server (ARCHITECTURE.md invariant 3): three connections
 * play three data-fetcher instances racing on one `call_budget` collection over a simulated clock. Granted
 * timestamps are checked window by window; the store is never trusted to report its own correctness.
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainUsesIndex, type Connection } from '@ais/platform-mongo';
import { randomBytes } from 'node:crypto';
import { CALL_BUDGET_COLLECTION, CALL_BUDGET_INDEXES, CALL_BUDGET_RETENTION_S, MongoCallBudgetStore } from '../src/data/call-budget.store';
import {
  accountKey,
  budgetKeyId,
  CallBudget,
  connectionKey,
  REGULATORY_WINDOW_MS,
  UNATTENDED_CALLS_PER_WINDOW,
  type BudgetKey,
  type ConsumeResult,
} from '../src/domain/call-budget';
import { maxInAnyWindow } from './support/windows';

const logger = createLogger({ service: 'call-budget-int', level: 'warn' });
const URI = process.env['MONGODB_URI']!;
const H = 3600_000;
const MIN = 60_000;
// Far from the server's real clock, so the TTL index (on the server's clock) never touches a slot mid-test.
const T0 = Date.parse('2031-03-01T00:00:00Z');

describe('call budget ledger on a real MongoDB-wire server, three racing instances', () => {
  const db = `it_call_budget_${randomBytes(4).toString('hex')}`;
  let conns: Connection[] = [];
  let stores: MongoCallBudgetStore[] = [];
  let budgets: CallBudget[] = [];

  beforeAll(async () => {
    conns = await Promise.all([0, 1, 2].map(() => connectMongo({ uri: URI, db, logger })));
    stores = conns.map((c) => new MongoCallBudgetStore(c));
    await stores[0]!.ensureIndexes();
    // Each instance has its own connection (own pool, own sockets) and its own clock; the default margin applies.
    budgets = stores.map((store, i) => new CallBudget(store, { clock: { now: () => new Date(T0) }, instance: `df-${i}` }));
  });

  afterAll(async () => {
    await conns[0]?.dropDatabase();
    await Promise.all(conns.map((c) => c.close()));
  });

  it('creates its named indexes idempotently, and usage() reads through call_budget_connection', async () => {
    await stores[1]!.ensureIndexes(); // a second instance starting
    const indexes = await conns[0]!.collection(CALL_BUDGET_COLLECTION).indexes();
    expect(indexes.find((i) => i.name === CALL_BUDGET_INDEXES.byConnection)).toMatchObject({ key: { connectionId: 1, resourceId: 1, endpoint: 1 } });
    expect(indexes.find((i) => i.name === CALL_BUDGET_INDEXES.ttl)).toMatchObject({ key: { usedAt: 1 }, expireAfterSeconds: CALL_BUDGET_RETENTION_S });

    const filler = conns[0]!.collection('call_budget_explain');
    await filler.createIndex({ connectionId: 1, resourceId: 1, endpoint: 1 }, { name: CALL_BUDGET_INDEXES.byConnection });
    await filler.insertMany(
      Array.from({ length: 4000 }, (_, i) => ({ _id: `k${i}` as never, connectionId: `c${i % 1000}`, resourceId: `account:${i}`, endpoint: 'balance', usedAt: new Date(T0) })),
      { ordered: false },
    );
    expect(explainUsesIndex(await filler.find({ connectionId: 'c7' }).explain(), CALL_BUDGET_INDEXES.byConnection)).toBe(true);
    // and the negative, so the check above can fail: a filter the index does not cover is a scan
    expect(explainUsesIndex(await filler.find({ usedAt: new Date(0) }).explain(), CALL_BUDGET_INDEXES.byConnection)).toBe(false);
    await filler.drop();
  });

  it('30 concurrent tryConsume on one fresh key (10 per instance) grant exactly 4, for 10 keys; again 4 after the window', async () => {
    const measured: string[] = [];
    for (let round = 0; round < 10; round += 1) {
      const key = accountKey(`race-${round}`, 'acc', 'transactions');
      const now = new Date(T0);
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => budgets[i % 3]!.tryConsume(key, now, { reason: 'scheduled' })));
      const slots = results.flatMap((r) => (r.granted ? [r.slot] : [])).sort();
      expect(slots).toEqual([0, 1, 2, 3]);
      for (const r of results) if (!r.granted) expect(r.nextAvailableAt.getTime()).toBe(T0 + budgets[0]!.windowMs);

      // After the window every slot is taken over by one conditional update: again exactly 4 of 30.
      const later = new Date(T0 + budgets[0]!.windowMs);
      const again = await Promise.all(Array.from({ length: 30 }, (_, i) => budgets[i % 3]!.tryConsume(key, later)));
      const againGranted = again.filter((r) => r.granted).length;
      expect(againGranted).toBe(UNATTENDED_CALLS_PER_WINDOW);
      expect(await budgets[2]!.remaining(key, later)).toEqual({ used: 4, left: 0, nextFreeAt: new Date(later.getTime() + budgets[0]!.windowMs) });
      measured.push(`${slots.length}/${againGranted}`);
    }
    console.log(`focused race, granted of 30 per fresh key / after the window: ${measured.join(' ')}`);
  });

  it('3 instances x 40 keys x 72 simulated hours, 6 requests per key every 2 h: never more than 4 per key in any rolling 24 h, and every key gets all 12 (4 a day)', async () => {
    const keys: BudgetKey[] = [];
    for (let c = 0; c < 8; c += 1) {
      const connectionId = `conn/${c}+=`; // base64-like ids
      keys.push(connectionKey(connectionId, 'info'));
      for (const account of ['a', 'b']) for (const endpoint of ['transactions', 'balance'] as const) keys.push(accountKey(connectionId, account, endpoint));
    }
    expect(keys).toHaveLength(40);
    const skew = [0, 4 * MIN, 9 * MIN]; // the instances' clocks disagree by up to 9 minutes
    const granted = new Map<string, number[]>(keys.map((k) => [budgetKeyId(k), []]));
    const perInstance = [0, 0, 0];
    let calls = 0;
    let denied = 0;
    for (let hour = 0; hour <= 72; hour += 2) {
      // Demand exceeds supply: every 2 simulated hours every instance asks twice for every key (6 requests per key), all at once.
      const tick = await Promise.all(
        budgets.flatMap((budget, i) =>
          [...keys, ...keys].map(async (key): Promise<[BudgetKey, number, ConsumeResult]> => [key, i, await budget.tryConsume(key, new Date(T0 + hour * H + skew[i]!), { reason: 'scheduled' })]),
        ),
      );
      for (const [key, i, r] of tick) {
        calls += 1;
        if (r.granted) {
          granted.get(budgetKeyId(key))!.push(r.usedAt.getTime());
          perInstance[i] = (perInstance[i] ?? 0) + 1;
        } else denied += 1;
      }
    }
    const perKey = [...granted.values()].map((t) => t.length);
    const worst24h = Math.max(...[...granted.values()].map((t) => maxInAnyWindow(t, REGULATORY_WINDOW_MS)));
    console.log(
      `3 instances x ${keys.length} keys x 37 ticks 2 h apart: ${calls} tryConsume, ${calls - denied} granted (per instance ${perInstance.join('/')}), ` +
        `${denied} denied; per key min ${Math.min(...perKey)} max ${Math.max(...perKey)}; most in any rolling 24 h: ${worst24h}`,
    );
    // Every window, checked from the granted timestamps: at most 4 in [t, t + 24 h) (and in [t, t + 24 h 15 min)).
    const over = (windowMs: number) => [...granted].filter(([, times]) => maxInAnyWindow(times, windowMs) > UNATTENDED_CALLS_PER_WINDOW).map(([id]) => id);
    expect(over(REGULATORY_WINDOW_MS)).toEqual([]);
    expect(over(budgets[0]!.windowMs)).toEqual([]);
    expect(worst24h).toBe(UNATTENDED_CALLS_PER_WINDOW);
    // No starvation: a slot frees 24 h 15 min after its use (+ up to 9 min of skew), i.e. at the first tick 26 h later,
    // so the four slots of every key are used at hours 0, 26 and 52: 12 grants per key, four in each of those ticks.
    for (const times of granted.values()) {
      expect(times.map((t) => Math.floor((t - T0) / H)).sort((a, b) => a - b)).toEqual([0, 0, 0, 0, 26, 26, 26, 26, 52, 52, 52, 52]);
    }
    // The ledger's own report agrees with what was granted.
    const reportAt = new Date(T0 + 72 * H + 30 * MIN);
    const usage = await budgets[1]!.usage('conn/0+=', reportAt);
    expect(usage).toHaveLength(5);
    for (const u of usage) {
      const key = u.resourceId === 'connection' ? connectionKey('conn/0+=', u.endpoint) : { connectionId: 'conn/0+=', resourceId: u.resourceId, endpoint: u.endpoint };
      const lastDay = granted.get(budgetKeyId(key))!.filter((t) => t >= T0 + 52 * H).sort((a, b) => a - b);
      expect(u).toMatchObject({ used: 4, left: 0, calls: lastDay.map((t) => new Date(t)), nextFreeAt: new Date(lastDay[0]! + budgets[0]!.windowMs) });
    }
  }, 240_000);

  it('refunds a grant whose call never reached the bank exactly once, and no other grant', async () => {
    const key = accountKey('refund-conn', 'acc', 'pending');
    const now = new Date(T0);
    const grant = await budgets[0]!.tryConsume(key, now, { reason: 'scheduled', correlationId: 'job-1' });
    if (!grant.granted) throw new Error('expected a grant');
    expect(await budgets[1]!.refund(grant, { kind: 'truelayer_error', code: 'provider_timeout', httpStatus: 504 }, now)).toBe(false);
    expect(await budgets[1]!.remaining(key, now)).toMatchObject({ used: 1, left: 3 });
    const refunds = await Promise.all(budgets.map((b) => b.refund(grant, { kind: 'truelayer_error', code: 'validation_error', httpStatus: 400 }, now)));
    expect(refunds.filter(Boolean)).toHaveLength(1);
    expect(await budgets[2]!.remaining(key, now)).toEqual({ used: 0, left: 4, nextFreeAt: now });
    const slot = await conns[0]!.collection(CALL_BUDGET_COLLECTION).findOne({ _id: `${budgetKeyId(key)}#${grant.slot}` as never });
    expect(slot).toMatchObject({ grantId: '', refundReason: 'validation_error (HTTP 400)', instance: 'df-0', correlationId: 'job-1' });
    // The refunded slot is taken again like any free one; four calls still fill the key.
    const four = await Promise.all([0, 1, 2, 3].map((i) => budgets[i % 3]!.tryConsume(key, now)));
    expect(four.every((r) => r.granted)).toBe(true);
    expect((await budgets[0]!.tryConsume(key, now)).granted).toBe(false);
  });
});
