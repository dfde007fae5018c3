import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import { REDACTED, scrubText } from '@ais/platform-logger';
import request from 'supertest';
import { clientIdOf, hashApiKey } from '../src/security/api-keys';
import { RateLimiter } from '../src/http/rate-limit';
import { harness } from './harness';

describe('API clients and keys', () => {
  it('creates a client on the admin port, returns the key once and stores only its HMAC', async () => {
    const h = harness();
    const { clientId, key } = await h.newClient();
    expect(key).toMatch(/^ais_c[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(clientIdOf(key)).toBe(clientId);
    const rec = h.clients.records.get(clientId)!;
    expect(rec.keyHash).toBe(hashApiKey(h.deps.gateway.apiKeyPepper, key));
    // the secret is everything after `ais_<clientId>_` (base64url, so it may hold `_` itself)
    expect(JSON.stringify(rec)).not.toContain(key.slice(`ais_${clientId}_`.length));
    expect(rec).toMatchObject({ keyPrefix: `ais_${clientId}`, rateLimitPerMinute: 100, disabledAt: null, allowedReturnUrls: ['https://app.budgetly.test/connected'] });
    // the new key is masked in this process's logs and spans, wherever it appears
    expect(scrubText(`created ${key}; as header x-api-key:${key}`)).toBe(`created ${REDACTED}; as header x-api-key:${REDACTED}`);
  });

  it('rejects a missing, malformed, unknown or wrong key with a 401 problem', async () => {
    const h = harness();
    const { clientId, key } = await h.newClient();
    const none = await request(h.pub).get('/v1/users/u1/connections').expect(401);
    expect(none.headers['content-type']).toContain('application/problem+json');
    expect(none.headers['www-authenticate']).toContain('Bearer');
    expect(none.body).toMatchObject({ status: 401, code: 'invalid_api_key' });
    await request(h.pub).get('/v1/users/u1/connections').set('authorization', 'Bearer nonsense').expect(401);
    await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ais_cffffffffffffffff_${'A'.repeat(43)}`).expect(401);
    const wrong = `ais_${clientId}_${'B'.repeat(43)}`;
    await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${wrong}`).expect(401);
    await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Basic ${key}`).expect(401);
    expect(h.tv.listConnections).not.toHaveBeenCalled();
    await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${key}`).expect(200);
    // an unknown /v1 path is a plain 404 problem; any user resource needs the key
    expect((await request(h.pub).get('/v1/nope').expect(404)).body.code).toBe('route_not_found');
    await request(h.pub).get('/v1/users/u1/nope').expect(401);
  });

  it('refuses a disabled client', async () => {
    const h = harness();
    const { clientId, key } = await h.newClient();
    h.clients.records.get(clientId)!.disabledAt = new Date();
    const res = await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${key}`).expect(403);
    expect(res.body.code).toBe('api_client_disabled');
  });

  it('passes the calling client id on every gRPC call, so a key only sees its own users', async () => {
    const h = harness();
    const a = await h.newClient();
    const b = await h.newClient();
    const auth = (k: string) => ({ authorization: `Bearer ${k}` });
    const list = await request(h.pub).get('/v1/users/u1/connections').set(auth(a.key)).expect(200);
    expect(list.body.connections[0]).toMatchObject({ connection_id: 'conn-1', status: 'active', days_left: 66, reconsent_due: false, consent_expires_at: '2027-01-30T00:00:00.000Z' });
    await request(h.pub).get('/v1/users/u1/connections/conn-1').set(auth(b.key)).expect(200);
    await request(h.pub).delete('/v1/users/u1/connections/conn-1').set(auth(b.key)).expect(200);
    expect(h.tv.listConnections).toHaveBeenCalledWith({ clientId: a.clientId, userId: 'u1' });
    expect(h.tv.getConnection).toHaveBeenCalledWith({ clientId: b.clientId, userId: 'u1', connectionId: 'conn-1' });
    expect(h.tv.revokeConnection).toHaveBeenCalledWith(expect.objectContaining({ clientId: b.clientId, userId: 'u1', connectionId: 'conn-1' }));
    const missing = await request(h.pub).get('/v1/users/u1/connections/other').set(auth(a.key)).expect(404);
    expect(missing.body.code).toBe('connection_not_found');
    await request(h.pub).get('/v1/users/bad%20user/connections').set(auth(a.key)).expect(400);
  });

  it('rate-limits per key with a 429 problem and Retry-After, independently per client', async () => {
    const h = harness();
    const a = await h.newClient({ rate: 3 });
    const b = await h.newClient({ rate: 3 });
    for (let i = 0; i < 3; i += 1) {
      const ok = await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${a.key}`).expect(200);
      expect(ok.headers['ratelimit-remaining']).toBe(String(2 - i));
    }
    const limited = await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${a.key}`).expect(429);
    expect(limited.headers['content-type']).toContain('application/problem+json');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body).toMatchObject({ status: 429, code: 'rate_limited' });
    await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${b.key}`).expect(200);
    h.clock.now += 60_000;
    await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${a.key}`).expect(200);
  });

  it('the limiter counts fixed windows', async () => {
    let t = 0;
    const l = new RateLimiter({ now: () => t });
    expect((await l.take('s', 'k', 2)).allowed).toBe(true);
    expect(await l.take('s', 'k', 2)).toMatchObject({ allowed: true, remaining: 0 });
    const third = await l.take('s', 'k', 2);
    expect(third).toMatchObject({ allowed: false, remaining: 0, resetMs: 60_000 });
    t = 59_999;
    expect(await l.take('s', 'k', 2)).toMatchObject({ allowed: false, resetMs: 1 });
    expect((await l.take('s', 'other', 2)).allowed).toBe(true);
    expect((await l.take('other-scope', 'k', 2)).allowed).toBe(true);
    t = 60_000;
    expect((await l.take('s', 'k', 2)).allowed).toBe(true);
  });

  it('validates the admin body', async () => {
    const h = harness();
    const res = await request(h.admin).post('/admin/api-clients').send({ name: '', allowed_return_urls: ['not a url'] }).expect(400);
    expect(res.body.code).toBe('invalid_body');
  });

  it('maps connection status and reconsent outcomes', async () => {
    const h = harness();
    const { key } = await h.newClient();
    h.tv.startReconsent.mockResolvedValueOnce({ outcome: { $case: 'extended', extended: { ...(await h.tv.getConnection({ clientId: 'c', userId: 'u1', connectionId: 'conn-1' })).connection, daysLeft: 90, status: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_ACTIVE } } });
    const ext = await request(h.pub).post('/v1/users/u1/connections/conn-1/reconsent').set('authorization', `Bearer ${key}`).send({ user_reconfirmed: true }).expect(200);
    expect(ext.body).toMatchObject({ outcome: 'extended', connection: { days_left: 90 } });
    expect(h.tv.startReconsent).toHaveBeenLastCalledWith(expect.objectContaining({ userReconfirmed: true, connectionId: 'conn-1', redirectUri: 'http://gw.test/v1/callback' }));
    expect(await h.sessions.count()).toBe(0);
  });
});
