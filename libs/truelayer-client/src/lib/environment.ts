/**
 * Where the client talks to. Base URLs come from configuration only: never from the environment, never from a
 * response (except `results_uri`, which is checked against the configured API host before a token is sent to it).
 */
export interface TrueLayerEnvironment {
  readonly name: string;
  /** Auth server origin: auth dialog, /connect/token, /v1/reauthuri, /v1/authuri, /api/providers, /api/delete, /api/debug. */
  readonly authBaseUrl: string;
  /** API origin; the Data API lives under `${apiBaseUrl}/data/v1`. */
  readonly apiBaseUrl: string;
}

/** Reference §1 and both OpenAPI documents' `servers` blocks. */
export const TRUELAYER_PRODUCTION: TrueLayerEnvironment = Object.freeze({
  name: 'production',
  authBaseUrl: 'https://auth.truelayer.com',
  apiBaseUrl: 'https://api.truelayer.com',
});

export const TRUELAYER_SANDBOX: TrueLayerEnvironment = Object.freeze({
  name: 'sandbox',
  authBaseUrl: 'https://auth.truelayer-sandbox.com',
  apiBaseUrl: 'https://api.truelayer-sandbox.com',
});

export const TrueLayerEnvironments = Object.freeze({
  production: TRUELAYER_PRODUCTION,
  sandbox: TRUELAYER_SANDBOX,
});

function normaliseOrigin(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${what} is not a valid URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new TypeError(`${what} must be http(s)`);
  if (parsed.search || parsed.hash) throw new TypeError(`${what} must not have a query or fragment`);
  return parsed.toString().replace(/\/+$/, '');
}

/**
 * A custom pair of hosts (e.g. the local simulator). Plain-http is allowed here (for tests); the presets are https.
 * When the simulator serves auth and API from one origin, pass the same URL twice.
 */
export function customEnvironment(opts: { authBaseUrl: string; apiBaseUrl: string; name?: string }): TrueLayerEnvironment {
  return Object.freeze({
    name: opts.name ?? 'custom',
    authBaseUrl: normaliseOrigin(opts.authBaseUrl, 'authBaseUrl'),
    apiBaseUrl: normaliseOrigin(opts.apiBaseUrl, 'apiBaseUrl'),
  });
}

export function dataBaseUrl(env: TrueLayerEnvironment): string {
  return `${env.apiBaseUrl}/data/v1`;
}

/**
 * The environment a service's configuration names: `production`, `sandbox`, or `custom` with its own origins (the
 * simulator). A custom environment without an auth URL uses the API URL for both (a data-only client).
 */
export function environmentFor(s: { env: 'production' | 'sandbox' | 'custom'; authUrl?: string | undefined; apiUrl?: string | undefined }): TrueLayerEnvironment {
  if (s.env === 'production') return TRUELAYER_PRODUCTION;
  if (s.env === 'sandbox') return TRUELAYER_SANDBOX;
  if (!s.apiUrl) throw new TypeError('a custom TrueLayer environment needs its API URL');
  return customEnvironment({ authBaseUrl: s.authUrl ?? s.apiUrl, apiBaseUrl: s.apiUrl });
}
