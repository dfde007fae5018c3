export {
  chooseStackProvider,
  parseProviderRequest,
  stackEnvKeys,
  STACK_ENV_FILE_KEYS,
  type EngineDetector,
  type ProviderChoice,
  type StackProviderName,
  type StackProviderRequest,
} from './stack-provider';
export { ensureStack, STACK_PROVIDERS, type StackProvider, freePort, integrationEnv, stopStack, readStackEnv, parseEnvFile, stackAlive, REPO_ROOT, type StackEnv, type StackHandle } from './stack';
export { buildServiceBundle, pidAlive, startService, runToExit, ServiceStartError, type ServiceProcess, type StartServiceOptions } from './service-process';
export { provisionTopics, type ProvisionOptions } from './topics';
export { getTrace, waitForTrace, servicesIn, type ZipkinSpan } from './zipkin';
export { startSandboxProcess, type SandboxProcess, type SandboxProcessOptions } from './sandbox-process';
export {
  callbackRequest,
  recordUrlSecrets,
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
export { DEFAULT_GRPC_TLS, stackGrpcTls } from './grpc-identity';
export { recordSecret, teeOutput, currentScanRun, readLedger, stackLedgerFiles, MIN_SECRET_LENGTH, type LedgerEntry, type ScanRun, type SecretKind } from './secret-ledger';
export { documentSecrets, documentText, Findings, kafkaMessageSecrets, logLineSecrets, SecretIndex, secretKindsIn, spanSecrets, type KafkaMessageLike } from './secret-scan';
export { COMPOSE_PLACEHOLDER, TELEMETRY_VARIABLES, composeServiceEnv, deployedEnvs, dockerfileEnv, imageEnv, interpolateCompose, kubernetesEnv, unknownVariables, type DeployedEnv } from './deploy-env';
export { parsePrometheusText, scrapeMetrics, startTestMetrics, type MetricSample, type TestMetrics } from './metrics';
export { describeDeployedEnv } from './deploy-spec';
export { promQuery, promRules, promTargets, registerScrapeTarget, type PromSeries, type ScrapeTarget } from './prometheus';
