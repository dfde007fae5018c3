import { enrichmentV1, fetcherV1, reconciliationV1, tokenvaultV1 } from '@ais/contracts-proto-ts';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { ACCESS_POLICY, allowedCallers, decide } from './access';

const SERVICES: Record<string, ServiceDefinition> = {
  'ais.tokenvault.v1.TokenVaultService': tokenvaultV1.TokenVaultServiceService,
  'ais.fetcher.v1.FetcherService': fetcherV1.FetcherServiceService,
  'ais.enrichment.v1.EnrichmentService': enrichmentV1.EnrichmentServiceService,
  'ais.reconciliation.v1.ReconciliationService': reconciliationV1.ReconciliationServiceService,
};
const WORKLOADS = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'];

describe('the access policy', () => {
  it('names every method of every platform service, and nothing else (a new RPC needs a decision)', () => {
    const served = Object.values(SERVICES).flatMap((def) => Object.values(def).map((m) => m.path)).sort();
    const inPolicy = Object.entries(ACCESS_POLICY).flatMap(([svc, methods]) => Object.keys(methods).map((m) => `/${svc}/${m}`)).sort();
    expect(inPolicy).toEqual(served);
  });

  it('allows only platform workloads, and never a service to call itself', () => {
    for (const [svc, methods] of Object.entries(ACCESS_POLICY)) {
      for (const callers of Object.values(methods)) {
        expect(callers.length).toBeGreaterThan(0);
        for (const c of callers) expect(WORKLOADS).toContain(c);
        expect(callers).not.toContain(svc.split('.')[1] === 'tokenvault' ? 'token-vault' : svc.split('.')[1]);
      }
    }
  });

  it('gives plaintext access tokens to data-fetcher only', () => {
    expect(allowedCallers('/ais.tokenvault.v1.TokenVaultService/GetAccessToken')).toEqual(['data-fetcher']);
    for (const caller of WORKLOADS.filter((w) => w !== 'data-fetcher')) {
      expect(decide('/ais.tokenvault.v1.TokenVaultService/GetAccessToken', caller)).toEqual({ allowed: false, reason: 'not_allowed' });
    }
  });

  it("gives token-vault's connection lifecycle (exchange, list, revoke, re-consent) to auth-gateway only", () => {
    for (const m of ['ExchangeCode', 'ListConnections', 'GetConnection', 'RevokeConnection', 'StartReconsent', 'EraseUser']) {
      expect(allowedCallers(`/ais.tokenvault.v1.TokenVaultService/${m}`)).toEqual(['auth-gateway']);
    }
  });

  it('refuses unknown methods and callers without an identity (fail closed)', () => {
    expect(decide('/ais.tokenvault.v1.TokenVaultService/DumpEverything', 'auth-gateway')).toEqual({ allowed: false, reason: 'unknown_method' });
    expect(decide('not a path', 'auth-gateway')).toEqual({ allowed: false, reason: 'unknown_method' });
    expect(decide('/ais.tokenvault.v1.TokenVaultService/GetAccessToken', undefined)).toEqual({ allowed: false, reason: 'no_identity' });
    expect(decide('/ais.tokenvault.v1.TokenVaultService/GetAccessToken', 'data-fetcher')).toEqual({ allowed: true });
  });
});
