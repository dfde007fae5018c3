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
 * With `dialog: 'hosted'` step 1 is our own hosted pages instead, as a browser walks them: the bank picker (its
 * browser-binding cookie kept), the permission screen of `providerId`, and the consent form, whose 303 is the auth
 * link with that bank chosen.
 *
 * The return URL itself (the product's app) is never opened. Every state, code, page and bounce token seen on the way
 * goes to the run's secret ledger (secret-ledger.ts), and to `opts.secrets` when given.
 */
import { recordSecret, type SecretKind } from './secret-ledger';

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
  /**
   * `truelayer` (default): TrueLayer's dialog picks the bank. `hosted`: our bank picker and permission screen, where
   * the user picks `providerId` (required then).
   */
  dialog?: 'truelayer' | 'hosted';
  /** Bank chosen in the simulator's dialog (or on our picker); default `mock` when the link allows it (the simulator's own rule). */
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
  /** Extra headers for each request of the journey to the gateway (e.g. a W3C `traceparent`, called per request). */
  headers?: () => Record<string, string>;
  /** Called after each step of the journey with `<METHOD> <path, ids and tokens elided> <status>`. */
  onStep?: (step: string) => void;
  /** Receives every state, code, page and bounce token and the credentials id the journey saw (for checks that none leaks). */
  secrets?: string[];
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
    readonly step: 'connect-session' | 'picker' | 'consent' | 'authorize' | 'callback' | 'bounce' | 'connections',
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
export function recordUrlSecrets(url: string, seen?: string[]): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return;
  }
  const record = (kind: SecretKind, value: string | null | undefined) => {
    recordSecret(kind, value);
    if (value && seen && !seen.includes(value)) seen.push(value);
  };
  record('state', u.searchParams.get('state'));
  record('code', u.searchParams.get('code'));
  const [, first, token] = u.pathname.split('/');
  if (first === 'connect') record('page-token', token);
  if (first === 'bounce') record('bounce-token', token);
  if (first === 'overview') record('overview-link', token);
}

/** A journey step as reported to `onStep`: method, path with user ids and page / bounce tokens elided, status. */
function stepName(method: string, url: string, status: number): string {
  const path = new URL(url).pathname
    .replace(/^\/v1\/users\/[^/]+/, '/v1/users/…')
    .replace(/^\/connect\/[^/]+/, '/connect/…')
    .replace(/^\/bounce\/.+/, '/bounce/…');
  return `${method} ${path} ${status}`;
}

/** The gateway's requests of one journey: extra headers, no redirects followed, each one reported as a step. */
type Send = (url: string, init?: RequestInit) => Promise<Response>;

function journeySender(http: typeof fetch, opts: Pick<ConnectMockUserOptions, 'headers' | 'onStep'>): Send {
  return async (url, init = {}) => {
    const res = await http(url, { ...init, redirect: 'manual', headers: { ...(opts.headers?.() ?? {}), ...((init.headers as Record<string, string> | undefined) ?? {}) } });
    opts.onStep?.(stepName(init.method ?? 'GET', url, res.status));
    return res;
  };
}

/**
 * Our hosted pages as a browser walks them (`dialog: 'hosted'`): the picker (binding cookie kept), `providerId`'s
 * permission screen and its consent form; returns the auth link the form redirects to.
 */
