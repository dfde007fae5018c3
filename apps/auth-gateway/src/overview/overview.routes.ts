/**
 * The connection overview for one user: the product's backend asks for a short-lived link (API key, POST
 * /v1/users/{userId}/overview-links); the link's sealed token (security/overview-link.ts) names the user and the API
 * client and expires within minutes. The page reads reconciliation's read API and token-vault's connections with that
 * client id; "disconnect" revokes a connection the way DELETE /v1/users/{userId}/connections/{connectionId} does.
 * The disconnect form carries a CSRF token that must match an HttpOnly, SameSite=Strict cookie set by the page.
 */
import type { reconciliationV1 } from '@ais/contracts-proto-ts';
import { z } from '@ais/platform-config';
import { AppError, isAppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { clientOf } from '../api/auth';
import { connectionIdParam, connectionJson, userIdOf } from '../api/v1.routes';
import type { Downstreams } from '../clients/grpc-clients';
import type { ProviderCatalog } from '../connect/providers';
import type { ConnectSettings } from '../connect/service';
import type { ApiClientStore } from '../data/api-clients';
import { outcomePage, STYLE } from '../connect/views';
import { requireBodyType } from '../http/problems';
import type { RateLimiter } from '../http/rate-limit';
import { OverviewLinkError, type OverviewLinkCodec, type OverviewLinkPayload } from '../security/overview-link';
import { overviewPage, OVERVIEW_STYLE, type OverviewAccount, type OverviewCategory, type OverviewView } from './overview.views';

const hashOf = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
export const CSRF_COOKIE = 'ais_overview_csrf';
/** Default and bounds of a link's lifetime. */
export const OVERVIEW_LINK_TTL = { defaultSeconds: 900, minSeconds: 60, maxSeconds: 3600 };
/** Recent transactions shown (search included). */
const RECENT = 25;

export const overviewLinkBody = z.strictObject({
  ttl_seconds: z
    .number()
    .int()
    .min(OVERVIEW_LINK_TTL.minSeconds)
    .max(OVERVIEW_LINK_TTL.maxSeconds)
    .optional()
    .describe(`How long the link works, in seconds (default ${OVERVIEW_LINK_TTL.defaultSeconds}).`),
});

export interface OverviewDeps {
  /** Absent: the endpoint answers 503 and the pages 404. */
  links: OverviewLinkCodec | undefined;
  /** A link stops working when its API client is disabled or gone. */
  clients: ApiClientStore;
  downstreams: Downstreams;
  providers: ProviderCatalog;
  settings: ConnectSettings;
  logger: Logger;
  limiter?: RateLimiter;
  pagesPerMinute?: number;
  now?: () => Date;
}

/** POST /users/{userId}/overview-links, mounted under /v1 behind the API key. */
export function overviewLinkRoutes(deps: OverviewDeps): Router {
  const router = Router({ caseSensitive: true });
  const now = deps.now ?? (() => new Date());
  router.post('/users/:userId/overview-links', (req, res) => {
    const client = clientOf(res);
    const userId = userIdOf(req);
    const r = overviewLinkBody.safeParse(req.body ?? {});
    if (!r.success) {
      throw AppError.invalid('invalid_body', 'the request body is invalid', r.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', description: i.message })));
    }
    if (!deps.links) throw AppError.unavailable('overview_unavailable', 'the overview page is not configured on this gateway');
    const exp = now().getTime() + (r.data.ttl_seconds ?? OVERVIEW_LINK_TTL.defaultSeconds) * 1000;
    const token = deps.links.seal({ uid: userId, cid: client._id, exp });
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ url: `${deps.settings.publicBaseUrl}/overview/${token}`, expires_at: new Date(exp).toISOString() });
  });
  return router;
}

const first = (v: unknown): string | undefined => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** The first instant of month `m` (YYYY-MM) moved by `by` months. */
const monthStart = (m: string, by = 0) => {
  const d = new Date(`${m}-01T00:00:00Z`);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + by, 1));
};
/** Months of balance history drawn: the chosen month and the ones before it. */
export const BALANCE_MONTHS = 3;

