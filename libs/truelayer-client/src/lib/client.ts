import { TrueLayerAuthClient, type AuthClientOptions } from './auth-client';
import { TrueLayerDataClient } from './data-client';
import type { TrueLayerEnvironment } from './environment';
import { HttpTransport, type TransportOptions } from './http';

export interface TrueLayerClientConfig extends TransportOptions, AuthClientOptions {
  environment: TrueLayerEnvironment;
  /** From Console; passed in by the caller (this library never reads the environment). */
  clientId: string;
  /** From the secret store; never logged, never put on spans or in errors. */
  clientSecret: string;
}

export interface TrueLayerClient {
  readonly environment: TrueLayerEnvironment;
  readonly auth: TrueLayerAuthClient;
  readonly data: TrueLayerDataClient;
}

export function createTrueLayerClient(config: TrueLayerClientConfig): TrueLayerClient {
  const { environment, clientId, clientSecret, extendConnectionPath, ...transport } = config;
  const http = new HttpTransport(transport);
  const auth = new TrueLayerAuthClient(environment, http, { clientId, clientSecret }, { extendConnectionPath });
  const data = new TrueLayerDataClient(environment, http, auth);
  return Object.freeze({ environment, auth, data });
}

export interface TrueLayerDataClientConfig extends TransportOptions {
  environment: TrueLayerEnvironment;
}

/**
 * A Data API client without client credentials: reading data needs only the user's access token, so a service
 * that never talks to the auth server (data-fetcher) holds no client secret at all.
 */
export function createTrueLayerDataClient(config: TrueLayerDataClientConfig): TrueLayerDataClient {
  const { environment, ...transport } = config;
  return new TrueLayerDataClient(environment, new HttpTransport(transport));
}
