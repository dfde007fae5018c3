import { createHash, randomBytes } from 'node:crypto';

/** PKCE (RFC 7636). TrueLayer accepts only the S256 method. */

const VERIFIER_RE = /^[A-Za-z0-9\-._~]{43,128}$/;

/** A high-entropy code verifier: base64url of `bytes` random bytes (32 bytes -> 43 chars). */
export function createCodeVerifier(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 32 || bytes > 96) throw new RangeError('bytes must be an integer in 32..96');
  return randomBytes(bytes).toString('base64url');
}

/** S256 code challenge: base64url(sha256(ascii(verifier))), no padding. */
export function codeChallengeS256(verifier: string): string {
  if (!VERIFIER_RE.test(verifier)) throw new TypeError('code verifier must be 43-128 chars of [A-Za-z0-9-._~]');
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

export interface PkcePair {
  codeVerifier: string;
  codeChallenge: string;
  codeChallengeMethod: 'S256';
}

/** Keep `codeVerifier` server-side; put `codeChallenge` in the auth link; send the verifier at /connect/token. */
export function createPkcePair(bytes = 32): PkcePair {
  const codeVerifier = createCodeVerifier(bytes);
  return { codeVerifier, codeChallenge: codeChallengeS256(codeVerifier), codeChallengeMethod: 'S256' };
}
