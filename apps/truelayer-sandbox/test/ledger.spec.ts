import { createHash } from 'node:crypto';
import request from 'supertest';
import type { Sandbox } from '../src/app';
import { bearer, connect, DAY, HOUR, makeSandbox, type Tokens } from './helpers';

jest.setTimeout(60_000);

const isoDate = (t: number): string => new Date(t).toISOString().slice(0, 10);
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

interface Ledger {
  count: number;
  checksum: string;
  ids: string[];
}

/** `/__admin/ledger` is the simulator's record of what the Data API returns; these tests hold it to the API itself. */
describe('admin ledger', () => {
  let sb: Sandbox;
  let t: Tokens;
  beforeEach(async () => {
    sb = makeSandbox();
    sb.admin.setSwitches({ cacheTtlSeconds: 0, accessTokenTtlSeconds: 400 * 86_400, consentDays: 400 });
    t = await connect(sb, { provider_id: 'ob-lloyds' });
  });
  afterEach(() => sb.dispose());

  const api = async (path: string, query: Record<string, string> = {}): Promise<Array<Record<string, unknown>>> => {
    const res = await request(sb.app).get(`/data/v1${path}`).query(query).set(bearer(t.access_token)).set('X-PSU-IP', '10.0.0.1').expect(200);
    return res.body.results as Array<Record<string, unknown>>;
  };
  const ledger = async (query: Record<string, string>): Promise<Ledger> =>
    (await request(sb.app).get('/__admin/ledger').query({ credentials_id: t.credentials_id, ...query }).expect(200)).body as Ledger;
  const expectSameAs = (l: Ledger, results: Array<Record<string, unknown>>, key = 'normalised_provider_transaction_id'): void => {
    const ids = results.map((r) => r[key] as string).sort();
    expect(l.ids).toEqual(ids);
    expect(l.count).toBe(ids.length);
    expect(l.checksum).toBe(sha256(ids.join('\n')));
  };

  it('equals the account transactions the API returns: all history and inclusive windows', async () => {
    const [acc] = await api('/accounts');
    const accountId = acc?.['account_id'] as string;
    const path = `/accounts/${accountId}/transactions`;
    const all = await ledger({ account_id: accountId });
    expect(all.count).toBeGreaterThan(100);
    expectSameAs(all, await api(path)); // inside the SCA window the API also serves all history without from/to
    const now = sb.clock.now();
    for (const [from, to] of [
      [isoDate(now - 30 * DAY), isoDate(now)],
      [isoDate(now - 400 * DAY), isoDate(now - 200 * DAY)],
      [isoDate(now - 3 * DAY), isoDate(now - 3 * DAY)],
    ] as const) {
      const window = await ledger({ account_id: accountId, from, to });
      expect(window.count).toBeGreaterThan(0);
      expectSameAs(window, await api(path, { from, to }));
    }
    // once the SCA window has closed the API refuses old history; the ledger still answers, and for recent windows agrees
    sb.admin.advanceClock(10 * DAY + 5 * HOUR);
    const from = isoDate(sb.clock.now() - 20 * DAY);
    const to = isoDate(sb.clock.now());
    expectSameAs(await ledger({ account_id: accountId, from, to }), await api(path, { from, to }));
    await request(sb.app).get(`/data/v1${path}`).query({ from: isoDate(sb.clock.now() - 300 * DAY) }).set(bearer(t.access_token)).set('X-PSU-IP', '10.0.0.1').expect(403);
    expect((await ledger({ account_id: accountId })).count).toBeGreaterThan(all.count); // more booked since
  });

  it('covers cards (by card_id or account_id) and pending transactions', async () => {
    const [card] = await api('/cards');
    const cardId = card?.['account_id'] as string;
    const from = isoDate(sb.clock.now() - 60 * DAY);
    const to = isoDate(sb.clock.now());
    const results = await api(`/cards/${cardId}/transactions`, { from, to });
    expectSameAs(await ledger({ card_id: cardId, from, to }), results);
    expectSameAs(await ledger({ account_id: cardId, from, to }), results);
    const pending = await ledger({ card_id: cardId, kind: 'pending' });
    expect(pending.count).toBeGreaterThan(0);
    expectSameAs(pending, await api(`/cards/${cardId}/transactions/pending`), 'transaction_id');
  });

  it('ignores faults, the unattended budget and the cache', async () => {
    const [acc] = await api('/accounts');
    const accountId = acc?.['account_id'] as string;
    const expected = await ledger({ account_id: accountId });
    sb.admin.setSwitches({ cacheTtlSeconds: 3600, unattendedCallLimit: 0 });
    sb.admin.addFault({ endpoint: 'account.transactions', error: 'provider_error' });
    expect(await ledger({ account_id: accountId })).toEqual(expected);
    await request(sb.app).get(`/data/v1/accounts/${accountId}/transactions`).set(bearer(t.access_token)).expect(429);
  });

  it('lists the accounts and cards of a connection with their booked history span', async () => {
    const res = await request(sb.app).get('/__admin/ledger/accounts').query({ credentials_id: t.credentials_id }).expect(200);
    const accounts = (await api('/accounts')).map((a) => a['account_id']);
    const cards = (await api('/cards')).map((c) => c['account_id']);
    expect(res.body.credentials_id).toBe(t.credentials_id);
    expect(res.body.accounts.map((a: { account_id: string }) => a.account_id)).toEqual(accounts);
    expect(res.body.cards.map((c: { card_id: string }) => c.card_id)).toEqual(cards);
    for (const a of res.body.accounts as Array<{ account_id: string; earliest: string; latest: string }>) {
      expect(a.earliest < a.latest).toBe(true);
      // the span is the full history: a window over it holds every booked transaction, and each end holds one
      const all = await ledger({ account_id: a.account_id });
      expect((await ledger({ account_id: a.account_id, from: a.earliest, to: a.latest })).ids).toEqual(all.ids);
      expect((await ledger({ account_id: a.account_id, from: a.earliest, to: a.earliest })).count).toBeGreaterThan(0);
      expect((await ledger({ account_id: a.account_id, from: a.latest, to: a.latest })).count).toBeGreaterThan(0);
    }
  });

  it('answers 400 for missing or bad parameters and 404 for unknown ids', async () => {
    const [acc] = await api('/accounts');
    const accountId = acc?.['account_id'] as string;
    await request(sb.app).get('/__admin/ledger').query({ account_id: accountId }).expect(400);
    await request(sb.app).get('/__admin/ledger').query({ credentials_id: t.credentials_id }).expect(400);
    await request(sb.app).get('/__admin/ledger').query({ credentials_id: t.credentials_id, account_id: accountId, kind: 'booked' }).expect(400);
    const inverted = await request(sb.app).get('/__admin/ledger').query({ credentials_id: t.credentials_id, account_id: accountId, from: '2026-03-01', to: '2026-02-01' }).expect(400);
    expect(inverted.body.error).toBe('invalid_date_range');
    await request(sb.app).get('/__admin/ledger').query({ credentials_id: 'nope', account_id: accountId }).expect(404);
    await request(sb.app).get('/__admin/ledger').query({ credentials_id: t.credentials_id, account_id: 'ffff' }).expect(404);
    await request(sb.app).get('/__admin/ledger/accounts').expect(400);
    await request(sb.app).get('/__admin/ledger/accounts').query({ credentials_id: 'nope' }).expect(404);
  });
});
