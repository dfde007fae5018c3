import { AppError } from '@ais/platform-errors';
import { startTestMetrics, type TestMetrics } from '@ais/testing';
import { TrueLayerError } from '@ais/truelayer-client';
import { recordConsentEvent, recordRefresh, refreshOutcomeOf } from './vault-metrics';

describe('refresh outcomes', () => {
  const tl = (code: string, httpStatus: number) => new TrueLayerError({ httpStatus, code });

  it('tells the refusals that need the user again from transient failures', () => {
    expect(refreshOutcomeOf(tl('invalid_grant', 400))).toBe('invalid_grant');
    expect(refreshOutcomeOf(tl('access_denied', 403))).toBe('access_denied');
    expect(refreshOutcomeOf(tl('invalid_request', 401))).toBe('consent_gone');
    expect(refreshOutcomeOf(tl('provider_error', 503))).toBe('error');
    expect(refreshOutcomeOf(new TrueLayerError({ httpStatus: 0, code: 'request_timeout' }))).toBe('error');
    expect(refreshOutcomeOf(new AppError({ code: 'no_refresh_token', message: 'x', kind: 'failed_precondition' }))).toBe('no_refresh_token');
    expect(refreshOutcomeOf(AppError.unavailable('refresh_lock_lost', 'x'))).toBe('error');
    expect(refreshOutcomeOf(new Error('boom'))).toBe('error');
  });

  describe('counter', () => {
    let m: TestMetrics;
    beforeEach(() => {
      m = startTestMetrics();
    });
    afterEach(() => m.stop());

    it('counts by outcome, trigger and provider', async () => {
      recordRefresh('ok', 'keep_alive', 'mock');
      recordRefresh('ok', 'keep_alive', 'mock');
      recordRefresh('invalid_grant', 'on_demand', 'ob-lloyds');
      expect(await m.value('ais_token_refresh_total', { outcome: 'ok', trigger: 'keep_alive', provider: 'mock' })).toBe(2);
      expect(await m.value('ais_token_refresh_total', { outcome: 'invalid_grant', trigger: 'on_demand', provider: 'ob-lloyds' })).toBe(1);
    });

    it('counts consents found expiring per horizon and expired, by provider', async () => {
      recordConsentEvent('expiring', 7, 'mock');
      recordConsentEvent('expiring', 1, 'mock');
      recordConsentEvent('expired', 0, 'mock');
      expect(await m.value('ais_consent_events_total', { event: 'expiring', provider: 'mock' })).toBe(2);
      expect(await m.value('ais_consent_events_total', { event: 'expiring', horizon_days: '7' })).toBe(1);
      expect(await m.value('ais_consent_events_total', { event: 'expired', horizon_days: '0', provider: 'mock' })).toBe(1);
    });
  });
});
