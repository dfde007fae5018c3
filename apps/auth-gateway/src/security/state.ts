/**
 * The OAuth `state`: a sealed token (sealed.ts), base64url(version ‖ iv ‖ GCM tag ‖ AES-256-GCM(payload)). The tag authenticates it (a forged or
 * altered value does not open); the payload is encrypted, so users, clients and intents never show in URLs. The
 * server-side auth session (keyed by `sid`) makes it single use.
 */
import { openJson, sealJson } from './sealed';

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

const AAD = Buffer.from('ais-auth-gateway/state/v1', 'utf8');
const MAX_LEN = 2048;

export class StateCodec {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new RangeError('state key must be 32 bytes');
  }

  seal(payload: StatePayload): string {
    return sealJson(this.key, AAD, payload);
  }

  /** Opens and checks expiry; throws {@link StateError}. */
  open(state: string, now: number): StatePayload {
    if (state.length === 0 || state.length > MAX_LEN || !/^[A-Za-z0-9_-]+$/.test(state)) throw new StateError('malformed');
    const opened = openJson(this.key, AAD, state);
    if (typeof opened === 'string') throw new StateError(opened);
    const payload = parsePayload(opened.value);
    if (!payload) throw new StateError('forged');
    if (payload.exp <= now) throw new StateError('expired');
    return payload;
  }
}

function parsePayload(v: unknown): StatePayload | undefined {
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
