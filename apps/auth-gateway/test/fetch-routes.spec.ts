import { AppError } from '@ais/platform-errors';
import { createLogger } from '@ais/platform-logger';
import { Writable } from 'node:stream';
import request from 'supertest';
import { publicApp } from '../src/http/app';
import { harness } from './harness';

const WEBHOOK = {
  request_timestamp: '2026-11-25T11:59:58.123Z',
  request_uri: 'https://api.truelayer-sandbox.com/data/v1/accounts/acc-1/transactions?async=true',
  results_uri: 'https://api.truelayer-sandbox.com/data/v1/results/task-1?secret-looking=q',
  credentials_id: 'cred-1',
  task_id: 'task-1',
  status: 'Succeeded',
};

/** A harness whose logger lines are kept, to prove what the webhook route writes. */
function logged() {
  const h = harness();
  const lines: string[] = [];
  h.deps.logger = createLogger({ service: 'gw-test', level: 'debug', destination: new Writable({ write: (c, _e, cb) => void (lines.push(String(c)), cb()) }) });
  return { h, pub: publicApp(h.deps), lines };
}

describe('POST /v1/webhooks/truelayer', () => {
  it('accepted: asks data-fetcher, publishes a task webhook keyed by the user id, answers 202', async () => {
    const { h, pub, lines } = logged();
    const res = await request(pub).post('/v1/webhooks/truelayer').send(WEBHOOK).expect(202);
    expect(res.body).toEqual({ accepted: true });
    expect(h.fetcher.checkWebhook).toHaveBeenCalledWith({ taskId: 'task-1', resultsUri: WEBHOOK.results_uri, credentialsId: 'cred-1', status: 'Succeeded' });
    expect(h.published).toHaveLength(1);
    const { binding, events } = h.published[0]!;
    expect(binding.topic).toBe('gwtest.ais.fetch.v1');
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(binding.keyOf(event)).toBe('user-1');
    expect(event.meta).toMatchObject({ producer: 'auth-gateway', eventType: 'fetch.task_webhook' });
    expect(event.payload).toEqual({
      $case: 'taskWebhook',
      taskWebhook: {
        taskId: 'task-1',
        resultsUri: WEBHOOK.results_uri,
        credentialsId: 'cred-1',
        status: 'Succeeded',
        error: '',
        errorDescription: '',
        requestTimestamp: new Date('2026-11-25T11:59:58.123Z'),
        receivedAt: new Date(h.clock.now),
        connectionId: 'conn-1',
        userId: 'user-1',
      },
    });
    // the round trip is encodable as the contract says
    expect(() => binding.codec.encode(event).finish()).not.toThrow();
    const log = lines.join('');
    expect(log).toContain('TrueLayer webhook accepted');
    expect(log).not.toContain('secret-looking');
    expect(log).not.toContain('results');
  });

  it('needs no API key and carries a failed task through', async () => {
    const h = harness();
    await request(h.pub).post('/v1/webhooks/truelayer').send({ ...WEBHOOK, status: 'Failed', error: 'provider_error', error_description: 'bank down' }).expect(202);
    const p = h.published[0]!.events[0]!.payload;
    expect(p?.$case === 'taskWebhook' && p.taskWebhook).toMatchObject({ status: 'Failed', error: 'provider_error', errorDescription: 'bank down' });
  });

  it('unknown task: 404 unknown_task, nothing published, a warning with the task id and reason only', async () => {
    const { h, pub, lines } = logged();
    const res = await request(pub).post('/v1/webhooks/truelayer').send({ ...WEBHOOK, task_id: 'task-x' }).expect(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 404, code: 'unknown_task' });
    expect(h.published).toHaveLength(0);
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'TrueLayer webhook refused');
    expect(warn).toMatchObject({ taskId: 'task-x', reason: 'unknown_task' });
    expect(lines.join('')).not.toContain('secret-looking');
    expect(lines.join('')).not.toContain('cred-1');
  });

  it('replayed (not_pending): 409 and nothing published', async () => {
    const h = harness();
    h.fetcher.checkWebhook.mockResolvedValueOnce({ accepted: false, reason: 'not_pending', connectionId: 'conn-1', userId: 'user-1' });
    const res = await request(h.pub).post('/v1/webhooks/truelayer').send(WEBHOOK).expect(409);
    expect(res.body.code).toBe('not_pending');
    expect(h.published).toHaveLength(0);
  });

  it('mismatching results_uri: 400 with the reason', async () => {
    const h = harness();
    h.fetcher.checkWebhook.mockResolvedValueOnce({ accepted: false, reason: 'results_uri_mismatch', connectionId: '', userId: '' });
    const res = await request(h.pub).post('/v1/webhooks/truelayer').send(WEBHOOK).expect(400);
    expect(res.body.code).toBe('results_uri_mismatch');
    expect(h.published).toHaveLength(0);
  });

  it('invalid body: 400 without asking data-fetcher', async () => {
    const h = harness();
    const res = await request(h.pub).post('/v1/webhooks/truelayer').send({ task_id: 'task-1', status: 'Succeeded' }).expect(400);
    expect(res.body).toMatchObject({ code: 'invalid_webhook', errors: [{ field: 'results_uri' }] });
    await request(h.pub).post('/v1/webhooks/truelayer').set('content-type', 'application/json').send('{"task_id":').expect(400);
    await request(h.pub).post('/v1/webhooks/truelayer').send({ ...WEBHOOK, task_id: 'x'.repeat(201) }).expect(400);
    const big = await request(h.pub).post('/v1/webhooks/truelayer').send({ ...WEBHOOK, error_description: 'x'.repeat(3000) }).expect(413);
    expect(big.body.code).toBe('body_too_large');
    expect(h.fetcher.checkWebhook).not.toHaveBeenCalled();
    expect(h.published).toHaveLength(0);
  });

  it('data-fetcher unreachable or the event bus down: 503 so TrueLayer retries', async () => {
    const h = harness();
    h.fetcher.checkWebhook.mockRejectedValueOnce(AppError.unavailable('grpc_14', 'No connection established'));
    const down = await request(h.pub).post('/v1/webhooks/truelayer').send(WEBHOOK).expect(503);
    expect(down.body.code).toBe('fetcher_unavailable');
    expect(down.headers['retry-after']).toBeDefined();
    h.fetcher.checkWebhook.mockRejectedValueOnce(new AppError({ code: 'grpc_4', message: 'deadline', kind: 'deadline_exceeded' }));
    await request(h.pub).post('/v1/webhooks/truelayer').send(WEBHOOK).expect(503);
    expect(h.published).toHaveLength(0);
    (h.deps.events.producer.publish as jest.Mock).mockRejectedValueOnce(new Error('KafkaJSConnectionError'));
    const bus = await request(h.pub).post('/v1/webhooks/truelayer').send(WEBHOOK).expect(503);
    expect(bus.body.code).toBe('event_bus_unavailable');
  });
});