/** The hosted overview page and its disconnect form, under /overview/<token>. */
export function overviewPagesRoutes(deps: OverviewDeps): Router {
  const router = Router({ caseSensitive: true });
  const now = deps.now ?? (() => new Date());
  const csp: RequestHandler = helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      styleSrc: [hashOf(STYLE), hashOf(OVERVIEW_STYLE)],
      imgSrc: ["'self'", 'data:'],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
  });
  const html = (res: Response, status: number, body: string): void => {
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).type('html').send(body);
  };
  const refused = (res: Response, status: number, title: string, message: string, outcome: 'rejected' | 'expired' = 'rejected'): void =>
    html(res, status, outcomePage({ outcome, title, message }));
  const pageError = (res: Response, error: unknown): void => {
    if (isAppError(error) && error.httpStatus < 500) {
      deps.logger.warn({ code: error.code, status: error.httpStatus }, 'overview page refused');
      return refused(res, error.httpStatus, 'We could not do that', error.kind === 'not_found' ? 'This bank connection was not found. It may have been disconnected already.' : 'This request could not be completed. Please open the page again from the app.');
    }
    deps.logger.error({ err: error }, 'overview page failed');
    refused(res, 502, 'Something went wrong', 'We could not load this page. Please try again in a moment.');
  };

  /** The link's payload, or a 403 (malformed, forged, API client disabled) / 410 (expired) page. */
  const opened = async (req: Request, res: Response): Promise<{ token: string; link: OverviewLinkPayload } | undefined> => {
    const token = String(req.params['token'] ?? '');
    if (!deps.links) {
      refused(res, 404, 'Page not found', 'This page is not available.');
      return undefined;
    }
    let link: OverviewLinkPayload;
    try {
      link = deps.links.open(token, now().getTime());
    } catch (error) {
      if (!(error instanceof OverviewLinkError)) throw error;
      deps.logger.warn({ reason: error.reason }, 'overview link rejected');
      if (error.reason === 'expired') refused(res, 410, 'This link has expired', 'For your security, this link works for a few minutes only. Please open your overview again from the app.', 'expired');
      else refused(res, 403, 'This link is not valid', 'This link is not valid. Please open your overview again from the app.');
      return undefined;
    }
    const client = await deps.clients.get(link.cid);
    if (!client || client.disabledAt) {
      deps.logger.warn({ reason: 'client_disabled' }, 'overview link rejected');
      refused(res, 403, 'This link is not valid', 'This link is not valid. Please open your overview again from the app.');
      return undefined;
    }
    return { token, link };
  };

  const limiter = deps.limiter;
  if (limiter) {
    const limit = deps.pagesPerMinute ?? 300;
    router.use('/overview', async (req, res, next) => {
      const v = await limiter.take('pages-ip', req.ip ?? 'unknown', limit);
      if (v.allowed) return next();
      deps.logger.warn({ scope: 'pages-ip', limit }, 'hosted page rate limit reached');
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(v.resetMs / 1000))));
      refused(res, 429, 'Please wait a moment', 'Too many requests from your network. Please wait a minute and try again.');
    });
  }
  router.use('/overview', csp);

  router.get('/overview/:token', async (req, res) => {
    try {
      const o = await opened(req, res);
      if (!o) return;
      const month = first(req.query['month']);
      if (month !== undefined && month !== '' && !MONTH.test(month)) return refused(res, 400, 'We could not show that month', 'The month must be given as YYYY-MM, for example 2026-03.');
      const query = (first(req.query['q']) ?? '').trim().slice(0, 100);
      const csrf = cookieValue(req, CSRF_COOKIE);
      const token = csrf && /^[A-Za-z0-9_-]{43}$/.test(csrf) ? csrf : randomBytes(32).toString('base64url');
      if (token !== csrf) {
        res.cookie(CSRF_COOKIE, token, {
          httpOnly: true,
          sameSite: 'strict',
          secure: req.secure || deps.settings.publicBaseUrl.startsWith('https:'),
          path: `/overview/${o.token}`,
          maxAge: Math.max(1000, o.link.exp - now().getTime()),
        });
      }
      const view = await load(deps, o.link, month || undefined, query);
      html(res, 200, overviewPage({ ...view, token: o.token, csrf: token, notice: first(req.query['disconnected']) === '1' ? 'The bank was disconnected. No new data is read from it.' : undefined }));
    } catch (error) {
      pageError(res, error);
    }
  });

  const urlencoded = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });
  const formType = requireBodyType('application/x-www-form-urlencoded');
  const form: RequestHandler = (req, res, next) => formType(req, res, (err?: unknown) => (err ? next(err) : urlencoded(req, res, next)));
  const publicOrigin = (() => {
    try {
      return new URL(deps.settings.publicBaseUrl).origin;
    } catch {
      return undefined;
    }
  })();

  router.post('/overview/:token/connections/:connectionId/disconnect', form, async (req, res) => {
    try {
      const o = await opened(req, res);
      if (!o) return;
      // The pages send no referrer, so a browser posts them with `Origin: null`: only a named origin can be compared.
      const origin = req.get('origin');
      const sent = first((req.body as Record<string, unknown> | undefined)?.['csrf']);
      if ((origin !== undefined && origin !== 'null' && origin !== publicOrigin) || !sameSecret(cookieValue(req, CSRF_COOKIE), sent)) {
        deps.logger.warn({ origin: origin ?? null }, 'overview disconnect refused: CSRF check failed');
        return refused(res, 403, 'Please try again', 'This form has expired or was not sent from your overview page. Please reload the page and try again.');
      }
      const connectionId = String(req.params['connectionId'] ?? '');
      if (!connectionIdParam.safeParse(connectionId).success) return refused(res, 404, 'We could not do that', 'This bank connection was not found.');
      await deps.downstreams.tokenVault.revokeConnection({ clientId: o.link.cid, userId: o.link.uid, connectionId, reason: 'revoked_by_user' });
      deps.logger.info({ connectionId }, 'connection disconnected from the overview page');
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(303, `/overview/${o.token}?disconnected=1`);
    } catch (error) {
      pageError(res, error);
    }
  });

  return router;
}

