/** Unit-test harness: the gateway's apps with memory stores, a fake provider catalogue and faked gRPC downstreams. */
import type { eventsV1, fetcherV1 } from '@ais/contracts-proto-ts';
import { tokenvaultV1 } from '@ais/contracts-proto-ts';
import type { TopicBinding } from '@ais/platform-kafka';
import { AppError } from '@ais/platform-errors';
import { createLogger } from '@ais/platform-logger';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import request from 'supertest';
import type { Downstreams } from '../src/clients/grpc-clients';
import type { ProviderCatalog, ProviderInfo } from '../src/connect/providers';
import type { ConnectSettings } from '../src/connect/service';
import { MemoryApiClientStore } from '../src/data/api-clients';
import { MemoryAuthSessionStore } from '../src/data/auth-sessions';
import { adminApp, publicApp, type AppDeps } from '../src/http/app';
import { DEFAULT_IP_LIMITS, RateLimiter, type IpLimits } from '../src/http/rate-limit';
import { OverviewLinkCodec } from '../src/security/overview-link';
import { StateCodec } from '../src/security/state';

export const logger = createLogger({ service: 'gw-test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

export const PROVIDERS: ProviderInfo[] = [
  { providerId: 'mock', displayName: 'Mock', country: 'uk', logoUrl: 'http://tl.test/logos/mock.svg', scopes: ['info', 'accounts'] },
  { providerId: 'ob-barclays', displayName: 'Barclays', country: 'uk', logoUrl: 'http://tl.test/logos/ob-barclays.svg', scopes: ['info', 'accounts'] },
  { providerId: 'fr-stet-bnp', displayName: 'BNP Paribas', country: 'fr', logoUrl: undefined, scopes: ['info', 'accounts'] },
];

export function connection(over: Partial<tokenvaultV1.Connection> = {}): tokenvaultV1.Connection {
  return {
    connectionId: 'conn-1',
    userId: 'user-1',
    providerId: 'mock',
    status: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_ACTIVE,
    consentCreatedAt: new Date('2026-11-01T00:00:00Z'),
    consentExpiresAt: new Date('2027-01-30T00:00:00Z'),
    scopes: ['info', 'accounts'],
    daysLeft: 66,
    reconsentDue: false,
    previousConnectionId: '',
    clientId: 'c1',
    createdAt: new Date('2026-11-01T00:00:00Z'),
    updatedAt: new Date('2026-11-01T00:00:00Z'),
    ...over,
  };
}

export interface Harness {
  deps: AppDeps;
  pub: ReturnType<typeof publicApp>;
  admin: ReturnType<typeof adminApp>;
  clients: MemoryApiClientStore;
  sessions: MemoryAuthSessionStore;
  codec: StateCodec;
  clock: { now: number };
  tv: {
    listConnections: jest.Mock;
    getConnection: jest.Mock;
    exchangeCode: jest.Mock;
    startReconsent: jest.Mock;
    revokeConnection: jest.Mock;
    startProbe: jest.Mock;
  };
  fetcher: {
    getProbe: jest.Mock;
    checkWebhook: jest.Mock;
    refreshConnection: jest.Mock;
    getSupportReport: jest.Mock;
  };
  /** Every producer.publish call: the binding (topic, key function) and the events. */
  published: Array<{ binding: TopicBinding<eventsV1.FetchEvent>; events: eventsV1.FetchEvent[] }>;
  settings: ConnectSettings;
  /** Creates an API client through the admin route; returns its id and key. */
  newClient(opts?: { rate?: number; returnUrls?: string[] }): Promise<{ clientId: string; key: string }>;
}

export function harness(opts: { aasa?: unknown; assetLinks?: unknown; ipLimits?: Partial<IpLimits>; bodyLimit?: string } = {}): Harness {
  const clock = { now: Date.parse('2026-11-25T12:00:00Z') };
  const clients = new MemoryApiClientStore();
  const sessions = new MemoryAuthSessionStore();
  const codec = new StateCodec(randomBytes(32));
  const tv = {
    listConnections: jest.fn(async (r: { clientId: string; userId: string }) => ({ connections: [connection({ userId: r.userId, clientId: r.clientId })] })),
    getConnection: jest.fn(async (r: { clientId: string; userId: string; connectionId: string }) => {
      if (r.connectionId !== 'conn-1') throw AppError.notFound('connection_not_found', 'no such connection');
      return { connection: connection({ userId: r.userId, clientId: r.clientId }) };
    }),
    exchangeCode: jest.fn(async (r: { clientId: string; userId: string; previousConnectionId: string }) => ({
      connection: connection({ connectionId: 'conn-new', userId: r.userId, clientId: r.clientId, previousConnectionId: r.previousConnectionId }),
    })),
    startReconsent: jest.fn(async () => ({ outcome: { $case: 'reauthUri', reauthUri: 'http://tl.test/reauth?x=1' } })),
    revokeConnection: jest.fn(async (r: { clientId: string; userId: string }) => ({
      connection: connection({ userId: r.userId, clientId: r.clientId, status: tokenvaultV1.ConnectionStatus.CONNECTION_STATUS_REVOKED }),
    })),
    startProbe: jest.fn(async (r: { probeId: string }) => ({ probeId: r.probeId, eventId: 'e-1' })),
  };
  const fetcher = {
    getProbe: jest.fn(async () => {
      throw AppError.notFound('probe_not_found', 'probe x has not reached data-fetcher');
    }),
    checkWebhook: jest.fn(async (r: fetcherV1.CheckWebhookRequest): Promise<fetcherV1.CheckWebhookResponse> =>
      r.taskId === 'task-1' ? { accepted: true, reason: '', connectionId: 'conn-1', userId: 'user-1' } : { accepted: false, reason: 'unknown_task', connectionId: '', userId: '' },
    ),
    refreshConnection: jest.fn(async (r: fetcherV1.RefreshConnectionRequest): Promise<fetcherV1.RefreshConnectionResponse> => {
      if (r.connectionId !== 'conn-1') throw AppError.notFound('connection_not_found', 'no such connection');
      return {
        connectionId: r.connectionId,
        fetchId: 'fetch-1',
        startedAt: new Date('2026-11-25T12:00:00Z'),
        finishedAt: new Date('2026-11-25T12:00:04Z'),
        coalesced: false,
        items: [
          { kind: 'accounts', accountId: '', isCard: false, outcome: 'ok', items: 2, errorCode: '', correlationId: 'corr-a' },
          { kind: 'transactions', accountId: 'acc-1', isCard: false, outcome: 'failed', items: 0, errorCode: 'provider_error', correlationId: 'corr-t' },
        ],
      };
    }),
    getSupportReport: jest.fn(async (r: fetcherV1.GetSupportReportRequest) => supportReport({ connectionId: r.connectionId })),
  };
  const downstreams = {
    tokenVault: tv,
    fetcher,
    close: () => undefined,
  } as unknown as Downstreams;
  const published: Harness['published'] = [];
  const producer = {
    publish: jest.fn(async (binding: TopicBinding<eventsV1.FetchEvent>, events: eventsV1.FetchEvent[]) => void published.push({ binding, events })),
  };
  const settings: ConnectSettings = {
    publicBaseUrl: 'http://gw.test',
    redirectUri: undefined,
    trueLayerClientId: 'sandbox-ais-test',
    authBaseUrl: 'http://tl.test',
    providers: ['uk-ob-all', 'uk-oauth-all'],
    scopes: ['info', 'accounts', 'balance', 'transactions', 'offline_access'],
    countries: [],
    sessionTtlMs: 600_000,
    bounceTtlMs: 900_000,
    productName: 'Budgetly',
    privacyPolicyUrl: 'https://budgetly.test/privacy',
    bounceAutoRedirectSeconds: 0,
  };
  const catalog: ProviderCatalog = { list: async () => PROVIDERS };
  const deps: AppDeps = {
    logger,
    downstreams,
    ready: () => true,
    bodyLimit: opts.bodyLimit ?? '1kb',
    trustProxy: 'loopback',
    events: { producer: producer as unknown as AppDeps['events']['producer'], topicPrefix: 'gwtest' },
    webhookBodyLimit: '2kb',
    refreshDeadlineMs: 60_000,
    gateway: {
      clients,
      sessions,
      apiKeyPepper: randomBytes(32),
      state: codec,
      overviewLinks: new OverviewLinkCodec(randomBytes(32)),
      providers: catalog,
      settings,
      defaultRateLimitPerMinute: 100,
      rateLimiter: new RateLimiter({ now: () => clock.now, logger }),
      ipLimits: { ...DEFAULT_IP_LIMITS, ...opts.ipLimits },
      aasa: opts.aasa,
      assetLinks: opts.assetLinks,
      now: () => new Date(clock.now),
    },
  };
  const admin = adminApp(deps);
  return {
    deps,
    pub: publicApp(deps),
    admin,
    clients,
    sessions,
    codec,
    clock,
    tv,
    fetcher,
    published,
    settings,
    async newClient(o = {}) {
      const res = await request(admin)
        .post('/admin/api-clients')
        .send({ name: 'Budgetly', rate_limit_per_minute: o.rate ?? 100, allowed_return_urls: o.returnUrls ?? ['https://app.budgetly.test/connected'] })
        .expect(201);
      return { clientId: res.body.client_id as string, key: res.body.api_key as string };
    },
  };
}

/** Pulls `state` out of an auth link. */
export function stateOf(url: string): string {
  const s = new URL(url).searchParams.get('state');
  if (!s) throw new Error('no state in link');
  return s;
}

/** A support report as data-fetcher would answer it. */
export function supportReport(over: Partial<fetcherV1.GetSupportReportResponse> = {}): fetcherV1.GetSupportReportResponse {
  const entry = (o: Partial<fetcherV1.JournalEntry>): fetcherV1.JournalEntry => ({
    at: new Date('2026-11-25T11:00:00Z'),
    endpoint: 'GET /data/v1/accounts/{account_id}/transactions',
    accountId: 'acc-1',
    windowFrom: new Date('2026-11-01T00:00:00Z'),
    windowTo: new Date('2026-11-25T00:00:00Z'),
    httpStatus: 200,
    errorCode: '',
    errorDescription: '',
    correlationId: 'corr-ok-1',
    durationMs: 420,
    attended: false,
    traceId: 'trace-1',
    mode: 'scheduled',
    taskId: '',
    items: 12,
    action: '',
    dueAt: new Date('2026-11-25T10:55:00Z'),
    ...o,
  });
  const failed = entry({ at: new Date('2026-11-25T11:30:00Z'), httpStatus: 503, errorCode: 'provider_error', errorDescription: 'The bank is unavailable', correlationId: 'corr-err-1', items: 0, action: 'retry' });
  return {
    connectionId: 'conn-1',
    userId: 'user-1',
    clientId: 'c1',
    providerId: 'ob-barclays',
    credentialsId: 'cred-1',
    status: 'active',
    backfill: 'done',
    backfillNote: '',
    nextRefreshAt: new Date('2026-11-25T18:00:00Z'),
    circuit: 'closed',
    unsupported: ['standing_orders'],
    timeline: [failed, entry({})],
    errors: [failed],
    budget: [{ endpoint: 'GET /data/v1/accounts/{account_id}/transactions', resourceId: 'acc-1', used: 3, left: 1, nextFreeAt: new Date('2026-11-26T06:00:00Z') }],
    lastSuccess: [{ kind: 'transactions', accountId: 'acc-1', at: new Date('2026-11-25T11:00:00Z'), syncedTo: new Date('2026-11-25T00:00:00Z') }],
    generatedAt: new Date('2026-11-25T12:00:00Z'),
    authorizedAt: new Date('2026-11-01T00:00:00Z'),
    ...over,
  };
}
