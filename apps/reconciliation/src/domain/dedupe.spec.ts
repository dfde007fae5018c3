import type { eventsV1 } from '@ais/contracts-proto-ts';
import { contentHash } from './canonical';
import {
  canonicalAmount,
  dedupeKeyFor,
  fingerprints,
  reconcileTransactions,
  similarDescriptions,
  toContent,
  type FetchedTransaction,
  type ReconcileInput,
  type StoredTx,
  type TxOp,
  type TxStatus,
} from './dedupe';

const DAY = 86_400_000;
const ACC = 'acc_1';
let n = 0;
function tx(over: Partial<FetchedTransaction> = {}): FetchedTransaction {
  n += 1;
  return {
    transactionId: `tid-${n}-${Math.random()}`,
    normalisedProviderTransactionId: '',
    providerTransactionId: '',
    timestamp: new Date('2026-03-02T09:00:00Z'),
    description: 'PRET A MANGER',
    amount: '-2.50',
    currency: 'GBP',
    transactionType: 'DEBIT',
    transactionCategory: 'PURCHASE',
    transactionClassification: [],
    merchantName: '',
    meta: {},
    ...over,
  };
}

/** Applies operations to an in-memory store, as the real store does. */
function apply(store: Map<string, StoredTx>, ops: TxOp[]): void {
  for (const op of ops) {
    if (op.op === 'add' || op.op === 'modify') {
      store.set(op.id, { ...op.content, id: op.id, dedupeKey: op.dedupeKey, transactionId: op.transactionId, fingerprint: op.fingerprint, contentHash: op.contentHash, removed: false, missingSince: null, lastFetchId: op.lastFetchId });
    } else if (op.op === 'remove') {
      store.set(op.id, { ...store.get(op.id)!, removed: true, missingSince: op.missingSince });
    } else {
      store.set(op.id, { ...store.get(op.id)!, lastFetchId: op.lastFetchId, missingSince: op.missingSince });
    }
  }
}

function run(store: Map<string, StoredTx>, status: TxStatus, rows: FetchedTransaction[], extra: Partial<ReconcileInput> = {}): TxOp[] {
  const ops = reconcileTransactions({ userId: 'u1', accountId: ACC, status, rows, stored: [...store.values()], fetchId: `f-${Math.random()}`, fetchedAt: new Date('2026-03-03T00:00:00Z'), completeResult: true, ...extra });
  apply(store, ops);
  return ops;
}

const live = (store: Map<string, StoredTx>): StoredTx[] => [...store.values()].filter((s) => !s.removed);

describe('dedupe keys', () => {
  it('prefer the normalised id, then the provider id, then the fingerprint; never transaction_id', () => {
    expect(dedupeKeyFor(ACC, { normalisedProviderTransactionId: 'txn-1', providerTransactionId: 'p1' }, 'fp')).toBe('n:acc_1:txn-1');
    expect(dedupeKeyFor(ACC, { normalisedProviderTransactionId: '', providerTransactionId: 'p1' }, 'fp')).toBe('p:acc_1:p1');
    expect(dedupeKeyFor(ACC, { normalisedProviderTransactionId: '', providerTransactionId: '' }, 'fp')).toBe('f:acc_1:fp');
  });

  it('canonical amounts and similar descriptions', () => {
    expect(['-2.50', '-02.5', '+3', '0.00', '-0', '1238.60'].map(canonicalAmount)).toEqual(['-2.5', '-2.5', '3', '0', '0', '1238.6']);
    expect(similarDescriptions('TESCO STORES 3297', 'Tesco Stores 3297 LONDON GB')).toBe(true);
    expect(similarDescriptions('CARD PAYMENT TO AMAZON', 'AMAZON MKTPLACE')).toBe(false);
    expect(similarDescriptions('TFL TRAVEL CH', 'TFL.GOV.UK/CP TRAVEL CH')).toBe(true);
  });

  it('a RawTransaction is a FetchedTransaction', () => {
    const raw: eventsV1.RawTransaction = { ...tx(), runningBalance: { amount: '10', currency: 'GBP' } };
    const f: FetchedTransaction = raw;
    expect(f.amount).toBe('-2.50');
  });
});

