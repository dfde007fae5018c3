/**
 * The TrueLayer client, built lazily from credentials held in Vault KV v2 (`client_id`, `client_secret` at
 * TRUELAYER_CREDENTIALS_PATH). The secret lives only inside the client object; it is registered with the logger so
 * that no log line or span carries it.
 */
import { AppError } from '@ais/platform-errors';
import { registerSecret } from '@ais/platform-logger';
import type { Vault } from '@ais/platform-vault';
import { createTrueLayerClient, environmentFor, type TrueLayerClient } from '@ais/truelayer-client';

export interface TrueLayerSettings {
  env: 'production' | 'sandbox' | 'custom';
  authUrl?: string | undefined;
  apiUrl?: string | undefined;
  credentialsPath: string;
  timeoutMs: number;
  now?: () => number;
}

/** Credentials from Vault, or (explicit development mode, checked by the config) from the environment. */
export function trueLayerFromVault(
  vault: Vault,
  s: TrueLayerSettings,
  devCredentials?: { client_id: string; client_secret: string },
): () => Promise<TrueLayerClient> {
  let client: Promise<TrueLayerClient> | undefined;
  return () => {
    const read = devCredentials ? Promise.resolve(devCredentials) : vault.kvRead<{ client_id?: unknown; client_secret?: unknown }>(s.credentialsPath);
    client ??= read
      .then((creds) => {
        if (typeof creds.client_id !== 'string' || typeof creds.client_secret !== 'string') {
          throw new AppError({ code: 'truelayer_credentials_invalid', message: `Vault ${s.credentialsPath} lacks client_id/client_secret`, kind: 'failed_precondition' });
        }
        registerSecret(creds.client_secret);
        return createTrueLayerClient({
          environment: environmentFor(s),
          clientId: creds.client_id,
          clientSecret: creds.client_secret,
          timeoutMs: s.timeoutMs,
          ...(s.now ? { now: s.now } : {}),
        });
      })
      .catch((error: unknown) => {
        client = undefined;
        throw error;
      });
    return client;
  };
}
