import { erasureV1, eventsV1 } from '@ais/contracts-proto-ts';
import { refreshesAfter } from '../data/analysis';
import { appliedDataOf } from './enriched.consumer';

type Payload = NonNullable<eventsV1.RawDataEvent['payload']>;

const raw = (payload: Payload, batch?: { index: number; count: number }, moreWindowsFollow = false): eventsV1.RawDataEvent =>
  eventsV1.RawDataEvent.fromPartial({ userId: 'u1', accountId: 'acc-1', fetchId: 'f1', payload, moreWindowsFollow, ...(batch ? { batch: { ...batch, complete: true } } : {}) });

const tx = (n: number): eventsV1.RawTransaction => eventsV1.RawTransaction.fromPartial({ transactionId: `t${n}`, description: `ROW ${n}`, amount: '-1', currency: 'GBP' });
const transactions = (rows: number): Payload => ({ $case: 'transactions', transactions: { transactions: Array.from({ length: rows }, (_, i) => tx(i)) } });

/** Whether analysis runs after each message of a result split into `count` messages. */
const runsAfter = (payload: Payload, count: number, moreWindowsFollow = false): boolean[] =>
  Array.from({ length: count }, (_, index) => refreshesAfter(appliedDataOf(raw(payload, { index, count }, moreWindowsFollow))));

describe('when analysis runs after a fetch result message (appliedDataOf + refreshesAfter)', () => {
  it('a booked-transactions result split into messages is analysed once, after its last message', () => {
    expect(runsAfter(transactions(500), 3)).toEqual([false, false, true]);
    expect(runsAfter(transactions(80), 1)).toEqual([true]);
    // an event without a batch position is a whole result
    expect(refreshesAfter(appliedDataOf(raw(transactions(2))))).toBe(true);
  });

  it("a backfill window whose next window follows is analysed with the resource's last window, not after its own last message", () => {
    expect(runsAfter(transactions(500), 3, true)).toEqual([false, false, false]);
    expect(runsAfter(transactions(80), 1, true)).toEqual([false]);
    // the resource's last window (unmarked) is analysed, with every earlier window's rows
    expect(runsAfter(transactions(80), 2, false)).toEqual([false, true]);
    // the mark concerns transaction windows only: a list that carried it would still be analysed
    expect(runsAfter({ $case: 'accounts', accounts: { accounts: [] } }, 1, true)).toEqual([true]);
    expect(runsAfter({ $case: 'standingOrders', standingOrders: { standingOrders: [] } }, 1, true)).toEqual([true]);
  });

  it('account and card lists always; standing orders and direct debits after their last message', () => {
    expect(runsAfter({ $case: 'accounts', accounts: { accounts: [] } }, 1)).toEqual([true]);
    expect(runsAfter({ $case: 'cards', cards: { cards: [] } }, 1)).toEqual([true]);
    expect(runsAfter({ $case: 'standingOrders', standingOrders: { standingOrders: [] } }, 2)).toEqual([false, true]);
    expect(runsAfter({ $case: 'directDebits', directDebits: { directDebits: [] } }, 1)).toEqual([true]);
  });

  it('never after what analysis does not read: balances, pending transactions, identity', () => {
    expect(runsAfter({ $case: 'balance', balance: eventsV1.RawBalance.fromPartial({ currency: 'GBP', current: '1' }) }, 1)).toEqual([false]);
    expect(runsAfter({ $case: 'pendingTransactions', pendingTransactions: { transactions: [tx(1)] } }, 2)).toEqual([false, false]);
    expect(runsAfter({ $case: 'identity', identity: { identities: [] } }, 1)).toEqual([false]);
  });

  it('kinds as the store names them; an erasure inside a raw event is refused', () => {
    expect(appliedDataOf(raw({ $case: 'cards', cards: { cards: [] } }, { index: 0, count: 1 }))).toEqual({ kind: 'accounts', lastOfResult: true, moreWindowsFollow: false });
    expect(appliedDataOf(raw(transactions(1), { index: 1, count: 4 }))).toEqual({ kind: 'transactions', lastOfResult: false, moreWindowsFollow: false });
    expect(appliedDataOf(raw(transactions(1), { index: 0, count: 1 }, true))).toEqual({ kind: 'transactions', lastOfResult: true, moreWindowsFollow: true });
    expect(() => appliedDataOf(raw({ $case: 'erasure', erasure: erasureV1.UserErasure.fromPartial({ userId: 'u1' }) }))).toThrow(expect.objectContaining({ code: 'unknown_payload' }));
    expect(() => appliedDataOf(eventsV1.RawDataEvent.fromPartial({ userId: 'u1' }))).toThrow(expect.objectContaining({ code: 'unknown_payload' }));
  });
});