describe('reconcileTransactions', () => {
  it('unstable transaction ids: a re-fetch with new ids adds nothing (normalised id is the key)', () => {
    const store = new Map<string, StoredTx>();
    const rows = [tx({ normalisedProviderTransactionId: 'txn-a' }), tx({ normalisedProviderTransactionId: 'txn-b', description: 'TESCO' })];
    expect(run(store, 'booked', rows).map((o) => o.op)).toEqual(['add', 'add']);
    const refetch = rows.map((r) => ({ ...r, transactionId: `new-${Math.random()}` }));
    expect(run(store, 'booked', refetch)).toEqual([]);
    expect(store.size).toBe(2);
  });

  it('unstable ids and no stable ids at all: the fingerprint matches (and redelivery changes nothing)', () => {
    const store = new Map<string, StoredTx>();
    const rows = [tx(), tx({ description: 'TESCO', amount: '-10.00' })];
    run(store, 'booked', rows);
    expect(run(store, 'booked', rows.map((r) => ({ ...r, transactionId: `x-${Math.random()}` })))).toEqual([]);
    expect(run(store, 'booked', rows)).toEqual([]);
    expect([...store.values()].every((s) => s.dedupeKey.startsWith('f:'))).toBe(true);
  });

  it('two identical coffees on the same day are occurrence 0 and 1: both kept, and matched again 0→0, 1→1', () => {
    const a = tx({ timestamp: new Date('2026-03-02T08:00:00Z') });
    const b = tx({ timestamp: new Date('2026-03-02T08:00:00Z') });
    const fps = fingerprints(ACC, [a, b]);
    expect(fps[0]).not.toBe(fps[1]);
    const store = new Map<string, StoredTx>();
    expect(run(store, 'booked', [a, b]).filter((o) => o.op === 'add')).toHaveLength(2);
    expect(run(store, 'booked', [{ ...b, transactionId: 'q' }, { ...a, transactionId: 'r' }])).toEqual([]);
    expect(store.size).toBe(2);
    // a third coffee later that day is new
    expect(run(store, 'booked', [a, b, tx({ timestamp: new Date('2026-03-02T15:00:00Z') })]).map((o) => o.op)).toEqual(['add']);
  });

  it('different normalised ids are different transactions even with the same fingerprint', () => {
    const store = new Map<string, StoredTx>();
    run(store, 'booked', [tx({ normalisedProviderTransactionId: 'txn-1' })]);
    expect(run(store, 'booked', [tx({ normalisedProviderTransactionId: 'txn-2' })]).map((o) => o.op)).toEqual(['add']);
  });

  it('a changed field is a modification of the same row; the transaction_id is not part of the content', () => {
    const store = new Map<string, StoredTx>();
    const row = tx({ normalisedProviderTransactionId: 'txn-c' });
    run(store, 'booked', [row]);
    const ops = run(store, 'booked', [{ ...row, transactionId: 'other', merchantName: 'Pret' }]);
    expect(ops).toMatchObject([{ op: 'modify', reason: 'content' }]);
    expect(store.size).toBe(1);
  });

  it('a pending row that settles under its own id is turned booked in place', () => {
    const store = new Map<string, StoredTx>();
    const pending = tx({ providerTransactionId: 'bank-9' });
    const [add] = run(store, 'pending', [pending]);
    const ops = run(store, 'booked', [{ ...pending, transactionId: 'b', normalisedProviderTransactionId: 'txn-9', timestamp: new Date('2026-03-04T00:00:00Z') }]);
    expect(ops).toMatchObject([{ op: 'modify', reason: 'settled', id: add!.id }]);
    expect(live(store)).toHaveLength(1);
    expect(live(store)[0]!.status).toBe('booked');
  });

  it('a pending row that settles with a different id and a slightly different description is replaced, not duplicated', () => {
    const store = new Map<string, StoredTx>();
    run(store, 'pending', [tx({ description: 'TESCO STORES 3297', amount: '-23.10', timestamp: new Date('2026-03-01T18:22:00Z') })]);
    const added = [...store.values()][0]!;
    const booked = tx({ description: 'TESCO STORES 3297 LONDON GB', amount: '-23.1', normalisedProviderTransactionId: 'txn-t', timestamp: new Date('2026-03-03T00:00:00Z') });
    const ops = run(store, 'booked', [booked]);
    expect(ops).toMatchObject([{ op: 'modify', reason: 'settled', id: added.id, previousKey: added.dedupeKey, dedupeKey: `n:${ACC}:txn-t` }]);
    expect(live(store)).toHaveLength(1);
    // the booked row fetched again matches by its normalised id
    expect(run(store, 'booked', [{ ...booked, transactionId: 'again' }])).toEqual([]);
    // a pending result that no longer holds it changes nothing: it is booked now
    expect(run(store, 'pending', [])).toEqual([]);
  });

  it('a booked row outside the date window or with another amount does not settle a pending one', () => {
    const store = new Map<string, StoredTx>();
    run(store, 'pending', [tx({ description: 'UBER', amount: '-9.00', timestamp: new Date('2026-03-01T10:00:00Z') })]);
    const ops = run(store, 'booked', [tx({ description: 'UBER', amount: '-9.00', timestamp: new Date('2026-03-20T00:00:00Z') }), tx({ description: 'UBER', amount: '-9.50', timestamp: new Date('2026-03-02T00:00:00Z') })]);
    expect(ops.map((o) => o.op)).toEqual(['add', 'add']);
  });

  it('a pending row gone from a complete pending result is removed after the grace period', () => {
    const store = new Map<string, StoredTx>();
    const t0 = new Date('2026-03-02T00:00:00Z');
    const rules = { pendingGraceMs: 2 * DAY, settleWindowMs: 10 * DAY };
    const gone = tx({ description: 'HOTEL HOLD', amount: '-100' });
    const stays = tx({ description: 'CAFE', amount: '-3' });
    run(store, 'pending', [gone, stays], { fetchedAt: t0, rules, fetchId: 'f1' });
    // next complete pending result lacks it: marked missing, not removed yet
    const f2 = run(store, 'pending', [stays], { fetchedAt: new Date(t0.getTime() + DAY), rules, fetchId: 'f2' });
    expect(f2.map((o) => o.op)).toEqual(['touch', 'touch']);
    expect(live(store)).toHaveLength(2);
    // a partial result proves nothing
    expect(run(store, 'pending', [], { fetchedAt: new Date(t0.getTime() + DAY), rules, fetchId: 'f3', completeResult: false }).map((o) => o.op)).toEqual([]);
    // after the grace period it is removed (a tombstone); the one still listed stays
    const f4 = run(store, 'pending', [stays], { fetchedAt: new Date(t0.getTime() + 3 * DAY), rules, fetchId: 'f4' });
    expect(f4.filter((o) => o.op === 'remove')).toHaveLength(1);
    expect(live(store).map((s) => s.description)).toEqual(['CAFE']);
    // the same message again: nothing more
    expect(run(store, 'pending', [stays], { fetchedAt: new Date(t0.getTime() + 3 * DAY), rules, fetchId: 'f4' })).toEqual([]);
  });

  it('a pending row that reappears before the grace period is kept', () => {
    const store = new Map<string, StoredTx>();
    const t0 = new Date('2026-03-02T00:00:00Z');
    const p = tx({ description: 'FLAKY', amount: '-1' });
    run(store, 'pending', [p], { fetchedAt: t0, fetchId: 'f1' });
    run(store, 'pending', [], { fetchedAt: new Date(t0.getTime() + DAY), fetchId: 'f2' });
    expect(live(store)[0]!.missingSince).toBeTruthy();
    run(store, 'pending', [{ ...p, transactionId: 'new' }], { fetchedAt: new Date(t0.getTime() + 2 * DAY), fetchId: 'f3' });
    expect(live(store)[0]!.missingSince).toBeNull();
    expect(run(store, 'pending', [p], { fetchedAt: new Date(t0.getTime() + 10 * DAY), fetchId: 'f4' }).filter((o) => o.op === 'remove')).toEqual([]);
  });

  it('rows seen by an earlier message of the same fetch are not missing', () => {
    const store = new Map<string, StoredTx>();
    const a = tx({ description: 'A', amount: '-1' });
    const b = tx({ description: 'B', amount: '-2' });
    run(store, 'pending', [a, b], { fetchId: 'f1' });
    run(store, 'pending', [a], { fetchId: 'f2', completeResult: false });
    const last = run(store, 'pending', [b], { fetchId: 'f2', completeResult: true, rules: { pendingGraceMs: 0, settleWindowMs: DAY } });
    expect(last.filter((o) => o.op === 'remove')).toEqual([]);
  });

  it('content hashes ignore the transaction id', () => {
    const r = tx();
    expect(contentHash(toContent(r, 'booked'))).toBe(contentHash(toContent({ ...r, transactionId: 'zzz' }, 'booked')));
  });
});

