export { ensureStack, freePort, stopStack, readStackEnv, parseEnvFile, stackAlive, REPO_ROOT, type StackEnv, type StackHandle } from './stack';
export { pidAlive, startService, runToExit, ServiceStartError, type ServiceProcess, type StartServiceOptions } from './service-process';
export { provisionTopics, type ProvisionOptions } from './topics';
export { getTrace, waitForTrace, servicesIn, type ZipkinSpan } from './zipkin';
export { startSandboxProcess, type SandboxProcess, type SandboxProcessOptions } from './sandbox-process';
export {
  callbackRequest,
  connectMockUser,
  ConnectMockUserError,
  newConnectionId,
  parseBouncePage,
  reauthMockUser,
  type ReauthMockUserOptions,
  type AuthorizeAnswer,
  type BouncePage,
  type CallbackRequest,
  type ConnectMockUserOptions,
  type MockUserConnection,
} from './connect-mock-user';
export { OpensslCa, DEFAULT_GRPC_TLS, stackGrpcTls } from './grpc-identity';
