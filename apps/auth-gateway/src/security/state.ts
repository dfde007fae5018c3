/**
 * The OAuth `state`: base64url(version ‖ iv ‖ GCM tag ‖ AES-256-GCM(payload)). The tag authenticates it (a forged or
 * altered value does not open); the payload is encrypted, so users, clients and intents never show in URLs. The
 * server-side auth session (keyed by `sid`) makes it single use.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export type Intent = { kind: 'new' } | { kind: 'reconsent'; connectionId: string };

export interface StatePayload {
  /** Auth-session id (server-side record). */
  sid: string;
  /** The product's user id. */
  uid: string;
  /** The calling API client's id. */
  cid: string;
  intent: Intent;
  /** Expiry, epoch milliseconds. */
  exp: number;
}

export type StateFailure = 'malformed' | 'forged' | 'expired';

export class StateError extends Error {
  constructor(readonly reason: StateFailure) {
    super(`state rejected: ${reason}`);
    this.name = 'StateError';
  }
}

const VERSION = 1;
const AAD = Buffer.from('ais-auth-gateway/state/v1', 'utf8');
const MAX_LEN = 2048;

export class StateCodec {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new RangeError('state key must be 32 bytes');
  }

  seal(payload: StatePayload): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(AAD);
    const ct = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ct]).toString('base64url');
  }

  /** Opens and checks expiry; throws {@link StateError}. */
  open(state: string, now: number): StatePayload {
    if (state.length === 0 || state.length > MAX_LEN || !/^[A-Za-z0-9_-]+$/.test(state)) throw new StateError('malformed');
    const raw = Buffer.from(state, 'base64url');
    if (raw.length < 1 + 12 + 16 + 2 || raw[0] !== VERSION) throw new StateError('malformed');
    let plain: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(1, 13));
      decipher.setAAD(AAD);
      decipher.setAuthTag(raw.subarray(13, 29));
      plain = Buffer.concat([decipher.update(raw.subarray(29)), decipher.final()]).toString('utf8');
    } catch {
      throw new StateError('forged');
    }
    const payload = parsePayload(plain);
    if (!payload) throw new StateError('forged');
    if (payload.exp <= now) throw new StateError('expired');
    return payload;
  }
}

function parsePayload(plain: string): StatePayload | undefined {
  let v: unknown;
  try {
    v = JSON.parse(plain);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const intent = o['intent'] as Record<string, unknown> | undefined;
  if (typeof o['sid'] !== 'string' || typeof o['uid'] !== 'string' || typeof o['cid'] !== 'string' || typeof o['exp'] !== 'number') return undefined;
  if (!intent || (intent['kind'] !== 'new' && !(intent['kind'] === 'reconsent' && typeof intent['connectionId'] === 'string'))) return undefined;
  return {
    sid: o['sid'],
    uid: o['uid'],
    cid: o['cid'],
    exp: o['exp'],
    intent: intent['kind'] === 'new' ? { kind: 'new' } : { kind: 'reconsent', connectionId: String(intent['connectionId']) },
  };
}

export function sameIntent(a: Intent, b: Intent): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind === 'new' || (b.kind === 'reconsent' && a.connectionId === b.connectionId);
}