type PageData = Omit<OverviewView, 'token' | 'csrf' | 'notice'>;

async function load(deps: OverviewDeps, link: OverviewLinkPayload, month: string | undefined, query: string): Promise<PageData> {
  const ids = { clientId: link.cid, userId: link.uid };
  const [conns, providers] = await Promise.all([deps.downstreams.tokenVault.listConnections(ids), deps.providers.list().catch(() => [])]);
  const providerName = (id: string) => providers.find((p) => p.providerId === id)?.displayName ?? id;
  const connections = conns.connections.map((c) => {
    const j = connectionJson(c);
    return { connectionId: c.connectionId, providerName: providerName(c.providerId), status: String(j['status']), daysLeft: c.daysLeft, expiresAt: c.consentExpiresAt, reconsentDue: c.reconsentDue };
  });
  const empty: PageData = {
    productName: deps.settings.productName,
    linkExpiresAt: new Date(link.exp),
    hasData: false,
    accounts: [],
    months: [],
    month: month ?? '',
    balanceMonths: BALANCE_MONTHS,
    spending: [],
    recurring: [],
    query,
    transactions: [],
    connections,
  };
  const recon = deps.downstreams.reconciliation;
  if (!recon) return empty;
  const txRequest = (over: Partial<reconciliationV1.ListTransactionsRequest>): reconciliationV1.ListTransactionsRequest => ({
    ...ids,
    pageSize: RECENT,
    pageToken: '',
    accountId: '',
    from: undefined,
    to: undefined,
    category: '',
    merchantKey: '',
    text: '',
    status: '',
    includeHidden: false,
    ...over,
  });
  try {
    const [accounts, summary, recurring, recent] = await Promise.all([
      recon.listAccounts({ ...ids, pageSize: 100, pageToken: '' }),
      recon.getSpendingSummary({ ...ids, fromMonth: '', toMonth: '', accountId: '' }),
      recon.listRecurring(ids),
      recon.listTransactions(txRequest({ text: query })),
    ]);
    const months = summary.months.map((m) => m.month).reverse();
    const chosen = month ?? months.find((m) => (summary.months.find((x) => x.month === m)?.spending.length ?? 0) > 0) ?? months[0] ?? '';
    let monthSummary = summary.months.find((m) => m.month === chosen);
    if (!monthSummary && chosen) monthSummary = (await recon.getSpendingSummary({ ...ids, fromMonth: chosen, toMonth: chosen, accountId: '' })).months[0];
    const byPrimary = new Map<string, OverviewCategory>();
    for (const t of monthSummary?.spending ?? []) {
      const key = `${t.primary}\u0000${t.currency}`;
      const c = byPrimary.get(key) ?? { primary: t.primary, total: 0, currency: t.currency, count: 0 };
      c.total += Math.abs(Number(t.total)) || 0;
      c.count += t.count;
      byPrimary.set(key, c);
    }
    const spending = [...byPrimary.values()].sort((a, b) => b.total - a.total);
    const accountViews = await Promise.all(accounts.accounts.map(async (a): Promise<OverviewAccount> => ({
      accountId: a.accountId,
      kind: a.kind === 'card' ? 'card' : 'account',
      name: a.displayName,
      accountType: a.accountType,
      numberLast4: a.numberLast4,
      currency: a.currency,
      current: a.latestBalance?.current ?? '',
      available: a.latestBalance?.available ?? '',
      asOf: a.latestBalance?.asOf,
      history: chosen ? await history(recon, ids, a.accountId, chosen, txRequest) : [],
    })));
    return {
      ...empty,
      hasData: true,
      accounts: accountViews,
      months,
      month: chosen,
      spending,
      recurring: recurring.series
        .filter((s) => s.active)
        .sort((a, b) => (a.nextExpectedDate?.getTime() ?? Infinity) - (b.nextExpectedDate?.getTime() ?? Infinity))
        .map((s) => ({ merchant: s.merchantName || s.merchantKey, cadence: s.cadence, amount: s.amount, currency: s.currency, direction: s.direction, nextExpected: s.nextExpectedDate })),
      transactions: recent.transactions.map((t) => ({
        date: t.bookedAt,
        description: t.merchantName || t.description,
        category: t.category?.primary ?? '',
        amount: t.amount,
        currency: t.currency,
        status: t.status,
      })),
    };
  } catch (error) {
    // reconciliation has nothing for this user yet (no fetch finished): the page shows the connections only
    if (isAppError(error) && error.kind === 'not_found') return empty;
    throw error;
  }
}

