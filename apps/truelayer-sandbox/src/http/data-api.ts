/** Data API v1 routes under `/data/v1`. */
import express, { type Request, type Response, type Router } from 'express';
import { gzipSync } from 'node:zlib';
import { DAY } from '../clock';
import { UnattendedBudget } from '../domain/budget';
import { parseBoundary, resolveRange } from '../domain/dates';
import { dataError, ProblemError, TlError } from '../domain/errors';
import { uuid } from '../domain/ids';
import type { Scope } from '../domain/providers';
import type { Connection } from '../domain/state';
import type { Task } from '../domain/tasks';
import { bodyObject, firstString, publicBase, sendTlError, sleep } from './common';
import type { SandboxContext } from './context';

type Target = 'none' | 'account' | 'card';

interface EndpointDef {
  name: string;
  path: string;
  target: Target;
  scopes: Scope[];
  range?: boolean;
  /** Calls that reach the provider (count toward the unattended budget, subject to provider errors). */
  provider: boolean;
  asyncAllowed: boolean;
}

export const ENDPOINTS: readonly EndpointDef[] = [
  { name: 'me', path: '/me', target: 'none', scopes: [], provider: false, asyncAllowed: false },
  { name: 'info', path: '/info', target: 'none', scopes: ['info'], provider: true, asyncAllowed: true },
  { name: 'accounts', path: '/accounts', target: 'none', scopes: ['accounts'], provider: true, asyncAllowed: true },
  { name: 'account', path: '/accounts/:account_id', target: 'account', scopes: ['accounts'], provider: true, asyncAllowed: true },
  { name: 'account.balance', path: '/accounts/:account_id/balance', target: 'account', scopes: ['accounts', 'balance'], provider: true, asyncAllowed: true },
  { name: 'account.transactions', path: '/accounts/:account_id/transactions', target: 'account', scopes: ['accounts', 'transactions'], range: true, provider: true, asyncAllowed: true },
  { name: 'account.transactions.pending', path: '/accounts/:account_id/transactions/pending', target: 'account', scopes: ['accounts', 'transactions'], range: true, provider: true, asyncAllowed: true },
  { name: 'account.standing_orders', path: '/accounts/:account_id/standing_orders', target: 'account', scopes: ['accounts', 'standing_orders'], provider: true, asyncAllowed: true },
  { name: 'account.direct_debits', path: '/accounts/:account_id/direct_debits', target: 'account', scopes: ['accounts', 'direct_debits'], provider: true, asyncAllowed: true },
  { name: 'cards', path: '/cards', target: 'none', scopes: ['cards'], provider: true, asyncAllowed: true },
  { name: 'card', path: '/cards/:account_id', target: 'card', scopes: ['cards'], provider: true, asyncAllowed: true },
  { name: 'card.balance', path: '/cards/:account_id/balance', target: 'card', scopes: ['cards', 'balance'], provider: true, asyncAllowed: true },
  { name: 'card.transactions', path: '/cards/:account_id/transactions', target: 'card', scopes: ['cards', 'transactions'], range: true, provider: true, asyncAllowed: true },
  { name: 'card.transactions.pending', path: '/cards/:account_id/transactions/pending', target: 'card', scopes: ['cards', 'transactions'], range: true, provider: true, asyncAllowed: true },
];

interface CallInput {
  endpoint: EndpointDef;
  conn: Connection;
  params: Record<string, string>;
  query: Record<string, unknown>;
  psuIp?: string;
  logoBase: string;
}

interface CallOutcome {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  timeout?: boolean;
  latencyMs: number;
  fromCache?: number;
}

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none';",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'deny',
  'X-XSS-Protection': '1; mode=block',
  'Referrer-Policy': 'no-referrer',
};

function errorOutcome(err: TlError, latencyMs = 0): CallOutcome {
  return { status: err.status, body: err.body, latencyMs };
}

function cacheKey(input: CallInput, path: string): string {
  const entries = Object.entries(input.query)
    .filter(([k]) => k !== 'async' && k !== 'webhook_uri')
    .map(([k, v]) => `${k}=${String(v)}`)
    .sort();
  return `${input.conn.credentialsId}|${path}?${entries.join('&')}`;
}

