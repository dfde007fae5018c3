/**
 * Limits at the edge: per client address before the API key is looked up, on the hosted pages, callback and bounce
 * page, per key; and the limiter's fail-open fallback when its store does not answer.
 */
import { createLogger } from '@ais/platform-logger';
import { Writable } from 'node:stream';
import request from 'supertest';
import { publicApp } from '../src/http/app';
import { MemoryRateStore, RateLimiter, type RateStore } from '../src/http/rate-limit';
import { harness } from './harness';

const randomKey = (i: number) => `ais_c${i.toString(16).padStart(16, '0')}_${'R'.repeat(43)}`;

describe('per-address limit in front of authentication', () => {
  it('random unknown keys: after the failure limit an address gets 429 without any api_clients lookup', async () => {
    const h = harness({ ipLimits: { authFailuresPerMinute: 5 } });
    const lookups = jest.spyOn(h.clients, 'get');
    for (let i = 0; i < 5; i += 1) await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${randomKey(i)}`).expect(401);
    expect(lookups).toHaveBeenCalledTimes(5);
    for (let i = 5; i < 25; i += 1) {
      const res = await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${randomKey(i)}`).expect(429);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body).toMatchObject({ status: 429, code: 'rate_limited' });
      expect(Number(res.headers['retry-after'])).toBe(60);
    }
    expect(lookups).toHaveBeenCalledTimes(5);
    // missing keys count as failures too, and are refused the same way now
    await request(h.pub).get('/v1/users/u1/connections').expect(429);
    // another address (named by the trusted loopback proxy) is not affected
    await request(h.pub).get('/v1/users/u1/connections').set('x-forwarded-for', '198.51.100.7').set('authorization', `Bearer ${randomKey(99)}`).expect(401);
    expect(lookups).toHaveBeenCalledTimes(6);
    // the next window starts afresh
    h.clock.now += 60_000;
    await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${randomKey(100)}`).expect(401);
    expect(lookups).toHaveBeenCalledTimes(7);
  });

  it('every request of an address counts before the key lookup; over the limit: 429 with RateLimit-* and Retry-After', async () => {
    const h = harness({ ipLimits: { apiPerMinute: 3 } });
    const { key } = await h.newClient({ rate: 100 });
    const lookups = jest.spyOn(h.clients, 'get');
    for (let i = 0; i < 3; i += 1) await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${key}`).expect(200);
    const limited = await request(h.pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${key}`).expect(429);
    expect(limited.body).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(limited.body.detail).toContain('from one address');
    expect(limited.headers).toMatchObject({ 'ratelimit-limit': '3', 'ratelimit-remaining': '0', 'ratelimit-reset': '60', 'retry-after': '60' });
    expect(lookups).toHaveBeenCalledTimes(3);
    await request(h.pub).get('/v1/users/u1/connections').set('x-forwarded-for', '198.51.100.8').set('authorization', `Bearer ${key}`).expect(200);
  });
});

describe('per-address limit on the hosted pages, the callback and the bounce page', () => {
  it('counts them together; over the limit a 429 page with Retry-After, before any session lookup', async () => {
    const h = harness({ ipLimits: { pagesPerMinute: 3 } });
    const lookups = jest.spyOn(h.sessions, 'findByPageToken');
    const token = 'x'.repeat(43);
    await request(h.pub).get(`/connect/${token}`).expect(400);
    await request(h.pub).get(`/bounce/${token}`).expect(400);
    await request(h.pub).get('/v1/callback').query({ code: 'c' }).expect(400);
    for (const req of [request(h.pub).get(`/connect/${token}`), request(h.pub).post(`/connect/${token}/consent`), request(h.pub).get(`/bounce/${token}`), request(h.pub).post('/v1/callback')]) {
      const res = await req.expect(429);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.headers['retry-after']).toBe('60');
      expect(res.text).toContain('data-outcome="rejected"');
      expect(res.text).toContain('Too many requests');
    }
    expect(lookups).toHaveBeenCalledTimes(1);
    await request(h.pub).get(`/connect/${token}`).set('x-forwarded-for', '198.51.100.9').expect(400);
    // the caller API is counted separately
    await request(h.pub).get('/v1/users/u1/connections').expect(401);
  });
});

describe('RateLimiter store failures: fail open to the per-process limiter, with one warn line', () => {
  function logged() {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ service: 'rl-test', level: 'debug', destination: new Writable({ write: (c, _e, cb) => void (lines.push(JSON.parse(String(c)) as Record<string, unknown>), cb()) }) });
    return { logger, lines };
  }

  it('a failing store: requests are still limited, locally; the store is asked again after the pause', async () => {
    let t = 1_000;
    const shared = new MemoryRateStore();
    let down = true;
    const add = jest.fn((id: string, inc: Record<string, number>, exp: Date) => (down ? Promise.reject(new Error('connection refused')) : shared.add(id, inc, exp)));
    const { logger, lines } = logged();
    const l = new RateLimiter({ store: { add }, logger, now: () => t, retryAfterFailureMs: 5_000 });
    expect(await l.take('s', 'k', 2)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await l.take('s', 'k', 2)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await l.take('s', 'k', 2)).toMatchObject({ allowed: false });
    expect(add).toHaveBeenCalledTimes(1);
    expect(lines.filter((x) => x['level'] === 'warn').map((x) => x['msg'])).toEqual(['rate limit store failed: counting in this process only (fail open to the local limiter)']);
    down = false;
    t += 5_000;
    expect(await l.take('s', 'k2', 2)).toMatchObject({ allowed: true, remaining: 1 });
    expect(add).toHaveBeenCalledTimes(2);
  });

  it('a store that hangs counts as failed after the timeout', async () => {
    const hanging: RateStore = { add: () => new Promise(() => undefined) };
    const { logger, lines } = logged();
    const l = new RateLimiter({ store: hanging, logger, timeoutMs: 30 });
    const started = Date.now();
    expect(await l.take('s', 'k', 1)).toMatchObject({ allowed: true });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(lines.some((x) => String(x['err'] && (x['err'] as { message?: string }).message).includes('within 30 ms'))).toBe(true);
  });

  it('the gateway keeps answering (and limiting) while the store is down', async () => {
    const h = harness({ ipLimits: { authFailuresPerMinute: 2 } });
    h.deps.gateway.rateLimiter = new RateLimiter({ store: { add: () => Promise.reject(new Error('down')) }, now: () => h.clock.now });
    const pub = publicApp(h.deps);
    const { key } = await h.newClient({ rate: 2 });
    await request(pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${key}`).expect(200);
    await request(pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${key}`).expect(200);
    await request(pub).get('/v1/users/u1/connections').set('authorization', `Bearer ${key}`).expect(429);
  });

  it('stores keys as HMACs: a bucket id holds no address and differs between secrets', () => {
    const a = new RateLimiter({ secret: Buffer.alloc(32, 1) });
    const b = new RateLimiter({ secret: Buffer.alloc(32, 2) });
    const id = a.bucketId('api-ip', '203.0.113.5', 60_000);
    expect(id).toMatch(/^api-ip:[A-Za-z0-9_-]{22}:60000$/);
    expect(id).not.toContain('203.0.113.5');
    expect(b.bucketId('api-ip', '203.0.113.5', 60_000)).not.toBe(id);
    expect(new RateLimiter({ secret: Buffer.alloc(32, 1) }).bucketId('api-ip', '203.0.113.5', 60_000)).toBe(id);
  });
});
