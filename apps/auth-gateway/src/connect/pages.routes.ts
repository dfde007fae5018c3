/**
 * Browser-facing routes: hosted bank picker and permission screen (option 2), the OAuth callback (query and
 * form_post), the bounce page and the app-association files. No API key here: the hosted pages are bound to a
 * session by an unguessable token in the path, and to the browser that first opened them by a cookie; the callback
 * by the encrypted, single-use `state`. All of them are rate-limited per client address (shared across instances).
 */
import { isAppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import { recordFunnelStage } from '@ais/platform-telemetry';
import { z } from '@ais/platform-config';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';
import { createHash, randomBytes } from 'node:crypto';
import type { AuthSessionRecord, AuthSessionStore } from '../data/auth-sessions';
import { requireBodyType } from '../http/problems';
import type { RateLimiter } from '../http/rate-limit';
import { hashesEqual } from '../security/api-keys';
import type { ProviderCatalog, ProviderInfo } from './providers';
import type { ConnectService, ConnectSettings, RejectReason } from './service';
import { withParams } from './service';
import { bouncePage, consentPage, outcomePage, pickerPage, reconfirmPage, STYLE } from './views';

const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE, 'utf8').digest('base64')}'`;
const TOKEN_RE = /^[A-Za-z0-9_-]{20,100}$/;
const CONSENT_DAYS = 90;

const REJECT_TEXT: Record<RejectReason, string> = {
  missing: 'This page was opened without the information that links it to your request.',
  malformed: 'This link is not valid. Please start connecting your bank again from the app.',
  forged: 'This link is not valid. Please start connecting your bank again from the app.',
  unknown: 'This link is not valid or has expired. Please start connecting your bank again from the app.',
  expired: 'This link has expired. For your security, links work for a few minutes only. Please start again from the app.',
  replayed: 'This link has already been used. Please start connecting your bank again from the app.',
  mismatch: 'This link belongs to a different request. Please start connecting your bank again from the app.',
};

const REFUSED_TEXT = 'This link cannot be used for this step. Please start again from the app.';
const OTHER_BROWSER_TEXT =
  'This link was opened in another browser. For your security, a connect link works only in the browser that opened it first. Please start again from the app.';
const NOT_OPENED_TEXT = 'This link has not been opened yet. Please start connecting your bank from the app.';

/** The browser-binding cookie (path `/connect/<token>`: only that session's pages receive it). */
export const BINDING_COOKIE = 'ais_connect_binding';

const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * TrueLayer's redirect back, as query parameters or a form_post body (other parameters are ignored): the OpenAPI
 * document's schema too. Without a non-empty `state` the page answers 400 (it cannot be tied to a request).
 */
export const callbackParams = z.object({
  code: z.string().optional().describe('The authorization code (absent when the user cancelled or the bank failed).').meta({ examples: ['example-code'] }),
  state: z.string().min(1).describe('The state of the auth link (encrypted, single use).').meta({ examples: ['example-state'] }),
  error: z.string().optional().describe('access_denied when the user cancelled, else the provider\'s error.'),
  scope: z.string().optional().describe('The scopes granted (ignored).'),
});