function counts(ctx: SandboxContext, credentialsId: string): { attended: number; unattended: number; rejected: number; cached: number } {
  let c = ctx.callCounts.get(credentialsId);
  if (!c) {
    c = { attended: 0, unattended: 0, rejected: 0, cached: 0 };
    ctx.callCounts.set(credentialsId, c);
  }
  return c;
}

/** Runs one data call (sync or inside an async task) after authentication and scope checks. */
export function executeCall(ctx: SandboxContext, input: CallInput, path: string, useCache: boolean): CallOutcome {
  const { endpoint, conn } = input;
  const now = ctx.clock.now();
  const sw = ctx.state.switches;
  const key = cacheKey(input, path);
  // cacheTtlSeconds 0 disables the cache, including answers cached before it was switched off
  if (useCache && endpoint.provider && sw.cacheTtlSeconds > 0) {
    const hit = ctx.cache.get(key, now);
    if (hit) {
      counts(ctx, conn.credentialsId).cached += 1;
      return { status: hit.status, body: hit.body, latencyMs: 0, fromCache: hit.remainingSeconds };
    }
  }
  ctx.state.counters.dataCalls += 1;
  conn.dataCalls += 1;
  const c = counts(ctx, conn.credentialsId);
  // TrueLayer validates the parameters before it calls the bank: a 400 (validation_error, invalid_date_range) never
  // reaches the bank, so it spends no unattended budget. (The SCA window is the bank's rule and comes later.)
  if (endpoint.name.includes('transactions')) {
    const invalid = resolveRange({ from: input.query['from'], to: input.query['to'], now, inScaWindow: true, historyDaysOutsideSca: sw.historyDaysOutsideSca });
    if (invalid instanceof TlError) return errorOutcome(invalid);
  }
  if (endpoint.provider) {
    if (input.psuIp) c.attended += 1;
    else {
      const budgetKey = UnattendedBudget.key(conn.credentialsId, input.params['account_id'] ?? '-', endpoint.name);
      if (!ctx.budget.tryConsume(budgetKey, now, sw.unattendedCallLimit)) {
        c.rejected += 1;
        return errorOutcome(dataError('provider_request_limit_exceeded'));
      }
      c.unattended += 1;
      conn.unattendedCalls += 1;
    }
  }
  const fault = ctx.faults.decide(endpoint.name, conn.providerId);
  if (fault.timeout) return { status: 504, body: undefined, timeout: true, latencyMs: fault.latencyMs };
  if (fault.error) {
    const headers: Record<string, string> = fault.error.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.error.retryAfterSeconds) } : {};
    return { ...errorOutcome(new TlError(fault.error.status, { error: fault.error.code, error_description: fault.error.description, error_details: {} }), fault.latencyMs), headers };
  }
  try {
    const results = produce(ctx, input, now);
    const body = { results, status: 'Succeeded' };
    if (useCache && endpoint.provider) ctx.cache.set(key, now, sw.cacheTtlSeconds, 200, body);
    return { status: 200, body, latencyMs: fault.latencyMs };
  } catch (err) {
    if (err instanceof TlError) return errorOutcome(err, fault.latencyMs);
    throw err;
  }
}