describe('enrichment on re-fetch', () => {
  /** Like `run`, but the in-memory store keeps each written row's enrichment hash. */
  function runEnriched(store: Map<string, StoredTx>, rows: FetchedTransaction[], hashes: string[]): TxOp[] {
    const ops = reconcileTransactions({ userId: 'u1', accountId: ACC, status: 'booked', rows, stored: [...store.values()], fetchId: 'f', fetchedAt: new Date('2026-03-03T00:00:00Z'), completeResult: true, enrichmentHashes: hashes });
    apply(store, ops);
    for (const op of ops) if ((op.op === 'add' || op.op === 'modify') && hashes[op.row]) store.set(op.id, { ...store.get(op.id)!, enrichmentHash: hashes[op.row] });
    return ops;
  }

  it('same content and a different enrichment is one modify with reason enrichment; the same enrichment is nothing', () => {
    const store = new Map<string, StoredTx>();
    const rows = [tx({ normalisedProviderTransactionId: 'txn-a' }), tx({ normalisedProviderTransactionId: 'txn-b', description: 'TESCO' })];
    expect(runEnriched(store, rows, ['h1', 'h2']).map((o) => [o.op, o.op === 'add' ? o.row : -1])).toEqual([
      ['add', 0],
      ['add', 1],
    ]);
    expect(runEnriched(store, rows, ['h1', 'h2'])).toEqual([]);
    const ops = runEnriched(store, rows, ['h1', 'h3']);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ op: 'modify', reason: 'enrichment', row: 1 });
    // a row without enrichment never clears the stored one, and is no change
    expect(runEnriched(store, rows, ['', ''])).toEqual([]);
  });

  it('a content change with a new enrichment is one modify with reason content', () => {
    const store = new Map<string, StoredTx>();
    runEnriched(store, [tx({ normalisedProviderTransactionId: 'txn-c' })], ['h1']);
    const ops = runEnriched(store, [tx({ normalisedProviderTransactionId: 'txn-c', merchantName: 'Pret' })], ['h2']);
    expect(ops).toEqual([expect.objectContaining({ op: 'modify', reason: 'content', row: 0 })]);
  });
});