/**
 * One point per day of the {@link BALANCE_MONTHS} months up to the chosen one: the day's latest running balance of
 * the booked transactions (the listing is newest first), replaced by the bank's balance snapshot where there is one.
 */
async function history(
  recon: NonNullable<Downstreams['reconciliation']>,
  ids: { clientId: string; userId: string },
  accountId: string,
  month: string,
  txRequest: (over: Partial<reconciliationV1.ListTransactionsRequest>) => reconciliationV1.ListTransactionsRequest,
): Promise<Array<{ at: Date; amount: number }>> {
  const from = monthStart(month, 1 - BALANCE_MONTHS);
  const to = monthStart(month, 1);
  const days = new Map<string, { at: Date; amount: number }>();
  let pageToken = '';
  for (let page = 0; page < 6; page++) {
    const r = await recon.listTransactions(txRequest({ accountId, from, to, status: 'booked', pageSize: 500, pageToken }));
    for (const t of r.transactions) {
      const amount = Number(t.runningBalance?.amount);
      if (!t.bookedAt || !t.runningBalance || !Number.isFinite(amount)) continue;
      const key = t.bookedAt.toISOString().slice(0, 10);
      if (!days.has(key)) days.set(key, { at: t.bookedAt, amount });
    }
    if (!r.nextPageToken) break;
    pageToken = r.nextPageToken;
  }
  const balances = await recon.getBalanceHistory({ ...ids, accountId, pageSize: 100, pageToken: '' });
  for (const b of balances.balances) {
    const amount = Number(b.current);
    if (!b.asOf || b.asOf < from || b.asOf >= to || !Number.isFinite(amount)) continue;
    days.set(b.asOf.toISOString().slice(0, 10), { at: b.asOf, amount });
  }
  return [...days.values()].sort((a, b) => a.at.getTime() - b.at.getTime());
}
