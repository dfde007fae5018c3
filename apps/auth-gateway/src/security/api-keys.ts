/**
 * API keys: `ais_<clientId>_<43 chars base64url of 32 random bytes>`. Stored as HMAC-SHA256(pepper, key) only; the
 * plaintext is returned once at creation. Verification looks the client up by the id in the key and compares the
 * hashes in constant time.
 */
import { registerSecret } from '@ais/platform-logger';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY_RE = /^ais_([a-z0-9]{8,40})_([A-Za-z0-9_-]{43})$/;

export function newClientId(): string {
  return `c${randomBytes(8).toString('hex')}`;
}

/** A new key, registered with the logger so that no log line or span of this process carries it. */
export function newApiKey(clientId: string): string {
  const key = `ais_${clientId}_${randomBytes(32).toString('base64url')}`;
  registerSecret(key);
  return key;
}

/** The client id embedded in a key, or undefined when the key is malformed. */
export function clientIdOf(key: string): string | undefined {
  return KEY_RE.exec(key)?.[1];
}

export function keyPrefixOf(clientId: string): string {
  return `ais_${clientId}`;
}

export function hashApiKey(pepper: Buffer, key: string): string {
  return createHmac('sha256', pepper).update(key, 'utf8').digest('base64url');
}

export function hashesEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
