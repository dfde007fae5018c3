/**
 * The consent life, driven by a controllable clock shared with the simulator, on the real MongoDB-wire server
 * and Vault: token expiry and refresh, keep-alive, consent_expiring at each horizon (once), re-consent by
 * extend and by reauth (keeping credentials_id), expiry purging the tokens, and the retention erasure of the
 * connection's data once the retention period after the expiry is over.
 */
import { createLogger } from '@ais/platform-logger';
import { connectMongo, Leases, type Connection } from '@ais/platform-mongo';
import { Vault } from '@ais/platform-vault';
import { startSandboxProcess, type SandboxProcess } from '@ais/testing';
import { buildAuthLink, createPkcePair, createTrueLayerClient, customEnvironment, parseAuthRedirect } from '@ais/truelayer-client';
import { randomBytes } from 'node:crypto';
import { ConnectionRepository, connectionModel } from '../src/data/connection.model';
import { VaultTokenCipher } from '../src/data/token-cipher';
import { ConnectionService, type ConnectionEventPayload } from '../src/domain/connection-service';

jest.setTimeout(120_000);

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('consent lifecycle with a controllable clock', () => {
  const ns = randomBytes(4).toString('hex');
  const logger = createLogger({ service: 'token-vault-test', level: 'warn' });
  let sandbox: SandboxProcess;
  let mongo: Connection;
  let service: ConnectionService;
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const events: ConnectionEventPayload[] = [];

  const admin = <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => sandbox.admin<T>(method, path, body);

  /** Moves both clocks (ours and the simulator's) forward. */
  const advance = async (ms: number) => {
    offset += ms;
    await admin('POST', '/clock/advance', { ms });
  };

  const kinds = () => events.map((e) => (e.kind === 'consent_expiring' ? `expiring:${e.horizonDays}` : e.kind === 'token_refreshed' ? `refreshed:${e.trigger}` : e.kind));

  // john/eternal: the mock user whose connections TrueLayer can extend without sending the user back to the bank
  async function authorize(authUrl: string, state: string): Promise<string> {
    const done = await admin<{ redirect_url: string }>('POST', '/authorize', { auth_url: authUrl, username: 'john', password: 'eternal' });
    const redirect = parseAuthRedirect(done.redirect_url, state);
    if (!redirect.ok) throw new Error(`authorization failed: ${redirect.error}`);
    return redirect.code;
  }

  beforeAll(async () => {
    sandbox = await startSandboxProcess();
    mongo = await connectMongo({ uri: process.env['MONGODB_URI']!, db: `tv_clock_${ns}`, logger });
    const vault = new Vault({ addr: process.env['VAULT_ADDR']!, token: process.env['VAULT_TOKEN']! });
    const cipher = new VaultTokenCipher(vault, `clock-${ns}`);
    await cipher.init();
    const client = createTrueLayerClient({
      environment: customEnvironment({ authBaseUrl: sandbox.url, apiBaseUrl: sandbox.url }),
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
      now: () => clock.now().getTime(),
    });
    service = new ConnectionService(
      new ConnectionRepository(connectionModel(mongo)),
      new Leases(mongo),
      cipher,
      async () => client,
      { publish: async (e) => void events.push(e) },
      { refreshAheadMs: 120_000, lockMs: 30_000, keepAliveAfterMs: DAY, horizonsDays: [14, 7, 1], reconsentWindowDays: 14, jobIntervalMs: 60_000 },
      logger,
      clock,
    );
  });

  afterAll(async () => {
    await mongo?.dropDatabase();
    await mongo?.close();
    await sandbox?.stop();
  });

  it('walks a connection from consent to re-consent to expiry', async () => {
    const pkce = createPkcePair();
    const state = 'st-1';
    const link = buildAuthLink(sandbox.url, {
      clientId: sandbox.clientId,
      redirectUri: sandbox.redirectUri,
      scope: ['info', 'accounts', 'balance', 'transactions', 'offline_access'],
      providers: ['uk-ob-all'],
      providerId: 'ob-barclays',
      state,
      codeChallenge: pkce.codeChallenge,
      codeChallengeMethod: 'S256',
    });
    const first = await service.exchangeCode({
      clientId: 'c1',
      userId: 'u1',
      authCode: await authorize(link, state),
      redirectUri: sandbox.redirectUri,
      codeVerifier: pkce.codeVerifier,
      previousConnectionId: '',
      psuIp: '203.0.113.9',
    });
    expect(service.daysLeft(first, clock.now())).toBeGreaterThanOrEqual(89);
    expect(kinds()).toEqual(['authorized']);
    // the consenting user's IP reaches the event (for the post-consent fetch) but never the stored connection
    expect(events[0]).toMatchObject({ psuIp: '203.0.113.9', authenticatedAt: expect.any(Date) });
    expect(JSON.stringify(await connectionModel(mongo).findById(first._id).lean())).not.toContain('203.0.113.9');

    // access token expiry: the next call refreshes on demand, and the new token works at TrueLayer
    await advance(2 * HOUR);
    const t1 = await service.getAccessToken(first._id);
    expect((await fetch(`${sandbox.url}/data/v1/me`, { headers: { authorization: `Bearer ${t1.accessToken}` } })).status).toBe(200);
    expect(kinds()).toEqual(['authorized', 'refreshed:on_demand']);

    // keep-alive: nobody asked for a token for a day; the job refreshes anyway
    await advance(25 * HOUR);
    expect((await service.runJobs()).refreshed).toBe(1);
    expect(kinds().at(-1)).toBe('refreshed:keep_alive');

    // each horizon fires once, at its time
    const untilExpiry = () => first.consentExpiresAt.getTime() - clock.now().getTime();
    for (const horizon of [14, 7, 1]) {
      await advance(untilExpiry() - horizon * DAY + HOUR);
      await service.runJobs();
      await advance(2 * 60_000);
      await service.runJobs(); // due again: no second event for the same horizon
      expect(kinds().filter((k) => k === `expiring:${horizon}`)).toHaveLength(1);
    }
    const due = (await service.get('c1', 'u1', first._id))!;
    expect(service.reconsentDue(due, clock.now())).toBe(true);

    // re-consent by extend (the user reconfirmed on our page): same connection, new 90 days
    const ext = await service.startReconsent({ clientId: 'c1', userId: 'u1', connectionId: first._id, redirectUri: sandbox.redirectUri, userReconfirmed: true, state: 's2' });
    expect(ext.kind).toBe('extended');
    const extended = (await service.get('c1', 'u1', first._id))!;
    expect(extended._id).toBe(first._id);
    expect(service.daysLeft(extended, clock.now())).toBeGreaterThanOrEqual(89);
    expect(service.reconsentDue(extended, clock.now())).toBe(false);

    // re-consent by reauth: a reauth link, a new code, and the renewed connection keeps credentials_id
    const re = await service.startReconsent({ clientId: 'c1', userId: 'u1', connectionId: first._id, redirectUri: sandbox.redirectUri, userReconfirmed: false, state: 's3' });
    expect(re.kind).toBe('reauth_uri');
    const reauthUrl = (re as { url: string }).url;
    const renewed = await service.exchangeCode({
      clientId: 'c1',
      userId: 'u1',
      authCode: await authorize(reauthUrl, 's3'),
      redirectUri: sandbox.redirectUri,
      codeVerifier: '',
      previousConnectionId: first._id,
    });
    // the same bank consent (credentials_id kept), so the same connection, renewed in place
    expect(renewed._id).toBe(first._id);
    expect(renewed.credentialsId).toBe(first.credentialsId);
    expect(renewed.status).toBe('active');
    expect(renewed.tokenVersion).toBeGreaterThan(extended.tokenVersion);
    const authorizedAgain = events.filter((e) => e.kind === 'authorized').at(-1);
    expect(authorizedAgain).toMatchObject({ previousConnectionId: first._id });
    expect((await service.list('c1', 'u1')).map((c) => c._id)).toEqual([first._id]);
    const afterReauth = await service.getAccessToken(first._id);
    expect((await fetch(`${sandbox.url}/data/v1/me`, { headers: { authorization: `Bearer ${afterReauth.accessToken}` } })).status).toBe(200);

    // expiry: past the consent end the job expires the connection and purges its tokens
    await advance(renewed.consentExpiresAt.getTime() - clock.now().getTime() + DAY);
    const pass = await service.runJobs();
    expect(pass.expired).toBe(1);
    const gone = await service.get('c1', 'u1', renewed._id);
    expect(gone.status).toBe('expired');
    expect(gone.tokens).toBeNull();
    expect(kinds().filter((k) => k === 'consent_expired')).toHaveLength(1);
    await expect(service.getAccessToken(renewed._id)).rejects.toMatchObject({ kind: 'failed_precondition' });

    // retention (default: delete 30 days after the consent ended): nothing before, one erasure of this
    // connection's data after, never a second
    expect(gone.retentionDueAt?.getTime()).toBeGreaterThanOrEqual(clock.now().getTime() + 30 * DAY - 60_000);
    await advance(29 * DAY);
    expect((await service.runJobs()).erasing).toBe(0);
    await advance(2 * DAY);
    expect((await service.runJobs()).erasing).toBe(1);
    expect((await service.runJobs()).erasing).toBe(0);
    const erasures = events.flatMap((e) => (e.kind === 'erasure' ? [e.erasure] : []));
    expect(erasures).toHaveLength(1);
    expect(erasures[0]).toMatchObject({ reason: 'retention', userId: 'u1', clientId: 'c1', connectionIds: [renewed._id] });
    expect(erasures[0]!.erasureId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const marked = await service.get('c1', 'u1', renewed._id);
    expect(marked.retentionDueAt).toBeNull();
    expect(marked.dataErasedAt).toBeInstanceOf(Date);
  });

  it('rotates the Transit key and rewraps every stored token without changing what it decrypts to', async () => {
    const pkce = createPkcePair();
    const link = buildAuthLink(sandbox.url, {
      clientId: sandbox.clientId,
      redirectUri: sandbox.redirectUri,
      scope: ['info', 'accounts', 'offline_access'],
      providers: ['uk-ob-all'],
      providerId: 'ob-barclays',
      state: 'st-rw',
      codeChallenge: pkce.codeChallenge,
      codeChallengeMethod: 'S256',
    });
    const doc = await service.exchangeCode({ clientId: 'c1', userId: 'u2', authCode: await authorize(link, 'st-rw'), redirectUri: sandbox.redirectUri, codeVerifier: pkce.codeVerifier, previousConnectionId: '' });
    const before = await service.getAccessToken(doc._id);
    const vault = new Vault({ addr: process.env['VAULT_ADDR']!, token: process.env['VAULT_TOKEN']! });
    await vault.rotate(`clock-${ns}`);
    expect(await service.rewrapTokens()).toBeGreaterThanOrEqual(1);
    const stored = await service.get('c1', 'u2', doc._id);
    expect(stored.tokens?.accessCt).toMatch(/^vault:v2:/);
    expect(stored.tokens?.refreshCt).toMatch(/^vault:v2:/);
    const fresh = new ConnectionService(
      new ConnectionRepository(connectionModel(mongo)),
      new Leases(mongo),
      new VaultTokenCipher(vault, `clock-${ns}`),
      async () => {
        throw new Error('no TrueLayer needed');
      },
      { publish: async () => undefined },
      { refreshAheadMs: 120_000, lockMs: 30_000, keepAliveAfterMs: DAY, horizonsDays: [14, 7, 1], reconsentWindowDays: 14, jobIntervalMs: 60_000 },
      logger,
      clock,
    );
    expect((await fresh.getAccessToken(doc._id)).accessToken).toBe(before.accessToken);
  });
});
