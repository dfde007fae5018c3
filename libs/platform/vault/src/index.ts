/**
 * Vault client (node-vault) for the two things the platform keeps there: secrets in KV v2 (TrueLayer client
 * credentials, API-key pepper) and token-encryption keys in Transit (keys never leave Vault).
 *
 * Transit keys are created `derived`, so every encrypt/decrypt carries a context (the connection id): a
 * ciphertext copied onto another record does not decrypt there.
 *
 * The Vault token is registered with the logger, so no log line or span of the process carries it.
 * The PKI engine issues the short-lived certificates of the services' gRPC mTLS ({@link Vault.issueCertificate}).
 */
import nodeVault from 'node-vault';
import { AppError } from '@ais/platform-errors';
import { registerSecret } from '@ais/platform-logger';

export interface VaultSettings {
  addr: string;
  token: string;
  kvMount?: string;
  transitMount?: string;
  timeoutMs?: number;
}

type VaultClient = ReturnType<typeof nodeVault>;

interface VaultResponse<T> {
  data: T;
}

function statusOf(error: unknown): number | undefined {
  const e = error as { response?: { statusCode?: number; status?: number }; statusCode?: number };
  return e.response?.statusCode ?? e.response?.status ?? e.statusCode;
}

function wrap(op: string, error: unknown): AppError {
  const status = statusOf(error);
  if (status === 404) return AppError.notFound('vault_not_found', `vault: ${op}: not found`);
  if (status === 403 || status === 401) return new AppError({ code: 'vault_forbidden', message: `vault: ${op}: permission denied`, kind: 'internal' });
  if (status === 400) return new AppError({ code: 'vault_bad_request', message: `vault: ${op}: rejected`, kind: 'internal' });
  // Never include the raw error message: node-vault errors may echo request bodies.
  return AppError.unavailable('vault_unavailable', `vault: ${op}: unavailable${status ? ` (HTTP ${status})` : ''}`);
}

/** What `pki/issue/<role>` is asked for (Vault's field names). */
export interface CertificateRequest {
  common_name: string;
  alt_names?: string;
  ip_sans?: string;
  uri_sans?: string;
  /** e.g. `24h` or `90s`; capped by the role's max_ttl. */
  ttl: string;
}

/** A leaf certificate with its key and the chain that issued it, PEM. */
export interface IssuedCertificate {
  certificate: string;
  privateKey: string;
  /** The issuing CA and its chain up to the root: what peers are verified against. */
  caChain: string[];
  serialNumber: string;
  /** Expiry, epoch ms. */
  expiresAt: number;
}

export class Vault {
  private readonly client: VaultClient;
  private readonly kv: string;
  private readonly transit: string;

  constructor(settings: VaultSettings) {
    registerSecret(settings.token);
    this.client = nodeVault({
      apiVersion: 'v1',
      endpoint: settings.addr,
      token: settings.token,
      requestOptions: { timeout: settings.timeoutMs ?? 5_000 },
    });
    this.kv = settings.kvMount ?? 'secret';
    this.transit = settings.transitMount ?? 'transit';
  }

  /** Health: initialised and unsealed. */
  async healthy(): Promise<boolean> {
    try {
      const res = (await this.client.health()) as { initialized?: boolean; sealed?: boolean };
      return res.initialized === true && res.sealed === false;
    } catch {
      return false;
    }
  }

  async kvRead<T extends Record<string, unknown>>(path: string): Promise<T> {
    try {
      const res = (await this.client.read(`${this.kv}/data/${path}`)) as VaultResponse<{ data: T }>;
      return res.data.data;
    } catch (error) {
      throw wrap(`read ${this.kv}/${path}`, error);
    }
  }

  async kvWrite(path: string, data: Record<string, unknown>): Promise<number> {
    try {
      const res = (await this.client.write(`${this.kv}/data/${path}`, { data })) as VaultResponse<{ version: number }>;
      return res.data.version;
    } catch (error) {
      throw wrap(`write ${this.kv}/${path}`, error);
    }
  }

  /** Creates a derived AES-256-GCM transit key if it does not exist. */
  async ensureTransitKey(name: string): Promise<void> {
    try {
      await this.client.read(`${this.transit}/keys/${name}`);
      return;
    } catch (error) {
      if (statusOf(error) !== 404) throw wrap(`read key ${name}`, error);
    }
    try {
      await this.client.write(`${this.transit}/keys/${name}`, { type: 'aes256-gcm96', derived: true });
    } catch (error) {
      throw wrap(`create key ${name}`, error);
    }
  }

  async encrypt(key: string, plaintext: Buffer, context: string): Promise<string> {
    try {
      const res = (await this.client.write(`${this.transit}/encrypt/${key}`, {
        plaintext: plaintext.toString('base64'),
        context: Buffer.from(context, 'utf8').toString('base64'),
      })) as VaultResponse<{ ciphertext: string }>;
      return res.data.ciphertext;
    } catch (error) {
      throw wrap(`encrypt with ${key}`, error);
    }
  }

  async decrypt(key: string, ciphertext: string, context: string): Promise<Buffer> {
    try {
      const res = (await this.client.write(`${this.transit}/decrypt/${key}`, {
        ciphertext,
        context: Buffer.from(context, 'utf8').toString('base64'),
      })) as VaultResponse<{ plaintext: string }>;
      return Buffer.from(res.data.plaintext, 'base64');
    } catch (error) {
      throw wrap(`decrypt with ${key}`, error);
    }
  }

  /** Issues a certificate from the PKI role `<mount>/issue/<role>`; the private key is generated by Vault and never stored there. */
  async issueCertificate(mount: string, role: string, request: CertificateRequest): Promise<IssuedCertificate> {
    try {
      const res = (await this.client.write(`${mount}/issue/${role}`, { ...request, format: 'pem', private_key_format: 'pkcs8' })) as VaultResponse<{
        certificate: string;
        private_key: string;
        issuing_ca: string;
        ca_chain?: string[];
        serial_number: string;
        expiration: number;
      }>;
      const d = res.data;
      const caChain = d.ca_chain && d.ca_chain.length > 0 ? d.ca_chain : [d.issuing_ca];
      return { certificate: d.certificate, privateKey: d.private_key, caChain, serialNumber: d.serial_number, expiresAt: d.expiration * 1000 };
    } catch (error) {
      throw wrap(`issue certificate from ${mount}/issue/${role}`, error);
    }
  }

  /** Rotates the key: new encryptions use the new version; old ciphertexts still decrypt until rewrapped. */
  async rotate(key: string): Promise<void> {
    try {
      await this.client.write(`${this.transit}/keys/${key}/rotate`, {});
    } catch (error) {
      throw wrap(`rotate ${key}`, error);
    }
  }

  /** Re-encrypts a ciphertext under the newest key version without exposing the plaintext. */
  async rewrap(key: string, ciphertext: string, context: string): Promise<string> {
    try {
      const res = (await this.client.write(`${this.transit}/rewrap/${key}`, {
        ciphertext,
        context: Buffer.from(context, 'utf8').toString('base64'),
      })) as VaultResponse<{ ciphertext: string }>;
      return res.data.ciphertext;
    } catch (error) {
      throw wrap(`rewrap with ${key}`, error);
    }
  }
}