export interface PagesDeps {
  connect: ConnectService;
  sessions: AuthSessionStore;
  providers: ProviderCatalog;
  settings: ConnectSettings;
  logger: Logger;
  aasa: unknown;
  assetLinks: unknown;
  /** Per client address on /connect, /bounce and /v1/callback; none: not limited. */
  limiter?: RateLimiter;
  pagesPerMinute?: number;
  now?: () => Date;
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function first(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

export function pagesRoutes(deps: PagesDeps): Router {
  const router = Router({ caseSensitive: true });
  const now = deps.now ?? (() => new Date());
  const authOrigin = originOf(deps.settings.authBaseUrl) ?? "'none'";
  const csp: RequestHandler = helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      styleSrc: [STYLE_HASH],
      imgSrc: ["'self'", 'data:', (_req, res) => ((res as Response).locals['imgOrigins'] as string | undefined) ?? "'self'"],
      formAction: ["'self'", authOrigin],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
  });
  const urlencoded = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  const formType = requireBodyType('application/x-www-form-urlencoded');
  const form: RequestHandler = (req, res, next) => formType(req, res, (err?: unknown) => (err ? next(err) : urlencoded(req, res, next)));
  const html = (res: Response, status: number, body: string): void => {
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).type('html').send(body);
  };
  const rejected = (res: Response, reason: RejectReason): void => {
    html(res, reason === 'expired' ? 410 : 400, outcomePage({ outcome: reason === 'expired' ? 'expired' : 'rejected', title: 'We could not connect your bank', message: REJECT_TEXT[reason] }));
  };
  const pageError = (res: Response, error: unknown): void => {
    // The link's or the user's side (a new-connection link posted to /reconfirm, a used link, a connection gone): a 4xx page, not an alert.
    if (isAppError(error) && error.httpStatus < 500) {
      deps.logger.warn({ code: error.code, status: error.httpStatus }, 'hosted page refused');
      const message = error.kind === 'rate_limited' ? 'Too many attempts. Please wait a minute and try again.' : error.code === 'session_used' ? REJECT_TEXT.replayed : REFUSED_TEXT;
      return html(res, error.httpStatus, outcomePage({ outcome: 'rejected', title: 'We could not continue', message }));
    }
    deps.logger.error({ err: error }, 'hosted page failed');
    html(res, 502, outcomePage({ outcome: 'failed', title: 'Something went wrong', message: 'We could not load this page. Please try again in a moment.' }));
  };

  const limiter = deps.limiter;
  if (limiter) {
    const limit = deps.pagesPerMinute ?? 300;
    router.use(['/connect', '/bounce', '/v1/callback'], async (req, res, next) => {
      const v = await limiter.take('pages-ip', req.ip ?? 'unknown', limit);
      if (v.allowed) return next();
      deps.logger.warn({ scope: 'pages-ip', limit }, 'hosted page rate limit reached');
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(v.resetMs / 1000))));
      html(res, 429, outcomePage({ outcome: 'rejected', title: 'Please wait a moment', message: 'Too many requests from your network. Please wait a minute and try again.' }));
    });
  }
  router.use(['/connect', '/bounce', '/v1/callback'], csp);

  // ---- app association ----------------------------------------------------------------------------------------
  router.get('/.well-known/apple-app-site-association', (_req, res) => {
    if (!deps.aasa) return void res.status(404).type('application/json').send('{}');
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.type('application/json').send(JSON.stringify(deps.aasa));
  });
  router.get('/.well-known/assetlinks.json', (_req, res) => {
    if (!deps.assetLinks) return void res.status(404).type('application/json').send('[]');
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.type('application/json').send(JSON.stringify(deps.assetLinks));
  });

  // ---- option 2: hosted bank picker and permission screen ----------------------------------------------------------
  const hostedSession = async (req: Request, res: Response) => {
    const token = String(req.params['token'] ?? '');
    const session = TOKEN_RE.test(token) ? await deps.sessions.findByPageToken(token, now()) : null;
    if (!session) return void rejected(res, 'unknown');
    return (await inThisBrowser(req, res, token, session)) ? { token, session } : undefined;
  };

  /**
   * Browser binding: the first page view (GET) of a session's hosted pages binds the session to that browser (a
   * random secret in an HttpOnly, SameSite=Lax cookie on `/connect/<token>`, its hash on the session, set by a
   * conditional update so only one browser can win); every later request must carry the cookie. Anything else is
   * a 403 page, before any state change. HEAD never binds.
   */
  const inThisBrowser = async (req: Request, res: Response, token: string, session: AuthSessionRecord): Promise<boolean> => {
    const refuse = (message: string): false => {
      deps.logger.warn({ sessionId: session._id, method: req.method }, 'hosted page refused: not the browser bound to this session');
      html(res, 403, outcomePage({ outcome: 'rejected', title: 'This link cannot be used here', message }));
      return false;
    };
    const presented = cookieValue(req, BINDING_COOKIE);
    const bound = session.browserBinding ?? null;
    if (bound !== null) return (presented !== undefined && hashesEqual(sha256Hex(presented), bound)) || refuse(OTHER_BROWSER_TEXT);
    if (req.method === 'HEAD') return true;
    if (req.method !== 'GET') return refuse(NOT_OPENED_TEXT);
    const secret = randomBytes(32).toString('base64url');
    const t = now();
    if (!(await deps.sessions.bindBrowser(session._id, sha256Hex(secret), t))) return refuse(OTHER_BROWSER_TEXT);
    // Secure whenever the browser reaches us over https (directly or via a trusted proxy) or the public origin is
    // https; on plain http (http://127.0.0.1 locally) the cookie cannot be Secure, or the browser would not keep it.
    res.cookie(BINDING_COOKIE, secret, {
      httpOnly: true,
      sameSite: 'lax',
      secure: req.secure || deps.settings.publicBaseUrl.startsWith('https:'),
      path: `/connect/${token}`,
      maxAge: Math.max(1000, session.expiresAt.getTime() - t.getTime()),
    });
    return true;
  };

  /** Allows the shown logos' origins in img-src: re-applies the CSP header now that they are known. */
  const setImgOrigins = (req: Request, res: Response, providers: ProviderInfo[]): void => {
    const origins = new Set(providers.map((p) => (p.logoUrl ? originOf(p.logoUrl) : undefined)).filter((o): o is string => o !== undefined));
    res.locals['imgOrigins'] = [...origins].join(' ') || "'self'";
    csp(req, res, () => undefined);
  };

  router.get('/connect/:token', async (req, res) => {
    try {
      const h = await hostedSession(req, res);
      if (!h) return;
      const all = await deps.providers.list();
      const query = (first(req.query['q']) ?? '').trim().slice(0, 100);
      const country = (first(req.query['country']) ?? '').trim().toLowerCase().slice(0, 10);
      const countries = deps.settings.countries.length > 0 ? deps.settings.countries : [...new Set(all.map((p) => p.country))].sort();
      const q = query.toLowerCase();
      const shown = all
        .filter((p) => (country ? p.country.toLowerCase() === country : true))
        .filter((p) => (q ? p.displayName.toLowerCase().includes(q) || p.providerId.includes(q) : true))
        .sort((a, b) => a.displayName.localeCompare(b.displayName));
      setImgOrigins(req, res, shown);
      html(res, 200, pickerPage({ token: h.token, productName: deps.settings.productName, providers: shown, countries, query, country }));
    } catch (error) {
      pageError(res, error);
    }
  });

  /**
   * A new connection's session reaching a funnel stage for the first time. The session just read already lists the
   * stages it reached, so a reload writes nothing; the conditional mark settles two requests racing past that check.
   */
  const firstTime = async (session: AuthSessionRecord, stage: string): Promise<boolean> =>
    session.intent.kind === 'new' && !(session.funnelStages ?? []).includes(stage) && (await deps.sessions.markStage(session._id, stage));

  const findProvider = async (id: string | undefined): Promise<ProviderInfo | undefined> => (id ? (await deps.providers.list()).find((p) => p.providerId === id) : undefined);

  router.get('/connect/:token/consent', async (req, res) => {
    try {
      const h = await hostedSession(req, res);
      if (!h) return;
      const provider = await findProvider(first(req.query['provider_id']));
      if (!provider) return void res.redirect(303, `/connect/${h.token}`);
      // once per session: a reloaded consent page or another bank tried after the back button is the same journey
      if (await firstTime(h.session, 'bank_chosen')) recordFunnelStage('bank_chosen', provider.providerId);
      setImgOrigins(req, res, [provider]);
      html(res, 200, consentPage({ token: h.token, productName: deps.settings.productName, provider, scopes: h.session.scopes, privacyPolicyUrl: deps.settings.privacyPolicyUrl, consentDays: CONSENT_DAYS }));
    } catch (error) {
      pageError(res, error);
    }
  });

  router.post('/connect/:token/consent', form, async (req, res) => {
    try {
      const h = await hostedSession(req, res);
      if (!h) return;
      const provider = await findProvider(first((req.body as Record<string, unknown> | undefined)?.['provider_id']));
      if (!provider) return void res.redirect(303, `/connect/${h.token}`);
      await deps.sessions.setProvider(h.session._id, provider.providerId);
      if (await firstTime(h.session, 'permission_accepted')) recordFunnelStage('permission_accepted', provider.providerId);
      // provider_id must be covered by `providers`: add the single id so TrueLayer's own picker never shows.
      const session = h.session.providers.includes(provider.providerId) ? h.session : { ...h.session, providers: [...h.session.providers, provider.providerId] };
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(303, deps.connect.authLink(session, provider.providerId));
    } catch (error) {
      pageError(res, error);
    }
  });

  // ---- our own re-consent page (the user reconfirms here; then extend, reauth or a fresh auth) ----------------------
  router.get('/connect/:token/reconfirm', async (req, res) => {
    try {
      const h = await hostedSession(req, res);
      if (!h) return;
      if (h.session.intent.kind !== 'reconsent') return void res.redirect(303, `/connect/${h.token}`);
      const conn = await deps.connect.connection(h.session.clientId, h.session.userId, h.session.intent.connectionId);
      const provider = await findProvider(conn.providerId).catch(() => undefined);
      html(res, 200, reconfirmPage({
        token: h.token,
        productName: deps.settings.productName,
        providerName: provider?.displayName ?? conn.providerId,
        scopes: conn.scopes.length > 0 ? conn.scopes : h.session.scopes,
        daysLeft: conn.daysLeft,
        privacyPolicyUrl: deps.settings.privacyPolicyUrl,
        consentDays: CONSENT_DAYS,
      }));
    } catch (error) {
      pageError(res, error);
    }
  });

  router.post('/connect/:token/reconfirm', form, async (req, res) => {
    try {
      const h = await hostedSession(req, res);
      if (!h) return;
      const r = await deps.connect.reconfirm(h.session, req.ip);
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(303, r.kind === 'bounce' ? `/bounce/${r.bounceToken}` : r.url);
    } catch (error) {
      pageError(res, error);
    }
  });

  router.post('/connect/:token/cancel', async (req, res) => {
    try {
      const h = await hostedSession(req, res);
      if (!h) return;
      const s = await deps.sessions.consume(h.session._id, h.session.userId, h.session.clientId, now());
      if (s) await deps.sessions.finish(s._id, { outcome: 'cancelled', outcomeCode: 'access_denied', connectionId: null, bounceToken: null, bounceExpiresAt: null });
      html(res, 200, outcomePage({ outcome: 'cancelled', title: 'You cancelled', message: 'You cancelled connecting your bank. Nothing was shared.', returnUrl: s ? deps.connect.returnWith(s, { status: 'cancelled', error: 'access_denied' }) : undefined }));
    } catch (error) {
      pageError(res, error);
    }
  });

  // ---- the redirect back from TrueLayer -------------------------------------------------------------------------
  const callback = async (req: Request, res: Response, params: Record<string, unknown>) => {
    const p = callbackParams.safeParse({ state: first(params['state']), code: first(params['code']), error: first(params['error']) });
    if (!p.success) {
      deps.logger.warn({ reason: 'missing' }, 'callback rejected');
      return rejected(res, 'missing');
    }
    const result = await deps.connect.callback({ state: p.data.state, authCode: p.data.code, error: p.data.error, userIp: req.ip });
    switch (result.kind) {
      case 'rejected':
        deps.logger.warn({ reason: result.reason }, 'callback rejected');
        return rejected(res, result.reason);
      case 'cancelled':
        return html(res, 200, outcomePage({ outcome: 'cancelled', title: 'You cancelled', message: 'You cancelled connecting your bank. Nothing was shared.', returnUrl: result.returnUrl }));
      case 'failed':
        return html(res, 502, outcomePage({ outcome: 'failed', title: 'We could not connect your bank', message: result.code === 'exchange_failed' ? 'Your bank approved the request but we could not complete the connection. Please try again.' : 'Your bank or TrueLayer reported a problem. Please try again later.', returnUrl: result.returnUrl }));
      case 'connected':
        res.setHeader('Cache-Control', 'no-store');
        return res.redirect(303, `/bounce/${result.bounceToken}`);
    }
  };
  // HEAD (link scanners, prefetchers) never consumes the state or exchanges the code: headers only. Only GET and POST do.
  router.head('/v1/callback', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).type('html').end();
  });
  router.get('/v1/callback', async (req, res) => callback(req, res, req.query as Record<string, unknown>));
  router.post('/v1/callback', form, async (req, res) => callback(req, res, (req.body ?? {}) as Record<string, unknown>));

  // ---- bounce back to the product ----------------------------------------------------------------------------------
  router.get('/bounce/:token', async (req, res) => {
    try {
      const token = String(req.params['token'] ?? '');
      const s = TOKEN_RE.test(token) ? await deps.sessions.findByBounceToken(token, now()) : null;
      if (!s || (s.outcome !== 'connected' && s.outcome !== 'extended')) return rejected(res, 'unknown');
      const params = { status: s.outcome, session_id: s._id, ...(s.connectionId ? { connection_id: s.connectionId } : {}) };
      const appUrl = s.returnUrl ? withParams(s.returnUrl, params) : undefined;
      const webUrl = s.webFallbackUrl ? withParams(s.webFallbackUrl, params) : appUrl;
      const provider = s.providerId ? await findProvider(s.providerId).catch(() => undefined) : undefined;
      html(res, 200, bouncePage({ appUrl, webUrl, providerName: provider?.displayName, outcome: s.outcome, autoRedirectSeconds: deps.settings.bounceAutoRedirectSeconds }));
    } catch (error) {
      pageError(res, error);
    }
  });

  return router;
}
