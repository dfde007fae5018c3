import { Service } from '@ais/platform-runtime';
import { connectDownstreams } from './clients/grpc-clients';
import { loadConfig } from './config';
import { adminApp, publicApp, type AppDeps } from './http/app';
import { listen } from './http/listen';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('auth-gateway', config);
  try {
    await service.mongo(config);
    const downstreams = connectDownstreams(config);
    const deps: AppDeps = {
      logger: service.logger,
      downstreams,
      ready: () => service.ready,
      bodyLimit: config.HTTP_BODY_LIMIT,
      trustProxy: config.TRUST_PROXY,
    };
    const pub = await listen(publicApp(deps), config.HTTP_HOST, config.HTTP_PORT);
    const admin = await listen(adminApp(deps), config.ADMIN_HOST, config.ADMIN_PORT);
    service.lifecycle.on('intake', 'http-public', () => pub.close());
    service.lifecycle.on('intake', 'http-admin', () => admin.close());
    service.lifecycle.on('flush', 'grpc-clients', () => downstreams.close());
    service.started({ httpPort: pub.port, adminPort: admin.port });
  } catch (error) {
    await service.fail(error);
  }
}

void main();
