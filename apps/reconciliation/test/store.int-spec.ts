/**
 * The canonical store on the real MongoDB-wire server: idempotent batches (the same events twice, or replayed into
 * an empty store, give the same checksum and no new sequence numbers), re-consent with changed TrueLayer ids keeps
 * internal accounts and adds no transaction, pending→booked replaces, user edits survive syncs, sequence numbers
 * reserved at once never overlap, the change feed's pending flag is cleared only when nothing newer is committed, and
 * every hot query is served by its named index (explain(), with enough documents that a scan would be the planner's
 * other choice).
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo, explainUsesIndex, type Connection } from '@ais/platform-mongo';
import { randomBytes } from 'node:crypto';
import { RECON_INDEXES, ReconciliationStore, type Batch, type TransactionDoc } from '../src/data/store';
import type { FetchedTransaction } from '../src/domain/dedupe';
import type { FetchedAccount } from '../src/domain/identity';

const logger = createLogger({ service: 'reconciliation-store-int', level: 'warn' });
const DAY = 86_400_000;
const RULES = { pendingGraceMs: 2 * DAY, settleWindowMs: 10 * DAY };
const T0 = new Date('2026-03-01T00:00:00Z');

function accountsOf(suffix: string): FetchedAccount[] {
  return [
    { kind: 'account', accountId: `tl-cur-${suffix}`, providerId: 'ob-lloyds', displayName: 'Club Lloyds', currency: 'GBP', type: 'TRANSACTION', sortCode: '30-94-57', number: '12345678' },
    { kind: 'account', accountId: `tl-sav-${suffix}`, providerId: 'ob-lloyds', displayName: 'Easy Saver', currency: 'GBP', type: 'SAVINGS', sortCode: '30-94-57', number: '87654321' },
    { kind: 'card', accountId: `tl-card-${suffix}`, providerId: 'ob-lloyds', displayName: 'Credit Card', currency: 'GBP', type: 'CREDIT', partialCardNumber: '4242', nameOnCard: 'ANN SMITH', cardNetwork: 'VISA' },
  ];
}

/** The bank's booked history of the current account: stable normalised ids, two id-less identical coffees. */
function booked(idSalt: string): FetchedTransaction[] {
  const rows: FetchedTransaction[] = Array.from({ length: 40 }, (_, i) => ({
    transactionId: `tid-${idSalt}-${i}`,
    normalisedProviderTransactionId: `txn-${i}`,
    providerTransactionId: `bank-${i}`,
    timestamp: new Date(T0.getTime() + (i % 20) * DAY),
    description: `SHOP ${i % 7}`,
    amount: `-${(i + 1) * 3}.25`,
    currency: 'GBP',
    transactionType: 'DEBIT',
    transactionCategory: 'PURCHASE',
    transactionClassification: ['Shopping'],
    merchantName: '',
    meta: {},
  }));
  for (const k of [0, 1]) {
    rows.push({ ...rows[0]!, transactionId: `coffee-${idSalt}-${k}`, normalisedProviderTransactionId: '', providerTransactionId: '', description: 'PRET A MANGER', amount: '-2.50', timestamp: new Date(T0.getTime() + 5 * DAY) });
  }
  return rows;
}

/** `n` booked rows of the current account (ids `<salt>-<i>`, `<salt>-txn-<i>`, `<salt>-bank-<i>`) over `days` days from T0. */
function manyBooked(salt: string, n: number, days: number): FetchedTransaction[] {
  const like = booked(salt)[0]!;
  return Array.from({ length: n }, (_, i) => ({
    ...like,
    transactionId: `${salt}-${i}`,
    normalisedProviderTransactionId: `${salt}-txn-${i}`,
    providerTransactionId: `${salt}-bank-${i}`,
    timestamp: new Date(T0.getTime() + (i % days) * DAY + i * 1000),
    description: `SHOP ${i % 11}`,
    amount: `-${i + 1}.10`,
  }));
}

function batch(connectionId: string, at: Date, payload: Batch['payload'], extra: Partial<Batch> = {}): Batch {
  return { eventId: `ev-${Math.random()}`, clientId: 'client-1', connectionId, providerId: 'ob-lloyds', fetchId: `fetch-${connectionId}-${at.toISOString()}`, fetchedAt: at, payload, ...extra };
}

const single = { index: 0, count: 1, complete: true };
const window = { from: T0, to: new Date(T0.getTime() + 30 * DAY) };

