import type { Logger } from '@ais/platform-logger';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Downstreams } from '../clients/grpc-clients';
import { accessLog } from './access-log';
import { adminRoutes } from './admin.routes';
import { notFound, problemHandler } from './problems';

export interface AppDeps {
  logger: Logger;
  downstreams: Downstreams;
  ready: () => boolean;
  bodyLimit: string;
  trustProxy: string;
}

function base(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy);
  app.use(helmet());
  app.use(accessLog(deps.logger));
  app.use(express.json({ limit: deps.bodyLimit }));
  app.get('/livez', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', (_req, res) => {
    const ready = deps.ready();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready' });
  });
  return app;
}

/** The public edge: caller API (versioned under /v1) and health. */
export function publicApp(deps: AppDeps): Express {
  const app = base(deps);
  app.use(notFound);
  app.use(problemHandler(deps.logger));
  return app;
}

/** Operator surface: diagnostics. Never exposed publicly. */
export function adminApp(deps: AppDeps): Express {
  const app = base(deps);
  app.use(adminRoutes(deps.downstreams));
  app.use(notFound);
  app.use(problemHandler(deps.logger));
  return app;
}
