/**
 * The connection funnel (`ais_connect_funnel_total{stage,provider}`), one counter shared by the services that see
 * each stage: auth-gateway (link created, bank chosen, permission accepted, consented), token-vault (tokens stored),
 * data-fetcher (first data). `rate()` of consecutive stages per provider shows where users drop off.
 */
import { labelValue, lazyInstruments } from './metrics';

export const FUNNEL_STAGES = ['link_created', 'bank_chosen', 'permission_accepted', 'consented', 'tokens_stored', 'first_data'] as const;
export type FunnelStage = (typeof FUNNEL_STAGES)[number];

/** The `provider` of a stage reached before a bank was chosen. */
export const NO_PROVIDER = 'none';

const funnel = lazyInstruments('@ais/connect-funnel', (meter) =>
  meter.createCounter('ais_connect_funnel_total', { description: 'Connect journeys reaching each stage, by provider' }),
);

/** Counts one journey reaching `stage`; the provider id becomes a label only if it looks like one. */
export function recordFunnelStage(stage: FunnelStage, provider: string | null | undefined): void {
  funnel().add(1, { stage, provider: labelValue(provider) });
}
