/**
 * The example consumer's promises, against a scripted feed: applying a page or an event twice changes nothing,
 * and a consumer stopped after some pages resumes from its saved cursor with no page read twice or skipped.
 * (On the real stack: tests/integration/change-feed-consumer.int-spec.ts.)
 */
import { eventsV1 } from '@ais/contracts-proto-ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followChanges } from './http-feed';
import { applyChangeEvent, applyPage, emptyReplica, type ChangesPage } from './replica';

const tx = (id: string, amount = '-1.00') => ({ transaction_id: id, account_id: 'acc_1', amount });
const page = (over: Partial<ChangesPage>): ChangesPage => ({ added: [], modified: [], removed: [], accounts: [], next_cursor: 'c', has_more: false, ...over });

describe('applying is idempotent', () => {
  it('the same page twice leaves the same copy', () => {
    const p = page({ added: [tx('t1'), tx('t2')], removed: [{ transaction_id: 't0' }], accounts: [{ account_id: 'acc_1' }], next_cursor: 'c1' });
    const once = applyPage(emptyReplica('u'), p);
    const twice = applyPage(once, p);
    expect(twice.transactions).toEqual(once.transactions);
    expect(twice.accounts).toEqual(once.accounts);
    expect(Object.keys(once.transactions).sort()).toEqual(['t1', 't2']);
    expect(twice.cursor).toBe('c1');
  });

  it('a modified transaction replaces the stored one; a removed one is deleted', () => {
    let r = applyPage(emptyReplica('u'), page({ added: [tx('t1'), tx('t2')] }));
    r = applyPage(r, page({ modified: [tx('t1', '-2.00')], removed: [{ transaction_id: 't2' }] }));
    expect(r.transactions).toEqual({ t1: tx('t1', '-2.00') });
  });

  it('a Kafka event whose seq was applied already is skipped', () => {
    const event = eventsV1.ChangeEvent.fromPartial({
      userId: 'u',
      seq: '7',
      kind: eventsV1.ChangeKind.CHANGE_KIND_ADDED,
      entity: { $case: 'transaction', transaction: { transactionId: 't1', accountId: 'acc_1', amount: '-1.00' } },
    });
    const json = eventsV1.ChangeEvent.toJSON(event) as Record<string, unknown>;
    const once = applyChangeEvent(emptyReplica('u'), event, json);
    const twice = applyChangeEvent(once, event, json);
    expect(once.seq).toBe('7');
    expect(Object.keys(once.transactions)).toEqual(['t1']);
    expect(twice.transactions).toEqual(once.transactions);
    expect(twice.applied).toEqual({ ...once.applied, skipped: 1 });
    const edit = eventsV1.ChangeEvent.fromPartial({ userId: 'u', seq: '8', kind: eventsV1.ChangeKind.CHANGE_KIND_MODIFIED, entity: { $case: 'userEdit', userEdit: { target: 'transaction', targetId: 't1', edit: { notes: 'lunch' } } } });
    const edited = applyChangeEvent(twice, edit, eventsV1.ChangeEvent.toJSON(edit) as Record<string, unknown>);
    expect(edited.transactions['t1']).toMatchObject({ transactionId: 't1', userEdit: { notes: 'lunch' } });
    const removed = applyChangeEvent(edited, { ...event, seq: '9', kind: eventsV1.ChangeKind.CHANGE_KIND_REMOVED }, json);
    expect(removed.transactions).toEqual({});
  });
});

describe('followChanges resumes from its saved cursor', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'feed-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A feed of `n` pages of two transactions each; cursor `p<k>` is the start of page k, `p<n>` its end. */
  const scripted = (n: number) => {
    const asked: string[] = [];
    const fake = (async (url: URL) => {
      const cursor = url.searchParams.get('cursor') ?? 'p0';
      asked.push(cursor);
      const k = Number(cursor.slice(1));
      // past the end: no changes, the same cursor
      const body = k >= n ? page({ next_cursor: cursor }) : page({ added: [tx(`t${2 * k}`), tx(`t${2 * k + 1}`)], next_cursor: `p${k + 1}`, has_more: k + 1 < n });
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof fetch;
    return { asked, fake };
  };

  it('a stop after two pages, then a new run: every page read once, in order, and every change applied once', async () => {
    const { asked, fake } = scripted(5);
    const o = { gatewayUrl: 'http://gw.test', apiKey: 'k', userId: 'user/1', stateFile: join(dir, 'u.json'), fetch: fake };
    const first = await followChanges({ ...o, maxPages: 2 });
    expect(first.pages).toBe(2);
    const second = await followChanges(o);
    expect(second.pages).toBe(3);
    expect(asked).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(Object.keys(second.replica.transactions).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `t${i}`).sort());
    expect(second.replica.applied.upserted).toBe(10);
    // nothing new: one more call, nothing applied
    const third = await followChanges(o);
    expect(asked.at(-1)).toBe('p5');
    expect(third.replica.applied.upserted).toBe(10);
    expect(third.replica.cursor).toBe('p5');
  });

  it('an error answer is thrown with the problem, and the saved state is kept', async () => {
    const { fake } = scripted(3);
    const o = { gatewayUrl: 'http://gw.test', apiKey: 'k', userId: 'u', stateFile: join(dir, 'u.json') };
    await followChanges({ ...o, fetch: fake, maxPages: 1 });
    const failing = (async () => new Response(JSON.stringify({ code: 'unauthenticated' }), { status: 401 })) as unknown as typeof fetch;
    await expect(followChanges({ ...o, fetch: failing })).rejects.toThrow(/HTTP 401.*unauthenticated/);
    const { replica } = await followChanges({ ...o, fetch: fake, maxPages: 0 });
    expect(replica.cursor).toBe('p1');
  });
});
