/** node-vault against the real Vault-API server (OpenBao): KV v2, Transit with context binding, rotate + rewrap. */
import { AppError } from '@ais/platform-errors';
import { randomBytes } from 'node:crypto';
import { Vault } from '../src';

describe('platform-vault on a real Vault server', () => {
  const vault = new Vault({ addr: process.env['VAULT_ADDR']!, token: process.env['VAULT_TOKEN']! });
  const ns = randomBytes(4).toString('hex');

  it('is healthy', async () => {
    await expect(vault.healthy()).resolves.toBe(true);
  });

  it('writes and reads KV v2 secrets, with versions', async () => {
    const v1 = await vault.kvWrite(`it/${ns}/truelayer`, { client_id: 'sandbox-abc', client_secret: 'not-a-real-secret' });
    const v2 = await vault.kvWrite(`it/${ns}/truelayer`, { client_id: 'sandbox-abc', client_secret: 'rotated' });
    expect(v2).toBe(v1 + 1);
    await expect(vault.kvRead(`it/${ns}/truelayer`)).resolves.toEqual({ client_id: 'sandbox-abc', client_secret: 'rotated' });
    await expect(vault.kvRead(`it/${ns}/missing`)).rejects.toMatchObject({ code: 'vault_not_found' });
  });

  it('encrypts with Transit so that a ciphertext only decrypts in its own context', async () => {
    const key = `tokens-${ns}`;
    await vault.ensureTransitKey(key);
    await vault.ensureTransitKey(key); // idempotent
    const secret = Buffer.from('refresh-token-value');
    const ct = await vault.encrypt(key, secret, 'connection-1');
    expect(ct).toMatch(/^vault:v1:/);
    expect(ct).not.toContain(secret.toString('base64'));
    await expect(vault.decrypt(key, ct, 'connection-1')).resolves.toEqual(secret);
    // copied onto another record: does not decrypt
    const moved = await vault.decrypt(key, ct, 'connection-2').catch((e: unknown) => e);
    expect(moved).toBeInstanceOf(AppError);
  });

  it('rotates the key and rewraps old ciphertexts without exposing plaintext', async () => {
    const key = `rot-${ns}`;
    await vault.ensureTransitKey(key);
    const ct1 = await vault.encrypt(key, Buffer.from('x'), 'c');
    await vault.rotate(key);
    const ct2 = await vault.rewrap(key, ct1, 'c');
    expect(ct2).toMatch(/^vault:v2:/);
    await expect(vault.decrypt(key, ct2, 'c')).resolves.toEqual(Buffer.from('x'));
    await expect(vault.decrypt(key, ct1, 'c')).resolves.toEqual(Buffer.from('x'));
  });

  it('reports an unreachable server as unavailable, without echoing the request', async () => {
    const down = new Vault({ addr: 'http://127.0.0.1:1', token: 't', timeoutMs: 1000 });
    await expect(down.healthy()).resolves.toBe(false);
    const error = (await down.encrypt('k', Buffer.from('top-secret-plaintext'), 'c').catch((e: unknown) => e)) as AppError;
    expect(error.code).toBe('vault_unavailable');
    expect(JSON.stringify({ m: error.message, d: error.details })).not.toContain('top-secret');
  });
});
