/**
 * Entry of a gRPC service image's health check (bundled by tools/scripts/build-app.mjs as health-probe.js):
 * `node health-probe.js <service>` exits 0 when the service in this container answers SERVING (see
 * libs/platform/grpc/src/health-probe.ts for what each GRPC_TLS mode checks), 1 otherwise.
 */
import { processEnv } from '@ais/platform-config';
import { healthy, probePlan, runProbe } from '@ais/platform-grpc';

async function main(): Promise<number> {
  const service = process.argv[2];
  if (!service) {
    console.error('usage: node health-probe.js <service>');
    return 2;
  }
  try {
    const status = await runProbe(probePlan(service, processEnv()));
    console.log(`${service}: ${status}`);
    return healthy(status) ? 0 : 1;
  } catch (error) {
    console.error(`${service}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

void main().then((code) => process.exit(code));
