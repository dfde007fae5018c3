import { createTrueLayerClient, customEnvironment, type Provider } from '@ais/truelayer-client';

export interface ProviderInfo {
  providerId: string;
  displayName: string;
  country: string;
  logoUrl: string | undefined;
  scopes: string[];
}

export interface ProviderCatalog {
  list(): Promise<ProviderInfo[]>;
}

/**
 * TrueLayer's `/api/providers` (public endpoint) through the client library, cached in process for `ttlMs`
 * (stale copy served if a refresh fails). One refresh in flight at a time.
 */
export class CachedProviderCatalog implements ProviderCatalog {
  private cached: { at: number; list: ProviderInfo[] } | undefined;
  private inflight: Promise<ProviderInfo[]> | undefined;

  constructor(
    private readonly fetchList: () => Promise<Provider[]>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async list(): Promise<ProviderInfo[]> {
    const c = this.cached;
    if (c && this.now() - c.at < this.ttlMs) return c.list;
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = undefined;
    });
    try {
      return await this.inflight;
    } catch (error) {
      if (c) return c.list;
      throw error;
    }
  }

  private async refresh(): Promise<ProviderInfo[]> {
    const raw = await this.fetchList();
    const list = raw.map((p) => ({
      providerId: p.provider_id,
      displayName: p.display_name,
      country: p.country,
      logoUrl: typeof p.logo_url === 'string' && /^https?:\/\//.test(p.logo_url) ? p.logo_url : undefined,
      scopes: p.scopes.map(String),
    }));
    this.cached = { at: this.now(), list };
    return list;
  }
}

/** The gateway holds no TrueLayer secret: only public endpoints are used, so the secret slot gets a placeholder. */
const PUBLIC_ONLY = 'unused-auth-gateway-calls-public-endpoints-only';

export function trueLayerProviderCatalog(opts: { authBaseUrl: string; clientId: string; scopes: string[]; ttlMs: number; timeoutMs: number }): CachedProviderCatalog {
  const tl = createTrueLayerClient({
    environment: customEnvironment({ authBaseUrl: opts.authBaseUrl, apiBaseUrl: opts.authBaseUrl, name: 'gateway' }),
    clientId: opts.clientId,
    clientSecret: PUBLIC_ONLY,
    timeoutMs: opts.timeoutMs,
  });
  return new CachedProviderCatalog(async () => (await tl.auth.providers({ clientId: true })).results, opts.ttlMs);
}
