/**
 * The gateway's own secrets (API-key pepper, state key) in Vault KV v2. Created on first start with a random value by
 * a check-and-set write (`cas: 0`), so several instances starting together agree on one value. Both are registered
 * with the logger (as stored, base64) so that no log line or span carries them.
 */
import { AppError } from '@ais/platform-errors';
import { registerSecret } from '@ais/platform-logger';
import type { Vault } from '@ais/platform-vault';
import { randomBytes } from 'node:crypto';

export interface GatewaySecrets {
  /** HMAC-SHA256 pepper for API-key hashes. */
  apiKeyPepper: Buffer;
  /** AES-256-GCM key for `state`. */
  stateKey: Buffer;
}

export interface KvSettings {
  addr: string;
  token: string;
  mount: string;
  timeoutMs: number;
}

/**
 * KV v2 write that succeeds only when the path has no version yet. Returns false when another writer won.
 * (libs/platform/vault has no CAS; this stays inside auth-gateway.)
 */
export async function kvWriteIfAbsent(kv: KvSettings, path: string, data: Record<string, unknown>): Promise<boolean> {
  const url = `${kv.addr.replace(/\/+$/, '')}/v1/${kv.mount}/data/${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-vault-token': kv.token },
      body: JSON.stringify({ options: { cas: 0 }, data }),
      signal: AbortSignal.timeout(kv.timeoutMs),
    });
  } catch (error) {
    throw AppError.unavailable('vault_unavailable', `vault: write ${kv.mount}/${path}: unavailable`, error);
  }
  await res.arrayBuffer().catch(() => undefined);
  if (res.ok) return true;
  // KV v2 answers 400 "check-and-set parameter did not match the current version" when the secret exists.
  if (res.status === 400) return false;
  throw AppError.unavailable('vault_unavailable', `vault: write ${kv.mount}/${path}: HTTP ${res.status}`);
}

function decodeKey(value: unknown, name: string): Buffer {
  const buf = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (buf.length !== 32) throw AppError.internal(`vault secret ${name} is not 32 base64 bytes`);
  registerSecret(value as string);
  return buf;
}

export async function loadGatewaySecrets(vault: Pick<Vault, 'kvRead'>, kv: KvSettings, path: string): Promise<GatewaySecrets> {
  const read = async (): Promise<Record<string, unknown> | undefined> => {
    try {
      return await vault.kvRead<Record<string, unknown>>(path);
    } catch (error) {
      if (error instanceof AppError && error.kind === 'not_found') return undefined;
      throw error;
    }
  };
  let data = await read();
  if (!data) {
    await kvWriteIfAbsent(kv, path, {
      api_key_pepper: randomBytes(32).toString('base64'),
      state_key: randomBytes(32).toString('base64'),
      created_at: new Date().toISOString(),
    });
    data = await read();
  }
  if (!data) throw AppError.unavailable('vault_unavailable', `vault: ${path} missing after create`);
  return { apiKeyPepper: decodeKey(data['api_key_pepper'], 'api_key_pepper'), stateKey: decodeKey(data['state_key'], 'state_key') };
}
