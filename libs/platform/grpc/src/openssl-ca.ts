/**
 * Test support for this library's specs (not exported): an OpenSSL-backed CA that issues certificates the way the
 * Vault PKI roles do, so mTLS, permissions, rotation and files mode are tested without a Vault.
 * Integration tests take their identities from the stack's Vault instead (`stackGrpcTls` in @ais/testing).
 */
import { createLogger, type Logger } from '@ais/platform-logger';
import { vaultTls, type CertificateIssuer, type GrpcTls } from './tls';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

const silent = (): Logger => createLogger({ service: 'test-grpc-identity', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A throwaway CA in a temp directory that issues leaf certificates the way Vault's PKI role does (EC P-256, the
 * identity as CN, DNS and URI SANs, server and client use). Any role name is accepted: tests of a refusing
 * issuer use {@link CertificateIssuer} directly.
 */
export class OpensslCa implements CertificateIssuer {
  readonly dir = mkdtempSync(join(tmpdir(), 'ais-test-ca-'));
  readonly caPem: string;
  private serial = 0;

  constructor(subject = '/CN=ais-platform test CA') {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', subject], this.dir);
    this.caPem = readFileSync(join(this.dir, 'ca.crt'), 'utf8');
  }

  /** Issues a leaf; `uri` overrides the SPIFFE id (to make certificates of the wrong shape). */
  leaf(commonName: string, sans: { dns?: string[]; ips?: string[]; uri?: string }): { certificate: string; privateKey: string; serialNumber: string; expiresAt: number } {
    const n = ++this.serial;
    const base = `leaf-${n}`;
    const san = [...(sans.dns ?? []).map((d) => `DNS:${d}`), ...(sans.ips ?? []).map((i) => `IP:${i}`), ...(sans.uri ? [`URI:${sans.uri}`] : [])].join(',');
    writeFileSync(
      join(this.dir, `${base}.ext`),
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\n${san ? `subjectAltName=${san}\n` : ''}`,
    );
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${commonName}`], this.dir);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(1000 + n), '-days', '1', '-out', `${base}.crt`, '-extfile', `${base}.ext`], this.dir);
    const certificate = readFileSync(join(this.dir, `${base}.crt`), 'utf8');
    const x509 = new X509Certificate(certificate);
    return { certificate, privateKey: readFileSync(join(this.dir, `${base}.key`), 'utf8'), serialNumber: x509.serialNumber, expiresAt: Date.parse(x509.validTo) };
  }

  issueCertificate(
    _mount: string,
    _role: string,
    request: { common_name: string; alt_names?: string; ip_sans?: string; uri_sans?: string; ttl: string },
  ): Promise<{ certificate: string; privateKey: string; caChain: string[]; serialNumber: string; expiresAt: number }> {
    const leaf = this.leaf(request.common_name, {
      dns: request.alt_names ? request.alt_names.split(',') : [],
      ips: request.ip_sans ? request.ip_sans.split(',') : [],
      ...(request.uri_sans ? { uri: request.uri_sans } : {}),
    });
    return Promise.resolve({ ...leaf, caChain: [this.caPem] });
  }

  /** An mTLS identity from this CA (renewed by the same code as production's Vault mode). */
  tls(identity: string, options: { ttlMs?: number; logger?: Logger; onRenew?: (serial: string) => void } = {}): Promise<GrpcTls> {
    return vaultTls({
      issuer: this,
      identity,
      trustDomain: 'ais-platform',
      mount: 'pki',
      role: identity,
      ttlMs: options.ttlMs ?? 3_600_000,
      ipSans: ['127.0.0.1'],
      logger: options.logger ?? silent(),
      ...(options.onRenew ? { onRenew: options.onRenew } : {}),
    });
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
