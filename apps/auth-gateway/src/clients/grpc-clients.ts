import { fetcherV1, reconciliationV1, tokenvaultV1 } from '@ais/contracts-proto-ts';
import { createGrpcClient, type GrpcClient, type GrpcTls } from '@ais/platform-grpc';

export interface Downstreams {
  tokenVault: GrpcClient<tokenvaultV1.TokenVaultServiceClient>;
  fetcher: GrpcClient<fetcherV1.FetcherServiceClient>;
  /** The read API; absent when RECONCILIATION_ADDR is unset. */
  reconciliation?: GrpcClient<reconciliationV1.ReconciliationServiceClient>;
  close(): void;
}

/** One channel per downstream per process, each pinned to its service's certificate identity. */
export function connectDownstreams(
  cfg: { TOKEN_VAULT_ADDR: string; DATA_FETCHER_ADDR: string; RECONCILIATION_ADDR?: string | undefined; GRPC_DEADLINE_MS: number },
  tls: GrpcTls,
): Downstreams {
  const tokenVault = createGrpcClient(tokenvaultV1.TokenVaultServiceClient, cfg.TOKEN_VAULT_ADDR, cfg.GRPC_DEADLINE_MS, tls.channel('token-vault'));
  const fetcher = createGrpcClient(fetcherV1.FetcherServiceClient, cfg.DATA_FETCHER_ADDR, cfg.GRPC_DEADLINE_MS, tls.channel('data-fetcher'));
  const reconciliation = cfg.RECONCILIATION_ADDR
    ? createGrpcClient(reconciliationV1.ReconciliationServiceClient, cfg.RECONCILIATION_ADDR, cfg.GRPC_DEADLINE_MS, tls.channel('reconciliation'))
    : undefined;
  return {
    tokenVault,
    fetcher,
    ...(reconciliation ? { reconciliation } : {}),
    close() {
      tokenVault.close();
      fetcher.close();
      reconciliation?.close();
    },
  };
}
