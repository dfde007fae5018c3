/**
 * The connection-overview link token: a sealed token (sealed.ts) like `state`, but under its own key (HKDF of the state key) and associated data, so neither opens as the other. The
 * payload (user, API client, expiry) is encrypted and authenticated: a link names one user of one client and stops
 * working at `exp`. Not single use: the page's own links (month, search) reuse it until it expires.
 */
import { hkdfSync } from 'node:crypto';
import { openJson, sealJson } from './sealed';

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
    return sealJson(this.key, AAD, { uid: payload.uid, cid: payload.cid, exp: payload.exp });
  }

  /** Opens and checks expiry; throws {@link OverviewLinkError}. */
  open(token: string, now: number): OverviewLinkPayload {
    if (!OVERVIEW_TOKEN_RE.test(token)) throw new OverviewLinkError('malformed');
    const opened = openJson(this.key, AAD, token);
    if (typeof opened === 'string') throw new OverviewLinkError(opened);
    const v = opened.value;
    const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    if (typeof o['uid'] !== 'string' || typeof o['cid'] !== 'string' || typeof o['exp'] !== 'number') throw new OverviewLinkError('forged');
    if (o['exp'] <= now) throw new OverviewLinkError('expired');
    return { uid: o['uid'], cid: o['cid'], exp: o['exp'] };
  }
}
