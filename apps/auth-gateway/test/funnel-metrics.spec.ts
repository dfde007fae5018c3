import { startTestMetrics, type TestMetrics } from '@ais/testing';
import request from 'supertest';
import { harness, stateOf, type Harness } from './harness';

const funnel = (m: TestMetrics, stage: string, provider?: string) => m.value('ais_connect_funnel_total', provider ? { stage, provider } : { stage });

async function hostedSession(h: Harness, key: string) {
  const res = await request(h.pub).post('/v1/users/user-1/connect-sessions').set('authorization', `Bearer ${key}`).send({ dialog: 'hosted', return_url: 'https://app.budgetly.test/connected' }).expect(201);
  const s = res.body as { session_id: string; url: string };
  return { ...s, path: new URL(s.url).pathname, browser: request.agent(h.pub) };
}

describe('connection funnel (gateway stages)', () => {
  let m: TestMetrics;
  beforeEach(() => {
    m = startTestMetrics();
  });
  afterEach(() => m.stop());

  it('counts link created, bank chosen, permission accepted and consented once per session, by the provider the user picked', async () => {
    const h = harness();
    const { key } = await h.newClient();
    const s = await hostedSession(h, key);
    expect(await funnel(m, 'link_created', 'none')).toBe(1);
    await s.browser.get(s.path).expect(200);
    await s.browser.get(`${s.path}/consent`).query({ provider_id: 'mock' }).expect(200);
    expect(await funnel(m, 'bank_chosen', 'mock')).toBe(1);
    // a reload, or the back button and another bank: still one session that chose a bank
    await s.browser.get(`${s.path}/consent`).query({ provider_id: 'mock' }).expect(200);
    await s.browser.get(`${s.path}/consent`).query({ provider_id: 'ob-lloyds' }).expect((r) => expect([200, 303]).toContain(r.status));
    expect(await funnel(m, 'bank_chosen')).toBe(1);
    expect(await funnel(m, 'permission_accepted')).toBe(0);
    await s.browser.post(`${s.path}/consent`).type('form').send({ provider_id: 'mock' }).expect(303);
    const go = await s.browser.post(`${s.path}/consent`).type('form').send({ provider_id: 'mock' }).expect(303); // posted twice
    expect(await funnel(m, 'permission_accepted', 'mock')).toBe(1);
    expect(await funnel(m, 'permission_accepted')).toBe(1);
    expect(await funnel(m, 'consented')).toBe(0);
    const state = stateOf(go.headers['location']!);
    await request(h.pub).get('/v1/callback').query({ code: 'the-code', state }).expect(303);
    expect(await funnel(m, 'consented', 'mock')).toBe(1);
    // a replayed callback is rejected and counts nothing
    await request(h.pub).get('/v1/callback').query({ code: 'the-code', state }).expect(400);
    expect(await funnel(m, 'consented')).toBe(1);
  });

  it('does not count a journey the user cancels at the bank as consented, nor a re-consent as a new link', async () => {
    const h = harness();
    const { key } = await h.newClient();
    const s = await hostedSession(h, key);
    await s.browser.get(s.path).expect(200);
    const go = await s.browser.post(`${s.path}/consent`).type('form').send({ provider_id: 'mock' }).expect(303);
    await request(h.pub).get('/v1/callback').query({ error: 'access_denied', state: stateOf(go.headers['location']!) }).expect(200);
    expect(await funnel(m, 'consented')).toBe(0);
    expect(await funnel(m, 'link_created')).toBe(1);
    // a re-consent that needs a fresh auth creates a session and a link, and its callback consents: not the funnel's
    h.tv.startReconsent.mockResolvedValueOnce({ outcome: { $case: 'newAuthRequired', newAuthRequired: 'conn-1' } });
    const re = await request(h.pub).post('/v1/users/user-1/connections/conn-1/reconsent').set('authorization', `Bearer ${key}`).send({ dialog: 'truelayer' }).expect(201);
    expect(re.body.outcome).toBe('new_auth');
    await request(h.pub).get('/v1/callback').query({ code: 'x', state: stateOf(re.body.url as string) }).expect(303);
    expect(await funnel(m, 'link_created')).toBe(1);
    expect(await funnel(m, 'consented')).toBe(0);
  });
});