function produce(ctx: SandboxContext, input: CallInput, now: number): unknown[] {
  const { endpoint, conn } = input;
  const data = ctx.data;
  const provider = data.provider(conn);
  if (endpoint.name === 'me') return [data.me(conn, input.logoBase)];
  if (conn.user.errorCode) throw dataError(conn.user.errorCode);
  if (provider.unsupportedEndpoints?.includes(endpoint.name)) throw dataError('endpoint_not_supported');
  const sw = ctx.state.switches;
  const scaWindow = (provider.scaWindowSeconds ?? sw.scaWindowSeconds) * 1000;
  const range = (): { fromMs: number; toMs: number } => {
    const r = resolveRange({
      from: input.query['from'],
      to: input.query['to'],
      now,
      inScaWindow: now - conn.authenticatedAt <= scaWindow,
      historyDaysOutsideSca: sw.historyDaysOutsideSca,
    });
    if (r instanceof TlError) throw r;
    // the bank's own limit on one request's range (the parameters were valid, so TrueLayer asked the bank)
    const maxDays = provider.maxRangeDays ?? sw.maxRangeDays;
    if (maxDays > 0 && Number.isFinite(r.fromMs) && Math.floor(r.toMs / DAY) - Math.floor(r.fromMs / DAY) + 1 > maxDays) throw dataError('invalid_date_range');
    return r;
  };
  const accountId = input.params['account_id'] ?? '';
  switch (endpoint.name) {
    case 'info':
      return [data.info(conn)];
    case 'accounts':
      return data.accounts(conn).map((a) => data.account(conn, a));
    case 'cards':
      return data.cards(conn).map((cd) => data.card(conn, cd));
    default:
      break;
  }
  if (endpoint.target === 'account') {
    const acc = data.findAccount(conn, accountId);
    if (!acc) throw dataError('account_not_found');
    switch (endpoint.name) {
      case 'account':
        return [data.account(conn, acc)];
      case 'account.balance':
        return [data.accountBalance(conn, acc)];
      case 'account.transactions':
        return data.accountTransactions(conn, acc, range(), false);
      case 'account.transactions.pending':
        return data.accountTransactions(conn, acc, range(), true);
      case 'account.standing_orders':
        return data.standingOrders(conn, acc);
      case 'account.direct_debits':
        return data.directDebits(conn, acc);
      default:
        break;
    }
  }
  if (endpoint.target === 'card') {
    const card = data.findCard(conn, accountId);
    if (!card) throw dataError('account_not_found');
    switch (endpoint.name) {
      case 'card':
        return [data.card(conn, card)];
      case 'card.balance':
        return [data.cardBalance(conn, card)];
      case 'card.transactions':
        return data.cardTransactions(conn, card, range(), false);
      case 'card.transactions.pending':
        return data.cardTransactions(conn, card, range(), true);
      default:
        break;
    }
  }
  throw dataError('endpoint_not_supported');
}

function checkScopes(conn: Connection, scopes: readonly Scope[]): void {
  if (!scopes.every((s) => conn.scopes.includes(s))) throw dataError('access_denied');
}

