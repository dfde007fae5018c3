/**
 * Connects a TrueLayer simulator mock-bank user through the gateway without a browser, for integration tests:
 *
 *   1. `POST {gateway}/v1/users/{userId}/connect-sessions` (API key, `dialog: truelayer`) → the auth link;
 *   2. `POST {simulator}/__admin/authorize {auth_url, username, password}` → login + consent done, the redirect
 *      (code + state) and the simulator's `credentials_id`;
 *   3. the redirect to the gateway's callback, as the browser would send it (GET for `response_mode=query`, a form
 *      POST for `form_post`), without following it: the gateway answers 303 to its bounce page;
 *   4. the bounce page (checks the outcome; with a `returnUrl` its link carries `connection_id`). Without a
 *      `returnUrl` the connection id is the one that appeared in `GET /v1/users/{userId}/connections` meanwhile.
 *
 * The return URL itself (the product's app) is never opened. Every state, code, page and bounce token seen on the way
 * goes to the run's secret ledger (secret-ledger.ts).
 */
import { recordSecret } from './secret-ledger';

export interface ConnectMockUserOptions {
  /** Public base URL of the auth-gateway (where `/v1/*`, `/v1/callback` and `/bounce/*` are served). */
  gatewayUrl: string;
  /** An API key of the gateway (`Authorization: Bearer <key>`). */
  apiKey: string;
  /** Base URL of the TrueLayer simulator (its admin API is mounted under `/__admin`). */
  simulatorUrl: string;
  userId: string;
  /** Mock bank login, e.g. john/doe, heavy/heavy, john1/doe1. */
  username: string;
  password: string;
  /** Bank chosen in the simulator's dialog; default `mock` when the link allows it (the simulator's own rule). */
  providerId?: string;
  /** Connect-session `providers` and `scopes` (the gateway's defaults when omitted). */
  providers?: string[];
  scopes?: string[];
  /** Connect-session `response_mode` (default: the gateway's, `query`). */
  responseMode?: 'query' | 'form_post';
  /**
   * Connect-session `return_url` (must be one of the API client's allowed return URLs). With it the connection id is
   * read from the bounce page; without it, from the user's connection list before and after.
   */
  returnUrl?: string;
  /** Injected for unit tests; default the global fetch. */
  fetch?: typeof fetch;
}

export interface MockUserConnection {
  /** The gateway's (token-vault's) connection id. */
  connectionId: string;
  userId: string;
  /** The simulator's credentials id for this bank consent (use it with `/__admin/ledger`, `/__admin/connections/revoke`). */
  credentialsId: string;
}

/** The part of the simulator's `POST /__admin/authorize` answer this helper uses. */
export interface AuthorizeAnswer {
  redirect_url: string;
  redirect_uri?: string;
  response_mode?: string;
  code?: string;
  state?: string;
  credentials_id: string;
}

export class ConnectMockUserError extends Error {
  constructor(
    message: string,
    readonly step: 'connect-session' | 'authorize' | 'callback' | 'bounce' | 'connections',
    readonly status?: number,
  ) {
    super(`connectMockUser (${step}): ${message}`);
    this.name = 'ConnectMockUserError';
  }
}

export interface CallbackRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

function withoutQuery(url: string): string {
  const u = new URL(url);
  u.search = '';
  return u.href;
}

/** The request a browser sends to the gateway's callback after the simulator's redirect. */
export function callbackRequest(answer: AuthorizeAnswer): CallbackRequest {
  if (answer.response_mode === 'form_post') {
    const fields = new URLSearchParams();
    if (answer.code !== undefined) fields.set('code', answer.code);
    if (answer.state !== undefined) fields.set('state', answer.state);
    return {
      method: 'POST',
      url: answer.redirect_uri ?? withoutQuery(answer.redirect_url),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fields.toString(),
    };
  }
  return { method: 'GET', url: answer.redirect_url, headers: {} };
}

/**
 * Records the secrets a gateway or simulator URL carries: `state` and `code` query parameters, the page token of a
 * hosted page (`/connect/<token>`) and the bounce token of a bounce page (`/bounce/<token>`).
 */
