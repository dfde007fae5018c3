/**
 * The connect journey in a real browser (Debian's Chromium driven by playwright-core), on the real stack:
 * Chromium → auth-gateway (hosted pages, callback, bounce) → TrueLayer simulator (auth dialog, token endpoint)
 * → token-vault (gRPC ExchangeCode; tokens encrypted with Vault Transit, stored in MongoDB).
 *
 * Both options end to end (TrueLayer's dialog; our own picker + permission screen), a cancel path, and the
 * `state` attacks (forged, replayed) leaving no record. Screenshots go to test-artifacts/connect-journey/.
 *
 * Needs /usr/bin/chromium (infra/install-browser.sh).
 */
import { Vault } from '@ais/platform-vault';
import { freePort, provisionTopics, recordSecret, recordUrlSecrets, startSandboxProcess, startService, type SandboxProcess, type ServiceProcess } from '@ais/testing';
import mongoose from 'mongoose';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { stackEnv, uniqueSuffix } from './stack-env';

jest.setTimeout(240_000);

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = resolve(__dirname, '..', '..', 'test-artifacts', 'connect-journey');
const RETURN_URL = 'https://app.budgetly.test/connected';

describe('connect journey in Chromium (both options, cancel, state attacks)', () => {
  const ns = uniqueSuffix();
  const infra = stackEnv();
  const procs: ServiceProcess[] = [];
  let sandbox: SandboxProcess;
  let gateway: ServiceProcess;
  let tokenVault: ServiceProcess;
  let browser: Browser;
  let base: string;
  let apiKey: string;
  let db: mongoose.Connection;
  const shots: string[] = [];
  /** States, codes and page tokens seen during the run: none may appear in the gateway's logs. */
  const secretsSeen: string[] = [];
  const startedAt = Date.now();

  const shot = async (page: Page, name: string): Promise<void> => {
    const file = join(ARTIFACTS, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    shots.push(file);
  };

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (typeof json['url'] === 'string') {
      recordUrlSecrets(json['url']);
      const u = new URL(json['url']);
      const state = u.searchParams.get('state');
      if (state) secretsSeen.push(state);
      if (u.pathname.startsWith('/connect/')) secretsSeen.push(u.pathname.split('/')[2]!);
    }
    return { status: res.status, json };
  };

  /** A page whose every request (redirects too) records its states, codes, page and bounce tokens in the ledger. */
  const newPage = async (): Promise<Page> => {
    const page = await browser.newPage();
    page.on('request', (r) => recordUrlSecrets(r.url()));
    return page;
  };

  const sessionsCount = async (): Promise<number> => db.collection('auth_sessions').countDocuments({});

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const redirectUri = `${base}/v1/callback`;
    const clientId = 'sandbox-ais-test';
    sandbox = await startSandboxProcess({ SANDBOX_CLIENT_ID: clientId, SANDBOX_REDIRECT_URIS: redirectUri });
    const credentialsPath = `ais/truelayer-${ns}`;
    await new Vault({ addr: infra['VAULT_ADDR']!, token: infra['VAULT_TOKEN']! }).kvWrite(credentialsPath, { client_id: sandbox.clientId, client_secret: sandbox.clientSecret });
    const common = {
      ...infra,
      LOG_LEVEL: 'info',
      KAFKA_TOPIC_PREFIX: `cj${ns}`,
      SHUTDOWN_TIMEOUT_MS: '15000',
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_SIMPLE_SPAN_PROCESSOR: 'true',
    };
    await provisionTopics({ brokers: infra['KAFKA_BROKERS']!, prefix: common.KAFKA_TOPIC_PREFIX });
    tokenVault = await startService('token-vault', {
      ...common,
      MONGODB_DB: `tv_cj_${ns}`,
      TRUELAYER_ENV: 'custom',
      TRUELAYER_AUTH_URL: sandbox.url,
      TRUELAYER_API_URL: sandbox.url,
      TRUELAYER_CREDENTIALS_PATH: credentialsPath,
      JOBS_INTERVAL_MS: '0',
    });
    procs.push(tokenVault);
    gateway = await startService('auth-gateway', {
      ...common,
      MONGODB_DB: `gw_cj_${ns}`,
      HTTP_PORT: String(port),
      PUBLIC_BASE_URL: base,
      GATEWAY_KEYS_VAULT_PATH: `ais/auth-gateway-${ns}`,
      TOKEN_VAULT_ADDR: `127.0.0.1:${String(tokenVault.ready['grpcPort'])}`,
      DATA_FETCHER_ADDR: '127.0.0.1:1',
      TRUELAYER_CLIENT_ID: clientId,
      TRUELAYER_AUTH_BASE_URL: sandbox.url,
      TRUELAYER_PROVIDERS: 'uk-cs-mock,uk-ob-all',
      TRUELAYER_SCOPES: 'info,accounts,balance,transactions,offline_access',
      PRODUCT_NAME: 'Budgetly',
    });
    procs.push(gateway);
    const admin = `http://127.0.0.1:${String(gateway.ready['adminPort'])}`;
    const created = await fetch(`${admin}/admin/api-clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Budgetly', allowed_return_urls: [RETURN_URL] }),
    });
    expect(created.status).toBe(201);
    apiKey = ((await created.json()) as { api_key: string }).api_key;
    recordSecret('api-key', apiKey);
    db = mongoose.createConnection(infra['MONGODB_URI']!, { dbName: `gw_cj_${ns}` });
    await db.asPromise();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await Promise.all(procs.map((p) => p.stop()));
    await sandbox?.stop();
  });

  /** In the simulator's dialog: consent, then log in as the mock bank's documented user. */
  async function simulatorConsentAndLogin(page: Page, prefix: string, password = 'doe'): Promise<void> {
    await page.waitForSelector('[data-testid="consent-allow"]');
    await shot(page, `${prefix}-truelayer-consent`);
    await page.click('[data-testid="consent-allow"]');
    await simulatorLogin(page, prefix, password);
  }

  async function simulatorLogin(page: Page, prefix: string, password: string): Promise<void> {
    await page.waitForSelector('[data-testid="username"]');
    await page.fill('[data-testid="username"]', 'john');
    await page.fill('[data-testid="password"]', password);
    await shot(page, `${prefix}-bank-login`);
    await page.click('[data-testid="login-submit"]');
  }

  it("option 1 (TrueLayer's dialog): pick the mock bank, consent, log in, land on the bounce page", async () => {
    const s = await api('POST', '/v1/users/user-1/connect-sessions', { dialog: 'truelayer', return_url: RETURN_URL });
    expect(s.status).toBe(201);
    const url = s.json['url'] as string;
    expect(url.startsWith(sandbox.url)).toBe(true);
    const page = await newPage();
    const callbacks: string[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(`${base}/v1/callback`)) {
        callbacks.push(r.url());
        const code = new URL(r.url()).searchParams.get('code');
        if (code) secretsSeen.push(code);
      }
    });
    await page.goto(url);
    await page.waitForSelector('[data-testid="provider-mock"]');
    await shot(page, 'option1-truelayer-picker');
    await page.click('[data-testid="provider-mock"]');
    await simulatorConsentAndLogin(page, 'option1');
    await page.waitForSelector('[data-testid="bounce-page"]', { timeout: 30_000 });
    await shot(page, 'option1-bounce');
    expect(page.url()).toMatch(new RegExp(`^${base}/bounce/`));
    const href = await page.getAttribute('[data-testid="return-to-app"]', 'href');
    expect(href).toContain(`${RETURN_URL}?status=connected`);
    expect(href).toContain('connection_id=');
    await page.close();

    const list = await api('GET', '/v1/users/user-1/connections');
    expect(list.status).toBe(200);
    const conns = list.json['connections'] as Array<Record<string, unknown>>;
    expect(conns).toHaveLength(1);
    expect(conns[0]).toMatchObject({ provider_id: 'mock', status: 'active', reconsent_due: false });
    expect(conns[0]!['days_left']).toBeGreaterThanOrEqual(89);

    // Replay of the very same callback URL: rejected, nothing stored, no second connection.
    expect(callbacks).toHaveLength(1);
    const before = await sessionsCount();
    const replay = await fetch(callbacks[0]!, { redirect: 'manual' });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('already been used');
    expect(await sessionsCount()).toBe(before);
    expect(((await api('GET', '/v1/users/user-1/connections')).json['connections'] as unknown[]).length).toBe(1);
  });

  it('option 2 (our hosted picker + permission screen, form_post): mock bank, permission screen, consent, log in, bounce', async () => {
    const s = await api('POST', '/v1/users/user-2/connect-sessions', { dialog: 'hosted', return_url: RETURN_URL, response_mode: 'form_post' });
    expect(s.status).toBe(201);
    const page = await newPage();
    const seen: string[] = [];
    page.on('request', (r) => seen.push(r.url()));
    await page.goto(s.json['url'] as string);
    await page.waitForSelector('[data-testid="bank-picker"]');
    // the first open bound the session to this browser (an HttpOnly cookie on this link's path only) ...
    const binding = (await page.context().cookies()).find((c) => c.name === 'ais_connect_binding');
    expect(binding).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: new URL(s.json['url'] as string).pathname });
    secretsSeen.push(binding!.value);
    // ... so the same link in another browser (its own cookie jar) is a 403 page, for the picker and the consent step
    const other = await browser.newPage();
    for (const url of [s.json['url'] as string, `${s.json['url'] as string}/consent?provider_id=mock`]) {
      const refused = await other.goto(url);
      expect(refused?.status()).toBe(403);
      expect(await other.textContent('[data-testid="outcome-message"]')).toContain('opened in another browser');
    }
    await shot(other, 'option2-other-browser');
    await other.close();
    // logos come from the providers endpoint and are allowed by the page's CSP
    await page.waitForFunction(`(() => { const i = document.querySelector('[data-testid="logo-mock"]'); return !!i && i.complete && i.naturalWidth > 0; })()`);
    await shot(page, 'option2-hosted-picker');
    await page.fill('[data-testid="bank-search"]', 'mock');
    await page.click('[data-testid="bank-search-submit"]');
    await page.waitForSelector('[data-testid="provider-mock"]');
    await shot(page, 'option2-hosted-picker-search');
    await page.click('[data-testid="provider-mock"]');
    await page.waitForSelector('[data-testid="permission-screen"]');
    for (const id of ['permission-transactions', 'consent-duration', 'truelayer-info', 'revoke-info', 'privacy-policy']) {
      expect(await page.isVisible(`[data-testid="${id}"]`)).toBe(true);
    }
    expect(await page.textContent('[data-testid="consent-duration"]')).toContain('90 days');
    await shot(page, 'option2-permission-screen');
    await page.click('[data-testid="consent-continue"]');
    // provider_id was sent: the simulator's own bank picker never shows
    await simulatorConsentAndLogin(page, 'option2');
    await page.waitForSelector('[data-testid="bounce-page"]', { timeout: 30_000 });
    await shot(page, 'option2-bounce');
    expect(seen.some((u) => u.startsWith(sandbox.url) && u.includes('provider_id=mock'))).toBe(true);
    expect(seen.some((u) => u.startsWith(sandbox.url) && /\/auth-dialog\/[^/]+\/provider$/.test(u))).toBe(false);
    await page.close();
    const conns = (await api('GET', '/v1/users/user-2/connections')).json['connections'] as Array<Record<string, unknown>>;
    expect(conns).toHaveLength(1);
    // user-1's connection is not visible to user-2
    expect(conns[0]!['user_id']).toBe('user-2');
  });

  it('cancel path: the user cancels in the dialog and sees a clear outcome; no connection', async () => {
    const s = await api('POST', '/v1/users/user-3/connect-sessions', { dialog: 'truelayer', return_url: RETURN_URL });
    const page = await newPage();
    await page.goto(s.json['url'] as string);
    await page.waitForSelector('[data-testid="cancel"]');
    await page.click('[data-testid="cancel"]');
    await page.waitForSelector('[data-testid="outcome-page"]');
    await shot(page, 'cancel-outcome');
    expect(await page.getAttribute('body', 'data-outcome')).toBe('cancelled');
    expect(await page.textContent('[data-testid="outcome-message"]')).toContain('cancelled');
    await page.close();
    expect((await api('GET', '/v1/users/user-3/connections')).json['connections']).toEqual([]);
  });

  it('re-consent without extend: a reauth link (state bound to the connection) ends on the bounce page and renews the connection', async () => {
    const before = (await api('GET', '/v1/users/user-1/connections')).json['connections'] as Array<Record<string, unknown>>;
    const oldId = before[0]!['connection_id'] as string;
    // john/doe: the simulator answers extend with authentication_needed, so token-vault hands back a reauth link
    const r = await api('POST', `/v1/users/user-1/connections/${oldId}/reconsent`, { user_reconfirmed: true, return_url: RETURN_URL });
    expect(r.status).toBe(201);
    expect(r.json['outcome']).toBe('reauth');
    const page = await newPage();
    await page.goto(r.json['url'] as string);
    await simulatorLogin(page, 'reauth', 'doe');
    await page.waitForSelector('[data-testid="bounce-page"]', { timeout: 30_000 });
    await shot(page, 'reauth-bounce');
    await page.close();
    const after = (await api('GET', '/v1/users/user-1/connections')).json['connections'] as Array<Record<string, unknown>>;
    // the same bank consent (credentials_id kept by the reauth): the connection keeps its id and is active
    expect(after).toHaveLength(before.length);
    expect(after.find((c) => c['connection_id'] === oldId)).toMatchObject({ status: 'active', reconsent_due: false });
  });

  it('re-consent with extend: a user who reconfirmed on our page is extended in place (no browser)', async () => {
    const s = await api('POST', '/v1/users/user-4/connect-sessions', { dialog: 'truelayer', providers: ['uk-cs-mock'] });
    const page = await newPage();
    await page.goto(s.json['url'] as string);
    await page.click('[data-testid="provider-mock"]');
    await simulatorConsentAndLogin(page, 'extend-setup', 'eternal');
    await page.waitForSelector('[data-testid="bounce-page"]', { timeout: 30_000 });
    await page.close();
    const conns = (await api('GET', '/v1/users/user-4/connections')).json['connections'] as Array<Record<string, unknown>>;
    const r = await api('POST', `/v1/users/user-4/connections/${conns[0]!['connection_id'] as string}/reconsent`, { user_reconfirmed: true });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ outcome: 'extended', connection: { status: 'active' } });

    // the same through our own hosted re-consent page: the user reconfirms there, then lands on the bounce page
    const hosted = await api('POST', `/v1/users/user-4/connections/${conns[0]!['connection_id'] as string}/reconsent`, { dialog: 'hosted', return_url: RETURN_URL });
    expect(hosted.status).toBe(201);
    expect(hosted.json['outcome']).toBe('confirm');
    const p2 = await newPage();
    await p2.goto(hosted.json['url'] as string);
    await p2.waitForSelector('[data-testid="reconfirm-screen"]');
    await shot(p2, 'reconfirm-screen');
    await p2.click('[data-testid="reconfirm-continue"]');
    await p2.waitForSelector('[data-testid="bounce-page"]', { timeout: 30_000 });
    expect(await p2.getAttribute('body', 'data-outcome')).toBe('extended');
    await shot(p2, 'reconfirm-bounce');
    await p2.close();
  });

  it('a forged state is rejected with an error page and stores nothing', async () => {
    const before = await sessionsCount();
    const page = await newPage();
    const res = await page.goto(`${base}/v1/callback?code=stolen&state=${'A'.repeat(80)}`);
    expect(res?.status()).toBe(400);
    expect(await page.getAttribute('body', 'data-outcome')).toBe('rejected');
    await shot(page, 'forged-state');
    await page.close();
    expect(await sessionsCount()).toBe(before);
  });

  it('expired and cross-user states are rejected with an error page, consume nothing and create no connection', async () => {
    const sessions = db.collection<{ _id: string; userId: string; expiresAt: Date; consumedAt: Date | null }>('auth_sessions');
    const start = async (user: string) => {
      const s = await api('POST', `/v1/users/${user}/connect-sessions`, { dialog: 'truelayer' });
      return { id: s.json['session_id'] as string, state: new URL(s.json['url'] as string).searchParams.get('state')! };
    };
    // expired: the server-side record's lifetime is over (the state itself would still open)
    const expired = await start('user-5');
    await sessions.updateOne({ _id: expired.id }, { $set: { expiresAt: new Date(Date.now() - 1_000) } });
    const countBefore = await sessionsCount();
    const page = await newPage();
    const r1 = await page.goto(`${base}/v1/callback?code=anything&state=${expired.state}`);
    expect(r1?.status()).toBe(410);
    expect(await page.getAttribute('body', 'data-outcome')).toBe('expired');
    await shot(page, 'expired-state');
    // cross-user: the state names a session that now belongs to someone else (simulated by re-owning the record)
    const cross = await start('user-6');
    await sessions.updateOne({ _id: cross.id }, { $set: { userId: 'mallory' } });
    const r2 = await page.goto(`${base}/v1/callback?code=anything&state=${cross.state}`);
    expect(r2?.status()).toBe(400);
    expect(await page.textContent('[data-testid="outcome-message"]')).toContain('different request');
    await shot(page, 'cross-user-state');
    await page.close();
    expect(await sessionsCount()).toBe(countBefore + 1);
    expect((await sessions.findOne({ _id: expired.id }))?.consumedAt).toBeNull();
    expect((await sessions.findOne({ _id: cross.id }))?.consumedAt).toBeNull();
    for (const u of ['user-5', 'user-6', 'mallory']) expect((await api('GET', `/v1/users/${u}/connections`)).json['connections']).toEqual([]);
  });

  it('revoke through the API', async () => {
    const conns = (await api('GET', '/v1/users/user-2/connections')).json['connections'] as Array<Record<string, unknown>>;
    const id = conns[0]!['connection_id'] as string;
    const del = await api('DELETE', `/v1/users/user-2/connections/${id}`);
    expect(del.status).toBe(200);
    expect(del.json['status']).toBe('revoked');
  });

  it('logs neither codes, states, verifiers nor API keys', () => {
    const out = gateway.output();
    expect(out).not.toContain(apiKey);
    expect(secretsSeen.length).toBeGreaterThanOrEqual(6);
    for (const secret of secretsSeen) expect(out).not.toContain(secret);
    expect(out).not.toMatch(/code_verifier|codeVerifier"\s*:\s*"[A-Za-z0-9_-]{43}/);
    expect(shots.length).toBeGreaterThanOrEqual(8);
  });

  it('after the journeys: no token, client secret, code, state or API key in MongoDB, logs, spans or Kafka', async () => {
    const jwt = /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/; // the simulator's access tokens are JWTs
    const refreshToken = /\b[0-9A-F]{64}\b/; // the simulator's refresh tokens: 64 upper-case hex
    const secrets = [sandbox.clientSecret, apiKey, ...secretsSeen];
    const dbs = [`gw_cj_${ns}`, `tv_cj_${ns}`];
    const dumps: string[] = [];
    for (const name of dbs) {
      const conn = db.useDb(name);
      for (const c of await conn.listCollections()) dumps.push(JSON.stringify(await conn.collection(c.name).find().toArray()));
    }
    const mongoText = dumps.join('\n');
    expect(mongoText).toContain('vault:v1:'); // the tokens are there, encrypted
    const logs = gateway.output() + tokenVault.output();
    const spans: string[] = [];
    for (const service of ['auth-gateway', 'token-vault']) {
      // only this suite's spans (the Zipkin server may hold other runs')
      const r = await fetch(`${infra['ZIPKIN_URL']}/api/v2/traces?serviceName=${service}&limit=1000&endTs=${Date.now()}&lookback=${Date.now() - startedAt + 1000}`);
      spans.push(await r.text());
    }
    const spanText = spans.join('\n');
    expect(spanText).toMatch(/token-vault/); // the scan read real spans
    const { Kafka } = await import('kafkajs');
    const kafka = new Kafka({ brokers: infra['KAFKA_BROKERS']!.split(','), clientId: `scan-${ns}`, logLevel: 0 });
    const consumer = kafka.consumer({ groupId: `scan-${ns}` });
    const events: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: `cj${ns}.ais.connection.v1`, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void events.push(`${JSON.stringify(message.headers)} ${message.value?.toString('latin1') ?? ''}`) });
    for (let i = 0; i < 100 && !events.some((e) => e.includes('connection.revoked')); i += 1) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    const kafkaText = events.join('\n');
    expect(kafkaText).toContain('connection.authorized');
    expect(kafkaText).toContain('connection.revoked');
    for (const [where, text] of [['mongo', mongoText], ['logs', logs], ['spans', spanText], ['kafka', kafkaText]] as const) {
      expect({ where, jwt: jwt.test(text), refresh: refreshToken.test(text) }).toEqual({ where, jwt: false, refresh: false });
      for (const secret of secrets) expect({ where, leaked: text.includes(secret) }).toEqual({ where, leaked: false });
    }
  });
});
