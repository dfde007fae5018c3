import { buildAuthLink, type AuthLinkParams } from './auth-link';
import type { TrueLayerEnvironment } from './environment';
import type { CallOptions, HttpTransport } from './http';
import { parseBody } from './parse';
import {
  authUriResponseSchema,
  debugResponseSchema,
  providersResponseSchema,
  tokenResponseSchema,
  type DebugResponse,
  type Provider,
  type TokenResponseBody,
} from './schemas/auth';
import { extendResponseSchema, type Scope } from './schemas/data';

export interface ClientCredentials {
  clientId: string;
  /** Held privately; never logged, never put on spans or in errors. */
  clientSecret: string;
}

export interface TokenSet {
  accessToken: string;
  /** Present only when `offline_access` was granted. */
  refreshToken: string | undefined;
  /** Seconds, as returned. */
  expiresIn: number;
  /** Computed from the injected clock at receipt. */
  expiresAt: Date;
  tokenType: string;
  /** Granted scopes (may be narrower than requested); empty when the server omitted `scope`. */
  scope: string[];
  correlationId: string | undefined;
  clientCorrelationId: string;
  /** The full response body (unknown fields kept). */
  raw: TokenResponseBody;
}

export interface AuthClientOptions {
  /**
   * Path of the extend endpoint on the API host. The prose reference (and the simulator) use
   * `/data/v1/connections/extend`; the OpenAPI document puts `/connections/extend` directly on the API host
   * (operation-level `servers: https://api.truelayer.com`). Default: the prose/simulator path.
   */
  extendConnectionPath?: string;
}

export interface ExtendUser {
  id: string;
  name?: string;
  email?: string;
  phone?: string;
}

export interface ExtendConnectionParams {
  refreshToken: string;
  redirectUri: string;
  user: ExtendUser;
  /** Must be true, and only after the user really reconfirmed consent on your screen (reference §9.3). */
  userHasReconfirmedConsent: true;
  state?: string;
  codeChallenge?: string;
  responseMode?: 'form_post';
}

export type ExtendConnectionResult =
  | {
      action: 'no_action_needed';
      accessToken: string;
      refreshToken: string;
      expiresIn: number;
      expiresAt: Date;
      tokenType: string;
      correlationId: string | undefined;
    }
  | {
      action: 'authentication_needed' | 'reconfirmation_of_consent_needed';
      userInputLink: string;
      correlationId: string | undefined;
    };

export interface ProvidersFilter {
  /** Only providers enabled for this client (camelCase `clientId` on the wire). Pass `true` for the configured client. */
  clientId?: string | true;
  /** Only providers supporting ALL of these scopes. */
  scopes?: readonly (Scope | (string & {}))[];
  /** Countries, e.g. `uk`, `fr` (TrueLayer uses `uk`, not `gb`). */
  country?: readonly string[];
}

export interface ReauthLinkParams {
  refreshToken: string;
  redirectUri: string;
  state?: string;
  codeChallenge?: string;
  responseMode?: 'form_post';
}

export interface DirectBankAuthLinkParams {
  redirectUri: string;
  scope: readonly (Scope | (string & {}))[];
  consentId: string;
  providerId: string;
  state?: string;
  user?: { id?: string; name?: string; email?: string; phone?: string };
  dataUseDescription?: string;
  codeChallenge?: string;
  responseMode?: 'form_post';
  authInputs?: Record<string, string>;
  trackingId?: string;
}

export interface LinkResult {
  url: string;
  correlationId: string | undefined;
  clientCorrelationId: string;
}

export interface DebugResult extends DebugResponse {
  correlationId: string | undefined;
}

/** Auth-server operations (authentication-server.json). */
export class TrueLayerAuthClient {
  readonly #secret: string;
  readonly clientId: string;

  private readonly extendPath: string;

  constructor(
    private readonly env: TrueLayerEnvironment,
    private readonly http: HttpTransport,
    credentials: ClientCredentials,
    opts: AuthClientOptions = {},
  ) {
    this.extendPath = opts.extendConnectionPath ?? '/data/v1/connections/extend';
    if (!credentials.clientId) throw new TypeError('clientId is required');
    if (!credentials.clientSecret) throw new TypeError('clientSecret is required');
    this.clientId = credentials.clientId;
    this.#secret = credentials.clientSecret;
  }

