/** Connection settings the integration globalSetup put into process.env, plus per-test isolation helpers. */
import { integrationEnv } from '@ais/testing';
import { randomBytes } from 'node:crypto';

export function stackEnv(): Record<string, string> {
  return integrationEnv();
}

/** A fresh namespace so suites sharing the servers never see each other's data or topics. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/** token-vault against a simulator: its TrueLayer endpoints, the credentials' Vault path, its own Transit key, no background jobs. */
export function tokenVaultAgainst(sandboxUrl: string, credentialsPath: string, ns: string): Record<string, string> {
  return {
    TRUELAYER_ENV: 'custom',
    TRUELAYER_AUTH_URL: sandboxUrl,
    TRUELAYER_API_URL: sandboxUrl,
    TRUELAYER_CREDENTIALS_PATH: credentialsPath,
    TOKEN_TRANSIT_KEY: `tokens-${ns}`,
    JOBS_INTERVAL_MS: '0',
  };
}
