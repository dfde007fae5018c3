/**
 * One connection's whole consent life through the client, with the simulator's controllable clock:
 * consent → full history inside the SCA window → window closes (sca_exceeded) → the unattended cap is hit and
 * resets after 24 h (X-PSU-IP exempt) → the access token expires and is refreshed → reauth keeps credentials_id
 * → consent expires after 90 days → a second connection is revoked.
 */
import { TrueLayerError } from '../src';
import { startHarness, type Harness } from './support/sandbox';

jest.setTimeout(120_000);

const DAY = 86_400_000;

async function failure(p: Promise<unknown>): Promise<TrueLayerError> {
  const result = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(result instanceof TrueLayerError)) throw new Error(`expected a TrueLayerError, got ${String(result)}`);
  return result;
}

describe('consent life with a controllable clock', () => {
  let h: Harness;
  const advance = (ms: number) => h.admin('POST', '/clock/advance', { ms });
  const now = async () => new Date((await h.admin<{ now: string }>('GET', '/clock')).now);

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('walks consent, history window, unattended cap, token expiry, reauth, consent expiry and revoke', async () => {
    const { data, auth } = h.client;
    await h.admin('POST', '/switches', { cacheTtlSeconds: 0 }); // every call reaches the "bank"
    const first = await h.connect();
    let access = first.tokens.accessToken;
    const me = await data.me(access);
    expect(me.results[0]?.credentials_id).toBe(first.credentialsId);
    const accountId = (await data.accounts(access)).results[0]?.account_id ?? '';
    expect(accountId).not.toBe('');

    // right after consent any range can be read (full history)
    const t0 = await now();
    const fiveYears = { from: new Date(t0.getTime() - 5 * 365 * DAY), to: t0 };
    expect((await data.transactions(access, accountId, fiveYears)).results.length).toBeGreaterThan(100);

    // the SCA window closes: more than 90 days back is refused, the last 90 days are not
    await advance(10 * 60_000);
    const sca = await failure(data.transactions(access, accountId, fiveYears));
    expect(sca).toMatchObject({ code: 'sca_exceeded', category: 'sca_window_passed', retriable: false });
    const t1 = await now();
    await data.transactions(access, accountId, { from: new Date(t1.getTime() - 80 * DAY), to: t1 });

    // unattended cap: 4 calls per account and endpoint per rolling 24 h (the one above was the first)
    const recent = async () => {
      const t = await now();
      return { from: new Date(t.getTime() - 7 * DAY), to: t };
    };
    for (let i = 0; i < 3; i += 1) await data.accountBalance(access, accountId);
    await data.accountBalance(access, accountId);
    const capped = await failure(data.accountBalance(access, accountId));
    expect(capped).toMatchObject({ code: 'provider_request_limit_exceeded', category: 'unattended_limit' });
    // a present user (X-PSU-IP) is not unattended
    expect((await data.accountBalance(access, accountId, { psuIp: '203.0.113.7' })).results).toHaveLength(1);
    // 24 h later the budget is back; the access token has expired by then and is refreshed
    await advance(DAY);
    const expired = await failure(data.accountBalance(access, accountId));
    expect(expired.category).toBe('token_expired');
    const refreshed = await auth.refresh(first.tokens.refreshToken!);
    access = refreshed.accessToken;
    expect((await data.accountBalance(access, accountId)).results).toHaveLength(1);
    await data.transactions(access, accountId, await recent());

    // reauth: a new code for the same consent; credentials_id stays
    const link = await auth.reauthLink({ refreshToken: refreshed.refreshToken ?? first.tokens.refreshToken!, redirectUri: h.sandbox.redirectUri, state: 'reauth-1' });
    const done = await h.admin<{ redirect_url: string; credentials_id: string }>('POST', '/authorize', { auth_url: link.url, username: 'john', password: 'doe' });
    expect(done.credentials_id).toBe(first.credentialsId);
    const code = new URL(done.redirect_url).searchParams.get('code')!;
    const renewed = await auth.exchangeCode({ code, redirectUri: h.sandbox.redirectUri });
    expect((await data.me(renewed.accessToken)).results[0]?.credentials_id).toBe(first.credentialsId);

    // 90 days after consent the consent is gone: data calls and refresh both refuse
    await advance(91 * DAY);
    const gone = await failure(data.accounts(renewed.accessToken));
    expect(['token_expired', 'consent_gone']).toContain(gone.category);
    const refreshGone = await failure(auth.refresh(renewed.refreshToken ?? refreshed.refreshToken!));
    expect(refreshGone).toMatchObject({ code: 'invalid_grant', category: 'consent_gone' });

    // revoke: a fresh connection deleted through the auth API no longer reads data
    const second = await h.connect();
    expect((await data.accounts(second.tokens.accessToken)).results.length).toBeGreaterThan(0);
    await auth.deleteConnection(second.tokens.accessToken);
    const revoked = await failure(data.accounts(second.tokens.accessToken));
    expect(revoked.category).toBe('consent_gone');
  });
});
