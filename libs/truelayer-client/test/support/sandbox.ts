/**
 * Integration-test harness: a simulator child process plus a client configured for it, and helpers that drive the
 * simulator's admin API (`/__admin/*`) the way a user would drive the TrueLayer auth dialog.
 */
import { recordSecret, startSandboxProcess, type SandboxProcess } from '@ais/testing';
import {
  createPkcePair,
  createTrueLayerClient,
  customEnvironment,
  parseAuthRedirect,
  type TokenSet,
  type TrueLayerClient,
  type TrueLayerClientConfig,
} from '../../src';

export const FULL_SCOPE = [
  'info',
  'accounts',
  'balance',
  'cards',
  'transactions',
  'direct_debits',
  'standing_orders',
  'offline_access',
] as const;

export const USER_IP = '203.0.113.7';

export interface Harness {
  sandbox: SandboxProcess;
  client: TrueLayerClient;
  makeClient(overrides?: Partial<TrueLayerClientConfig>): TrueLayerClient;
  admin<T = unknown>(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', path: string, body?: unknown): Promise<T>;
  connect(opts?: ConnectOptions): Promise<Connected>;
  stop(): Promise<void>;
}

export interface ConnectOptions {
  username?: string;
  password?: string;
  providerId?: string;
  providers?: string[];
  scope?: readonly string[];
  pkce?: boolean;
  client?: TrueLayerClient;
}

export interface Connected {
  tokens: TokenSet;
  credentialsId: string;
  code: string;
  codeVerifier: string | undefined;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const sandbox = await startSandboxProcess(env);
  const makeClient = (overrides: Partial<TrueLayerClientConfig> = {}) =>
    createTrueLayerClient({
      environment: customEnvironment({ authBaseUrl: sandbox.url, apiBaseUrl: sandbox.url, name: 'simulator' }),
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
      timeoutMs: 10_000,
      retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
      ...overrides,
    });
  const client = makeClient();

  const admin = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    sandbox.admin<T>(method as 'GET', path, body);

  const connect = async (opts: ConnectOptions = {}): Promise<Connected> => {
    const c = opts.client ?? client;
    const pkce = opts.pkce === false ? undefined : createPkcePair();
    const state = `st-${Math.random().toString(36).slice(2)}`;
    const authUrl = c.auth.authLink({
      redirectUri: sandbox.redirectUri,
      scope: opts.scope ?? FULL_SCOPE,
      state,
      providers: opts.providers ?? ['uk-cs-mock', 'uk-ob-all', 'uk-oauth-all'],
      providerId: opts.providerId ?? 'ob-barclays',
      ...(pkce ? { codeChallenge: pkce.codeChallenge, codeChallengeMethod: 'S256' as const } : {}),
    });
    const done = await admin<{ redirect_url: string; credentials_id: string }>('POST', '/authorize', {
      auth_url: authUrl,
      username: opts.username ?? 'john',
      password: opts.password ?? 'doe',
    });
    const redirect = parseAuthRedirect(done.redirect_url, state);
    if (!redirect.ok) throw new Error(`authorization failed: ${redirect.error}`);
    const tokens = await c.auth.exchangeCode({
      code: redirect.code,
      redirectUri: sandbox.redirectUri,
      ...(pkce ? { codeVerifier: pkce.codeVerifier } : {}),
    });
    recordSecret('code', redirect.code);
    recordSecret('access-token', tokens.accessToken);
    recordSecret('refresh-token', tokens.refreshToken);
    return { tokens, credentialsId: done.credentials_id, code: redirect.code, codeVerifier: pkce?.codeVerifier };
  };

  return {
    sandbox,
    client,
    makeClient,
    admin: admin as Harness['admin'],
    connect,
    stop: () => sandbox.stop(),
  };
}

export function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}
