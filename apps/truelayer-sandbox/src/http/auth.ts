/**
 * Auth host routes: the auth dialog (`GET /` and its pages), `/connect/token`, `/api/providers`, `/v1/reauthuri`,
 * `/v1/authuri`, `/api/delete`, `/api/debug`, provider logos.
 */
import express, { type Request, type Response, type Router } from 'express';
import { authErrors, TlError } from '../domain/errors';
import { ALL_SCOPES, findProvider, logoSvg, PROVIDERS, type Scope, selectProviders, splitList } from '../domain/providers';
import type { AuthSession, Client } from '../domain/state';
import { authenticateMockUser, type MockUser } from '../domain/users';
import { bodyObject, firstString, publicBase, sendTlError } from './common';
import type { SandboxContext } from './context';
import { consentPage, errorPage, formPostPage, loginPage, providerPage } from './pages';

export class LinkError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;

export function parseScopes(value: string | undefined): Scope[] {
  const scopes = splitList(value);
  if (scopes.length === 0) throw new LinkError(400, 'scope is required');
  const unknown = scopes.filter((s) => !(ALL_SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new LinkError(400, `unknown scope(s): ${unknown.join(', ')}`);
  return [...new Set(scopes)] as Scope[];
}

function checkPkce(challenge: string | undefined, method: string | undefined): void {
  if (challenge === undefined) {
    if (method !== undefined) throw new LinkError(400, 'code_challenge_method without code_challenge');
    return;
  }
  if (method !== 'S256') throw new LinkError(400, 'code_challenge_method must be S256');
  if (!PKCE_CHALLENGE.test(challenge)) throw new LinkError(400, 'code_challenge must be base64url(sha256(code_verifier))');
}

function checkResponseMode(mode: string | undefined): 'query' | 'form_post' {
  if (mode === undefined || mode === '' || mode === 'query') return 'query';
  if (mode === 'form_post') return 'form_post';
  throw new LinkError(400, 'response_mode must be query or form_post');
}

/** Validates auth-link parameters and creates an auth session (never trusts an unregistered redirect_uri). */
export function sessionFromLink(ctx: SandboxContext, q: Record<string, unknown>): AuthSession {
  const get = (k: string): string | undefined => firstString(q[k]);
  const clientId = get('client_id');
  const client = clientId ? ctx.state.clients.get(clientId) : undefined;
  if (!client) throw new LinkError(400, 'Unknown client_id.');
  const redirectUri = get('redirect_uri');
  if (!redirectUri || !client.redirect_uris.includes(redirectUri)) {
    throw new LinkError(400, 'redirect_uri is not registered for this client (exact match required).');
  }
  if (get('response_type') !== 'code') throw new LinkError(400, 'response_type must be code');
  const scopes = parseScopes(get('scope'));
  const responseMode = checkResponseMode(get('response_mode'));
  const codeChallenge = get('code_challenge');
  checkPkce(codeChallenge, get('code_challenge_method'));
  let allowed = selectProviders({
    providers: get('providers'),
    disableProviders: get('disable_providers'),
    enableMock: get('enable_mock') === 'true',
  });
  if (client.providers) allowed = allowed.filter((p) => client.providers?.includes(p.provider_id));
  if (allowed.length === 0) throw new LinkError(400, 'No provider matches the providers parameter.');
  const providerId = get('provider_id');
  if (providerId !== undefined && !allowed.some((p) => p.provider_id === providerId)) {
    throw new LinkError(400, 'provider_id is not covered by the providers parameter.');
  }
  return ctx.state.createSession({
    clientId: client.client_id,
    redirectUri,
    scopes,
    state: get('state'),
    nonce: get('nonce'),
    responseMode,
    codeChallenge,
    allowedProviders: allowed.map((p) => p.provider_id),
    providerId,
  });
}

export function redirectUrl(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

function finish(res: Response, session: AuthSession, params: Record<string, string | undefined>): void {
  if (session.responseMode === 'form_post') {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) if (v !== undefined) fields[k] = v;
    res.status(200).type('html').send(formPostPage(session.redirectUri, fields));
    return;
  }
  res.redirect(302, redirectUrl(session.redirectUri, params));
}

/** Completes a session for a user (shared by the HTML login and the admin shortcut). */
export function completeLogin(ctx: SandboxContext, session: AuthSession, user: MockUser): { code: string; state?: string } {
  const { code } = ctx.state.completeSession(session, user);
  return { code, state: session.state };
}

function clientFromRequest(ctx: SandboxContext, req: Request, body: Record<string, unknown>): Client {
  let clientId = body['client_id'];
  let secret = body['client_secret'];
  const basic = /^Basic\s+(\S+)$/i.exec(req.get('authorization') ?? '');
  if (basic?.[1] && clientId === undefined) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const idx = decoded.indexOf(':');
    if (idx > 0) {
      clientId = decodeURIComponent(decoded.slice(0, idx));
      secret = decodeURIComponent(decoded.slice(idx + 1));
    }
  }
  return ctx.state.checkClient(clientId, secret);
}

function bearer(req: Request): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')?.[1];
}

