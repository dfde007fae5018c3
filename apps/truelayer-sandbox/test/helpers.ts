import { generateKeyPairSync, createHash, randomBytes } from 'node:crypto';
import request from 'supertest';
import { createSandbox, type Sandbox, type SandboxOptions } from '../src/app';
import { createClock } from '../src/clock';

/** Tests run on a frozen clock (time moves only through advance/set), starting at this instant. */
export const T0 = Date.parse('2026-03-10T12:00:00.000Z');

export const CLIENT_ID = 'sandbox-test-client';
export const CLIENT_SECRET = 'test-secret-value';
export const REDIRECT_URI = 'http://127.0.0.1:9999/callback';
export const OTHER_REDIRECT_URI = 'https://app.example.com/callback';
export const FULL_SCOPE = 'info accounts balance cards transactions direct_debits standing_orders offline_access';

const keyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

export function makeSandbox(options: Partial<SandboxOptions> = {}): Sandbox {
  return createSandbox({
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [REDIRECT_URI, OTHER_REDIRECT_URI] }],
    seed: 'test-seed',
    clock: createClock(() => T0),
    signingKeyPem: keyPem,
    ...options,
  });
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface Tokens {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  scope: string;
  credentials_id: string;
}

/** Logs a mock user in through the admin shortcut and exchanges the code. */
export async function connect(
  sb: Sandbox,
  opts: { username?: string; password?: string; scope?: string; provider_id?: string; providers?: string } = {},
): Promise<Tokens> {
  const auth = await request(sb.app)
    .post('/__admin/authorize')
    .send({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: opts.scope ?? FULL_SCOPE,
      state: 'st',
      username: opts.username ?? 'john',
      password: opts.password ?? 'doe',
      provider_id: opts.provider_id,
      providers: opts.providers ?? 'uk-cs-mock uk-ob-all uk-oauth-all ie-ob-all fr-ob-all',
    })
    .expect(200);
  const token = await request(sb.app)
    .post('/connect/token')
    .type('form')
    .send({ grant_type: 'authorization_code', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code: auth.body.code, redirect_uri: REDIRECT_URI })
    .expect(200);
  return { ...token.body, credentials_id: auth.body.credentials_id };
}

export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