/** One connection's first sync: accounts, cards, booked and pending transactions, balances. */
function firstSync(): Batch[] {
  const at = new Date(T0.getTime() + 25 * DAY);
  const [cur, sav, card] = accountsOf('1');
  return [
    batch('conn-1', at, { kind: 'accounts', accounts: [cur!, sav!] }),
    batch('conn-1', at, { kind: 'accounts', accounts: [card!] }),
    batch('conn-1', at, { kind: 'transactions', providerAccountId: 'tl-cur-1', window, batch: single, transactions: booked('a') }),
    batch('conn-1', at, {
      kind: 'pending_transactions',
      providerAccountId: 'tl-cur-1',
      window,
      batch: single,
      transactions: [{ ...booked('p')[0]!, transactionId: 'pend-1', normalisedProviderTransactionId: '', providerTransactionId: '', description: 'TESCO STORES 3297', amount: '-23.10', timestamp: new Date(T0.getTime() + 24 * DAY + 3600_000) }],
    }),
    batch('conn-1', at, { kind: 'balance', providerAccountId: 'tl-cur-1', balance: { currency: 'GBP', current: '100.00', available: '1100.00', overdraft: '1000', creditLimit: '', updateTimestamp: at } }),
    batch('conn-1', new Date(at.getTime() + 3600_000), { kind: 'balance', providerAccountId: 'tl-cur-1', balance: { currency: 'GBP', current: '100.0', available: '1100', overdraft: '1000.00', creditLimit: '' } }),
  ];
}