export function authRouter(ctx: SandboxContext): Router {
  const r = express.Router();
  const issuer = (req: Request): string => publicBase(req, ctx.authBaseUrl);

  const showError = (res: Response, status: number, message: string): void => {
    res.status(status).type('html').send(errorPage(status, message));
  };

  // ---- auth dialog --------------------------------------------------------------------------------------------
  r.get('/', (req, res) => {
    res.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
    res.setHeader('X-Frame-Options', 'deny');
    const sessionId = firstString(req.query['session_id']);
    if (sessionId) {
      const s = ctx.state.getSession(sessionId);
      if (!s || s.step === 'done') return showError(res, 410, 'This authorisation link has expired or has already been used.');
      return res.redirect(303, `/auth-dialog/${encodeURIComponent(s.id)}`);
    }
    try {
      const session = sessionFromLink(ctx, req.query as Record<string, unknown>);
      res.redirect(303, `/auth-dialog/${encodeURIComponent(session.id)}`);
    } catch (err) {
      if (err instanceof LinkError) return showError(res, err.status, err.message);
      throw err;
    }
  });

  const withSession = (req: Request, res: Response): AuthSession | undefined => {
    const id = String(req.params['id'] ?? '');
    const s = ctx.state.getSession(id);
    if (!s || s.step === 'done') {
      showError(res, 410, 'This authorisation link has expired or has already been used.');
      return undefined;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Frame-Options', 'deny');
    return s;
  };

  r.get('/auth-dialog/:id', (req, res) => {
    const s = withSession(req, res);
    if (!s) return;
    const provider = s.providerId ? findProvider(s.providerId) : undefined;
    if (s.step === 'provider' || !provider) {
      const providers = s.allowedProviders.map((id) => findProvider(id)).filter((p) => p !== undefined);
      return res.type('html').send(providerPage(s, providers));
    }
    if (s.step === 'consent') return res.type('html').send(consentPage(s, provider, s.clientId));
    return res.type('html').send(loginPage(s, provider));
  });

  r.post('/auth-dialog/:id/provider', (req, res) => {
    const s = withSession(req, res);
    if (!s) return;
    const id = firstString(bodyObject(req)['provider_id']);
    if (s.step !== 'provider' || !id || !s.allowedProviders.includes(id)) return showError(res, 400, 'Invalid provider selection.');
    s.providerId = id;
    s.step = 'consent';
    res.redirect(303, `/auth-dialog/${encodeURIComponent(s.id)}`);
  });

  r.post('/auth-dialog/:id/consent', (req, res) => {
    const s = withSession(req, res);
    if (!s) return;
    if (s.step !== 'consent') return showError(res, 400, 'Unexpected step.');
    s.step = 'login';
    res.redirect(303, `/auth-dialog/${encodeURIComponent(s.id)}`);
  });

  r.post('/auth-dialog/:id/login', (req, res) => {
    const s = withSession(req, res);
    if (!s) return;
    const provider = s.providerId ? findProvider(s.providerId) : undefined;
    if (s.step !== 'login' || !provider) return showError(res, 400, 'Unexpected step.');
    const body = bodyObject(req);
    const user = authenticateMockUser(firstString(body['username']) ?? '', firstString(body['password']) ?? '');
    if (!user) return res.status(200).type('html').send(loginPage(s, provider, 'Wrong username or password.'));
    if (ctx.state.reauthUserMismatch(s, user)) {
      return res.status(200).type('html').send(loginPage(s, provider, 'Please log in with the same bank login as before.'));
    }
    const { code, state } = completeLogin(ctx, s, user);
    finish(res, s, { code, state });
  });

  r.post('/auth-dialog/:id/cancel', (req, res) => {
    const s = withSession(req, res);
    if (!s) return;
    s.step = 'done';
    finish(res, s, { error: 'access_denied', state: s.state });
  });

  r.get('/logos/:file', (req, res) => {
    const id = String(req.params['file'] ?? '').replace(/\.svg$/, '');
    const p = findProvider(id);
    if (!p) return res.status(404).end();
    res.setHeader('Cache-Control', 'public, max-age=86400');
    res.type('image/svg+xml').send(logoSvg(p));
  });

  // ---- token endpoint -----------------------------------------------------------------------------------------
  r.post('/connect/token', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const fault = ctx.faults.decide('token', undefined);
    if (fault.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, fault.latencyMs));
    if (fault.timeout) {
      ctx.hung.add(res);
      res.on('close', () => ctx.hung.delete(res));
      return;
    }
    if (fault.error) {
      const headers: Record<string, string> = fault.error.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.error.retryAfterSeconds) } : {};
      return sendTlError(res, new TlError(fault.error.status, { error: fault.error.code, error_description: fault.error.description, error_details: {} }, headers));
    }
    const body = bodyObject(req);
    const grant = body['grant_type'];
    if (grant !== 'authorization_code' && grant !== 'refresh_token') {
      if (grant === 'client_credentials') clientFromRequest(ctx, req, body);
      throw authErrors.invalidRequest(grant === undefined ? 'grant_type is required' : 'Unsupported grant_type');
    }
    const client = clientFromRequest(ctx, req, body);
    if (grant === 'authorization_code') {
      const out = ctx.state.exchangeCode({ client, code: body['code'], redirectUri: body['redirect_uri'], codeVerifier: body['code_verifier'], issuer: issuer(req) });
      return res.json(out);
    }
    res.json(ctx.state.refresh({ client, refreshToken: body['refresh_token'], issuer: issuer(req) }));
  });

  // ---- providers ----------------------------------------------------------------------------------------------
  r.get('/api/providers', (req, res) => {
    const clientId = firstString(req.query['clientId']) ?? firstString(req.query['client_id']);
    const scopes = splitList(firstString(req.query['scopes']));
    const countries = splitList(firstString(req.query['country'])).map((c) => c.toLowerCase());
    let list = [...PROVIDERS];
    if (clientId !== undefined) {
      const client = ctx.state.clients.get(clientId);
      list = client ? list.filter((p) => !client.providers || client.providers.includes(p.provider_id)) : [];
    }
    if (scopes.length > 0) list = list.filter((p) => scopes.every((s) => (p.scopes as string[]).includes(s)));
    if (countries.length > 0) list = list.filter((p) => countries.includes(p.country));
    const base = issuer(req);
    const updatedAt = new Date(ctx.clock.now()).toISOString();
    res.json(
      list.map((p) => {
        const out: Record<string, unknown> = {
          provider_id: p.provider_id,
          display_name: p.display_name,
          country: p.country,
          logo_url: `${base}/logos/${p.provider_id}.svg`,
          scopes: [...p.scopes],
        };
        if (p.steps) out['steps'] = p.steps;
        out['availability'] = { recommended_status: 'healthy', updated_at: updatedAt };
        return out;
      }),
    );
  });

  // ---- reauth / direct auth links -----------------------------------------------------------------------------
  r.post('/v1/reauthuri', (req, res) => {
    const body = bodyObject(req);
    if (body['response_type'] !== 'code' || typeof body['redirect_uri'] !== 'string' || typeof body['refresh_token'] !== 'string') {
      throw authErrors.invalidRequest('response_type=code, refresh_token and redirect_uri are required');
    }
    const conn = ctx.state.connectionForRefreshToken(body['refresh_token']);
    if (!conn || conn.revoked) throw authErrors.unauthorized('Invalid refresh_token');
    // Reauth is possible up to 90 days after the consent expired (docs reference generatereauthlink).
    if (conn.consentExpiresAt + ctx.state.switches.consentDays * 86_400_000 <= ctx.clock.now()) throw authErrors.unauthorized('Consent can no longer be reauthenticated');
    const client = ctx.state.clients.get(conn.clientId);
    if (!client || !client.redirect_uris.includes(body['redirect_uri'])) throw authErrors.unauthorized('redirect_uri is not registered for this client');
    const challenge = firstString(body['code_challenge']);
    try {
      checkPkce(challenge, firstString(body['code_challenge_method']) ?? (challenge ? 'S256' : undefined));
    } catch (err) {
      if (err instanceof LinkError) throw authErrors.invalidRequest(err.message);
      throw err;
    }
    const session = ctx.state.createSession({
      clientId: conn.clientId,
      redirectUri: body['redirect_uri'],
      scopes: conn.scopes,
      state: firstString(body['state']),
      responseMode: body['response_mode'] === 'form_post' ? 'form_post' : 'query',
      codeChallenge: challenge,
      allowedProviders: [conn.providerId],
      providerId: conn.providerId,
      reauthCredentialsId: conn.credentialsId,
      step: 'login',
    });
    res.json({ result: `${issuer(req)}/?session_id=${encodeURIComponent(session.id)}`, success: true });
  });

  r.post('/v1/authuri', (req, res) => {
    const body = bodyObject(req);
    for (const k of ['response_type', 'client_id', 'redirect_uri', 'scope', 'consent_id', 'provider_id']) {
      if (typeof body[k] !== 'string') throw authErrors.invalidRequest(`${k} is required`);
    }
    let session: AuthSession;
    try {
      session = sessionFromLink(ctx, { ...body, providers: body['provider_id'] });
    } catch (err) {
      if (err instanceof LinkError) throw authErrors.unauthorized(err.message);
      throw err;
    }
    session.step = 'login';
    res.json({ result: `${issuer(req)}/?session_id=${encodeURIComponent(session.id)}`, success: true });
  });

  // ---- connection management ----------------------------------------------------------------------------------
  r.delete('/api/delete', (req, res) => {
    const token = bearer(req);
    const found = token ? ctx.state.lookupAccessToken(token) : undefined;
    if (!found || found.expired || found.superseded || !ctx.state.consentActive(found.conn)) throw authErrors.unauthorized('Invalid token');
    ctx.state.revoke(found.conn);
    res.status(200).end();
  });

  r.post('/api/debug', (req, res) => {
    const token = bodyObject(req)['access_token'];
    if (typeof token !== 'string') throw authErrors.invalidRequest('access_token is required');
    const found = ctx.state.lookupAccessToken(token);
    if (!found) throw authErrors.unauthorized('Invalid token');
    if (!ctx.state.consentActive(found.conn)) throw authErrors.consentExpiredOrRevoked();
    res.json({ credentials_id: found.conn.credentialsId, debug_id: ctx.state.createDebugId(found.conn), provider_id: found.conn.providerId });
  });

  r.delete('/api/debug', (req, res) => {
    const body = bodyObject(req);
    const debugId = firstString(body['debug_id']) ?? firstString(req.query['debug_id']);
    const token = typeof body['access_token'] === 'string' ? body['access_token'] : bearer(req);
    let conn = debugId ? ctx.state.deleteDebugId(debugId) : undefined;
    let deleted = debugId;
    if (!conn && token) {
      const found = ctx.state.lookupAccessToken(token);
      const last = found?.conn.debugIds.at(-1);
      if (found && last) {
        conn = ctx.state.deleteDebugId(last);
        deleted = last;
      }
    }
    if (!conn || !deleted) throw authErrors.unauthorized('Unknown debug_id');
    res.json({ credentials_id: conn.credentialsId, debug_id: deleted, provider_id: conn.providerId });
  });

  return r;
}