describe('redelivered older messages', () => {
  const base = { userId: 'u1', accountId: ACC, completeResult: true, window: { from: new Date('2026-02-01T00:00:00Z'), to: new Date('2026-03-10T00:00:00Z') } };
  /** Applies ops as the store does, with the source time and the settled fingerprint. */
  function step(store: Map<string, StoredTx>, status: TxStatus, rows: FetchedTransaction[], fetchedAt: Date, fetchId: string): TxOp[] {
    const ops = reconcileTransactions({ ...base, status, rows, stored: [...store.values()], fetchId, fetchedAt });
    apply(store, ops);
    for (const op of ops) {
      if (op.op === 'add' || op.op === 'modify') store.set(op.id, { ...store.get(op.id)!, sourceAt: fetchedAt, ...(op.settledFingerprint ? { settledFingerprint: op.settledFingerprint } : {}) });
      if (op.op === 'remove') store.set(op.id, { ...store.get(op.id)!, sourceAt: fetchedAt });
    }
    return ops;
  }

  it('the same sequence delivered again (pending, settled, pending gone) changes nothing', () => {
    const store = new Map<string, StoredTx>();
    const d = (day: number): Date => new Date(Date.parse('2026-03-02T09:00:00Z') + day * DAY);
    const pending = tx({ description: 'TESCO STORES 3297', amount: '-23.10', timestamp: d(0) });
    const hold = tx({ description: 'HOTEL HOLD', amount: '-200', timestamp: d(0) });
    const bookedRow = tx({ normalisedProviderTransactionId: 'txn-t', description: 'Tesco Stores 3297 LONDON', amount: '-23.1', timestamp: d(1) });
    const sequence: [TxStatus, FetchedTransaction[], Date, string][] = [
      ['pending', [pending, hold], d(0), 'f0'],
      ['booked', [bookedRow], d(1), 'f1'],
      ['pending', [], d(1), 'f1p'],
      ['pending', [], d(5), 'f5p'],
    ];
    const first = sequence.map(([s, r, at, id]) => step(store, s, r, at, id).filter((o) => o.op !== 'touch').map((o) => o.op));
    expect(first).toEqual([['add', 'add'], ['modify'], [], ['remove']]);
    const after = JSON.stringify([...store.values()]);
    const again = sequence.map(([s, r, at, id]) => step(store, s, r, at, id));
    expect(again).toEqual([[], [], [], []]);
    expect(JSON.stringify([...store.values()])).toBe(after);
  });

  it('a newer fetch still changes a row; an older one does not', () => {
    const store = new Map<string, StoredTx>();
    const r = tx({ normalisedProviderTransactionId: 'txn-x' });
    step(store, 'booked', [r], new Date('2026-03-03T00:00:00Z'), 'a');
    expect(step(store, 'booked', [{ ...r, merchantName: 'Old' }], new Date('2026-03-02T00:00:00Z'), 'b')).toEqual([]);
    expect(step(store, 'booked', [{ ...r, merchantName: 'New' }], new Date('2026-03-04T00:00:00Z'), 'c')).toEqual([expect.objectContaining({ op: 'modify', reason: 'content' })]);
  });
});