function validWebhookUri(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

export function dataRouter(ctx: SandboxContext): Router {
  const r = express.Router();
  const apiBase = (req: Request): string => publicBase(req, ctx.apiBaseUrl);
  const authBase = (req: Request): string => publicBase(req, ctx.authBaseUrl);

  r.use((req, res, next) => {
    res.setHeader('X-TL-Correlation-Id', uuid());
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    next();
  });

  const authenticate = (req: Request, res: Response): Connection => {
    const { conn } = ctx.state.authenticate(req.get('authorization'));
    res.setHeader('X-Credentials-Id', conn.credentialsId);
    return conn;
  };

  const respond = async (req: Request, res: Response, outcome: CallOutcome): Promise<void> => {
    if (outcome.latencyMs > 0) await sleep(outcome.latencyMs);
    if (outcome.timeout) {
      ctx.hung.add(res);
      res.on('close', () => ctx.hung.delete(res));
      return;
    }
    res.setHeader('Cache-Control', `max-age=${outcome.fromCache ?? (outcome.status === 200 ? ctx.state.switches.cacheTtlSeconds : 0)}`);
    res.setHeader('Last-Modified', new Date(ctx.clock.now()).toUTCString());
    for (const [k, v] of Object.entries(outcome.headers ?? {})) res.setHeader(k, v);
    if (req.acceptsEncodings('gzip') === 'gzip') {
      // TrueLayer answers with Content-Encoding: gzip; clients must cope with it.
      res.setHeader('Content-Encoding', 'gzip');
      res.setHeader('Vary', 'Accept-Encoding');
      res.status(outcome.status).type('application/json; charset=utf-8').send(gzipSync(JSON.stringify(outcome.body)));
      return;
    }
    res.status(outcome.status).json(outcome.body);
  };

  const startTask = (req: Request, conn: Connection, kind: Task['kind'], endpoint: string, webhookUri: string | undefined, run: () => CallOutcome): Task => {
    const id = uuid();
    const task: Task = {
      id,
      credentialsId: conn.credentialsId,
      endpoint,
      providerId: conn.providerId,
      status: 'Queued',
      requestUri: `${apiBase(req)}${req.originalUrl}`,
      requestTimestamp: new Date(ctx.clock.now()).toISOString(),
      resultsUri: `${apiBase(req)}/data/v1/results/${id}`,
      webhookUri,
      createdAt: ctx.clock.now(),
      kind,
    };
    ctx.tasks.add(task);
    const timer = setTimeout(() => {
      ctx.timers.delete(timer);
      task.status = 'Running';
      let outcome: CallOutcome;
      try {
        outcome = run();
      } catch (err) {
        ctx.logger.error({ err }, 'async task failed unexpectedly');
        outcome = { status: 500, body: dataError('internal_server_error').body, latencyMs: 0 };
      }
      if (outcome.timeout) return; // stays Running forever: the provider never answered.
      const settle = (): void => {
        task.result = { status: outcome.status, body: outcome.body };
        task.completedAt = ctx.clock.now();
        task.status = outcome.status < 400 ? 'Succeeded' : 'Failed';
        void deliverWebhook(ctx, task);
      };
      if (outcome.latencyMs > 0) {
        const t2 = setTimeout(() => {
          ctx.timers.delete(t2);
          settle();
        }, outcome.latencyMs);
        ctx.timers.add(t2);
      } else settle();
    }, ctx.state.switches.asyncTaskDelayMs);
    ctx.timers.add(timer);
    return task;
  };

  for (const endpoint of ENDPOINTS) {
    r.get(endpoint.path, async (req, res) => {
      const conn = authenticate(req, res);
      checkScopes(conn, endpoint.scopes);
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.params)) if (typeof v === 'string') params[k] = v;
      const input: CallInput = {
        endpoint,
        conn,
        params,
        query: req.query as Record<string, unknown>,
        psuIp: req.get('x-psu-ip') || undefined,
        logoBase: authBase(req),
      };
      const asyncParam = firstString(req.query['async']);
      if (asyncParam !== undefined && endpoint.asyncAllowed) {
        if (asyncParam !== 'true') throw dataError('validation_error');
        const webhookUri = firstString(req.query['webhook_uri']);
        if (webhookUri !== undefined && !validWebhookUri(webhookUri)) throw dataError('validation_error');
        const task = startTask(req, conn, 'endpoint', endpoint.name, webhookUri, () => executeCall(ctx, input, req.path, false));
        res.setHeader('Cache-Control', 'max-age=0');
        res.status(202).json({ results_uri: task.resultsUri, status: task.status, task_id: task.id });
        return;
      }
      await respond(req, res, executeCall(ctx, input, req.path, true));
    });
  }

  r.get('/results/:task_id', (req, res) => {
    const conn = authenticate(req, res);
    const task = ctx.tasks.get(String(req.params['task_id']));
    if (!task || task.credentialsId !== conn.credentialsId || task.kind !== 'endpoint') throw dataError('task_not_found');
    const ttl = ctx.state.switches.asyncResultTtlSeconds;
    if (ttl > 0 && task.completedAt !== undefined && task.completedAt + ttl * 1000 <= ctx.clock.now()) throw dataError('task_not_found');
    res.setHeader('Cache-Control', 'max-age=0');
    if (!task.result) {
      res.status(202).json({ results_uri: task.resultsUri, status: task.status, task_id: task.id });
      return;
    }
    res.status(task.result.status).json(task.result.body);
  });

  // ---- deprecated batch API -------------------------------------------------------------------------------------
  r.post('/batch/transactions', (req, res) => {
    const conn = authenticate(req, res);
    checkScopes(conn, ['accounts']);
    const body = bodyObject(req);
    const webhookUri = typeof body['webhook_uri'] === 'string' ? body['webhook_uri'] : undefined;
    if (webhookUri !== undefined && !validWebhookUri(webhookUri)) throw dataError('validation_error');
    const whitelist = Array.isArray(body['account_ids_whitelist']) ? body['account_ids_whitelist'].filter((x): x is string => typeof x === 'string') : undefined;
    const from = typeof body['from'] === 'string' ? body['from'] : undefined;
    const to = typeof body['to'] === 'string' ? body['to'] : undefined;
    const echo = (v: string | undefined, kind: 'from' | 'to'): string | undefined => {
      const ms = v === undefined ? undefined : parseBoundary(v, kind);
      return ms === undefined ? v : new Date(ms).toISOString();
    };
    const logoBase = authBase(req);
    const psuIp = req.get('x-psu-ip') || undefined;
    const taskRef: { id?: string } = {};
    const task = startTask(req, conn, 'batch', 'batch.transactions', webhookUri, () => {
      const call = (name: string, params: Record<string, string>): CallOutcome => {
        const def = ENDPOINTS.find((e) => e.name === name);
        if (!def) throw new Error(name);
        return executeCall(ctx, { endpoint: def, conn, params, query: { from, to }, psuIp, logoBase }, `batch:${name}`, false);
      };
      const resultsOf = (o: CallOutcome): unknown[] => (o.status === 200 ? ((o.body as { results: unknown[] }).results ?? []) : []);
      const accounts = ctx.data.accounts(conn).filter((a) => !whitelist || whitelist.includes(a.id));
      const cards = conn.scopes.includes('cards') ? ctx.data.cards(conn).filter((c) => !whitelist || whitelist.includes(c.id)) : [];
      const section = (prefix: 'account' | 'card', id: string): Record<string, unknown> => {
        const tx = call(`${prefix}.transactions`, { account_id: id });
        if (tx.status !== 200) throw new TlError(tx.status, tx.body as { error: string });
        const out: Record<string, unknown> = { account_id: id, transactions: resultsOf(tx) };
        if (body['pending'] === true) out['pending_transactions'] = resultsOf(call(`${prefix}.transactions.pending`, { account_id: id }));
        if (body['balance'] === true) out['balance'] = resultsOf(call(`${prefix}.balance`, { account_id: id }))[0];
        return out;
      };
      try {
        return {
          status: 200,
          latencyMs: 0,
          body: {
            status: 'Succeeded',
            task_id: taskRef.id,
            request: { from: echo(from, 'from'), to: echo(to, 'to') },
            results: { accounts: accounts.map((a) => section('account', a.id)), cards: cards.map((cd) => section('card', cd.id)) },
          },
        };
      } catch (err) {
        if (err instanceof TlError) return errorOutcome(err);
        throw err;
      }
    });
    taskRef.id = task.id;
    res.status(202).json({ results_uri: `${apiBase(req)}/data/v1/batch/results`, status: task.status, task_id: task.id });
  });

  r.get('/batch/results', (req, res) => {
    const conn = authenticate(req, res);
    checkScopes(conn, ['accounts']);
    const task = ctx.tasks.latestBatch(conn.credentialsId);
    if (!task) throw dataError('task_not_found');
    if (!task.result) {
      res.status(202).json({ results_uri: task.resultsUri, status: task.status, task_id: task.id });
      return;
    }
    res.status(task.result.status).json(task.result.body);
  });

  // ---- connection extension (RFC 7807 errors) -------------------------------------------------------------------
  r.post('/connections/extend', (req, res) => {
    const body = bodyObject(req);
    const missing: Record<string, string[]> = {};
    const required: Array<[string, string]> = [
      ['user_has_reconfirmed_consent', 'UserHasReconfirmedConsent'],
      ['client_id', 'ClientId'],
      ['client_secret', 'ClientSecret'],
      ['user', 'User'],
      ['refresh_token', 'RefreshToken'],
      ['redirect_uri', 'RedirectUri'],
    ];
    for (const [field, label] of required) if (body[field] === undefined || body[field] === null || body[field] === '') missing[label] = [`The ${label} field is required.`];
    if (body['user_has_reconfirmed_consent'] === false) missing['UserHasReconfirmedConsent'] = ['Only true is supported.'];
    if (Object.keys(missing).length > 0) throw new ProblemError(400, 'One or more validation errors occurred.', undefined, missing);
    const client = ctx.state.clients.get(String(body['client_id']));
    if (!client || client.client_secret !== body['client_secret']) throw new ProblemError(401, 'Unauthorized', 'Client credentials missing or invalid.');
    const conn = ctx.state.connectionForRefreshToken(body['refresh_token']);
    if (!conn || conn.revoked || conn.clientId !== client.client_id) throw new ProblemError(401, 'Unauthorized', 'Refresh token missing or invalid.');
    const redirectUri = String(body['redirect_uri']);
    if (!client.redirect_uris.includes(redirectUri)) {
      throw new ProblemError(400, 'One or more validation errors occurred.', undefined, { RedirectUri: ['The RedirectUri is not allowed for this client.'] });
    }
    const provider = ctx.data.provider(conn);
    if (provider.country !== 'uk') throw new ProblemError(422, 'No way to extend this connection', 'This connection cannot be extended');
    const now = ctx.clock.now();
    if (conn.user.extendOutcome === 'no_action_needed') {
      conn.consentExpiresAt = now + ctx.state.switches.consentDays * DAY;
      conn.consentStatusUpdatedAt = now;
      const tokens = ctx.state.extendTokens(conn, String(body['refresh_token']), authBase(req));
      res.json({ action_needed: 'no_action_needed', ...tokens, token_type: 'Bearer' });
      return;
    }
    const challenge = firstString(body['code_challenge']);
    const session = ctx.state.createSession({
      clientId: client.client_id,
      redirectUri,
      scopes: conn.scopes,
      state: firstString(body['state']),
      responseMode: body['response_mode'] === 'form_post' ? 'form_post' : 'query',
      codeChallenge: challenge,
      allowedProviders: [conn.providerId],
      providerId: conn.providerId,
      reauthCredentialsId: conn.credentialsId,
      step: 'login',
    });
    res.json({ action_needed: 'authentication_needed', user_input_link: `${authBase(req)}/?session_id=${encodeURIComponent(session.id)}` });
  });

  r.use((req, res) => {
    sendTlError(res, new TlError(404, { error: 'not_found', error_description: 'Endpoint not found.', error_details: {} }));
  });
  return r;
}