async function throughHostedPages(send: Send, pageUrl: string, providerId: string): Promise<string> {
  const picker = await send(pageUrl);
  const pickerHtml = await picker.text();
  if (picker.status !== 200) throw new ConnectMockUserError(`the bank picker answered ${picker.status}`, 'picker', picker.status);
  const cookie = picker.headers.getSetCookie().map((c) => c.split(';')[0]!).join('; ');
  const choice = new RegExp(`href="([^"]*/consent\\?provider_id=${providerId})"`).exec(pickerHtml);
  if (!choice) throw new ConnectMockUserError(`the bank picker does not offer ${providerId}`, 'picker');
  const consentUrl = new URL(decodeHtml(choice[1]!), pageUrl).href;
  const consent = await send(consentUrl, { headers: { cookie } });
  const consentHtml = await consent.text();
  const action = /<form method="post" action="([^"]*\/consent)"/.exec(consentHtml);
  if (consent.status !== 200 || !action) throw new ConnectMockUserError(`the permission screen answered ${consent.status}${action ? '' : ' without a consent form'}`, 'consent', consent.status);
  const accepted = await send(new URL(decodeHtml(action[1]!), pageUrl).href, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ provider_id: providerId }).toString(),
  });
  const authUrl = accepted.headers.get('location');
  await accepted.arrayBuffer().catch(() => undefined);
  if (accepted.status !== 303 || !authUrl) throw new ConnectMockUserError(`the consent form answered ${accepted.status} instead of a redirect to the bank`, 'consent', accepted.status);
  return authUrl;
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

  const hosted = opts.dialog === 'hosted';
  if (hosted && !opts.providerId) throw new TypeError("connectMockUser: dialog 'hosted' needs the providerId the user picks");
  const send = journeySender(http, opts);
  const secrets = opts.secrets ?? [];
  const sessionBody: Record<string, unknown> = { dialog: opts.dialog ?? 'truelayer' };
  if (opts.providers) sessionBody['providers'] = opts.providers;
  if (opts.scopes) sessionBody['scopes'] = opts.scopes;
  if (opts.responseMode) sessionBody['response_mode'] = opts.responseMode;
  if (opts.returnUrl !== undefined) sessionBody['return_url'] = opts.returnUrl;
  const created = await send(`${userPath}/connect-sessions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(sessionBody),
  });
  if (created.status !== 201) throw new ConnectMockUserError(`answered ${created.status}: ${await excerpt(created)}`, 'connect-session', created.status);
  const sessionUrl = ((await created.json()) as { url?: unknown }).url;
  if (typeof sessionUrl !== 'string') throw new ConnectMockUserError('the answer has no url', 'connect-session');
  recordUrlSecrets(sessionUrl, secrets);
  const authUrl = hosted ? await throughHostedPages(send, sessionUrl, opts.providerId!) : sessionUrl;
  if (hosted) recordUrlSecrets(authUrl, secrets);

  // with our picker the bank is in the auth link already; the simulator's dialog is told only for TrueLayer's
  const { page, credentialsId } = await completeAuthLink(send, simulator, authUrl, hosted ? { ...opts, providerId: undefined } : opts, secrets, opts.onStep);
  const connectionId = page.connectionId ?? newConnectionId(before, await listConnections());
  secrets.push(credentialsId);
  return { connectionId, userId: opts.userId, credentialsId };
}

/**
 * Steps 2 to 4 for an auth link the gateway handed out (a connect session's, or a re-consent's reauth link): the
 * simulator's login and consent, the callback as a browser would send it, and the bounce page (outcome `connected`).
 */
async function completeAuthLink(
  send: Send,
  simulator: string,
  authUrl: string,
  opts: Pick<ConnectMockUserOptions, 'username' | 'password' | 'providerId' | 'fetch'>,
  secrets: string[] = [],
  onStep?: (step: string) => void,
): Promise<{ page: BouncePage; credentialsId: string }> {
  const authorizeBody: Record<string, unknown> = { auth_url: authUrl, username: opts.username, password: opts.password };
  if (opts.providerId) authorizeBody['provider_id'] = opts.providerId;
  // the bank's own dialog (the simulator's login and consent, without HTML): not a request to the gateway
  const authorized = await (opts.fetch ?? fetch)(`${simulator}/__admin/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(authorizeBody),
  });
  onStep?.(`bank login (simulator) ${authorized.status}`);
  if (authorized.status !== 200) throw new ConnectMockUserError(`answered ${authorized.status}: ${await excerpt(authorized)}`, 'authorize', authorized.status);
  const answer = (await authorized.json()) as AuthorizeAnswer;
  recordSecret('code', answer.code);
  recordSecret('state', answer.state);
  for (const v of [answer.code, answer.state]) if (v && !secrets.includes(v)) secrets.push(v);
  recordUrlSecrets(String(answer.redirect_url), secrets);
  if (typeof answer.redirect_url !== 'string' || typeof answer.credentials_id !== 'string') {
    throw new ConnectMockUserError('the answer has no redirect_url or credentials_id', 'authorize');
  }

  const cb = callbackRequest(answer);
  const callback = await send(cb.url, { method: cb.method, headers: cb.headers, ...(cb.body === undefined ? {} : { body: cb.body }) });
  const location = callback.headers.get('location');
  if (callback.status < 300 || callback.status >= 400 || !location) {
    throw new ConnectMockUserError(`the gateway answered ${callback.status} instead of a redirect to the bounce page: ${await excerpt(callback)}`, 'callback', callback.status);
  }
  await callback.arrayBuffer().catch(() => undefined);

  const bounceUrl = new URL(location, cb.url).href;
  recordUrlSecrets(bounceUrl, secrets);
  const bounce = await send(bounceUrl);
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
  const { credentialsId } = await completeAuthLink(journeySender(http, {}), simulator, body.url, opts);
  return { outcome: 'reauth', credentialsId };
}
