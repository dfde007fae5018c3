/** Entry point: `npx tsx apps/truelayer-sandbox/src/main.ts` (see README for the environment). */
import { clockFromSpec, formatClockSpec, loadConfigOrExit } from '@ais/platform-config';
import { createLogger } from '@ais/platform-logger';
import type { AddressInfo } from 'node:net';
import { createSandbox } from './app';
import { createClock } from './clock';
import { adminEnabled, clientsFromConfig, configSchema } from './config';

function main(): void {
  const config = loadConfigOrExit('truelayer-sandbox', configSchema);
  const logger = createLogger({ service: 'truelayer-sandbox', level: config.LOG_LEVEL, environment: config.DEPLOYMENT_ENVIRONMENT });
  const clients = clientsFromConfig(config);
  const admin = adminEnabled(config);
  const sandbox = createSandbox({
    clients,
    seed: config.SANDBOX_SEED,
    clock: createClock(clockFromSpec(config.SANDBOX_CLOCK)),
    logger,
    authBaseUrl: config.SANDBOX_AUTH_BASE_URL,
    apiBaseUrl: config.SANDBOX_API_BASE_URL,
    admin,
  });
  const server = sandbox.app.listen(config.SANDBOX_PORT, config.SANDBOX_HOST, () => {
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    logger.info(
      { url: `http://${host}:${address.port}`, clients: clients.map((c) => c.client_id), admin, clock: formatClockSpec(config.SANDBOX_CLOCK) },
      'listening',
    );
  });
  server.on('error', (err) => {
    logger.fatal({ err }, 'server error');
    process.exit(1);
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    sandbox.dispose();
    const force = setTimeout(() => {
      server.closeAllConnections();
    }, config.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    server.close(() => {
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