export function recordUrlSecrets(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return;
  }
  recordSecret('state', u.searchParams.get('state'));
  recordSecret('code', u.searchParams.get('code'));
  const [, first, token] = u.pathname.split('/');
  if (first === 'connect') recordSecret('page-token', token);
  if (first === 'bounce') recordSecret('bounce-token', token);
  if (first === 'overview') recordSecret('overview-link', token);
}

function decodeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[e] ?? _m);
}

export interface BouncePage {
  /** `connected` or `extended` (the page's `data-outcome`), undefined when the page is not a bounce page. */
  outcome: string | undefined;
  /** `connection_id` from the return link (present only when the session had a return URL). */
  connectionId: string | undefined;
}

/** Reads the gateway's bounce page: its outcome and the `connection_id` of its return link. */
export function parseBouncePage(html: string): BouncePage {
  const body = /<body\b[^>]*>/.exec(html)?.[0] ?? '';
  const outcome = body.includes('data-testid="bounce-page"') ? /data-outcome="([^"]*)"/.exec(body)?.[1] : undefined;
  const link = /<a\b[^>]*data-testid="return-to-app"[^>]*>/.exec(html)?.[0] ?? '';
  const href = /href="([^"]*)"/.exec(link)?.[1];
  let connectionId: string | undefined;
  if (href) {
    try {
      connectionId = new URL(decodeHtml(href)).searchParams.get('connection_id') ?? undefined;
    } catch {
      connectionId = undefined;
    }
  }
  return { outcome, connectionId };
}

/** The single connection id in `after` that was not in `before`; an error when there is none or more than one. */
export function newConnectionId(before: readonly string[], after: readonly string[]): string {
  const known = new Set(before);
  const fresh = after.filter((id) => !known.has(id));
  if (fresh.length === 1) return fresh[0]!;
  throw new ConnectMockUserError(
    fresh.length === 0 ? 'no new connection appeared for the user' : `${fresh.length} new connections appeared for the user (connects running in parallel?); pass returnUrl to tell them apart`,
    'connections',
  );
}

/** A short, secret-free excerpt of an error answer (the visible message of an HTML outcome page, or the JSON). */
async function excerpt(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  const message = /data-testid="outcome-message"[^>]*>([^<]*)</.exec(text)?.[1];
  return (message ? decodeHtml(message) : text).slice(0, 300);
}

