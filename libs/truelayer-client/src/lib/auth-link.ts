import { timingSafeEqual } from 'node:crypto';
import type { Scope } from './schemas/data';

/** Auth-dialog link (reference §2.1). Lists are space-separated and encoded as `%20` (not `+`). */
export interface AuthLinkParams {
  clientId: string;
  redirectUri: string;
  /** Requested scopes (§2.2). Dependent scopes are checked: balance/transactions need accounts or cards, etc. */
  scope: readonly (Scope | (string & {}))[];
  /** Opaque CSRF value echoed on the redirect. Required here (the reference recommends it). */
  state: string;
  /** Provider families and/or single provider ids, e.g. `['uk-ob-all', 'uk-oauth-all']` or `['uk-cs-mock']`. */
  providers: readonly string[];
  nonce?: string;
  /** Skip bank selection; the provider must be covered by `providers`. */
  providerId?: string;
  /** `query` (default: the GET redirect, parameter omitted) or `form_post`. */
  responseMode?: 'query' | 'form_post';
  /** PKCE S256 challenge (see pkce.ts). */
  codeChallenge?: string;
  codeChallengeMethod?: 'S256';
  /** Provider ids to hide. */
  disableProviders?: readonly string[];
  /** Legacy sandbox switch adding the Mock bank; prefer `uk-cs-mock` in `providers`. */
  enableMock?: boolean;
  /** Auth Journey Analytics id; documented on /v1/authuri, acceptance on the GET link UNCONFIRMED. */
  trackingId?: string;
  /** UI language hint. Not listed by the reference (UNCONFIRMED); sent only when given. */
  language?: string;
  /** Escape hatch for parameters this builder does not model (legacy flags etc.). Cannot override modelled ones. */
  extraParams?: Record<string, string>;
}

const SCOPE_DEPENDENCIES: Record<string, readonly string[]> = {
  balance: ['accounts', 'cards'],
  transactions: ['accounts', 'cards'],
  direct_debits: ['accounts'],
  standing_orders: ['accounts'],
};

export function validateScopes(scope: readonly string[]): void {
  if (scope.length === 0) throw new TypeError('scope must not be empty');
  const set = new Set(scope);
  for (const s of scope) {
    if (!/^[a-z_:]+$/.test(s)) throw new TypeError(`invalid scope name: ${JSON.stringify(s)}`);
    const needs = SCOPE_DEPENDENCIES[s];
    if (needs && !needs.some((n) => set.has(n))) {
      throw new TypeError(`scope ${s} requires one of: ${needs.join(', ')}`);
    }
  }
}

const enc = (v: string) => encodeURIComponent(v);

function nonEmpty(value: string, name: string): string {
  if (value.trim() === '') throw new TypeError(`${name} must not be empty`);
  return value;
}

/** Builds `${authBaseUrl}/?response_type=code&...`. Pure: no I/O. */
export function buildAuthLink(authBaseUrl: string, p: AuthLinkParams): string {
  validateScopes(p.scope);
  if (p.providers.length === 0) throw new TypeError('providers must not be empty (always send it, reference §2.1)');
  if (p.codeChallengeMethod && !p.codeChallenge) throw new TypeError('codeChallengeMethod given without codeChallenge');
  const params: [string, string][] = [
    ['response_type', 'code'],
    ['client_id', nonEmpty(p.clientId, 'clientId')],
    ['redirect_uri', nonEmpty(p.redirectUri, 'redirectUri')],
    ['scope', [...new Set(p.scope)].join(' ')],
    ['providers', p.providers.join(' ')],
    ['state', nonEmpty(p.state, 'state')],
  ];
  if (p.nonce !== undefined) params.push(['nonce', nonEmpty(p.nonce, 'nonce')]);
  if (p.responseMode === 'form_post') params.push(['response_mode', 'form_post']);
  if (p.providerId !== undefined) params.push(['provider_id', nonEmpty(p.providerId, 'providerId')]);
  if (p.disableProviders && p.disableProviders.length > 0) params.push(['disable_providers', p.disableProviders.join(' ')]);
  if (p.codeChallenge !== undefined) {
    params.push(['code_challenge', nonEmpty(p.codeChallenge, 'codeChallenge')]);
    params.push(['code_challenge_method', 'S256']);
  }
  if (p.enableMock !== undefined) params.push(['enable_mock', String(p.enableMock)]);
  if (p.trackingId !== undefined) params.push(['tracking_id', p.trackingId]);
  if (p.language !== undefined) params.push(['language', p.language]);
  const modelled = new Set(params.map(([k]) => k));
  for (const [k, v] of Object.entries(p.extraParams ?? {})) {
    if (modelled.has(k)) throw new TypeError(`extraParams must not override ${k}`);
    params.push([k, v]);
  }
  const base = authBaseUrl.replace(/\/+$/, '');
  return `${base}/?${params.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`;
}

export type AuthRedirectResult =
  | { ok: true; code: string; state: string; scope: string[] | undefined }
  | { ok: false; error: string; errorDescription: string | undefined; state: string | undefined };

/**
 * Reads the redirect back (query string of the GET redirect, or the form_post body). Any `error` parameter means
 * failure (`access_denied` = user cancelled); a success must carry `code` and a `state` equal to `expectedState`
 * (compared in constant time). Throws TypeError on a state mismatch or a malformed redirect.
 */
export function parseAuthRedirect(
  input: string | URL | URLSearchParams | Record<string, string | undefined>,
  expectedState: string,
): AuthRedirectResult {
  let params: URLSearchParams;
  if (input instanceof URLSearchParams) params = input;
  else if (input instanceof URL) params = input.searchParams;
  else if (typeof input === 'string') {
    params = input.includes('?') || /^https?:/i.test(input) ? new URL(input, 'http://x').searchParams : new URLSearchParams(input);
  } else {
    params = new URLSearchParams();
    for (const [k, v] of Object.entries(input)) if (v !== undefined) params.set(k, v);
  }
  const state = params.get('state') ?? undefined;
  const error = params.get('error');
  if (error) {
    return { ok: false, error, errorDescription: params.get('error_description') ?? undefined, state };
  }
  if (state === undefined || !constantTimeEqual(state, expectedState)) {
    throw new TypeError('auth redirect state does not match the expected state');
  }
  const code = params.get('code');
  if (!code) throw new TypeError('auth redirect has neither code nor error');
  const scope = params.get('scope');
  return { ok: true, code, state, scope: scope ? scope.split(/\s+/).filter(Boolean) : undefined };
}

function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
