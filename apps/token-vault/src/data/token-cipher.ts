/**
 * Token encryption with Vault Transit (not envelope encryption).
 *
 * Why Transit: keys never leave Vault, rotation and rewrap are Vault operations, and a compromised database or
 * process memory dump yields no key. The cost is one Vault round trip per encrypt/decrypt; the hot path
 * ("give me a valid access token") avoids it with a short in-memory cache of the decrypted access token,
 * keyed by connection and token version (see ConnectionService).
 *
 * The key is `derived`: each operation carries a context `<connection id>:<field>`, so a ciphertext copied to
 * another connection, or from the refresh-token field to the access-token field, does not decrypt.
 *
 * Every plaintext token that goes in or comes out is registered with the logger, so no log line or span carries it.
 */
import { registerSecret } from '@ais/platform-logger';
import type { Vault } from '@ais/platform-vault';

export type TokenField = 'access' | 'refresh';

export interface TokenCipher {
  encrypt(connectionId: string, field: TokenField, plaintext: string): Promise<string>;
  decrypt(connectionId: string, field: TokenField, ciphertext: string): Promise<string>;
  rewrap(connectionId: string, field: TokenField, ciphertext: string): Promise<string>;
}

export class VaultTokenCipher implements TokenCipher {
  constructor(
    private readonly vault: Vault,
    private readonly key: string,
  ) {}

  async init(): Promise<void> {
    await this.vault.ensureTransitKey(this.key);
  }

  encrypt(connectionId: string, field: TokenField, plaintext: string): Promise<string> {
    registerSecret(plaintext);
    return this.vault.encrypt(this.key, Buffer.from(plaintext, 'utf8'), `${connectionId}:${field}`);
  }

  async decrypt(connectionId: string, field: TokenField, ciphertext: string): Promise<string> {
    const plaintext = (await this.vault.decrypt(this.key, ciphertext, `${connectionId}:${field}`)).toString('utf8');
    registerSecret(plaintext);
    return plaintext;
  }

  rewrap(connectionId: string, field: TokenField, ciphertext: string): Promise<string> {
    return this.vault.rewrap(this.key, ciphertext, `${connectionId}:${field}`);
  }
}