  /** The auth-dialog URL for the configured client (pure, no I/O). */
  authLink(params: Omit<AuthLinkParams, 'clientId'>): string {
    return buildAuthLink(this.env.authBaseUrl, { ...params, clientId: this.clientId });
  }

  /**
   * `authorization_code` grant. Form-encoded (reference §3.1: the spec says JSON, real clients send form).
   * Never retried: a code is single use.
   */
  async exchangeCode(
    p: { code: string; redirectUri: string; codeVerifier?: string },
    call: CallOptions = {},
  ): Promise<TokenSet> {
    if (!p.code) throw new TypeError('code is required');
    return this.token(
      {
        grant_type: 'authorization_code',
        client_id: this.clientId,
        client_secret: this.#secret,
        code: p.code,
        redirect_uri: p.redirectUri,
        code_verifier: p.codeVerifier,
      },
      'never',
      [p.code, p.codeVerifier],
      call,
    );
  }

  /**
   * `refresh_token` grant. Retried only when TrueLayer answered with a retriable error (5xx), never after a timeout
   * (the outcome is unknown and refresh tokens may rotate). Callers must serialise refreshes per connection.
   */
  async refresh(refreshToken: string, call: CallOptions = {}): Promise<TokenSet> {
    if (!refreshToken) throw new TypeError('refreshToken is required');
    return this.token(
      { grant_type: 'refresh_token', client_id: this.clientId, client_secret: this.#secret, refresh_token: refreshToken },
      'on-error-response',
      [refreshToken],
      call,
    );
  }

  private async token(
    data: Record<string, string | undefined>,
    retry: 'never' | 'on-error-response',
    secrets: (string | undefined)[],
    call: CallOptions,
  ): Promise<TokenSet> {
    const op = 'POST /connect/token';
    const res = await this.http.request(
      {
        method: 'POST',
        baseUrl: this.env.authBaseUrl,
        path: '/connect/token',
        pathTemplate: '/connect/token',
        body: { kind: 'form', data },
        retry,
        secrets: [...secrets, this.#secret],
      },
      call,
    );
    const body = parseBody(tokenResponseSchema, res, op);
    const receivedAt = this.http.now();
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresIn: body.expires_in,
      expiresAt: new Date(receivedAt + body.expires_in * 1000),
      tokenType: body.token_type,
      scope: body.scope ? body.scope.split(/\s+/).filter(Boolean) : [],
      correlationId: res.correlationId,
      clientCorrelationId: res.clientCorrelationId,
      raw: body,
    };
  }

  /** `POST /v1/reauthuri`: a link that re-authenticates an existing connection (keeps credentials_id). */
  async reauthLink(p: ReauthLinkParams, call: CallOptions = {}): Promise<LinkResult> {
    const res = await this.http.request(
      {
        method: 'POST',
        baseUrl: this.env.authBaseUrl,
        path: '/v1/reauthuri',
        pathTemplate: '/v1/reauthuri',
        body: {
          kind: 'json',
          data: stripUndefined({
            response_type: 'code',
            refresh_token: p.refreshToken,
            redirect_uri: p.redirectUri,
            state: p.state,
            code_challenge: p.codeChallenge,
            code_challenge_method: p.codeChallenge ? 'S256' : undefined,
            response_mode: p.responseMode,
          }),
        },
        retry: 'idempotent',
        secrets: [p.refreshToken],
      },
      call,
    );
    const body = parseBody(authUriResponseSchema, res, 'POST /v1/reauthuri');
    return { url: body.result, correlationId: res.correlationId, clientCorrelationId: res.clientCorrelationId };
  }

  /** `POST /v1/authuri`: direct bank authorisation link (regulated/approved clients only, reference §9.6). */
  async directBankAuthLink(p: DirectBankAuthLinkParams, call: CallOptions = {}): Promise<LinkResult> {
    const res = await this.http.request(
      {
        method: 'POST',
        baseUrl: this.env.authBaseUrl,
        path: '/v1/authuri',
        pathTemplate: '/v1/authuri',
        body: {
          kind: 'json',
          data: stripUndefined({
            response_type: 'code',
            client_id: this.clientId,
            redirect_uri: p.redirectUri,
            scope: p.scope.join(' '),
            consent_id: p.consentId,
            provider_id: p.providerId,
            state: p.state,
            user: p.user,
            data_use_description: p.dataUseDescription,
            code_challenge: p.codeChallenge,
            code_challenge_method: p.codeChallenge ? 'S256' : undefined,
            response_mode: p.responseMode,
            auth_inputs: p.authInputs,
            tracking_id: p.trackingId,
          }),
        },
        retry: 'idempotent',
      },
      call,
    );
    const body = parseBody(authUriResponseSchema, res, 'POST /v1/authuri');
    return { url: body.result, correlationId: res.correlationId, clientCorrelationId: res.clientCorrelationId };
  }

  /** `DELETE /api/delete`: revokes the connection behind a valid access token. Retried only on error answers. */
  async deleteConnection(accessToken: string, call: CallOptions = {}): Promise<{ correlationId: string | undefined }> {
    const res = await this.http.request(
      {
        method: 'DELETE',
        baseUrl: this.env.authBaseUrl,
        path: '/api/delete',
        pathTemplate: '/api/delete',
        bearer: accessToken,
        retry: 'on-error-response',
        expect: [200, 204],
      },
      call,
    );
    return { correlationId: res.correlationId };
  }

  /** `POST /api/debug`: returns a `debug_id` to give TrueLayer support. */
  async debug(accessToken: string, call: CallOptions = {}): Promise<DebugResult> {
    const res = await this.http.request(
      {
        method: 'POST',
        baseUrl: this.env.authBaseUrl,
        path: '/api/debug',
        pathTemplate: '/api/debug',
        body: { kind: 'json', data: { access_token: accessToken } },
        retry: 'idempotent',
        secrets: [accessToken],
      },
      call,
    );
    return { ...parseBody(debugResponseSchema, res, 'POST /api/debug'), correlationId: res.correlationId };
  }

  /** `GET /api/providers` (public): bare array of providers. */
  async providers(
    filter: ProvidersFilter = {},
    call: CallOptions = {},
  ): Promise<{ results: Provider[]; correlationId: string | undefined }> {
    const res = await this.http.request(
      {
        method: 'GET',
        baseUrl: this.env.authBaseUrl,
        path: '/api/providers',
        pathTemplate: '/api/providers',
        query: {
          clientId: filter.clientId === true ? this.clientId : filter.clientId,
          scopes: filter.scopes?.length ? filter.scopes.join(' ') : undefined,
          country: filter.country?.length ? filter.country.join(' ') : undefined,
        },
        retry: 'idempotent',
      },
      call,
    );
    return { results: parseBody(providersResponseSchema, res, 'GET /api/providers'), correlationId: res.correlationId };
  }

  /**
   * `POST /connections/extend` on the API host (UK only): extends consent after the user reconfirmed it on your
   * screen. Never retried (it may issue new tokens). Errors are RFC 7807 problems mapped to `extend_*` codes.
   */
  async extendConnection(p: ExtendConnectionParams, call: CallOptions = {}): Promise<ExtendConnectionResult> {
    if (p.userHasReconfirmedConsent !== true) throw new TypeError('userHasReconfirmedConsent must be true');
    const op = `POST ${this.extendPath}`;
    const res = await this.http.request(
      {
        method: 'POST',
        baseUrl: this.env.apiBaseUrl,
        path: this.extendPath,
        pathTemplate: this.extendPath,
        body: {
          kind: 'json',
          data: {
            user_has_reconfirmed_consent: true,
            client_id: this.clientId,
            client_secret: this.#secret,
            user: p.user,
            refresh_token: p.refreshToken,
            redirect_uri: p.redirectUri,
            state: p.state,
            code_challenge: p.codeChallenge,
            response_mode: p.responseMode,
          },
        },
        retry: 'never',
        secrets: [p.refreshToken, this.#secret],
      },
      call,
    );
    const body = parseBody(extendResponseSchema, res, op);
    if (body.action_needed === 'no_action_needed') {
      return {
        action: 'no_action_needed',
        accessToken: body.access_token,
        refreshToken: body.refresh_token,
        expiresIn: body.expires_in,
        expiresAt: new Date(this.http.now() + body.expires_in * 1000),
        tokenType: body.token_type,
        correlationId: res.correlationId,
      };
    }
    return { action: body.action_needed, userInputLink: body.user_input_link, correlationId: res.correlationId };
  }

  toJSON(): Record<string, unknown> {
    return { clientId: this.clientId, environment: this.env.name };
  }
}

export function stripUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