async function deliverWebhook(ctx: SandboxContext, task: Task): Promise<void> {
  if (!task.webhookUri) return;
  const body: Record<string, unknown> = {
    request_timestamp: task.requestTimestamp,
    request_uri: task.requestUri,
    credentials_id: task.credentialsId,
    task_id: task.id,
    status: task.status,
    results_uri: task.resultsUri,
  };
  if (task.status === 'Failed' && task.result) {
    const err = task.result.body as { error?: string; error_description?: string };
    if (err.error) body['error'] = err.error;
    if (err.error_description) body['error_description'] = err.error_description;
  }
  const record = { task_id: task.id, url: task.webhookUri, at: new Date(ctx.clock.now()).toISOString(), body };
  ctx.state.counters.webhooks.attempted += 1;
  if (ctx.state.switches.dropWebhooks || ctx.faults.shouldDropWebhook(task.endpoint, task.providerId)) {
    ctx.state.counters.webhooks.dropped += 1;
    ctx.webhooks.push({ ...record, outcome: 'dropped' });
    return;
  }
  try {
    const response = await fetch(task.webhookUri, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    await response.arrayBuffer().catch(() => undefined);
    const ok = response.status >= 200 && response.status < 300;
    ctx.state.counters.webhooks[ok ? 'delivered' : 'failed'] += 1;
    ctx.webhooks.push({ ...record, outcome: ok ? 'delivered' : 'failed', http_status: response.status });
  } catch (err) {
    ctx.state.counters.webhooks.failed += 1;
    ctx.webhooks.push({ ...record, outcome: 'failed', error: err instanceof Error ? err.message : String(err) });
    ctx.logger.warn({ task_id: task.id }, 'webhook delivery failed');
  }
}