describe('POST /v1/users/{userId}/connections/{connectionId}/refresh', () => {
  const path = '/v1/users/user-1/connections/conn-1/refresh';

  it("requires the present user's IP: 400 psu_ip_required explaining SYNC vs background refresh", async () => {
    const h = harness();
    const { key } = await h.newClient();
    const res = await request(h.pub).post(path).set('authorization', `Bearer ${key}`).send({}).expect(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body.code).toBe('psu_ip_required');
    expect(res.body.detail).toMatch(/present/);
    expect(res.body.detail).toMatch(/on its own/);
    await request(h.pub).post(path).set('authorization', `Bearer ${key}`).expect(400);
    expect(h.fetcher.refreshConnection).not.toHaveBeenCalled();
  });

  it('refuses an invalid IP, in the header or the body, and a header and body that disagree', async () => {
    const h = harness();
    const { key } = await h.newClient();
    const auth = { authorization: `Bearer ${key}` };
    expect((await request(h.pub).post(path).set(auth).set('x-psu-ip', 'localhost').expect(400)).body).toMatchObject({ code: 'invalid_psu_ip', errors: [{ field: 'X-PSU-IP' }] });
    expect((await request(h.pub).post(path).set(auth).send({ user_ip: '300.1.1.1' }).expect(400)).body).toMatchObject({ code: 'invalid_psu_ip', errors: [{ field: 'user_ip' }] });
    expect((await request(h.pub).post(path).set(auth).send({ user_ip: '1.2.3.4', extra: 1 }).expect(400)).body.code).toBe('invalid_body');
    expect((await request(h.pub).post(path).set(auth).set('x-psu-ip', '1.2.3.4').send({ user_ip: '1.2.3.5' }).expect(400)).body.code).toBe('psu_ip_conflict');
    expect((await request(h.pub).post(path).set(auth).set('x-psu-ip', '2001:db8::1').send({ user_ip: '2001:db8::2' }).expect(400)).body.code).toBe('psu_ip_conflict');
    expect(h.fetcher.refreshConnection).not.toHaveBeenCalled();
  });

  it('takes one address written two ways in the header and the body as the same (found by the fuzzer: `::` and 0:0:0:0:0:0:0:0)', async () => {
    const h = harness();
    const { key } = await h.newClient();
    const auth = { authorization: `Bearer ${key}` };
    await request(h.pub).post(path).set(auth).set('x-psu-ip', '0:0:0:0:0:0:0:0').send({ user_ip: '::' }).expect(200);
    await request(h.pub).post(path).set(auth).set('x-psu-ip', '2001:DB8:0:0::1').send({ user_ip: '2001:db8::1' }).expect(200);
    await request(h.pub).post(path).set(auth).set('x-psu-ip', '::ffff:192.0.2.7').send({ user_ip: '192.0.2.7' }).expect(200);
    expect(h.fetcher.refreshConnection).toHaveBeenCalledTimes(3);
  });

  it('passes the header or body IP and the key’s client id to RefreshConnection with the longer deadline', async () => {
    const h = harness();
    const { clientId, key } = await h.newClient();
    const res = await request(h.pub).post(path).set('authorization', `Bearer ${key}`).set('x-psu-ip', '198.51.100.7').expect(200);
    expect(h.fetcher.refreshConnection).toHaveBeenLastCalledWith({ clientId, userId: 'user-1', connectionId: 'conn-1', psuIp: '198.51.100.7' }, { deadlineMs: 60_000 });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      connection_id: 'conn-1',
      fetch_id: 'fetch-1',
      started_at: '2026-11-25T12:00:00.000Z',
      finished_at: '2026-11-25T12:00:04.000Z',
      coalesced: false,
      items: [
        { kind: 'accounts', account_id: null, is_card: false, outcome: 'ok', items: 2, error_code: null, correlation_id: 'corr-a' },
        { kind: 'transactions', account_id: 'acc-1', is_card: false, outcome: 'failed', items: 0, error_code: 'provider_error', correlation_id: 'corr-t' },
      ],
    });
    await request(h.pub).post(path).set('authorization', `Bearer ${key}`).send({ user_ip: '2001:db8::42' }).expect(200);
    expect(h.fetcher.refreshConnection).toHaveBeenLastCalledWith(expect.objectContaining({ clientId, psuIp: '2001:db8::42' }), { deadlineMs: 60_000 });
    await request(h.pub).post(path).set('authorization', `Bearer ${key}`).set('x-psu-ip', '::ffff:198.51.100.8').send({ user_ip: '198.51.100.8' }).expect(200);
    expect(h.fetcher.refreshConnection).toHaveBeenLastCalledWith(expect.objectContaining({ psuIp: '198.51.100.8' }), { deadlineMs: 60_000 });
  });

  it('needs an API key, and maps gRPC errors to problem JSON (NOT_FOUND → 404)', async () => {
    const h = harness();
    await request(h.pub).post(path).set('x-psu-ip', '198.51.100.7').expect(401);
    const { key } = await h.newClient();
    const nf = await request(h.pub).post('/v1/users/user-1/connections/conn-9/refresh').set('authorization', `Bearer ${key}`).set('x-psu-ip', '198.51.100.7').expect(404);
    expect(nf.headers['content-type']).toContain('application/problem+json');
    expect(nf.body).toMatchObject({ status: 404, code: 'connection_not_found' });
    h.fetcher.refreshConnection.mockRejectedValueOnce(new AppError({ code: 'reauth_required', message: 'the user must reauthorise', kind: 'failed_precondition' }));
    expect((await request(h.pub).post(path).set('authorization', `Bearer ${key}`).set('x-psu-ip', '198.51.100.7').expect(409)).body.code).toBe('reauth_required');
  });
});
