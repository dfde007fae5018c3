import { TOPICS } from '@ais/contracts-events';
import { Service } from '@ais/platform-runtime';
import { connectDownstreams } from './clients/grpc-clients';
import { loadConfig } from './config';
import { trueLayerProviderCatalog } from './connect/providers';
import type { ConnectSettings } from './connect/service';
import { MongoApiClientStore } from './data/api-clients';
import { MongoAuthSessionStore } from './data/auth-sessions';
import { MongoErasureRequestStore } from './data/erasure-requests';
import { adminApp, publicApp, type AppDeps } from './http/app';
import { listen } from './http/listen';
import { MongoRateStore, RateLimiter } from './http/rate-limit';
import { loadGatewaySecrets } from './security/secrets';
import { OverviewLinkCodec } from './security/overview-link';
import { StateCodec } from './security/state';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = new Service('auth-gateway', config);
  try {
    const conn = await service.mongo(config);
    const vault = await service.vault(config);
    const secrets = await loadGatewaySecrets(
      vault,
      { addr: config.VAULT_ADDR, token: config.VAULT_TOKEN, mount: config.VAULT_KV_MOUNT, timeoutMs: config.VAULT_TIMEOUT_MS },
      config.GATEWAY_KEYS_VAULT_PATH,
    );
    const sessions = new MongoAuthSessionStore(conn, secrets.stateKey);
    await sessions.ensureIndexes();
    const erasures = new MongoErasureRequestStore(conn);
    await erasures.ensureIndexes();
    const rateStore = new MongoRateStore(conn, config.RATE_LIMIT_STORE_TIMEOUT_MS);
    await rateStore.ensureIndexes();
    const kafka = service.kafka(config);
    if (config.KAFKA_CREATE_TOPICS) await service.topics(kafka, config.KAFKA_TOPIC_PREFIX, [TOPICS.fetch]);
    const producer = await service.producer(kafka);
    const downstreams = connectDownstreams(config, await service.grpcTls(config, vault));
    const settings: ConnectSettings = {
      publicBaseUrl: config.PUBLIC_BASE_URL ?? '',
      redirectUri: config.TRUELAYER_REDIRECT_URI,
      trueLayerClientId: config.TRUELAYER_CLIENT_ID,
      authBaseUrl: config.TRUELAYER_AUTH_BASE_URL,
      providers: config.TRUELAYER_PROVIDERS,
      scopes: config.TRUELAYER_SCOPES,
      countries: config.TRUELAYER_COUNTRIES,
      sessionTtlMs: config.CONNECT_SESSION_TTL_MS,
      bounceTtlMs: config.BOUNCE_TTL_MS,
      productName: config.PRODUCT_NAME,
      privacyPolicyUrl: config.PRIVACY_POLICY_URL,
      bounceAutoRedirectSeconds: config.BOUNCE_AUTO_REDIRECT_SECONDS,
    };
    const deps: AppDeps = {
      logger: service.logger,
      downstreams,
      ready: () => service.ready,
      bodyLimit: config.HTTP_BODY_LIMIT,
      trustProxy: config.TRUST_PROXY,
      events: { producer, topicPrefix: config.KAFKA_TOPIC_PREFIX },
      webhookBodyLimit: config.WEBHOOK_BODY_LIMIT,
      refreshDeadlineMs: config.REFRESH_DEADLINE_MS,
      editDeadlineMs: config.EDIT_DEADLINE_MS,
      gateway: {
        clients: new MongoApiClientStore(conn),
        sessions,
        erasures,
        apiKeyPepper: secrets.apiKeyPepper,
        state: new StateCodec(secrets.stateKey),
        overviewLinks: new OverviewLinkCodec(secrets.stateKey),
        providers: trueLayerProviderCatalog({
          authBaseUrl: config.TRUELAYER_AUTH_BASE_URL,
          clientId: config.TRUELAYER_CLIENT_ID,
          scopes: config.TRUELAYER_SCOPES,
          ttlMs: config.PROVIDERS_CACHE_MS,
          timeoutMs: config.GRPC_DEADLINE_MS,
        }),
        settings,
        defaultRateLimitPerMinute: config.DEFAULT_RATE_LIMIT_PER_MINUTE,
        rateLimiter: new RateLimiter({ store: rateStore, logger: service.logger, secret: secrets.apiKeyPepper, timeoutMs: config.RATE_LIMIT_STORE_TIMEOUT_MS }),
        ipLimits: {
          apiPerMinute: config.RATE_LIMIT_IP_API_PER_MINUTE,
          authFailuresPerMinute: config.RATE_LIMIT_IP_AUTH_FAILURES_PER_MINUTE,
          pagesPerMinute: config.RATE_LIMIT_IP_PAGES_PER_MINUTE,
        },
        aasa: config.WELL_KNOWN_AASA_JSON,
        assetLinks: config.WELL_KNOWN_ASSETLINKS_JSON,
      },
    };
    const pub = await listen(publicApp(deps), config.HTTP_HOST, config.HTTP_PORT);
    if (!settings.publicBaseUrl) settings.publicBaseUrl = `http://${config.HTTP_HOST}:${pub.port}`;
    const admin = await listen(adminApp(deps), config.ADMIN_HOST, config.ADMIN_PORT);

    // Expired sessions are purged by this job rather than a TTL index: a record lives until both its own and its
    // bounce page's expiry (plus the retention), a condition over two fields that one TTL field cannot express.
    const purge = setInterval(() => {
      sessions
        .purge(new Date(Date.now() - config.AUTH_SESSION_RETENTION_MS))
        .then((n) => n > 0 && service.logger.info({ purged: n }, 'expired auth sessions purged'))
        .catch((err: unknown) => service.logger.warn({ err }, 'auth session purge failed'));
    }, config.AUTH_SESSION_PURGE_INTERVAL_MS);
    purge.unref();

    service.lifecycle.on('intake', 'http-public', () => pub.close());
    service.lifecycle.on('intake', 'http-admin', () => admin.close());
    service.lifecycle.on('intake', 'session-purge', () => clearInterval(purge));
    service.lifecycle.on('flush', 'grpc-clients', () => downstreams.close());
    await service.metrics.listening;
    service.started({ httpPort: pub.port, adminPort: admin.port, publicBaseUrl: settings.publicBaseUrl });
  } catch (error) {
    await service.fail(error);
  }
}

void main();
