import type { Logger } from '@ais/platform-logger';
import express, { Router, type Express } from 'express';
import helmet from 'helmet';
import { apiClientAdminRoutes } from '../api/api-clients.admin';
import { requireApiKey } from '../api/auth';
import { openApiDocument } from '../api/openapi';
import { erasureRoutes } from '../api/erasure.routes';
import { readRoutes } from '../api/read.routes';
import { v1Routes } from '../api/v1.routes';
import type { Downstreams } from '../clients/grpc-clients';
import { pagesRoutes } from '../connect/pages.routes';
import type { ProviderCatalog } from '../connect/providers';
import { ConnectService, type ConnectSettings } from '../connect/service';
import type { ApiClientStore } from '../data/api-clients';
import type { AuthSessionStore } from '../data/auth-sessions';
import { docsRoutes } from '../docs/docs.routes';
import { MemoryErasureRequestStore, type ErasureRequestStore } from '../data/erasure-requests';
import { overviewLinkRoutes, overviewPagesRoutes, type OverviewDeps } from '../overview/overview.routes';
import type { OverviewLinkCodec } from '../security/overview-link';
import type { StateCodec } from '../security/state';
import { isWebhookPath, WEBHOOK_PATH, webhookRoutes, type EventSink } from '../webhooks/truelayer.routes';
import { accessLog } from './access-log';
import { adminRoutes } from './admin.routes';
import { notFound, otherMethodsNotAllowed, problemHandler, requireBodyType } from './problems';
import { DEFAULT_IP_LIMITS, RateLimiter, type IpLimits } from './rate-limit';

export interface GatewayDeps {
  clients: ApiClientStore;
  sessions: AuthSessionStore;
  /** Accepted erasures (their status says in_progress until reconciliation logged them). */
  erasures?: ErasureRequestStore;
  apiKeyPepper: Buffer;
  state: StateCodec;
  /** Seals and opens the connection-overview links; absent: POST /v1/users/{userId}/overview-links answers 503. */
  overviewLinks?: OverviewLinkCodec;
  providers: ProviderCatalog;
  settings: ConnectSettings;
  defaultRateLimitPerMinute: number;
  /** Shared (MongoDB) in production; default: counts in this process. */
  rateLimiter?: RateLimiter;
  ipLimits?: IpLimits;
  aasa?: unknown;
  assetLinks?: unknown;
  now?: () => Date;
}

export interface AppDeps {
  logger: Logger;
  downstreams: Downstreams;
  ready: () => boolean;
  bodyLimit: string;
  trustProxy: string;
  gateway: GatewayDeps;
  /** Accepted TrueLayer webhooks go here (ais.fetch.v1). */
  events: EventSink;
  /** The webhook's own, smaller body limit. */
  webhookBodyLimit: string;
  /** Deadline of RefreshConnection (a SYNC refresh takes longer than the other calls). */
  refreshDeadlineMs: number;
  /** Deadline of the edit calls (reconciliation waits for the edit to be applied). Default 10 s. */
  editDeadlineMs?: number;
}

function base(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy);
  // `/Connect/<token>` is not a page (and would slip past the log masking); each Router sets the same.
  app.set('case sensitive routing', true);
  app.use(helmet());
  app.use(accessLog(deps.logger));
  const json = express.json({ limit: deps.bodyLimit });
  // The TrueLayer webhook parses its body itself, with a smaller limit.
  app.use((req, res, next) => (isWebhookPath(req.path) ? next() : json(req, res, next)));
  app.get('/livez', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', (_req, res) => {
    const ready = deps.ready();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready' });
  });
  return app;
}

export function connectService(deps: AppDeps): ConnectService {
  const g = deps.gateway;
  return new ConnectService(g.settings, g.sessions, g.state, deps.downstreams, deps.logger, g.now);
}

/** The public edge: caller API (versioned under /v1), hosted pages, callback, TrueLayer webhook, app association and health. */
export function publicApp(deps: AppDeps): Express {
  const app = base(deps);
  const g = deps.gateway;
  const connect = connectService(deps);
  const limiter = g.rateLimiter ?? new RateLimiter({ logger: deps.logger });
  const ipLimits = g.ipLimits ?? DEFAULT_IP_LIMITS;
  // Each router ends with a 405 (and Allow) for its paths' other methods: no two routers share a path.
  app.use(otherMethodsNotAllowed(Router({ caseSensitive: true }).get('/v1/openapi.json', (_req, res) => void res.json(openApiDocument))));
  // The API reference page (Swagger UI from our own origin) over that document.
  app.use(otherMethodsNotAllowed(docsRoutes()));
  app.use(
    otherMethodsNotAllowed(
      pagesRoutes({ connect, sessions: g.sessions, providers: g.providers, settings: g.settings, logger: deps.logger, aasa: g.aasa, assetLinks: g.assetLinks, limiter, pagesPerMinute: ipLimits.pagesPerMinute, ...(g.now ? { now: g.now } : {}) }),
    ),
  );
  const overview: OverviewDeps = {
    links: g.overviewLinks,
    clients: g.clients,
    downstreams: deps.downstreams,
    providers: g.providers,
    settings: g.settings,
    logger: deps.logger,
    limiter,
    pagesPerMinute: ipLimits.pagesPerMinute,
    ...(g.now ? { now: g.now } : {}),
  };
  app.use(otherMethodsNotAllowed(overviewPagesRoutes(overview)));
  // JSON bodies only on the caller API and the webhook (415 otherwise); the hosted pages' forms check their own.
  app.use(['/v1/users', WEBHOOK_PATH], requireBodyType('application/json'));
  app.use(otherMethodsNotAllowed(webhookRoutes({ fetcher: deps.downstreams.fetcher, events: deps.events, logger: deps.logger, bodyLimit: deps.webhookBodyLimit, ...(g.now ? { now: g.now } : {}) })));
  // The key is checked on the caller resources; an unknown /v1 path stays a plain 404.
  app.use('/v1/users', requireApiKey(g.clients, g.apiKeyPepper, limiter, ipLimits));
  app.use('/v1', otherMethodsNotAllowed(v1Routes(deps.downstreams, connect, { refreshDeadlineMs: deps.refreshDeadlineMs })));
  app.use('/v1', otherMethodsNotAllowed(erasureRoutes({ downstreams: deps.downstreams, sessions: g.sessions, requests: g.erasures ?? new MemoryErasureRequestStore(), logger: deps.logger, ...(g.now ? { now: g.now } : {}) })));
  app.use('/v1', otherMethodsNotAllowed(overviewLinkRoutes(overview)));
  app.use('/v1', otherMethodsNotAllowed(readRoutes(deps.downstreams, { editDeadlineMs: deps.editDeadlineMs ?? 10_000 })));
  app.use(notFound);
  app.use(problemHandler(deps.logger));
  return app;
}

/** Operator surface: diagnostics and API-client provisioning. Never exposed publicly. */
export function adminApp(deps: AppDeps): Express {
  const app = base(deps);
  app.use(otherMethodsNotAllowed(adminRoutes(deps.downstreams)));
  app.use(otherMethodsNotAllowed(apiClientAdminRoutes(deps.gateway.clients, deps.gateway.apiKeyPepper, deps.gateway.defaultRateLimitPerMinute)));
  app.use(notFound);
  app.use(problemHandler(deps.logger));
  return app;
}
