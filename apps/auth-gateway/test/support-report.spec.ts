import { AppError } from '@ais/platform-errors';
import request from 'supertest';
import { harness, supportReport } from './harness';

const path = '/admin/connections/conn-1/support-report';

describe('GET /admin/connections/{connectionId}/support-report', () => {
  it('answers JSON by default: snake_case, ISO timestamps, nulls for empty values', async () => {
    const h = harness();
    const res = await request(h.admin).get(path).expect(200);
    expect(res.headers['content-type']).toContain('application/json');
    expect(h.fetcher.getSupportReport).toHaveBeenCalledWith({ connectionId: 'conn-1', limit: 0 });
    expect(res.body).toMatchObject({
      connection_id: 'conn-1',
      user_id: 'user-1',
      client_id: 'c1',
      provider_id: 'ob-barclays',
      credentials_id: 'cred-1',
      status: 'active',
      backfill: 'done',
      backfill_note: null,
      next_refresh_at: '2026-11-25T18:00:00.000Z',
      circuit: 'closed',
      unsupported: ['standing_orders'],
      authorized_at: '2026-11-01T00:00:00.000Z',
      generated_at: '2026-11-25T12:00:00.000Z',
      budget: [{ endpoint: 'GET /data/v1/accounts/{account_id}/transactions', resource_id: 'acc-1', used: 3, left: 1, next_free_at: '2026-11-26T06:00:00.000Z' }],
      last_success: [{ kind: 'transactions', account_id: 'acc-1', at: '2026-11-25T11:00:00.000Z', synced_to: '2026-11-25T00:00:00.000Z' }],
    });
    expect(res.body.errors).toEqual([
      {
        at: '2026-11-25T11:30:00.000Z',
        endpoint: 'GET /data/v1/accounts/{account_id}/transactions',
        account_id: 'acc-1',
        window_from: '2026-11-01T00:00:00.000Z',
        window_to: '2026-11-25T00:00:00.000Z',
        http_status: 503,
        error_code: 'provider_error',
        error_description: 'The bank is unavailable',
        correlation_id: 'corr-err-1',
        duration_ms: 420,
        attended: false,
        trace_id: 'trace-1',
        mode: 'scheduled',
        task_id: null,
        items: 0,
        action: 'retry',
        due_at: '2026-11-25T10:55:00.000Z',
      },
    ]);
    expect(res.body.timeline).toHaveLength(2);
    expect(Object.keys(res.body as object).every((k) => /^[a-z_]+$/.test(k))).toBe(true);
    await request(h.admin).get(`${path}?limit=50`).expect(200);
    expect(h.fetcher.getSupportReport).toHaveBeenLastCalledWith({ connectionId: 'conn-1', limit: 50 });
    await request(h.admin).get(`${path}?limit=-1`).expect(400);
  });

  it('renders a self-contained HTML page for Accept: text/html or ?format=html, with correlation ids prominent', async () => {
    const h = harness();
    const res = await request(h.admin).get(path).set('accept', 'text/html,application/xhtml+xml,*/*;q=0.8').expect(200);
    expect(res.headers['content-type']).toContain('text/html');
    for (const id of ['support-report', 'summary', 'errors', 'budget', 'last-success', 'timeline', 'support-hint']) expect(res.text).toContain(`data-testid="${id}"`);
    expect(res.text).toContain('<span class="corr" data-testid="correlation-id">corr-err-1</span>');
    expect(res.text).toMatch(/quote the <strong>correlation ids<\/strong>/);
    // a background refresh's calls show when it was due (how late it ran)
    expect(res.text).toContain('<th>Due</th>');
    expect(res.text).toContain('2026-11-25T10:55:00.000Z');
    expect(res.text).not.toMatch(/<script|<link|src=/i);
    const viaQuery = await request(h.admin).get(`${path}?format=html`).expect(200);
    expect(viaQuery.headers['content-type']).toContain('text/html');
    const forcedJson = await request(h.admin).get(`${path}?format=json`).set('accept', 'text/html').expect(200);
    expect(forcedJson.headers['content-type']).toContain('application/json');
  });

  it('escapes every value it shows', async () => {
    const h = harness();
    const evil = '<script>alert(1)</script>';
    const r = supportReport();
    h.fetcher.getSupportReport.mockResolvedValueOnce({
      ...r,
      providerId: evil,
      backfillNote: `"><img src=x onerror=alert(2)>`,
      unsupported: [evil],
      errors: [{ ...r.errors[0]!, errorDescription: evil, correlationId: `corr-${evil}`, endpoint: evil }],
      budget: [{ ...r.budget[0]!, endpoint: evil }],
      lastSuccess: [{ ...r.lastSuccess[0]!, kind: evil }],
      timeline: [{ ...r.timeline[0]!, action: evil }],
    });
    const res = await request(h.admin).get(`${path}?format=html`).expect(200);
    expect(res.text).not.toContain('<script>');
    expect(res.text).not.toContain('<img');
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.text).toContain('corr-&lt;script&gt;');
  });

  it('maps data-fetcher errors to problem JSON and is not served publicly', async () => {
    const h = harness();
    h.fetcher.getSupportReport.mockRejectedValueOnce(AppError.notFound('connection_not_found', 'data-fetcher knows no such connection'));
    const res = await request(h.admin).get(path).expect(404);
    expect(res.body).toMatchObject({ code: 'connection_not_found' });
    await request(h.admin).get('/admin/connections/bad%20id/support-report').expect(400);
    await request(h.pub).get(path).expect(404);
  });
});
