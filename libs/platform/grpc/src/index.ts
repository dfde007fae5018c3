export { GrpcServer, unary, accessGuard, KEEPALIVE_OPTIONS, type CallContext, type CallGuard, type UnaryHandler, type ServiceHandlers } from './server';
export { createGrpcClient, checkHealth, fromServiceError, type CallOptions, type GrpcClient } from './client';
export { ACCESS_POLICY, allowedCallers, decide, type AccessDecision } from './access';
export { probePlan, runProbe, healthy, type ProbePlan } from './health-probe';
export {
  grpcTlsFrom,
  vaultTls,
  filesTls,
  insecureTls,
  spiffeId,
  peerIdentity,
  identityOfUris,
  uriSans,
  renewalDelayMs,
  type GrpcTls,
  type ChannelSecurity,
  type GrpcTlsMode,
  type GrpcTlsSettings,
  type CertificateIssuer,
} from './tls';
export { Metadata, status as GrpcStatus, type ChannelCredentials } from '@grpc/grpc-js';
