import { AppError } from '@ais/platform-errors';
import { REDACTED, scrubText } from '@ais/platform-logger';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { schema } from '../src/config';
import { CachedProviderCatalog } from '../src/connect/providers';
import { MemoryAuthSessionStore, type AuthSessionRecord } from '../src/data/auth-sessions';
import { loggablePath } from '../src/http/access-log';
import { kvWriteIfAbsent, loadGatewaySecrets } from '../src/security/secrets';

/** A tiny stand-in for Vault's KV v2 write endpoint with check-and-set semantics. */
function fakeKv(): Promise<{ server: Server; addr: string; store: Map<string, Record<string, unknown>>; bodies: unknown[] }> {
  const store = new Map<string, Record<string, unknown>>();
  const bodies: unknown[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      if (req.headers['x-vault-token'] !== 'root') return void res.writeHead(403).end();
      const body = JSON.parse(raw) as { options?: { cas?: number }; data: Record<string, unknown> };
      bodies.push(body);
      const path = (req.url ?? '').replace(/^\/v1\/secret\/data\//, '');
      if (body.options?.cas === 0 && store.has(path)) return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":["check-and-set parameter did not match the current version"]}');
      store.set(path, body.data);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"version":1}}');
    });
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, addr: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, store, bodies })));
}

describe('gateway secrets in Vault KV', () => {
  it('creates the pepper and state key once with check-and-set; a second writer loses and both read the same value', async () => {
    const kv = await fakeKv();
    try {
      const settings = { addr: kv.addr, token: 'root', mount: 'secret', timeoutMs: 2_000 };
      const vault = {
        kvRead: async <T extends Record<string, unknown>>(path: string): Promise<T> => {
          const v = kv.store.get(path);
          if (!v) throw AppError.notFound('vault_not_found', 'nf');
          return v as T;
        },
      };
      const [a, b] = await Promise.all([loadGatewaySecrets(vault, settings, 'ais/gw'), loadGatewaySecrets(vault, settings, 'ais/gw')]);
      expect(a.apiKeyPepper.length).toBe(32);
      expect(a.stateKey.length).toBe(32);
      expect(a.apiKeyPepper.equals(b.apiKeyPepper)).toBe(true);
      expect(a.stateKey.equals(b.stateKey)).toBe(true);
      // both are masked in this process's logs and spans, as stored (base64)
      const stored = kv.store.get('ais/gw')!;
      expect(scrubText(`pepper=${String(stored['api_key_pepper'])} key=${String(stored['state_key'])}`)).toBe(`pepper=${REDACTED} key=${REDACTED}`);
      expect(kv.bodies.every((x) => (x as { options: { cas: number } }).options.cas === 0)).toBe(true);
      expect(await kvWriteIfAbsent(settings, 'ais/gw', { x: 1 })).toBe(false);
      await expect(kvWriteIfAbsent({ ...settings, token: 'wrong' }, 'ais/other', { x: 1 })).rejects.toMatchObject({ code: 'vault_unavailable' });
    } finally {
      kv.server.close();
    }
  });

  it('refuses a malformed stored key', async () => {
    const vault = { kvRead: async <T extends Record<string, unknown>>(): Promise<T> => ({ api_key_pepper: 'c2hvcnQ=', state_key: 'c2hvcnQ=' }) as unknown as T };
    await expect(loadGatewaySecrets(vault, { addr: 'http://127.0.0.1:1', token: 't', mount: 'secret', timeoutMs: 100 }, 'p')).rejects.toThrow(/32 base64 bytes/);
  });
});

