import { DAY } from '../clock';
import { balanceAt, bookedBetween, dataSpecFor, generateAccountLedger, generateCardLedger, pendingAt } from './dataset';
import { mulberry32 } from './ids';
import { authenticateMockUser } from './users';

const T0 = Date.parse('2026-03-10T12:00:00.000Z');

describe('dataset generation', () => {
  it('mulberry32 is deterministic', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });

  it('same seed → same ledger; different seed → different ledger', () => {
    const spec = dataSpecFor('standard', 'john').accounts[0]!;
    const l1 = generateAccountLedger('s', 'john', spec, T0);
    const l2 = generateAccountLedger('s', 'john', spec, T0);
    const l3 = generateAccountLedger('other', 'john', spec, T0);
    expect(l1.items.slice(0, 50)).toEqual(l2.items.slice(0, 50));
    expect(l1.items.slice(0, 50)).not.toEqual(l3.items.slice(0, 50));
  });

  it('small user: one account with about 100 booked transactions and no cards', () => {
    const spec = dataSpecFor('small', 'small');
    expect(spec.accounts).toHaveLength(1);
    expect(spec.cards).toHaveLength(0);
    const booked = bookedBetween(generateAccountLedger('s', 'small', spec.accounts[0]!, T0), T0, -Infinity, Infinity);
    expect(booked.length).toBeGreaterThanOrEqual(80);
    expect(booked.length).toBeLessThanOrEqual(130);
  });

  it('heavy user: more than 5 years and at least 20,000 transactions on the current account', () => {
    const spec = dataSpecFor('heavy', 'heavy').accounts[0]!;
    const started = Date.now();
    const ledger = generateAccountLedger('s', 'heavy', spec, T0);
    const booked = bookedBetween(ledger, T0, -Infinity, Infinity);
    expect(booked.length).toBeGreaterThanOrEqual(20_000);
    expect(T0 - booked.at(-1)!.item.settleAt).toBeGreaterThan(5 * 365 * DAY);
    expect(Date.now() - started).toBeLessThan(15_000);
    // balance stays within realistic bounds
    const min = Math.min(...ledger.runningMinor);
    expect(min).toBeGreaterThan(-spec.overdraftMinor);
  });

  it('running balance is consistent and balance = last running balance', () => {
    const spec = dataSpecFor('standard', 'john').accounts[0]!;
    const ledger = generateAccountLedger('s', 'john', spec, T0);
    const booked = bookedBetween(ledger, T0, -Infinity, Infinity); // newest first
    for (let i = 0; i < booked.length - 1; i += 1) {
      expect(booked[i]!.runningMinor! - booked[i + 1]!.runningMinor!).toBe(booked[i]!.item.amountMinor);
    }
    expect(balanceAt(ledger, T0).currentMinor).toBe(booked[0]!.runningMinor);
  });

  it('pending items become booked as time passes; card purchases are positive', () => {
    const spec = dataSpecFor('standard', 'john').cards[0]!;
    const ledger = generateCardLedger('s', 'john', spec, T0);
    const pending = pendingAt(ledger, T0, -Infinity, Infinity);
    expect(pending.length).toBeGreaterThan(0);
    const later = T0 + 4 * DAY;
    const seqs = new Set(bookedBetween(ledger, later, T0 - 10 * DAY, later).map((v) => v.item.seq));
    for (const p of pending) expect(seqs.has(p.item.seq)).toBe(true);
    expect(pending.every((p) => p.item.type !== 'DEBIT' || p.item.amountMinor > 0)).toBe(true);
  });

  it('mock users', () => {
    expect(authenticateMockUser('john', 'doe')?.extendOutcome).toBe('authentication_needed');
    expect(authenticateMockUser('john', 'eternal')?.extendOutcome).toBe('no_action_needed');
    expect(authenticateMockUser('john7', 'doe7')?.dataKey).toBe('john7');
    expect(authenticateMockUser('john101', 'doe101')).toBeUndefined();
    expect(authenticateMockUser('error.provider_error', 'error')?.errorCode).toBe('provider_error');
    expect(authenticateMockUser('error.nope', 'error')).toBeUndefined();
    expect(authenticateMockUser('john', 'wrong')).toBeUndefined();
  });
});
