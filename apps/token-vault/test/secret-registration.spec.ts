import { forgetSecrets, REDACTED, scrubText } from '@ais/platform-logger';
import type { Vault } from '@ais/platform-vault';
import { randomBytes } from 'node:crypto';
import { VaultTokenCipher } from '../src/data/token-cipher';
import { trueLayerFromVault } from '../src/data/truelayer';

const opaque = () => randomBytes(32).toString('hex');

afterEach(() => forgetSecrets());

describe('secrets token-vault learns are masked in its logs and spans', () => {
  it('every token that goes into Transit or comes out of it', async () => {
    const stored = opaque();
    const fresh = opaque();
    const vault = {
      encrypt: async () => 'vault:v1:ct',
      decrypt: async () => Buffer.from(stored, 'utf8'),
    } as unknown as Vault;
    const cipher = new VaultTokenCipher(vault, 'tokens');
    expect(scrubText(`${stored} ${fresh}`)).toBe(`${stored} ${fresh}`);
    await cipher.encrypt('conn-1', 'refresh', fresh);
    expect(await cipher.decrypt('conn-1', 'refresh', 'vault:v1:ct')).toBe(stored);
    expect(scrubText(`refresh failed: ${stored} then ${fresh}`)).toBe(`refresh failed: ${REDACTED} then ${REDACTED}`);
  });

  it('the TrueLayer client secret read from Vault', async () => {
    const clientSecret = opaque();
    const vault = { kvRead: async () => ({ client_id: 'sandbox-client', client_secret: clientSecret }) } as unknown as Vault;
    const client = trueLayerFromVault(vault, { env: 'sandbox', credentialsPath: 'truelayer', timeoutMs: 1_000 });
    expect(scrubText(clientSecret)).toBe(clientSecret);
    await client();
    expect(scrubText(`client_id=sandbox-client secret ${clientSecret}`)).toBe(`client_id=sandbox-client secret ${REDACTED}`);
  });
});