describe('configuration', () => {
  const base = { MONGODB_URI: 'mongodb://127.0.0.1:27017', VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 't', TOKEN_VAULT_ADDR: '127.0.0.1:1', DATA_FETCHER_ADDR: '127.0.0.1:2', KAFKA_BROKERS: '127.0.0.1:9092' };

  it('has working defaults and validates the well-known JSON', () => {
    const cfg = schema.parse(base);
    expect(cfg.TRUELAYER_PROVIDERS).toEqual(['uk-ob-all', 'uk-oauth-all']);
    expect(cfg.CONNECT_SESSION_TTL_MS).toBe(600_000);
    expect(cfg.WELL_KNOWN_AASA_JSON).toBeUndefined();
    expect(cfg).toMatchObject({ KAFKA_CLIENT_ID: 'auth-gateway', KAFKA_CREATE_TOPICS: true, REFRESH_DEADLINE_MS: 60_000, WEBHOOK_BODY_LIMIT: '8kb' });
    const ok = schema.parse({ ...base, WELL_KNOWN_AASA_JSON: '{"applinks":{"details":[{"appIDs":["T.app"],"components":[{"/":"/c/*"}]}]}}', WELL_KNOWN_ASSETLINKS_JSON: '[{"relation":["delegate_permission/common.handle_all_urls"],"target":{"namespace":"android_app","package_name":"a.b","sha256_cert_fingerprints":["AA"]}}]' });
    expect(ok.WELL_KNOWN_AASA_JSON?.applinks).toBeDefined();
    expect(schema.safeParse({ ...base, WELL_KNOWN_AASA_JSON: '{not json' }).success).toBe(false);
    expect(schema.safeParse({ ...base, WELL_KNOWN_ASSETLINKS_JSON: '{"relation":[]}' }).success).toBe(false);
    expect(schema.safeParse({ ...base, CONNECT_SESSION_TTL_MS: String(3_600_000) }).success).toBe(false);
  });

  it('per-address rate limits: defaults, overrides, and nothing below 1', () => {
    expect(schema.parse(base)).toMatchObject({ RATE_LIMIT_IP_API_PER_MINUTE: 1200, RATE_LIMIT_IP_AUTH_FAILURES_PER_MINUTE: 20, RATE_LIMIT_IP_PAGES_PER_MINUTE: 300, RATE_LIMIT_STORE_TIMEOUT_MS: 250, TRUST_PROXY: 'loopback' });
    expect(schema.parse({ ...base, RATE_LIMIT_IP_PAGES_PER_MINUTE: '60' }).RATE_LIMIT_IP_PAGES_PER_MINUTE).toBe(60);
    for (const k of ['RATE_LIMIT_IP_API_PER_MINUTE', 'RATE_LIMIT_IP_AUTH_FAILURES_PER_MINUTE', 'RATE_LIMIT_IP_PAGES_PER_MINUTE', 'RATE_LIMIT_STORE_TIMEOUT_MS']) {
      expect(schema.safeParse({ ...base, [k]: '0' }).success).toBe(false);
      expect(schema.safeParse({ ...base, [k]: 'many' }).success).toBe(false);
    }
  });
});

describe('housekeeping', () => {
  it('purges expired sessions (explicit job; no TTL index) but keeps live bounce pages', async () => {
    const store = new MemoryAuthSessionStore();
    const rec = (id: string, expiresAt: number, bounce: number | null): AuthSessionRecord => ({
      _id: id, clientId: 'c', userId: 'u', intent: { kind: 'new' }, dialog: 'truelayer', pageToken: null, codeVerifier: 'v', redirectUri: 'http://x/cb', responseMode: 'query',
      providers: ['p'], scopes: ['info'], providerId: null, returnUrl: null, webFallbackUrl: null, createdAt: new Date(0), expiresAt: new Date(expiresAt), consumedAt: null,
      outcome: null, outcomeCode: null, connectionId: null, bounceToken: null, bounceExpiresAt: bounce === null ? null : new Date(bounce), browserBinding: null,
    });
    await store.create(rec('old', 1_000, null));
    await store.create(rec('old-bounce-live', 1_000, 9_000));
    await store.create(rec('live', 9_000, null));
    expect(await store.purge(new Date(5_000))).toBe(1);
    expect([...store.records.keys()].sort()).toEqual(['live', 'old-bounce-live']);
  });

  it('never logs page or bounce tokens', () => {
    expect(loggablePath('/connect/abcDEF123_-xyz/consent')).toBe('/connect/:token/consent');
    expect(loggablePath('/bounce/abcDEF123')).toBe('/bounce/:token');
    expect(loggablePath('/v1/users/u/connections')).toBe('/v1/users/u/connections');
  });

  it('caches the provider list and serves a stale copy when a refresh fails', async () => {
    let t = 0;
    const fetchList = jest.fn(async () => [{ provider_id: 'mock', display_name: 'Mock', country: 'uk', scopes: ['info'], logo_url: 'https://x/logo.svg' }]);
    const cat = new CachedProviderCatalog(fetchList, 600_000, () => t);
    expect((await cat.list())[0]).toMatchObject({ providerId: 'mock', logoUrl: 'https://x/logo.svg' });
    await cat.list();
    expect(fetchList).toHaveBeenCalledTimes(1);
    t = 600_001;
    fetchList.mockRejectedValueOnce(new Error('down'));
    expect(await cat.list()).toHaveLength(1);
    expect(fetchList).toHaveBeenCalledTimes(2);
  });
});
