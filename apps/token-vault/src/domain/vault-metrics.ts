/**
 * token-vault's metrics (docs/METRICS.md).
 *
 * `ais_token_refresh_total{outcome,trigger,provider}`: every refresh token-vault attempts at TrueLayer (on demand,
 * when a caller needs a fresh access token, or keep-alive, the background job). Outcomes:
 * `ok`; the refusals that need the user again (`invalid_grant`, `access_denied`, `consent_gone`);
 * `no_refresh_token` (offline_access not granted); `error` (transient: TrueLayer, network, lease lost).
 *
 * `ais_consent_events_total{event,horizon_days,provider}`: consents the lifecycle job found expiring (`expiring`,
 * with the notice horizon in days) or expired (`expired`, horizon `0`), once per consent period and horizon.
 */
import { labelValue, lazyInstruments } from '@ais/platform-telemetry';
import { TrueLayerError } from '@ais/truelayer-client';

export type RefreshOutcome = 'ok' | 'invalid_grant' | 'access_denied' | 'consent_gone' | 'no_refresh_token' | 'error';

const refreshes = lazyInstruments('token-vault', (meter) =>
  meter.createCounter('ais_token_refresh_total', { description: 'Token refreshes attempted at TrueLayer, by outcome, trigger and provider' }),
);

/** The outcome label of a failed refresh. */
export function refreshOutcomeOf(error: unknown): RefreshOutcome {
  if (error instanceof TrueLayerError) {
    if (error.code === 'invalid_grant' || error.code === 'access_denied') return error.code;
    if (error.category === 'consent_gone') return 'consent_gone';
    return 'error';
  }
  return (error as { code?: unknown } | null)?.code === 'no_refresh_token' ? 'no_refresh_token' : 'error';
}

export function recordRefresh(outcome: RefreshOutcome, trigger: 'on_demand' | 'keep_alive', provider: string): void {
  refreshes().add(1, { outcome, trigger, provider: labelValue(provider) });
}

const consentEvents = lazyInstruments('token-vault', (meter) =>
  meter.createCounter('ais_consent_events_total', { description: 'Consents found expiring (per notice horizon) or expired by the lifecycle job, by provider' }),
);

export function recordConsentEvent(event: 'expiring' | 'expired', horizonDays: number, provider: string): void {
  consentEvents().add(1, { event, horizon_days: String(horizonDays), provider: labelValue(provider) });
}
