/**
 * Sealed tokens of the gateway (the OAuth `state`, overview links): base64url(version ‖ iv ‖ GCM tag ‖
 * AES-256-GCM(JSON)). The tag authenticates the token (a forged or altered one does not open) and the JSON is
 * encrypted (nothing in it shows in a URL); the associated data names the kind of token, so one kind never opens as
 * another even under the same key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 1;
/** version + 96-bit IV + 128-bit tag + at least two bytes of JSON */
const MIN_RAW = 1 + 12 + 16 + 2;

export function sealJson(key: Buffer, aad: Buffer, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ct]).toString('base64url');
}

/**
 * The parsed JSON of a token the caller has already checked for shape (length, base64url alphabet); 'malformed'
 * when it is too short or of another version, 'forged' when it does not authenticate or is not JSON.
 */
export function openJson(key: Buffer, aad: Buffer, token: string): { value: unknown } | 'malformed' | 'forged' {
  const raw = Buffer.from(token, 'base64url');
  if (raw.length < MIN_RAW || raw[0] !== VERSION) return 'malformed';
  let plain: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(1, 13));
    decipher.setAAD(aad);
    decipher.setAuthTag(raw.subarray(13, 29));
    plain = Buffer.concat([decipher.update(raw.subarray(29)), decipher.final()]).toString('utf8');
  } catch {
    return 'forged';
  }
  try {
    return { value: JSON.parse(plain) as unknown };
  } catch {
    return 'forged';
  }
}