describe('reconcileTransactions and the order of the stored rows', () => {
  /** A stored row as the store holds it (fingerprint as reconciliation gives it). */
  function stored(id: string, status: TxStatus, row: FetchedTransaction, over: Partial<StoredTx> = {}): StoredTx {
    const content = toContent(row, status);
    const fingerprint = fingerprints(ACC, [row])[0]!;
    return { ...content, id, dedupeKey: dedupeKeyFor(ACC, row, fingerprint), transactionId: row.transactionId, fingerprint, contentHash: contentHash(content), removed: false, missingSince: null, lastFetchId: 'f-old', ...over };
  }

  /** Every rotation and the reversal of `rows`: the orders a store may return them in. */
  function orders<T>(rows: T[]): T[][] {
    return [...rows.map((_, k) => [...rows.slice(k), ...rows.slice(0, k)]), [...rows].reverse()];
  }

  it('gives the same operations whatever order the store returns the rows in: ties go to the smallest id', () => {
    // two stored rows with one provider id (the bank reused it): an incoming row with that id matches the smaller id
    const shared = tx({ providerTransactionId: 'bank-7', description: 'RENT', amount: '-900' });
    const rows = [
      stored('txn_b', 'booked', { ...shared, transactionId: 'old-b' }),
      stored('txn_a', 'booked', { ...shared, transactionId: 'old-a', description: 'RENT MARCH' }),
      stored('txn_c', 'booked', tx({ description: 'COFFEE' })),
    ];
    const results = orders(rows).map((order) =>
      reconcileTransactions({ userId: 'u1', accountId: ACC, status: 'booked', rows: [{ ...shared, transactionId: 'new', description: 'RENT APRIL' }], stored: order, fetchId: 'f', fetchedAt: new Date('2026-03-03T00:00:00Z'), completeResult: true }),
    );
    expect(results[0]).toEqual([expect.objectContaining({ op: 'modify', id: 'txn_a', reason: 'content' })]);
    for (const r of results) expect(r).toEqual(results[0]);
  });

  it('marks pending rows missing from a complete pending result in id order, whatever order they come in', () => {
    const day = new Date('2026-03-02T09:00:00Z');
    const rows = ['p3', 'p1', 'p4', 'p2'].map((id, i) => stored(`txn_${id}`, 'pending', tx({ timestamp: day, description: `SHOP ${i}` })));
    const window = { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-03-04T00:00:00Z') };
    const results = orders(rows).map((order) =>
      reconcileTransactions({ userId: 'u1', accountId: ACC, status: 'pending', rows: [], stored: order, fetchId: 'f-new', fetchedAt: new Date('2026-03-03T00:00:00Z'), window, completeResult: true }),
    );
    expect(results[0]!.map((o) => [o.op, o.id])).toEqual(['txn_p1', 'txn_p2', 'txn_p3', 'txn_p4'].map((id) => ['touch', id]));
    for (const r of results) expect(r).toEqual(results[0]);
  });
});