export async function connectMockUser(opts: ConnectMockUserOptions): Promise<MockUserConnection> {
  const http = opts.fetch ?? fetch;
  const gateway = opts.gatewayUrl.replace(/\/+$/, '');
  const simulator = opts.simulatorUrl.replace(/\/+$/, '');
  const userPath = `${gateway}/v1/users/${encodeURIComponent(opts.userId)}`;
  const auth = { authorization: `Bearer ${opts.apiKey}` };

  const listConnections = async (): Promise<string[]> => {
    const res = await http(`${userPath}/connections`, { headers: auth });
    if (res.status !== 200) throw new ConnectMockUserError(`GET connections answered ${res.status}: ${await excerpt(res)}`, 'connections', res.status);
    const body = (await res.json()) as { connections?: Array<{ connection_id?: unknown }> };
    return (body.connections ?? []).map((c) => String(c.connection_id));
  };
  const before = opts.returnUrl === undefined ? await listConnections() : [];

  const sessionBody: Record<string, unknown> = { dialog: 'truelayer' };
  if (opts.providers) sessionBody['providers'] = opts.providers;
  if (opts.scopes) sessionBody['scopes'] = opts.scopes;
  if (opts.responseMode) sessionBody['response_mode'] = opts.responseMode;
  if (opts.returnUrl !== undefined) sessionBody['return_url'] = opts.returnUrl;
  const created = await http(`${userPath}/connect-sessions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(sessionBody),
  });
  if (created.status !== 201) throw new ConnectMockUserError(`answered ${created.status}: ${await excerpt(created)}`, 'connect-session', created.status);
  const authUrl = ((await created.json()) as { url?: unknown }).url;
  if (typeof authUrl !== 'string') throw new ConnectMockUserError('the answer has no url', 'connect-session');
  recordUrlSecrets(authUrl);

  const { page, credentialsId } = await completeAuthLink(http, simulator, authUrl, opts);
  const connectionId = page.connectionId ?? newConnectionId(before, await listConnections());
  return { connectionId, userId: opts.userId, credentialsId };
}

/**
 * Steps 2 to 4 for an auth link the gateway handed out (a connect session's, or a re-consent's reauth link): the
 * simulator's login and consent, the callback as a browser would send it, and the bounce page (outcome `connected`).
 */
async function completeAuthLink(
  http: typeof fetch,
  simulator: string,
  authUrl: string,
  opts: Pick<ConnectMockUserOptions, 'username' | 'password' | 'providerId'>,
): Promise<{ page: BouncePage; credentialsId: string }> {
  const authorizeBody: Record<string, unknown> = { auth_url: authUrl, username: opts.username, password: opts.password };
  if (opts.providerId) authorizeBody['provider_id'] = opts.providerId;
  const authorized = await http(`${simulator}/__admin/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(authorizeBody),
  });
  if (authorized.status !== 200) throw new ConnectMockUserError(`answered ${authorized.status}: ${await excerpt(authorized)}`, 'authorize', authorized.status);
  const answer = (await authorized.json()) as AuthorizeAnswer;
  recordSecret('code', answer.code);
  recordSecret('state', answer.state);
  recordUrlSecrets(String(answer.redirect_url));
  if (typeof answer.redirect_url !== 'string' || typeof answer.credentials_id !== 'string') {
    throw new ConnectMockUserError('the answer has no redirect_url or credentials_id', 'authorize');
  }

  const cb = callbackRequest(answer);
  const callback = await http(cb.url, { method: cb.method, headers: cb.headers, body: cb.body, redirect: 'manual' });
  const location = callback.headers.get('location');
  if (callback.status < 300 || callback.status >= 400 || !location) {
    throw new ConnectMockUserError(`the gateway answered ${callback.status} instead of a redirect to the bounce page: ${await excerpt(callback)}`, 'callback', callback.status);
  }
  await callback.arrayBuffer().catch(() => undefined);

  const bounceUrl = new URL(location, cb.url).href;
  recordUrlSecrets(bounceUrl);
  const bounce = await http(bounceUrl, { redirect: 'manual' });
  const page = parseBouncePage(await bounce.text());
  if (bounce.status !== 200 || page.outcome !== 'connected') {
    throw new ConnectMockUserError(`the bounce page answered ${bounce.status} with outcome ${page.outcome ?? '(none)'}`, 'bounce', bounce.status);
  }
  return { page, credentialsId: answer.credentials_id };

}

export interface ReauthMockUserOptions extends Omit<ConnectMockUserOptions, 'providers' | 'scopes' | 'responseMode' | 'providerId'> {
  /** The connection to renew. */
  connectionId: string;
}

/**
 * Renews a connection through the gateway's re-consent API as a present user would: `POST
 * .../connections/{id}/reconsent {user_reconfirmed: true}`; when token-vault extends the consent in place the answer
 * is `extended` (no bank visit); otherwise it hands out a reauth link, which is completed at the simulator like a
 * connect (login, callback, bounce). Returns how it ended and the simulator's credentials id after it.
 */
export async function reauthMockUser(opts: ReauthMockUserOptions): Promise<{ outcome: 'extended' | 'reauth'; credentialsId?: string }> {
  const http = opts.fetch ?? fetch;
  const gateway = opts.gatewayUrl.replace(/\/+$/, '');
  const simulator = opts.simulatorUrl.replace(/\/+$/, '');
  const url = `${gateway}/v1/users/${encodeURIComponent(opts.userId)}/connections/${encodeURIComponent(opts.connectionId)}/reconsent`;
  const res = await http(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${opts.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user_reconfirmed: true, ...(opts.returnUrl !== undefined ? { return_url: opts.returnUrl } : {}) }),
  });
  if (res.status !== 200 && res.status !== 201) throw new ConnectMockUserError(`re-consent answered ${res.status}: ${await excerpt(res)}`, 'connect-session', res.status);
  const body = (await res.json()) as { outcome?: unknown; url?: unknown };
  if (body.outcome === 'extended') return { outcome: 'extended' };
  if (typeof body.url === 'string') recordUrlSecrets(body.url);
  if (body.outcome !== 'reauth' || typeof body.url !== 'string') throw new ConnectMockUserError(`re-consent answered outcome ${String(body.outcome)} without a reauth url`, 'connect-session');
  const { credentialsId } = await completeAuthLink(http, simulator, body.url, opts);
  return { outcome: 'reauth', credentialsId };
}
