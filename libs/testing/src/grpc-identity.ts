/** gRPC identities for integration tests: certificates from the stack's Vault PKI, as one of the platform's workloads. */
import { grpcTlsSchema } from '@ais/platform-config';
import { grpcTlsFrom, type GrpcTls, type GrpcTlsSettings } from '@ais/platform-grpc';
import { createLogger, type Logger } from '@ais/platform-logger';
import { Vault } from '@ais/platform-vault';
import { Writable } from 'node:stream';

const silent = (): Logger => createLogger({ service: 'test-grpc-identity', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

/** Default gRPC TLS settings: what a service gets with no GRPC_TLS_* variables set (the config schema's defaults). */
export const DEFAULT_GRPC_TLS: GrpcTlsSettings = grpcTlsSchema.parse({});

/**
 * An mTLS identity issued by the stack's Vault PKI (VAULT_ADDR and VAULT_TOKEN from `env`): a test acting as
 * `identity` (e.g. 'auth-gateway' to call token-vault's gateway methods, 'operator' for health and reflection).
 */
export function stackGrpcTls(env: Readonly<Record<string, string | undefined>>, identity: string, settings: Partial<GrpcTlsSettings> = {}): Promise<GrpcTls> {
  const addr = env['VAULT_ADDR'];
  const token = env['VAULT_TOKEN'];
  if (!addr || !token) throw new Error('stackGrpcTls needs VAULT_ADDR and VAULT_TOKEN (integration globalSetup)');
  const vault = new Vault({ addr, token });
  return grpcTlsFrom({ ...DEFAULT_GRPC_TLS, ...settings }, identity, silent(), vault);
}
