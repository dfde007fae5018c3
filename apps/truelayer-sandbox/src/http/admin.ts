/** Admin surface (`/__admin/*`): clock, switches, faults, counters, authorize shortcut. Enabled only in dev/test. */
import express, { type Router } from 'express';
import { DAY, HOUR, MINUTE, SECOND } from '../clock';
import { resolveRange } from '../domain/dates';
import { TlError } from '../domain/errors';
import { parseFaultRule } from '../domain/faults';
import { isoDay, ledgerId, type LedgerKind, ledgerSummary } from '../domain/ledger';
import { findProvider } from '../domain/providers';
import { SandboxState } from '../domain/state';
import { applySwitchPatch, DEFAULT_SWITCHES } from '../domain/switches';
import { authenticateMockUser } from '../domain/users';
import { LinkError, redirectUrl, sessionFromLink } from './auth';
import { bodyObject, firstString, sendTlError } from './common';
import type { SandboxContext } from './context';

const DEFAULT_SCOPE = 'info accounts balance cards transactions direct_debits standing_orders offline_access';

export function adminRouter(ctx: SandboxContext): Router {
  const r = express.Router();
  const bad = (message: string): { status: number; body: { error: string; message: string } } => ({ status: 400, body: { error: 'bad_request', message } });

  const clockView = (): Record<string, unknown> => ({ now: new Date(ctx.clock.now()).toISOString(), offset_ms: ctx.clock.offset(), rate: ctx.clock.rate() });

  r.get('/clock', (_req, res) => {
    res.json(clockView());
  });
  r.post('/clock/advance', (req, res) => {
    const b = bodyObject(req);
    const n = (k: string): number => (typeof b[k] === 'number' ? (b[k] as number) : 0);
    const ms = n('ms') + n('seconds') * SECOND + n('minutes') * MINUTE + n('hours') * HOUR + n('days') * DAY;
    if (!Number.isFinite(ms)) {
      const e = bad('ms/seconds/minutes/hours/days must be numbers');
      return res.status(e.status).json(e.body);
    }
    ctx.clock.advance(ms);
    res.json(clockView());
  });
  r.post('/clock/set', (req, res) => {
    const t = Date.parse(String(bodyObject(req)['time'] ?? ''));
    if (Number.isNaN(t)) {
      const e = bad('time must be an ISO date-time');
      return res.status(e.status).json(e.body);
    }
    ctx.clock.set(t);
    res.json(clockView());
  });
  r.post('/clock/reset', (_req, res) => {
    ctx.clock.reset();
    res.json(clockView());
  });

  r.get('/switches', (_req, res) => {
    res.json(ctx.state.switches);
  });
  const patchSwitches = (req: express.Request, res: express.Response): void => {
    const errors = applySwitchPatch(ctx.state.switches, bodyObject(req));
    if (errors.length > 0) {
      res.status(400).json({ error: 'bad_request', message: errors.join('; ') });
      return;
    }
    res.json(ctx.state.switches);
  };
  r.patch('/switches', patchSwitches);
  r.put('/switches', patchSwitches);
  r.post('/switches', patchSwitches);

  r.get('/faults', (_req, res) => {
    res.json(ctx.faults.list());
  });
  r.post('/faults', (req, res) => {
    const rule = parseFaultRule(bodyObject(req));
    if (typeof rule === 'string') return res.status(400).json({ error: 'bad_request', message: rule });
    res.status(201).json(ctx.faults.add(rule));
  });
  r.delete('/faults', (_req, res) => {
    ctx.faults.clear();
    res.status(204).end();
  });
  r.delete('/faults/:id', (req, res) => {
    res.status(ctx.faults.remove(String(req.params['id'])) ? 204 : 404).end();
  });

  r.get('/counters', (_req, res) => {
    res.json(countersView(ctx));
  });

  r.get('/webhooks', (_req, res) => {
    res.json(ctx.webhooks);
  });

  r.get('/tasks', (_req, res) => {
    res.json(ctx.tasks.all().map((t) => ({ task_id: t.id, status: t.status, endpoint: t.endpoint, credentials_id: t.credentialsId, webhook_uri: t.webhookUri })));
  });

  r.get('/connections', (_req, res) => {
    res.json(connectionsView(ctx));
  });
  r.post('/connections/revoke', (req, res) => {
    const conn = ctx.state.connections.get(String(bodyObject(req)['credentials_id'] ?? ''));
    if (!conn) return res.status(404).json({ error: 'not_found', message: 'unknown credentials_id' });
    ctx.state.revoke(conn);
    res.json({ credentials_id: conn.credentialsId, revoked: true });
  });

  /**
   * The booked (or pending) transactions of one account or card that the Data API returns for the window, from the
   * same DataService calls as /data/v1/.../transactions, ignoring budget, SCA window, faults and cache.
   */
  r.get('/ledger', (req, res) => {
    const q = (k: string): string | undefined => firstString(req.query[k]);
    const credentialsId = q('credentials_id');
    const accountId = q('account_id');
    const cardId = q('card_id');
    const kind = q('kind') ?? 'transactions';
    if (!credentialsId || (!accountId && !cardId) || (accountId && cardId)) {
      const e = bad('credentials_id and one of account_id or card_id are required');
      return res.status(e.status).json(e.body);
    }
    if (kind !== 'transactions' && kind !== 'pending') {
      const e = bad('kind must be transactions or pending');
      return res.status(e.status).json(e.body);
    }
    const conn = ctx.state.connections.get(credentialsId);
    if (!conn) return res.status(404).json({ error: 'not_found', message: 'unknown credentials_id' });
    const range = resolveRange({ from: req.query['from'], to: req.query['to'], now: ctx.clock.now(), inScaWindow: true, historyDaysOutsideSca: ctx.state.switches.historyDaysOutsideSca });
    if (range instanceof TlError) return sendTlError(res, range);
    const pending = kind === 'pending';
    // account_id names an account or (like the Data API's /cards/{account_id}) a card; card_id only a card.
    const account = accountId ? ctx.data.findAccount(conn, accountId) : undefined;
    const cardKey = cardId ?? accountId;
    const card = account || cardKey === undefined ? undefined : ctx.data.findCard(conn, cardKey);
    let results;
    if (account) results = ctx.data.accountTransactions(conn, account, range, pending);
    else if (card) results = ctx.data.cardTransactions(conn, card, range, pending);
    else return res.status(404).json({ error: 'account_not_found', message: 'no such account or card on this connection' });
    res.json(ledgerSummary(results.map((r) => ledgerId(r, kind as LedgerKind))));
  });

  /** Accounts and cards of a connection with their booked history span (YYYY-MM-DD, null when nothing is booked yet). */
  r.get('/ledger/accounts', (req, res) => {
    const credentialsId = firstString(req.query['credentials_id']);
    if (!credentialsId) {
      const e = bad('credentials_id is required');
      return res.status(e.status).json(e.body);
    }
    const conn = ctx.state.connections.get(credentialsId);
    if (!conn) return res.status(404).json({ error: 'not_found', message: 'unknown credentials_id' });
    const span = (s: { earliestMs: number; latestMs: number } | undefined): { earliest: string | null; latest: string | null } => ({
      earliest: s ? isoDay(s.earliestMs) : null,
      latest: s ? isoDay(s.latestMs) : null,
    });
    res.json({
      credentials_id: conn.credentialsId,
      accounts: ctx.data.accounts(conn).map((a) => ({ account_id: a.id, display_name: a.spec.displayName, ...span(ctx.data.bookedSpan(conn, { kind: 'account', account: a })) })),
      cards: ctx.data.cards(conn).map((c) => ({ card_id: c.id, display_name: c.spec.displayName, ...span(ctx.data.bookedSpan(conn, { kind: 'card', card: c })) })),
    });
  });

  r.get('/state', (_req, res) => {
    res.json({
      clock: clockView(),
      switches: ctx.state.switches,
      faults: ctx.faults.list(),
      counters: countersView(ctx),
      connections: connectionsView(ctx),
      datasets_generated: ctx.datasets.size(),
    });
  });

  r.post('/reset', (_req, res) => {
    Object.assign(ctx.state.switches, DEFAULT_SWITCHES);
    ctx.faults.clear();
    ctx.budget.clear();
    ctx.cache.clear();
    ctx.callCounts.clear();
    ctx.webhooks.length = 0;
    ctx.state.counters = SandboxState.freshCounters();
    ctx.clock.reset();
    res.json({ reset: true });
  });

  /** Performs login + consent for a mock user and returns the redirect (code + state) without HTML. */
  r.post('/authorize', (req, res) => {
    const b = bodyObject(req);
    const str = (k: string): string | undefined => firstString(b[k]);
    let params: Record<string, unknown>;
    let sessionId = str('session_id');
    const authUrl = str('auth_url');
    if (authUrl) {
      let url: URL;
      try {
        url = new URL(authUrl);
      } catch {
        return res.status(400).json({ error: 'bad_request', message: 'auth_url is not a URL' });
      }
      sessionId = url.searchParams.get('session_id') ?? sessionId;
      params = Object.fromEntries(url.searchParams.entries());
    } else {
      const firstClient = [...ctx.state.clients.values()][0];
      params = {
        response_type: 'code',
        client_id: str('client_id') ?? firstClient?.client_id,
        redirect_uri: str('redirect_uri') ?? firstClient?.redirect_uris[0],
        scope: str('scope') ?? DEFAULT_SCOPE,
        providers: str('providers') ?? 'uk-cs-mock uk-ob-all uk-oauth-all',
        state: str('state'),
        nonce: str('nonce'),
        response_mode: str('response_mode'),
        code_challenge: str('code_challenge'),
        code_challenge_method: str('code_challenge_method'),
        provider_id: str('provider_id'),
      };
    }
    let session;
    try {
      session = sessionId ? ctx.state.getSession(sessionId) : sessionFromLink(ctx, params);
    } catch (err) {
      if (err instanceof LinkError) return res.status(err.status).json({ error: 'invalid_auth_link', message: err.message });
      throw err;
    }
    if (!session || session.step === 'done') return res.status(410).json({ error: 'invalid_auth_link', message: 'auth session expired or already used' });
    if (!session.providerId) {
      const wanted = str('provider_id');
      session.providerId = wanted && session.allowedProviders.includes(wanted) ? wanted : session.allowedProviders.includes('mock') ? 'mock' : session.allowedProviders[0];
    }
    if (!session.providerId || !findProvider(session.providerId) || !session.allowedProviders.includes(session.providerId)) {
      return res.status(400).json({ error: 'invalid_auth_link', message: 'provider not allowed by the auth link' });
    }
    if (b['cancel'] === true) {
      session.step = 'done';
      return res.json({ redirect_url: redirectUrl(session.redirectUri, { error: 'access_denied', state: session.state }), response_mode: session.responseMode });
    }
    const user = authenticateMockUser(str('username') ?? 'john', str('password') ?? 'doe');
    if (!user) return res.status(400).json({ error: 'wrong_credentials', message: 'unknown mock user or wrong password' });
    if (ctx.state.reauthUserMismatch(session, user)) {
      return res.status(400).json({ error: 'wrong_credentials', message: 'reauthentication must use the same bank login' });
    }
    const { code, credentialsId } = ctx.state.completeSession(session, user);
    const fields = { code, state: session.state };
    res.json({
      redirect_url: redirectUrl(session.redirectUri, fields),
      redirect_uri: session.redirectUri,
      response_mode: session.responseMode,
      code,
      state: session.state,
      provider_id: session.providerId,
      credentials_id: credentialsId,
    });
  });

  return r;
}

