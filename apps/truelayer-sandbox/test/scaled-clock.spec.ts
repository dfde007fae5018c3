import { clockFromSpec } from '@ais/platform-config';
import request from 'supertest';
import type { Sandbox } from '../src/app';
import { createClock } from '../src/clock';
import { bearer, connect, DAY, HOUR, makeSandbox, MINUTE, T0 } from './helpers';

jest.setTimeout(60_000);

const RATE = 1440; // one simulated day per real minute
const isoDate = (t: number): string => new Date(t).toISOString().slice(0, 10);

/** Every timing of the simulator follows a scaled base clock (SANDBOX_CLOCK); `real` stands in for Date.now(). */
describe('sandbox on a scaled clock', () => {
  let sb: Sandbox;
  let real: number;
  const realFor = (simMs: number): number => simMs / RATE;

  beforeEach(() => {
    real = 1_000_000;
    sb = makeSandbox({ clock: createClock(clockFromSpec(`scaled:${real}:${T0}:${RATE}`, () => real)) });
  });
  afterEach(() => sb.dispose());

  it('GET /__admin/clock shows the rate; advance/set/reset are offsets on top of the scaled time', async () => {
    const view = await request(sb.app).get('/__admin/clock').expect(200);
    expect(view.body).toEqual({ now: new Date(T0).toISOString(), offset_ms: 0, rate: RATE });
    real += 60_000;
    expect((await request(sb.app).get('/__admin/clock').expect(200)).body.now).toBe(new Date(T0 + DAY).toISOString());
    const advanced = await request(sb.app).post('/__admin/clock/advance').send({ days: 2 }).expect(200);
    expect(advanced.body).toEqual({ now: new Date(T0 + 3 * DAY).toISOString(), offset_ms: 2 * DAY, rate: RATE });
    const set = await request(sb.app).post('/__admin/clock/set').send({ time: '2027-01-01T00:00:00Z' }).expect(200);
    expect(set.body.now).toBe('2027-01-01T00:00:00.000Z');
    real += 30_000;
    expect(sb.clock.now()).toBe(Date.parse('2027-01-01T12:00:00Z'));
    const reset = await request(sb.app).post('/__admin/clock/reset').expect(200);
    expect(reset.body).toEqual({ now: new Date(T0 + 1.5 * DAY).toISOString(), offset_ms: 0, rate: RATE });
  });

  it('access tokens expire after an hour of simulated time (2.5 s of real time)', async () => {
    const t = await connect(sb, { provider_id: 'ob-lloyds' });
    real += realFor(HOUR) - 100;
    await request(sb.app).get('/data/v1/accounts').set(bearer(t.access_token)).expect(200);
    real += 1_000;
    const res = await request(sb.app).get('/data/v1/accounts').set(bearer(t.access_token)).expect(401);
    expect(res.body.error).toBe('invalid_token');
  });

  it('the SCA window closes after five simulated minutes', async () => {
    sb.admin.setSwitches({ cacheTtlSeconds: 0 });
    const t = await connect(sb, { provider_id: 'ob-barclays' });
    const accId = (await request(sb.app).get('/data/v1/accounts').set(bearer(t.access_token))).body.results[0].account_id;
    const old = `/data/v1/accounts/${accId}/transactions?from=${isoDate(T0 - 300 * DAY)}&to=${isoDate(T0)}`;
    await request(sb.app).get(old).set(bearer(t.access_token)).set('X-PSU-IP', '10.0.0.1').expect(200);
    real += realFor(5 * MINUTE + 1_000);
    const late = await request(sb.app).get(old).set(bearer(t.access_token)).set('X-PSU-IP', '10.0.0.1').expect(403);
    expect(late.body.error).toBe('sca_exceeded');
  });

  it('the unattended budget and the response cache run on simulated time', async () => {
    sb.admin.setSwitches({ cacheTtlSeconds: 0, accessTokenTtlSeconds: 7 * 86_400 });
    const t = await connect(sb, { provider_id: 'ob-lloyds' });
    const accId = (await request(sb.app).get('/data/v1/accounts').set(bearer(t.access_token))).body.results[0].account_id;
    const path = `/data/v1/accounts/${accId}/balance`;
    for (let i = 0; i < 4; i += 1) await request(sb.app).get(path).set(bearer(t.access_token)).expect(200);
    await request(sb.app).get(path).set(bearer(t.access_token)).expect(429);
    real += realFor(DAY) + 1; // one real minute later the rolling 24 h window is empty again
    await request(sb.app).get(path).set(bearer(t.access_token)).expect(200);

    sb.admin.setSwitches({ cacheTtlSeconds: 3600 });
    const card = (await request(sb.app).get('/data/v1/cards').set(bearer(t.access_token))).body.results[0].account_id;
    await request(sb.app).get(`/data/v1/cards/${card}/balance`).set(bearer(t.access_token)).expect(200);
    real += realFor(30 * MINUTE);
    const cached = await request(sb.app).get(`/data/v1/cards/${card}/balance`).set(bearer(t.access_token)).expect(200);
    expect(cached.headers['cache-control']).toBe('max-age=1800');
    real += realFor(30 * MINUTE);
    const fresh = await request(sb.app).get(`/data/v1/cards/${card}/balance`).set(bearer(t.access_token)).expect(200);
    expect(fresh.headers['cache-control']).toBe('max-age=3600');
  });

  it('async tasks are stamped with simulated time while their delay stays in real milliseconds', async () => {
    const t = await connect(sb, { provider_id: 'ob-lloyds' });
    real += realFor(30 * MINUTE);
    const accepted = await request(sb.app).get('/data/v1/accounts').query({ async: 'true' }).set(bearer(t.access_token)).expect(202);
    const task = sb.context.tasks.get(accepted.body.task_id);
    expect(task?.createdAt).toBe(T0 + 30 * MINUTE);
    expect(task?.requestTimestamp).toBe(new Date(T0 + 30 * MINUTE).toISOString());
    for (let i = 0; i < 500 && task?.status !== 'Succeeded'; i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(task?.status).toBe('Succeeded');
    expect(task?.completedAt).toBe(T0 + 30 * MINUTE); // `real` did not move: the real-ms delay did not leak into the sim clock
  });

  it('dates responses by the scaled clock', async () => {
    real += 90_000;
    const res = await request(sb.app).get('/api/providers').expect(200);
    expect(res.headers['date']).toBe(new Date(T0 + 1.5 * DAY).toUTCString());
  });
});
