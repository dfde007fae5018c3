import { randomUUID } from 'node:crypto';
import type { SandboxProcess } from '@ais/testing';
import { createPkcePair, parseAuthRedirect, type TokenSet, type TrueLayerAuthClient } from '@ais/truelayer-client';

export interface AuthorizedMockUser {
  /** The simulator's credentials id of the consent (for `/__admin/ledger`, `/__admin/counters`). */
  credentialsId: string;
  /** What the token endpoint answered to the exchanged code. */
  tokens: TokenSet;
}

/**
 * A simulator mock user connected without a browser or the gateway: the auth link, `POST /__admin/authorize`
 * (login and consent), the redirect parsed and its code exchanged at the token endpoint with the PKCE verifier.
 * Shared by the engine's integration test and bench/fetch.bench.ts.
 */
export async function authorizeMockUser(
  sandbox: Pick<SandboxProcess, 'admin' | 'redirectUri'>,
  auth: TrueLayerAuthClient,
  opts: { username: string; password: string; scopes: readonly string[]; providerId: string },
): Promise<AuthorizedMockUser> {
  const pkce = createPkcePair();
  const state = `st-${randomUUID()}`;
  const url = auth.authLink({ redirectUri: sandbox.redirectUri, scope: [...opts.scopes], providers: ['uk-ob-all'], providerId: opts.providerId, state, codeChallenge: pkce.codeChallenge, codeChallengeMethod: 'S256' });
  const done = await sandbox.admin<{ redirect_url: string; credentials_id: string }>('POST', '/authorize', { auth_url: url, username: opts.username, password: opts.password });
  const redirect = parseAuthRedirect(done.redirect_url, state);
  if (!redirect.ok) throw new Error(`authorization failed: ${redirect.error}`);
  const tokens = await auth.exchangeCode({ code: redirect.code, redirectUri: sandbox.redirectUri, codeVerifier: pkce.codeVerifier });
  return { credentialsId: done.credentials_id, tokens };
}
