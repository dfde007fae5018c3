/**
 * token-vault on the real servers with the simulator as TrueLayer, as two real processes sharing one database:
 * code exchange, tokens encrypted at rest and bound to their connection, exactly one refresh under 50
 * concurrent callers across instances (with and without refresh-token rotation), a 5xx during refresh keeping
 * the old token usable, revoke purging tokens, and no token or secret in MongoDB, logs or spans.
 */
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import { createGrpcClient, type GrpcClient } from '@ais/platform-grpc';
import { Vault } from '@ais/platform-vault';
import { recordSecret, stackGrpcTls, startSandboxProcess, startService, type SandboxProcess, type ServiceProcess } from '@ais/testing';
import { buildAuthLink, createPkcePair, parseAuthRedirect } from '@ais/truelayer-client';
import { MongoClient } from 'mongodb';
import { stackEnv, tokenVaultAgainst, uniqueSuffix } from './stack-env';

jest.setTimeout(240_000);

type TV = GrpcClient<tokenvaultV1.TokenVaultServiceClient>;

describe('token-vault against the simulator', () => {
  const ns = uniqueSuffix();
  const infra = stackEnv();
  const db = `tv_it_${ns}`;
  const credentialsPath = `it/${ns}/truelayer`;
  let sandbox: SandboxProcess;
  let a: ServiceProcess;
  let b: ServiceProcess;
  let tvA: TV;
  let tvB: TV;
  let mongo: MongoClient;
  const seenAccessTokens = new Set<string>();
  /** An access token token-vault handed out: none may appear in its logs, nor anywhere after the run (secret ledger). */
  const sawAccessToken = (token: string): void => {
    seenAccessTokens.add(token);
    recordSecret('access-token', token);
  };

  const admin = <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => sandbox.admin<T>(method, path, body);
  const refreshGrants = async () => (await admin<{ token_grants: { refresh_token: number } }>('GET', '/counters')).token_grants.refresh_token;

  /** Runs the auth dialog for a mock user and exchanges the code through token-vault. */
  async function connect(tv: TV, userId: string): Promise<tokenvaultV1.Connection> {
    const pkce = createPkcePair();
    const state = `st-${uniqueSuffix()}`;
    const url = buildAuthLink(sandbox.url, {
      clientId: sandbox.clientId,
      redirectUri: sandbox.redirectUri,
      scope: ['info', 'accounts', 'balance', 'transactions', 'offline_access'],
      providers: ['uk-cs-mock', 'uk-ob-all'],
      providerId: 'ob-barclays',
      state,
      codeChallenge: pkce.codeChallenge,
      codeChallengeMethod: 'S256',
    });
    const done = await admin<{ redirect_url: string }>('POST', '/authorize', { auth_url: url, username: 'john', password: 'doe' });
    const redirect = parseAuthRedirect(done.redirect_url, state);
    if (!redirect.ok) throw new Error(`authorization failed: ${redirect.error}`);
    const res = await tv.exchangeCode({
      clientId: 'client-a',
      userId,
      authorizationCode: redirect.code,
      redirectUri: sandbox.redirectUri,
      codeVerifier: pkce.codeVerifier,
      previousConnectionId: '',
      psuIp: '',
    });
    return res.connection!;
  }

  /** Makes the stored access token look expired (as time passing would), keeping the ciphertexts as they are. */
  const expireStoredToken = (id: string, inMs = -1000) =>
    mongo.db(db).collection('connections').updateOne({ _id: id as never }, { $set: { 'tokens.accessExpiresAt': new Date(Date.now() + inMs) } });

  beforeAll(async () => {
    sandbox = await startSandboxProcess();
    const vault = new Vault({ addr: infra['VAULT_ADDR']!, token: infra['VAULT_TOKEN']! });
    await vault.kvWrite(credentialsPath, { client_id: sandbox.clientId, client_secret: sandbox.clientSecret });
    const env = {
      ...infra,
      MONGODB_DB: db,
      KAFKA_TOPIC_PREFIX: `t${ns}`,
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_SIMPLE_SPAN_PROCESSOR: 'true',
      LOG_LEVEL: 'debug',
      ...tokenVaultAgainst(sandbox.url, credentialsPath, ns),
      // The tests age tokens by editing MongoDB, which an in-memory copy would not see: re-read on every call.
      TOKEN_CACHE_TTL_MS: '0',
    };
    // Not provisioned beforehand on purpose: two instances create the same topics at once ("already exists" is fine).
    [a, b] = await Promise.all([startService('token-vault', env), startService('token-vault', env)]);
    // Each call goes out as the workload token-vault's access policy allows for it: GetAccessToken as
    // data-fetcher, the connection lifecycle as auth-gateway.
    const [asGateway, asFetcher] = await Promise.all([stackGrpcTls(infra, 'auth-gateway'), stackGrpcTls(infra, 'data-fetcher')]);
    const both = (port: unknown): TV => {
      const gw = createGrpcClient(tokenvaultV1.TokenVaultServiceClient, `127.0.0.1:${String(port)}`, 20_000, asGateway.channel('token-vault'));
      const df = createGrpcClient(tokenvaultV1.TokenVaultServiceClient, `127.0.0.1:${String(port)}`, 20_000, asFetcher.channel('token-vault'));
      return new Proxy({} as TV, {
        get: (_t, prop: string) => {
          if (prop === 'getAccessToken') return df.getAccessToken;
          if (prop === 'close') return () => (gw.close(), df.close());
          return (gw as unknown as Record<string, unknown>)[prop];
        },
      });
    };
    tvA = both(a.ready['grpcPort']);
    tvB = both(b.ready['grpcPort']);
    mongo = await MongoClient.connect(infra['MONGODB_URI']!);
  });

  afterAll(async () => {
    tvA?.close();
    tvB?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await mongo?.db(db).dropDatabase().catch(() => undefined);
    await mongo?.close();
    await sandbox?.stop();
  });

  it('exchanges a code into an active connection, listed for its user only', async () => {
    const conn = await connect(tvA, 'user-1');
    expect(conn).toMatchObject({ userId: 'user-1', clientId: 'client-a', providerId: 'ob-barclays', status: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_ACTIVE });
    expect(conn.daysLeft).toBeGreaterThanOrEqual(89);
    expect(conn.reconsentDue).toBe(false);
    expect(conn.scopes).toEqual(expect.arrayContaining(['accounts', 'transactions', 'offline_access']));
    expect((await tvB.listConnections({ clientId: 'client-a', userId: 'user-1' })).connections.map((c) => c.connectionId)).toEqual([conn.connectionId]);
    expect((await tvB.listConnections({ clientId: 'client-b', userId: 'user-1' })).connections).toEqual([]);
    const other = await tvA.getConnection({ clientId: 'client-a', userId: 'user-2', connectionId: conn.connectionId }).catch((e: unknown) => e);
    expect(other).toMatchObject({ kind: 'not_found' });
    const token = await tvA.getAccessToken({ connectionId: conn.connectionId, forceRefresh: false });
    sawAccessToken(token.accessToken);
    const me = await fetch(`${sandbox.url}/data/v1/me`, { headers: { authorization: `Bearer ${token.accessToken}` } });
    expect(me.status).toBe(200);
  });

  it('stores tokens only as Transit ciphertext bound to their connection', async () => {
    const conn = await connect(tvA, 'user-bind');
    const col = mongo.db(db).collection<{ _id: string; tokens: { accessCt: string; refreshCt: string } }>('connections');
    const doc = await col.findOne({ _id: conn.connectionId });
    expect(doc?.tokens.accessCt).toMatch(/^vault:v\d+:/);
    expect(doc?.tokens.refreshCt).toMatch(/^vault:v\d+:/);
    // a copy of this connection's ciphertexts on another record does not decrypt there
    const forged = { ...(await col.findOne({ _id: conn.connectionId }))!, _id: `forged-${ns}`, userId: 'mallory' };
    await col.insertOne(forged);
    const err = await tvA.getAccessToken({ connectionId: `forged-${ns}`, forceRefresh: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    // swapping the fields within the same record does not decrypt either
    await col.updateOne({ _id: conn.connectionId }, { $set: { 'tokens.accessCt': doc!.tokens.refreshCt } });
    expect(await tvB.getAccessToken({ connectionId: conn.connectionId, forceRefresh: false }).catch((e: unknown) => e)).toBeInstanceOf(AppError);
  });

  it.each([
    ['without rotation', false],
    ['with refresh-token rotation', true],
  ])('50 concurrent calls on an expired token across two instances refresh exactly once (%s)', async (_label, rotation) => {
    await admin('POST', '/switches', { refreshTokenRotation: rotation });
    const conn = await connect(tvA, `user-conc-${rotation}`);
    await expireStoredToken(conn.connectionId);
    const before = await refreshGrants();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? tvA : tvB).getAccessToken({ connectionId: conn.connectionId, forceRefresh: false })),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toEqual([]);
    expect((await refreshGrants()) - before).toBe(1);
    const tokens = new Set(results.map((r) => (r as PromiseFulfilledResult<tokenvaultV1.GetAccessTokenResponse>).value.accessToken));
    expect(tokens.size).toBe(1);
    const [token] = [...tokens];
    sawAccessToken(token!);
    expect((await fetch(`${sandbox.url}/data/v1/accounts`, { headers: { authorization: `Bearer ${token!}` } })).status).toBe(200);
    // and the (possibly rotated) refresh token stored still works for the next refresh
    await expireStoredToken(conn.connectionId);
    const next = await tvB.getAccessToken({ connectionId: conn.connectionId, forceRefresh: false });
    expect(next.accessToken).not.toBe(token);
    sawAccessToken(next.accessToken);
    expect((await refreshGrants()) - before).toBe(2);
  });

  it('a 5xx during refresh keeps the old token usable and the stored tokens intact for a retry', async () => {
    await admin('POST', '/switches', { refreshTokenRotation: true });
    const conn = await connect(tvA, 'user-5xx');
    const old = await tvA.getAccessToken({ connectionId: conn.connectionId, forceRefresh: false });
    sawAccessToken(old.accessToken);
    const col = mongo.db(db).collection('connections');
    const storedBefore = (await col.findOne({ _id: conn.connectionId as never }))!['tokens'] as Record<string, unknown>;
    await expireStoredToken(conn.connectionId, 60_000); // inside the refresh-ahead window, still valid
    const fault = await admin<{ id: string }>('POST', '/faults', { endpoint: 'token', error: 'internal_server_error', status: 500 });
    const during = await tvB.getAccessToken({ connectionId: conn.connectionId, forceRefresh: false });
    expect(during.accessToken).toBe(old.accessToken);
    const storedDuring = (await col.findOne({ _id: conn.connectionId as never }))!['tokens'] as Record<string, unknown>;
    expect(storedDuring['refreshCt']).toBe(storedBefore['refreshCt']);
    expect(storedDuring['accessCt']).toBe(storedBefore['accessCt']);
    await admin('DELETE', `/faults/${fault.id}`);
    const after = await tvA.getAccessToken({ connectionId: conn.connectionId, forceRefresh: true });
    expect(after.accessToken).not.toBe(old.accessToken);
    sawAccessToken(after.accessToken);
  });

  it('revoke deletes at TrueLayer and purges the tokens at once', async () => {
    const conn = await connect(tvA, 'user-revoke');
    const token = await tvA.getAccessToken({ connectionId: conn.connectionId, forceRefresh: false });
    sawAccessToken(token.accessToken);
    const res = await tvB.revokeConnection({ clientId: 'client-a', userId: 'user-revoke', connectionId: conn.connectionId, reason: 'user asked' });
    expect(res.connection?.status).toBe(tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_REVOKED);
    const doc = await mongo.db(db).collection('connections').findOne({ _id: conn.connectionId as never });
    expect(doc?.['tokens']).toBeNull();
    // both instances refuse at once (with TOKEN_CACHE_TTL_MS > 0 the other instance refuses within that TTL)
    expect(await tvB.getAccessToken({ connectionId: conn.connectionId, forceRefresh: false }).catch((e: unknown) => e)).toMatchObject({ kind: 'failed_precondition' });
    expect(await tvA.getAccessToken({ connectionId: conn.connectionId, forceRefresh: false }).catch((e: unknown) => e)).toMatchObject({ kind: 'failed_precondition' });
    // TrueLayer answers a revoked consent with 403 access_denied
    expect((await fetch(`${sandbox.url}/data/v1/me`, { headers: { authorization: `Bearer ${token.accessToken}` } })).status).toBe(403);
  });

  it('leaves no token or client secret in MongoDB, the logs or the exported spans', async () => {
    const secrets = [...seenAccessTokens, sandbox.clientSecret];
    expect(secrets.length).toBeGreaterThan(4);
    const dump = JSON.stringify(await mongo.db(db).collection('connections').find().toArray());
    const logs = a.output() + b.output();
    expect(logs.length).toBeGreaterThan(1000);
    const traces = await fetch(`${infra['ZIPKIN_URL']}/api/v2/traces?serviceName=token-vault&limit=200&lookback=3600000`).then((r) => r.json() as Promise<unknown[][]>);
    const spans = JSON.stringify(traces);
    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(logs).not.toContain(secret);
      expect(spans).not.toContain(secret);
    }
    // the spans do include the TrueLayer calls (so the scan looked at something real)
    expect(spans).toMatch(/connect\/token|truelayer/i);
  });
});