describe('reconciliation store (real server)', () => {
  const dbs: string[] = [];
  const conns: Connection[] = [];
  async function freshStore(writeParallelism?: number): Promise<ReconciliationStore> {
    const db = `it_recon_${randomBytes(4).toString('hex')}`;
    const conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db, logger });
    dbs.push(db);
    conns.push(conn);
    const store = new ReconciliationStore(conn, RULES, writeParallelism === undefined ? {} : { writeParallelism });
    await store.ensureIndexes();
    return store;
  }
  afterAll(async () => {
    for (const c of conns) {
      await c.dropDatabase().catch(() => undefined);
      await c.close();
    }
  });

  async function applyAll(store: ReconciliationStore, userId: string, batches: Batch[]): Promise<number> {
    let changes = 0;
    for (const b of batches) changes += (await store.applyBatch(userId, b)).changes;
    return changes;
  }

  it('the same batches twice: identical checksum, no new sequence numbers; a replay into an empty store is identical', async () => {
    const store = await freshStore();
    const events = firstSync();
    const first = await applyAll(store, 'u1', events);
    // 3 accounts + 42 booked + 1 pending + 1 balance (the second balance equals the first)
    expect(first).toBe(47);
    const sum = await store.checksum('u1');
    const state = await store.userState('u1');
    expect(state).toMatchObject({ seq: 47, committedSeq: 47 });
    for (const b of events) expect(await store.applyBatch('u1', b)).toEqual({ changes: 0, touched: 0 });
    expect(await store.checksum('u1')).toBe(sum);
    expect(await store.userState('u1')).toEqual(state);
    expect(await store.transactions.countDocuments({ userId: 'u1' })).toBe(43);
    expect(await store.balances.countDocuments({ userId: 'u1' })).toBe(1);

    const replay = await freshStore();
    await applyAll(replay, 'u1', events);
    expect(await replay.checksum('u1')).toBe(sum);
  });

  it('sequence numbers: reservations made at once get disjoint ranges; a renewal link made first is kept', async () => {
    const store = await freshStore();
    // the first of them create the user's state document at once: with upserts that lost increments on the local
    // store (FerretDB 2.7), so the state is created by a plain insert
    const firsts = await Promise.all(Array.from({ length: 12 }, () => store.reserveSeq('uq', 5)));
    expect([...firsts].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => 1 + 5 * i));
    expect(await store.reserveSeq('uq', 2)).toBe(61);
    expect(await store.userState('uq')).toMatchObject({ seq: 62, committedSeq: 0, links: [] });

    await store.linkConnection('ul', 'conn-2', 'conn-1');
    expect(await store.reserveSeq('ul', 3)).toBe(1);
    expect(await store.reserveSeq('ul', 1)).toBe(4);
    expect(await store.userState('ul')).toMatchObject({ seq: 4, committedSeq: 0, links: [{ connectionId: 'conn-2', previousConnectionId: 'conn-1' }] });
  });

  it("a renewal link recorded while the user's first numbers are reserved loses neither the link nor a number", async () => {
    // linkConnection runs on the connection topic's consumer, beside the user's writer, so it may create the user's
    // state document at the moment the writer's first reservation does: on the local store (FerretDB 2.7) two
    // upserts that create one document at once could leave the reservation's increment out
    const store = await freshStore();
    const users = Array.from({ length: 40 }, (_, i) => `race-${i}`);
    const results = await Promise.all(
      users.map(async (u) => {
        const [first] = await Promise.all([store.reserveSeq(u, 3), store.linkConnection(u, `${u}-new`, `${u}-old`)]);
        return { u, first, next: await store.reserveSeq(u, 1) };
      }),
    );
    for (const { u, first, next } of results) {
      expect({ u, first, next }).toEqual({ u, first: 1, next: 4 });
      expect(await store.userState(u)).toMatchObject({ seq: 4, committedSeq: 0, links: [{ connectionId: `${u}-new`, previousConnectionId: `${u}-old` }] });
    }
  });

  it('one user id under two API clients: the same bank accounts become each client\'s own, and nothing moves between them', async () => {
    const store = await freshStore();
    await applyAll(store, 'u1', firstSync());
    const before = await store.accounts.find({ userId: 'u1' }).sort({ _id: 1 }).toArray();
    const rowsBefore = await store.transactions.countDocuments({ userId: 'u1', clientId: 'client-1' });
    const at = new Date(T0.getTime() + 26 * DAY);
    const [cur, sav] = accountsOf('1');
    // another client of the platform lists the same bank accounts (same TrueLayer ids, same numbers) for its own
    // user "u1": two new accounts of its own. Before, they were matched to client-1's and moved to client-2, while
    // client-1's transactions stayed client-1's: each client saw half of the data.
    expect((await store.applyBatch('u1', batch('conn-9', at, { kind: 'accounts', accounts: [cur!, sav!] }, { clientId: 'client-2' }))).changes).toBe(2);
    const rows = manyBooked('later', 3, 3);
    await store.applyBatch('u1', batch('conn-9', at, { kind: 'transactions', providerAccountId: 'tl-cur-1', window, batch: single, transactions: rows }, { clientId: 'client-2' }));
    await store.applyBatch('u1', batch('conn-9', at, { kind: 'balance', providerAccountId: 'tl-cur-1', balance: { currency: 'GBP', current: '10.00', available: '10.00', overdraft: '', creditLimit: '', updateTimestamp: at } }, { clientId: 'client-2' }));

    const theirs = await store.internalAccount('u1', 'client-2', 'tl-cur-1');
    const ours = await store.internalAccount('u1', 'client-1', 'tl-cur-1');
    expect(theirs).toMatchObject({ clientId: 'client-2', connectionId: 'conn-9', matchedBy: 'new' });
    expect(ours._id).not.toBe(theirs._id);
    // client-1's accounts are as they were, and its transactions are all still under them
    expect(await store.accounts.find({ userId: 'u1', clientId: 'client-1' }).sort({ _id: 1 }).toArray()).toEqual(before);
    expect(await store.transactions.countDocuments({ userId: 'u1', clientId: 'client-1', accountId: { $in: before.map((a) => a._id) } })).toBe(rowsBefore);
    // client-2's rows and balance are filed under its own account
    const stored = await store.transactions.find({ userId: 'u1', normalisedProviderTransactionId: { $in: rows.map((r) => r.normalisedProviderTransactionId) } }).toArray();
    expect(stored.map((d) => [d.clientId, d.accountId])).toEqual(rows.map(() => ['client-2', theirs._id]));
    expect(await store.balances.find({ userId: 'u1', accountId: theirs._id }).toArray()).toEqual([expect.objectContaining({ clientId: 'client-2', accountId: theirs._id })]);
    // a client's data for an account only the other client has is refused, not filed under the other's account
    await expect(store.applyBatch('u1', batch('conn-9', at, { kind: 'transactions', providerAccountId: 'tl-card-1', window, batch: single, transactions: rows }, { clientId: 'client-2' }))).rejects.toMatchObject({ code: 'unknown_account' });
  });

  it('publishing clears the pending flag only when nothing was committed past the published number', async () => {
    const store = await freshStore();
    const state = async () => {
      const s = await store.userState('up');
      return { publishedSeq: s?.publishedSeq, publishPending: s?.publishPending, pending: s?.pendingSince !== undefined, publishing: s?.publishingFrom !== undefined };
    };
    await store.reserveSeq('up', 10);
    await store.commitSeq('up', 10);
    await store.markPublishing('up', { partition: 0, offset: 7 });
    await store.markPublished('up', 10, true);
    expect(await state()).toEqual({ publishedSeq: 10, publishPending: false, pending: false, publishing: false });

    await store.reserveSeq('up', 10);
    await store.commitSeq('up', 20);
    await store.markPublishing('up', { partition: 0, offset: 9 });
    // a page of the run, then a commit came after the run read committedSeq
    await store.markPublished('up', 15);
    expect(await state()).toEqual({ publishedSeq: 15, publishPending: true, pending: true, publishing: true });
    await store.markPublished('up', 12, true);
    expect(await state()).toEqual({ publishedSeq: 15, publishPending: true, pending: true, publishing: false });
    await store.markPublished('up', 20, true);
    expect(await state()).toEqual({ publishedSeq: 20, publishPending: false, pending: false, publishing: false });
    // no state document: nothing is created
    await store.markPublished('nobody', 3, true);
    expect(await store.userState('nobody')).toBeNull();
  });

  it("balances: the writer keeps each account's latest and stores what a store reading every time stores (repeats, late arrivals, the same instant again)", async () => {
    const keeping = await freshStore();
    const readingDb = await freshStore();
    const readingConn = conns.at(-1)!;
    const [cur, sav] = accountsOf('1');
    const t = (h: number) => new Date(T0.getTime() + 25 * DAY + h * 3_600_000);
    const balance = (at: Date, current: string, updateTimestamp: Date | undefined = at) =>
      batch('conn-1', at, { kind: 'balance', providerAccountId: 'tl-cur-1', balance: { currency: 'GBP', current, available: current, overdraft: '', creditLimit: '', ...(updateTimestamp ? { updateTimestamp } : {}) } });
    const messages = [
      batch('conn-1', t(0), { kind: 'accounts', accounts: [cur!, sav!] }),
      balance(t(1), '100.00'),
      balance(t(2), '100.0'), // the same values later: no change
      balance(t(5), '90.00'),
      balance(t(6), '95.00', t(3)), // as of an earlier instant, arriving late: stored beside the latest
      balance(t(7), '91.00', t(5)), // the latest instant again with other values: modified
      balance(t(8), '91.00'), // as the latest: no change
      balance(t(9), '92.00'),
    ];
    const changes = { keeping: [] as number[], reading: [] as number[] };
    for (const m of messages) {
      changes.keeping.push((await keeping.applyBatch('u-bal', m)).changes);
      // a store instance per message keeps nothing: it reads the latest balance every time
      changes.reading.push((await new ReconciliationStore(readingConn, RULES).applyBatch('u-bal', m)).changes);
    }
    expect(changes.keeping).toEqual([2, 1, 0, 1, 1, 1, 0, 1]);
    expect(changes.reading).toEqual(changes.keeping);
    expect(await keeping.checksum('u-bal')).toBe(await readingDb.checksum('u-bal'));
    const stored = await keeping.balances.find({ userId: 'u-bal' }).sort({ asOf: 1 }).toArray();
    expect(stored.map((b) => [b.asOf.toISOString(), b.current, b.changeKind])).toEqual([
      [t(1).toISOString(), '100', 'added'],
      [t(3).toISOString(), '95', 'added'],
      [t(5).toISOString(), '91', 'modified'],
      [t(9).toISOString(), '92', 'added'],
    ]);
  });

  it('re-consent with new account ids and new transaction ids keeps internal accounts and adds no transaction', async () => {
    const store = await freshStore();
    await applyAll(store, 'u2', firstSync());
    const before = await store.accounts.find({ userId: 'u2' }).sort({ _id: 1 }).toArray();
    const { seq } = (await store.userState('u2'))!;
    const at = new Date(T0.getTime() + 40 * DAY);
    const [cur, sav, card] = accountsOf('2'); // every TrueLayer account id changed
    await store.linkConnection('u2', 'conn-2', 'conn-1');
    await store.applyBatch('u2', batch('conn-2', at, { kind: 'accounts', accounts: [sav!, cur!] }));
    await store.applyBatch('u2', batch('conn-2', at, { kind: 'accounts', accounts: [card!] }));
    const after = await store.accounts.find({ userId: 'u2' }).sort({ _id: 1 }).toArray();
    expect(after.map((a) => a._id)).toEqual(before.map((a) => a._id));
    expect(after.map((a) => a.matchedBy).sort()).toEqual(['card', 'domestic_number', 'domestic_number']);
    expect(after.find((a) => a.kind === 'card')!.providerAccountIds).toEqual(['tl-card-1', 'tl-card-2']);
    // the same history again under the new account id, with every transaction_id changed
    const res = await store.applyBatch('u2', batch('conn-2', at, { kind: 'transactions', providerAccountId: 'tl-cur-2', window, batch: single, transactions: booked('b') }));
    expect(res.changes).toBe(0);
    expect(await store.transactions.countDocuments({ userId: 'u2' })).toBe(43);
    expect(await store.cursors.transactionChanges('u2', seq, 100).toArray()).toEqual([]);
  });

  it('a pending row that settles is replaced in place; a pending row gone from a complete result is removed after grace', async () => {
    const store = await freshStore();
    await applyAll(store, 'u3', firstSync());
    const pending = await store.transactions.findOne({ userId: 'u3', status: 'pending' });
    const { seq } = (await store.userState('u3'))!;
    const at = new Date(T0.getTime() + 27 * DAY);
    const settled: FetchedTransaction = { ...booked('c')[0]!, transactionId: 'x', normalisedProviderTransactionId: 'txn-tesco', providerTransactionId: '', description: 'Tesco Stores 3297 LONDON', amount: '-23.1', timestamp: new Date(T0.getTime() + 26 * DAY) };
    const res = await store.applyBatch('u3', batch('conn-1', at, { kind: 'transactions', providerAccountId: 'tl-cur-1', window, batch: single, transactions: [...booked('c'), settled] }));
    expect(res.changes).toBe(1);
    const row = await store.transactions.findOne({ _id: pending!._id });
    expect(row).toMatchObject({ status: 'booked', changeKind: 'modified', changeReason: 'settled', seq: seq + 1, createdSeq: pending!.createdSeq, dedupeKey: expect.stringMatching(/^n:.*:txn-tesco$/) });
    expect(await store.transactions.countDocuments({ userId: 'u3', removed: false })).toBe(43);

    // a new pending row, then a complete pending result without it: missing, then removed after the grace period
    const hold: FetchedTransaction = { ...settled, transactionId: 'h', normalisedProviderTransactionId: '', description: 'HOTEL HOLD', amount: '-200', timestamp: new Date(T0.getTime() + 27 * DAY) };
    await store.applyBatch('u3', batch('conn-1', at, { kind: 'pending_transactions', providerAccountId: 'tl-cur-1', window, batch: single, transactions: [hold] }));
    const day1 = new Date(at.getTime() + DAY);
    expect(await store.applyBatch('u3', batch('conn-1', day1, { kind: 'pending_transactions', providerAccountId: 'tl-cur-1', window, batch: single, transactions: [] }))).toEqual({ changes: 0, touched: 1 });
    const day3 = new Date(at.getTime() + 3 * DAY);
    const removal = await store.applyBatch('u3', batch('conn-1', day3, { kind: 'pending_transactions', providerAccountId: 'tl-cur-1', window, batch: single, transactions: [] }));
    expect(removal.changes).toBe(1);
    const gone = await store.transactions.findOne({ userId: 'u3', description: 'HOTEL HOLD' });
    expect(gone).toMatchObject({ removed: true, changeKind: 'removed', changeReason: 'pending_gone', missingSince: day1 });
    // the change feed of this user after `seq`, in order
    const feed = await store.cursors.transactionChanges('u3', seq, 100).toArray();
    expect(feed.map((d) => [d.changeKind, d.seq])).toEqual([
      ['modified', seq + 1],
      ['removed', seq + 3],
    ]);

    // pending lists as data-fetcher sends them, without a window: an empty one spans no time (no booked rows to read)
    // and still finds a live pending row missing, then removes it after the grace period
    const hire: FetchedTransaction = { ...hold, transactionId: 'h2', description: 'CAR HIRE HOLD', timestamp: day3 };
    const pendingList = (on: Date, transactions: FetchedTransaction[]) => batch('conn-1', on, { kind: 'pending_transactions', providerAccountId: 'tl-cur-1', batch: single, transactions });
    expect((await store.applyBatch('u3', pendingList(day3, [hire]))).changes).toBe(1);
    const day4 = new Date(at.getTime() + 4 * DAY);
    expect(await store.applyBatch('u3', pendingList(day4, []))).toEqual({ changes: 0, touched: 1 });
    expect((await store.applyBatch('u3', pendingList(new Date(at.getTime() + 6 * DAY), []))).changes).toBe(1);
    expect(await store.transactions.findOne({ userId: 'u3', description: 'CAR HIRE HOLD' })).toMatchObject({ removed: true, changeKind: 'removed', changeReason: 'pending_gone', missingSince: day4 });
  });

  it('a user edit survives a later sync that changes the transaction', async () => {
    const store = await freshStore();
    await applyAll(store, 'u4', firstSync());
    const target = (await store.transactions.findOne({ userId: 'u4', normalisedProviderTransactionId: 'txn-3' }))!;
    const edit = await store.applyEdit('u4', 'transaction', target._id, { categoryOverride: 'Groceries', notes: 'split with Bob', tags: ['shared'] }, new Date(T0.getTime() + 26 * DAY));
    expect(edit.changes).toBe(1);
    expect((await store.applyEdit('u4', 'transaction', target._id, { categoryOverride: 'Groceries' }, new Date())).changes).toBe(0);
    const rows = booked('d').map((r) => (r.normalisedProviderTransactionId === 'txn-3' ? { ...r, merchantName: 'Tesco', transactionClassification: ['Shopping', 'Groceries'] } : r));
    const res = await store.applyBatch('u4', batch('conn-1', new Date(T0.getTime() + 28 * DAY), { kind: 'transactions', providerAccountId: 'tl-cur-1', window, batch: single, transactions: rows }));
    expect(res.changes).toBe(1);
    expect(await store.transactions.findOne({ _id: target._id })).toMatchObject({ merchantName: 'Tesco', changeKind: 'modified' });
    const [kept] = await store.editsOf('u4', 'transaction', [target._id]);
    expect(kept).toMatchObject({ categoryOverride: 'Groceries', notes: 'split with Bob', tags: ['shared'], seq: edit.firstSeq });
  });

  it('the row key is unique per user; a store with the former compound index gets the new one', async () => {
    // a store created by an earlier release: transactions with the compound unique {userId, dedupeKey} index
    const db = `it_recon_${randomBytes(4).toString('hex')}`;
    const conn = await connectMongo({ uri: process.env['MONGODB_URI']!, db, logger });
    dbs.push(db);
    conns.push(conn);
    await conn.collection('transactions').createIndex({ userId: 1, dedupeKey: 1 }, { name: 'transactions_dedupe', unique: true });
    const store = new ReconciliationStore(conn, RULES);
    await store.ensureIndexes();
    await store.ensureIndexes(); // a restart finds nothing left to drop
    const indexes = await store.transactions.listIndexes().toArray();
    expect(indexes.map((i) => i['name'])).not.toContain('transactions_dedupe');
    expect(indexes.find((i) => i['name'] === RECON_INDEXES.transactionsDedupe)).toMatchObject({ key: { dedupeKey: 1 }, unique: true });
    // the data written through it: a replayed sync adds nothing, and a second row under a stored key is refused
    await applyAll(store, 'u6', firstSync());
    const count = await store.transactions.countDocuments({ userId: 'u6' });
    expect(await applyAll(store, 'u6', firstSync())).toBe(0);
    expect(await store.transactions.countDocuments({ userId: 'u6' })).toBe(count);
    const stored = (await store.transactions.findOne({ userId: 'u6' }))!;
    await expect(store.transactions.insertOne({ ...stored, _id: 'txn_copy' })).rejects.toMatchObject({ code: 11000 });

    // a row stored under the key with another id, outside the window a batch reads: the batch's add changes nothing
    const row = (await store.transactions.findOne({ userId: 'u6', normalisedProviderTransactionId: 'txn-5' }))!;
    await store.transactions.deleteOne({ _id: row._id });
    const moved = { ...row, _id: 'txn_moved', bookedAt: new Date(T0.getTime() - 400 * DAY) };
    await store.transactions.insertOne(moved);
    const told: string[] = [];
    store.listen({ written: (_u, rows) => told.push(...rows.map((r) => r.id)), unknown: () => told.push('unknown') });
    const before = (await store.state.findOne({ _id: 'u6' }))!.seq;
    await expect(applyAll(store, 'u6', firstSync())).resolves.toBeGreaterThanOrEqual(0);
    expect(await store.transactions.countDocuments({ userId: 'u6' })).toBe(count);
    expect(await store.transactions.findOne({ _id: 'txn_moved' })).toEqual(moved);
    expect(await store.transactions.findOne({ _id: row._id })).toBeNull();
    // the refused add was not written: no listener hears of it, and the change feed has no change for it (its
    // number is a gap), whether published from memory or read from the store
    expect(told).not.toContain(row._id);
    expect(told).not.toContain('unknown');
    const after = (await store.state.findOne({ _id: 'u6' }))!.seq;
    const remembered = store.feed.changes('u6', before, after);
    expect(remembered).toBeDefined();
    expect(remembered!.docs.map((d) => d._id)).not.toContain(row._id);
  });

  it('a message of 500 rows is written as two bulk writes at once: the rows each one refused are told apart from those written, and the rest is stored as by one bulk write', async () => {
    const at = new Date(T0.getTime() + 25 * DAY);
    const [cur] = accountsOf('1');
    const rows = manyBooked('big', 500, 30);
    const messages = [
      batch('conn-1', at, { kind: 'accounts', accounts: [cur!] }, { eventId: 'ev-accounts' }),
      batch('conn-1', at, { kind: 'transactions', providerAccountId: 'tl-cur-1', window, batch: single, transactions: rows }, { eventId: 'ev-big' }),
    ];
    // the reference: one bulk write a message
    const one = await freshStore(1);
    await applyAll(one, 'u7', messages);
    const reference = await one.transactions.find({ userId: 'u7' }).sort({ seq: 1 }).toArray();
    expect(reference).toHaveLength(500);

    // two bulk writes at once, into a store holding four of the rows' keys under other ids outside the window read
    // (rows that settled there): their adds are refused, two in each half of the message
    const two = await freshStore(2);
    await two.applyBatch('u7', messages[0]!);
    const moved = [7, 123, 260, 499].map((i) => ({ ...reference.find((d) => d.normalisedProviderTransactionId === `big-txn-${i}`)!, _id: `txn_moved_${i}`, bookedAt: new Date(T0.getTime() - 400 * DAY) }));
    await two.transactions.insertMany(moved);
    const told: string[] = [];
    two.listen({ written: (_u, written) => told.push(...written.map((r) => r.id)), unknown: () => told.push('unknown') });
    const before = (await two.state.findOne({ _id: 'u7' }))!.seq;
    const result = await two.applyBatch('u7', messages[1]!);
    expect(result).toMatchObject({ changes: 500, firstSeq: before + 1, lastSeq: before + 500 });

    const stored = await two.transactions.find({ userId: 'u7', _id: { $not: /^txn_moved_/ } }).sort({ seq: 1 }).toArray();
    const refused = new Set(moved.map((d) => d.dedupeKey));
    // every row but the refused four is stored as the single bulk write stored it, numbers included
    expect(stored).toEqual(reference.filter((d) => !refused.has(d.dedupeKey)));
    expect(await two.transactions.find({ _id: { $in: moved.map((d) => d._id) } }).sort({ _id: 1 }).toArray()).toEqual([...moved].sort((a, b) => a._id.localeCompare(b._id)));
    // the refused adds' numbers are gaps in both halves of the message's range
    const taken = new Set(stored.map((d) => d.seq));
    const gaps = Array.from({ length: 500 }, (_, i) => before + 1 + i).filter((q) => !taken.has(q));
    expect(gaps).toHaveLength(4);
    expect(gaps.filter((q) => q <= before + 250)).toHaveLength(2);
    // listeners and the change feed know exactly the rows written
    expect(told.sort()).toEqual(stored.map((d) => d._id).sort());
    const remembered = two.feed.changes('u7', before, before + 500);
    expect(remembered?.fromStore).toEqual([]);
    expect(remembered?.docs.map((d) => [d._id, d.seq])).toEqual(stored.map((d) => [d._id, d.seq]));
  });

  describe('a result of several messages: the next one is reconciled while the write before it is in flight', () => {
    const at = new Date(T0.getTime() + 25 * DAY);
    const rows = manyBooked('ahead', 1_200, 28);
    const [cur] = accountsOf('1');
    const accounts = batch('conn-1', at, { kind: 'accounts', accounts: [cur!] }, { eventId: 'ev-accounts' });
    // one fetch's result split as data-fetcher splits it: 500, 500, 200
    const parts = [0, 1, 2].map((k) =>
      batch('conn-1', at, { kind: 'transactions', providerAccountId: 'tl-cur-1', window, batch: { index: k, count: 3, complete: true }, transactions: rows.slice(k * 500, (k + 1) * 500) }, { eventId: `ev-part-${k}` }),
    );

    /** A store with the accounts and `between` applied, then the parts in order, each told `next[k]` as its look-ahead. */
    async function run(next: (k: number) => Batch | undefined, between?: (store: ReconciliationStore) => Promise<void>): Promise<{ store: ReconciliationStore; sum: string }> {
      const store = await freshStore();
      await store.applyBatch('u8', accounts);
      for (const [k, part] of parts.entries()) {
        await store.applyBatch('u8', part, () => next(k));
        if (k === 0 && between) await between(store);
      }
      expect(await store.transactions.countDocuments({ userId: 'u8' })).toBe(1_200);
      return { store, sum: await store.checksum('u8') };
    }

    it('used when the next message is the next part: the store is the one applying each message alone gives', async () => {
      const plain = await run(() => undefined);
      expect(plain.store.lookahead).toEqual({ used: 0, discarded: 0 });
      const ahead = await run((k) => parts[k + 1]);
      // parts 1 and 2 were reconciled during the writes of parts 0 and 1
      expect(ahead.store.lookahead).toEqual({ used: 2, discarded: 0 });
      expect(ahead.sum).toBe(plain.sum);
    });

    it('dropped when another write of the user comes between, or another message than the one reconciled is applied', async () => {
      // a re-enrichment of one of part 0's rows between parts 0 and 1: it takes numbers, so the rows are read again
      const reEnrich = async (store: ReconciliationStore): Promise<void> => {
        const row = (await store.transactions.findOne({ userId: 'u8', normalisedProviderTransactionId: 'ahead-txn-7' }))!;
        const enrichment = { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', merchantName: 'Pret', merchantKey: 'pret', source: 'rule', reason: 'rule:test', confidence: 0.9, version: '1.0.0', taxonomy: 'plaid-pfc-v1' };
        expect((await store.applyReEnrichment('u8', [{ transactionId: row._id, enrichment }], at)).changes).toBe(1);
      };
      const plain = await run(() => undefined, reEnrich);
      const ahead = await run((k) => parts[k + 1], reEnrich);
      expect(ahead.store.lookahead).toEqual({ used: 1, discarded: 1 });
      expect(ahead.sum).toBe(plain.sum);

      // part 0 told that part 2 comes next, then part 1 applied: what was reconciled ahead is not part 1's
      const wrong = await run((k) => parts[k === 0 ? 2 : k + 1]);
      expect(wrong.store.lookahead).toEqual({ used: 1, discarded: 1 });
      expect(wrong.sum).toBe((await run(() => undefined)).sum);
    });
  });

  describe('hot queries use their named indexes', () => {
    let store: ReconciliationStore;
    const USERS = 60;
    const PER_USER = 100;
    beforeAll(async () => {
      store = await freshStore();
      const docs: TransactionDoc[] = [];
      for (let u = 0; u < USERS; u += 1) {
        for (let i = 0; i < PER_USER; i += 1) {
          const at = new Date(T0.getTime() + i * 3600_000);
          docs.push({
            _id: `txn_${u}_${i}`,
            userId: `seed-${u}`,
            clientId: 'client-1',
            accountId: `acc_${u}_${i % 3}`,
            dedupeKey: `n:acc_${u}_${i % 3}:txn-${i}`,
            transactionId: `t-${i}`,
            fingerprint: `fp-${u}-${i}`,
            contentHash: 'h',
            status: i % 25 === 0 ? 'pending' : 'booked',
            bookedAt: at,
            amount: '-1',
            currency: 'GBP',
            description: 'X',
            transactionType: 'DEBIT',
            transactionCategory: 'PURCHASE',
            classification: [],
            merchantName: '',
            runningBalance: null,
            meta: {},
            normalisedProviderTransactionId: `txn-${i}`,
            providerTransactionId: '',
            removed: false,
            missingSince: null,
            lastFetchId: null,
            seq: i + 1,
            createdSeq: i + 1,
            changeKind: 'added',
            changeReason: 'content',
            createdAt: at,
            updatedAt: at,
          });
        }
      }
      await store.transactions.insertMany(docs);
      await store.accounts.insertMany(
        Array.from({ length: USERS * 3 }, (_, i) => ({
          ...({} as Record<string, never>),
          _id: `acc_${Math.floor(i / 3)}_${i % 3}`,
          userId: `seed-${Math.floor(i / 3)}`,
          clientId: 'client-1',
          kind: 'account' as const,
          providerId: 'ob-x',
          connectionId: 'c',
          providerAccountId: `tl-${i}`,
          providerAccountIds: [`tl-${i}`],
          displayName: 'A',
          type: 'TRANSACTION',
          currency: 'GBP',
          number: '',
          sortCode: '',
          iban: '',
          routingNumber: '',
          bsb: '',
          swiftBic: '',
          partialCardNumber: '',
          nameOnCard: '',
          cardNetwork: '',
          validFrom: '',
          validTo: '',
          matchedBy: 'new' as const,
          ambiguousWith: [],
          contentHash: 'h',
          seq: i + 1,
          createdSeq: i + 1,
          changeKind: 'added' as const,
          createdAt: T0,
          updatedAt: T0,
        })),
      );
      await store.balances.insertMany(
        Array.from({ length: USERS * PER_USER }, (_, i) => ({
          _id: `bal_${i}`,
          userId: `seed-${i % USERS}`,
          accountId: `acc_${i % USERS}_0`,
          asOf: new Date(T0.getTime() + i * 60_000),
          currency: 'GBP',
          current: '1',
          available: '1',
          overdraft: '',
          creditLimit: '',
          seq: i + 1,
          createdSeq: i + 1,
          changeKind: 'added' as const,
          createdAt: T0,
          updatedAt: T0,
        })),
      );
      await store.edits.insertMany(
        Array.from({ length: USERS * 20 }, (_, i) => ({ _id: `transaction:txn_${i % USERS}_${i}`, userId: `seed-${i % USERS}`, target: 'transaction' as const, targetId: `txn_${i % USERS}_${i}`, notes: 'n', seq: i + 1, createdSeq: i + 1, changeKind: 'added' as const, createdAt: T0, updatedAt: T0 })),
      );
    });

    const uses = async (cursor: { explain: () => Promise<unknown> }, index: string): Promise<void> => {
      const plan = await cursor.explain();
      if (!explainUsesIndex(plan, index)) throw new Error(`expected ${index}, got ${JSON.stringify(plan).slice(0, 1500)}`);
    };

    it('transactions: keyset timeline, batch window, live pending, change feed', async () => {
      await uses(store.cursors.timeline('seed-7', 'acc_7_1', 50), RECON_INDEXES.transactionsTimeline);
      await uses(store.cursors.timeline('seed-7', 'acc_7_1', 50, { bookedAt: new Date(T0.getTime() + 40 * 3600_000), id: 'txn_7_40' }), RECON_INDEXES.transactionsTimeline);
      await uses(store.cursors.window('seed-7', 'acc_7_1', T0, new Date(T0.getTime() + DAY)), RECON_INDEXES.transactionsTimeline);
      await uses(store.cursors.livePending('seed-7', 'acc_7_0'), RECON_INDEXES.transactionsPending);
      await uses(store.cursors.byDedupeKey('n:acc_7_1:txn-1'), RECON_INDEXES.transactionsDedupe);
      await uses(store.cursors.transactionChanges('seed-7', 50, 100), RECON_INDEXES.transactionsChanges);
      await uses(store.cursors.transactionsBySeq('seed-7', [51, 52, 60]), RECON_INDEXES.transactionsChanges);
      await uses(store.cursors.highestTransactionSeq('seed-7'), RECON_INDEXES.transactionsChanges);
      // the keyset pages walk the account newest first without gaps or repeats
      const seen: string[] = [];
      let after: { bookedAt: Date; id: string } | undefined;
      for (;;) {
        const page = await store.timeline('seed-7', 'acc_7_1', 7, after);
        if (page.length === 0) break;
        seen.push(...page.map((d) => d._id));
        after = { bookedAt: page.at(-1)!.bookedAt, id: page.at(-1)!._id };
      }
      expect(seen).toEqual(Array.from({ length: PER_USER }, (_, i) => i).filter((i) => i % 3 === 1).reverse().map((i) => `txn_7_${i}`));
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('accounts, balances and edits', async () => {
      await uses(store.cursors.accountsPage('client-1', 'seed-3', 10), RECON_INDEXES.accountsByUser);
      await uses(store.cursors.accountsPage('client-1', 'seed-3', 10, 'acc_3_0'), RECON_INDEXES.accountsByUser);
      await uses(store.cursors.userAccounts('seed-3'), RECON_INDEXES.accountsProviderId);
      await uses(store.cursors.accountChanges('seed-3', 0, 10), RECON_INDEXES.accountsChanges);
      await uses(store.cursors.highestAccountSeq('seed-3'), RECON_INDEXES.accountsChanges);
      await uses(store.cursors.balanceHistory('seed-3', 'acc_3_0', 10), RECON_INDEXES.balancesHistory);
      await uses(store.cursors.balanceHistory('seed-3', 'acc_3_0', 1, new Date(T0.getTime() + 3000 * 60_000)), RECON_INDEXES.balancesHistory);
      await uses(store.cursors.balanceChanges('seed-3', 10, 10), RECON_INDEXES.balancesChanges);
      await uses(store.cursors.editChanges('seed-3', 10, 10), RECON_INDEXES.editsChanges);
    });
  });
});
