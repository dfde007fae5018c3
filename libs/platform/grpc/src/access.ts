/**
 * Who may call what: every gRPC method of the platform and the workload identities allowed to call it, in one
 * table. Servers check the caller's certificate identity (tls.ts) against it before a handler runs; a method that
 * is not in the table is refused (fail closed), and a unit test keeps the table and the protos in step.
 *
 * Health (grpc.health.v1) and reflection are not in the table: any certificate from the platform's CA may call
 * them (operators use the `operator` identity, docs/SECURITY.md).
 */
const GATEWAY = 'auth-gateway';

export const ACCESS_POLICY: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  'ais.tokenvault.v1.TokenVaultService': {
    // Plaintext access tokens: only the service that calls TrueLayer's Data API.
    GetAccessToken: ['data-fetcher'],
    ListConnections: [GATEWAY],
    GetConnection: [GATEWAY],
    ExchangeCode: [GATEWAY],
    StartReconsent: [GATEWAY],
    RevokeConnection: [GATEWAY],
    StartProbe: [GATEWAY],
    EraseUser: [GATEWAY],
  },
  'ais.fetcher.v1.FetcherService': {
    GetProbe: [GATEWAY],
    RefreshConnection: [GATEWAY],
    CheckWebhook: [GATEWAY],
    GetSupportReport: [GATEWAY],
  },
  'ais.enrichment.v1.EnrichmentService': {
    Categorize: ['reconciliation'],
    CategorizeBatch: ['reconciliation'],
    PutUserRule: ['reconciliation'],
    ListUserRules: ['reconciliation'],
    DeleteUserRule: ['reconciliation'],
  },
  'ais.reconciliation.v1.ReconciliationService': {
    ListAccounts: [GATEWAY],
    GetBalanceHistory: [GATEWAY],
    ListTransactions: [GATEWAY],
    GetChanges: [GATEWAY],
    EditTransaction: [GATEWAY],
    EditAccount: [GATEWAY],
    GetSpendingSummary: [GATEWAY],
    ListRecurring: [GATEWAY],
    GetErasure: [GATEWAY],
  },
};

/** `/pkg.Service/Method` → the allowed callers, or undefined when the method is not in the table. */
export function allowedCallers(path: string, policy = ACCESS_POLICY): readonly string[] | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  return policy[m[1]!]?.[m[2]!];
}

export type AccessDecision = { allowed: true } | { allowed: false; reason: 'unknown_method' | 'no_identity' | 'not_allowed' };

export function decide(path: string, caller: string | undefined, policy = ACCESS_POLICY): AccessDecision {
  const callers = allowedCallers(path, policy);
  if (!callers) return { allowed: false, reason: 'unknown_method' };
  if (!caller) return { allowed: false, reason: 'no_identity' };
  return callers.includes(caller) ? { allowed: true } : { allowed: false, reason: 'not_allowed' };
}