function countersView(ctx: SandboxContext): Record<string, unknown> {
  const perConnection: Record<string, unknown> = {};
  for (const conn of ctx.state.connections.values()) {
    perConnection[conn.credentialsId] = {
      refresh_grants: conn.refreshGrants,
      code_grants: conn.codeGrants,
      data_calls: conn.dataCalls,
      unattended_calls: conn.unattendedCalls,
      calls: ctx.callCounts.get(conn.credentialsId) ?? { attended: 0, unattended: 0, rejected: 0, cached: 0 },
    };
  }
  return {
    token_grants: { ...ctx.state.counters.tokenGrants },
    authorizations: ctx.state.counters.authorizations,
    data_calls: ctx.state.counters.dataCalls,
    webhooks: { ...ctx.state.counters.webhooks },
    per_connection: perConnection,
    unattended_budget: ctx.budget.snapshot(ctx.clock.now()),
  };
}

function connectionsView(ctx: SandboxContext): unknown[] {
  return [...ctx.state.connections.values()].map((c) => ({
    credentials_id: c.credentialsId,
    client_id: c.clientId,
    username: c.user.username,
    provider_id: c.providerId,
    scopes: c.scopes,
    consent_created_at: new Date(c.consentCreatedAt).toISOString(),
    consent_expires_at: new Date(c.consentExpiresAt).toISOString(),
    authenticated_at: new Date(c.authenticatedAt).toISOString(),
    revoked: c.revoked,
    account_epoch: c.accountEpoch,
  }));
}
