/**
 * The connection-overview link token: base64url(version ‖ iv ‖ GCM tag ‖ AES-256-GCM(payload)), like `state`
 * (state.ts) but under its own key (HKDF of the state key) and associated data, so neither opens as the other. The
 * payload (user, API client, expiry) is encrypted and authenticated: a link names one user of one client and stops
 * working at `exp`. Not single use: the page's own links (month, search) reuse it until it expires.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export interface OverviewLinkPayload {
  /** The product's user id. */
  uid: string;
  /** The API client that asked for the link. */
  cid: string;
  /** Expiry, epoch milliseconds. */
  exp: number;
}

export type OverviewLinkFailure = 'malformed' | 'forged' | 'expired';

export class OverviewLinkError extends Error {
  constructor(readonly reason: OverviewLinkFailure) {
    super(`overview link rejected: ${reason}`);
    this.name = 'OverviewLinkError';
  }
}

const VERSION = 1;
const AAD = Buffer.from('ais-auth-gateway/overview-link/v1', 'utf8');
export const OVERVIEW_TOKEN_RE = /^[A-Za-z0-9_-]{40,1024}$/;

export class OverviewLinkCodec {
  private readonly key: Buffer;

  /** `stateKey`: the gateway's 32-byte state key; the link key is derived from it. */
  constructor(stateKey: Buffer) {
    if (stateKey.length !== 32) throw new RangeError('state key must be 32 bytes');
    this.key = Buffer.from(hkdfSync('sha256', stateKey, Buffer.alloc(0), 'ais-auth-gateway/overview-link-key', 32));
  }

  seal(payload: OverviewLinkPayload): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(AAD);
    const ct = Buffer.concat([cipher.update(JSON.stringify({ uid: payload.uid, cid: payload.cid, exp: payload.exp }), 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ct]).toString('base64url');
  }

  /** Opens and checks expiry; throws {@link OverviewLinkError}. */
  open(token: string, now: number): OverviewLinkPayload {
    if (!OVERVIEW_TOKEN_RE.test(token)) throw new OverviewLinkError('malformed');
    const raw = Buffer.from(token, 'base64url');
    if (raw.length < 1 + 12 + 16 + 2 || raw[0] !== VERSION) throw new OverviewLinkError('malformed');
    let plain: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(1, 13));
      decipher.setAAD(AAD);
      decipher.setAuthTag(raw.subarray(13, 29));
      plain = Buffer.concat([decipher.update(raw.subarray(29)), decipher.final()]).toString('utf8');
    } catch {
      throw new OverviewLinkError('forged');
    }
    let v: unknown;
    try {
      v = JSON.parse(plain);
    } catch {
      throw new OverviewLinkError('forged');
    }
    const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    if (typeof o['uid'] !== 'string' || typeof o['cid'] !== 'string' || typeof o['exp'] !== 'number') throw new OverviewLinkError('forged');
    if (o['exp'] <= now) throw new OverviewLinkError('expired');
    return { uid: o['uid'], cid: o['cid'], exp: o['exp'] };
  }
}
