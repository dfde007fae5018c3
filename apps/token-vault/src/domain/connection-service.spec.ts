import { AppError } from '@ais/platform-errors';
import { ERROR_HANDLING, TrueLayerError } from '@ais/truelayer-client';
import { mapTrueLayerError } from './connection-service';

describe('mapTrueLayerError', () => {
  const tl = (code: string, httpStatus: number) => new TrueLayerError({ httpStatus, code, correlationId: 'corr-1' });

  it('gives every TrueLayer error code a defined platform handling', () => {
    const codes = Object.keys(ERROR_HANDLING);
    expect(codes.length).toBeGreaterThan(20);
    for (const code of codes) {
      const mapped = mapTrueLayerError(tl(code, 400), 'refresh');
      expect(mapped).toBeInstanceOf(AppError);
      expect(['failed_precondition', 'invalid_argument', 'rate_limited', 'unavailable']).toContain(mapped.kind);
      expect(mapped.details['truelayer_code']).toBe(code);
      expect(mapped.details['truelayer_correlation_id']).toBe('corr-1');
    }
  });

  it('turns a refused refresh into reauth_required, and a refused code into an invalid argument', () => {
    expect(mapTrueLayerError(tl('invalid_grant', 400), 'refresh')).toMatchObject({ code: 'reauth_required', kind: 'failed_precondition', retriable: false });
    expect(mapTrueLayerError(tl('invalid_grant', 400), 'exchange')).toMatchObject({ code: 'invalid_authorization_code', kind: 'invalid_argument' });
  });

  it('keeps provider outages retriable and rate limits with their wait', () => {
    const down = mapTrueLayerError(tl('provider_error', 503), 'refresh');
    expect(down.retriable).toBe(true);
    const limited = mapTrueLayerError(new TrueLayerError({ httpStatus: 429, code: 'provider_too_many_requests', retryAfterMs: 5000 }), 'me');
    expect(limited).toMatchObject({ kind: 'rate_limited', retryAfterMs: 5000 });
  });

  it('reports unreachable TrueLayer as unavailable without leaking the cause', () => {
    const mapped = mapTrueLayerError(new Error('connect ECONNREFUSED secret-host'), 'exchange');
    expect(mapped).toMatchObject({ code: 'truelayer_unreachable', kind: 'unavailable' });
    expect(mapped.message).not.toContain('secret-host');
  });
});
