/**
 * Service identity for gRPC: mutual TLS on every hop, with the peer's identity read from its certificate.
 *
 * An identity is a SPIFFE id, `spiffe://<trust domain>/<name>`, in the certificate's URI SAN. Where certificates
 * come from is a setting (`GRPC_TLS`):
 * - `vault`: short-lived leaf certificates issued by Vault's PKI engine (`<mount>/issue/<role>`, one role per
 *   service that can issue only that service's id). Fetched at start, renewed at two thirds of their lifetime
 *   without a restart: grpc-js certificate providers push the new key pair into the running server and channels,
 *   so new connections use it and established ones carry on.
 * - `files`: PEM files written by a mesh or an agent (cert-manager, SPIRE, Vault Agent), re-read periodically.
 * - `insecure`: plaintext, development only (the config refuses it otherwise); no identity, every caller trusted.
 *
 * Clients verify the server's identity, not its host name: a channel to token-vault accepts only a certificate
 * carrying token-vault's id from the same CA, wherever it is reached (IP, service DNS name, a port-forward).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@ais/platform-logger';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';

export type GrpcTlsMode = 'vault' | 'files' | 'insecure';

export interface ChannelSecurity {
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
}

/** The slice of the Vault client this module needs (structural, so tests can use any issuer). */
export interface CertificateIssuer {
  issueCertificate(
    mount: string,
    role: string,
    request: { common_name: string; alt_names?: string; ip_sans?: string; uri_sans?: string; ttl: string },
  ): Promise<{ certificate: string; privateKey: string; caChain: string[]; serialNumber: string; expiresAt: number }>;
}

export interface GrpcTlsSettings {
  GRPC_TLS: GrpcTlsMode;
  GRPC_TLS_TRUST_DOMAIN: string;
  GRPC_TLS_PKI_MOUNT: string;
  /** Vault PKI role; empty = the service's name. */
  GRPC_TLS_PKI_ROLE: string;
  GRPC_TLS_CERT_TTL_MS: number;
  /** Extra DNS names and IPs for the server certificate (comma lists), e.g. the service's cluster DNS name. */
  GRPC_TLS_ALT_NAMES: string[];
  GRPC_TLS_IP_SANS: string[];
  GRPC_TLS_CERT_FILE?: string | undefined;
  GRPC_TLS_KEY_FILE?: string | undefined;
  GRPC_TLS_CA_FILE?: string | undefined;
  GRPC_TLS_FILES_REFRESH_MS: number;
}

export function spiffeId(trustDomain: string, name: string): string {
  return `spiffe://${trustDomain}/${name}`;
}

/**
 * The workload name of a certificate's SPIFFE id in `trustDomain`: `spiffe://<td>/<name>`, or the Kubernetes
 * service-account form `spiffe://<td>/ns/<namespace>/sa/<name>` that meshes issue. Undefined otherwise.
 */
export function identityOfUris(uris: readonly string[], trustDomain: string): string | undefined {
  const prefix = `spiffe://${trustDomain}/`;
  for (const uri of uris) {
    if (!uri.startsWith(prefix)) continue;
    const path = uri.slice(prefix.length).split('/');
    if (path.length === 1 && path[0]) return path[0];
    if (path.length === 4 && path[0] === 'ns' && path[2] === 'sa' && path[3]) return path[3];
  }
  return undefined;
}

/** URI SANs of a peer certificate as Node reports it (`subjectaltname: "DNS:a, URI:spiffe://..."`). */
export function uriSans(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string[] {
  const san = cert?.subjectaltname;
  if (!san) return [];
  return san
    .split(/,\s*/)
    .filter((part) => part.startsWith('URI:'))
    .map((part) => part.slice(4));
}

export function peerIdentity(cert: PeerCertificate | undefined, trustDomain: string): string | undefined {
  return identityOfUris(uriSans(cert), trustDomain);
}

interface KeyPair {
  certificate: Buffer;
  privateKey: Buffer;
  ca: Buffer;
  serialNumber: string;
  expiresAt: number;
}

/** One source of a key pair and trust bundle that pushes renewals to grpc-js (server and channels alike). */
class PushingProvider implements grpc.experimental.CertificateProvider {
  private current: KeyPair | undefined;
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  publish(pair: KeyPair): void {
    this.current = pair;
    for (const l of this.caListeners) l({ caCertificate: pair.ca });
    for (const l of this.identityListeners) l({ certificate: pair.certificate, privateKey: pair.privateKey });
  }

  get latest(): KeyPair | undefined {
    return this.current;
  }

  // A new listener gets the current pair on the next tick, not synchronously: grpc-js's server credentials add
  // their listener before registering the server's watcher, so a synchronous first update would be lost and the
  // server would refuse every connection.
  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    setImmediate(() => {
      if (this.current && this.caListeners.has(listener)) listener({ caCertificate: this.current.ca });
    });
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    setImmediate(() => {
      if (this.current && this.identityListeners.has(listener)) listener({ certificate: this.current.certificate, privateKey: this.current.privateKey });
    });
  }

  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }
}

/** Renewal point: two thirds into the certificate's life (as issued), never sooner than 1 s from now. */
export function renewalDelayMs(issuedAt: number, expiresAt: number, now: number): number {
  return Math.max(1_000, issuedAt + ((expiresAt - issuedAt) * 2) / 3 - now);
}

export interface GrpcTls {
  readonly mode: GrpcTlsMode;
  /** This process's workload name (`auth-gateway`, ...), or undefined when insecure. */
  readonly identity: string | undefined;
  readonly trustDomain: string;
  /** Server credentials: TLS with a required, CA-verified client certificate. */
  serverCredentials(): grpc.ServerCredentials;
  /**
   * A channel's security towards `target`: credentials that present this process's certificate and accept only
   * `target`'s identity, and the options that name it in SNI (not the IP the channel dials).
   */
  channel(target: string): ChannelSecurity;
  /** The current leaf's serial and expiry (vault and files modes), for health and logs. */
  current(): { serialNumber: string; expiresAt: number } | undefined;
  close(): void;
}

function verifyTarget(target: string, trustDomain: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const id = peerIdentity(cert, trustDomain);
    if (id === target) return undefined;
    return new Error(`server certificate identity is ${id ? `'${id}'` : 'missing'}, expected '${target}' (${spiffeId(trustDomain, target)})`);
  };
}

class ProvidedTls implements GrpcTls {
  constructor(
    readonly mode: 'vault' | 'files',
    readonly identity: string,
    readonly trustDomain: string,
    private readonly provider: PushingProvider,
    private readonly stop: () => void,
  ) {}

  serverCredentials(): grpc.ServerCredentials {
    return grpc.experimental.createCertificateProviderServerCredentials(this.provider, this.provider, true);
  }

  channel(target: string): ChannelSecurity {
    return {
      credentials: grpc.experimental.createCertificateProviderChannelCredentials(this.provider, this.provider, {
        checkServerIdentity: verifyTarget(target, this.trustDomain),
      }),
      options: { 'grpc.ssl_target_name_override': target },
    };
  }

  current(): { serialNumber: string; expiresAt: number } | undefined {
    const pair = this.provider.latest;
    return pair ? { serialNumber: pair.serialNumber, expiresAt: pair.expiresAt } : undefined;
  }

  close(): void {
    this.stop();
  }
}

class InsecureTls implements GrpcTls {
  readonly mode = 'insecure' as const;
  readonly identity = undefined;
  constructor(readonly trustDomain: string) {}
  serverCredentials(): grpc.ServerCredentials {
    return grpc.ServerCredentials.createInsecure();
  }
  channel(): ChannelSecurity {
    return { credentials: grpc.credentials.createInsecure(), options: {} };
  }
  current(): undefined {
    return undefined;
  }
  close(): void {}
}

export function insecureTls(trustDomain = 'ais-platform'): GrpcTls {
  return new InsecureTls(trustDomain);
}

function pemBundle(pems: readonly string[]): Buffer {
  return Buffer.from(pems.map((p) => p.trim()).join('\n') + '\n', 'utf8');
}

export interface VaultTlsOptions {
  issuer: CertificateIssuer;
  /** This process's workload name: the certificate's CN and SPIFFE id. */
  identity: string;
  trustDomain: string;
  mount: string;
  role: string;
  ttlMs: number;
  altNames?: readonly string[];
  ipSans?: readonly string[];
  logger: Logger;
  now?: () => number;
  /** Called after each renewal (tests, metrics). */
  onRenew?: (serialNumber: string, expiresAt: number) => void;
}

/**
 * Issues the first certificate (start-up fails if Vault refuses), then renews at two thirds of each one's life.
 * A failed renewal is logged and retried with backoff while the current certificate is still valid.
 */
export async function vaultTls(options: VaultTlsOptions): Promise<GrpcTls> {
  const now = options.now ?? Date.now;
  const provider = new PushingProvider();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const issue = async (): Promise<KeyPair> => {
    const issued = await options.issuer.issueCertificate(options.mount, options.role, {
      common_name: options.identity,
      alt_names: [options.identity, ...(options.altNames ?? [])].join(','),
      ...(options.ipSans && options.ipSans.length > 0 ? { ip_sans: options.ipSans.join(',') } : {}),
      uri_sans: spiffeId(options.trustDomain, options.identity),
      ttl: `${Math.max(1, Math.round(options.ttlMs / 1000))}s`,
    });
    return {
      certificate: Buffer.from(issued.certificate, 'utf8'),
      privateKey: Buffer.from(issued.privateKey, 'utf8'),
      ca: pemBundle(issued.caChain),
      serialNumber: issued.serialNumber,
      expiresAt: issued.expiresAt,
    };
  };
  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void renew(), delayMs);
    timer.unref();
  };
  const renew = async (): Promise<void> => {
    const issuedAt = now();
    try {
      const pair = await issue();
      if (stopped) return;
      provider.publish(pair);
      options.logger.info({ serialNumber: pair.serialNumber, expiresAt: new Date(pair.expiresAt).toISOString() }, 'gRPC certificate renewed');
      options.onRenew?.(pair.serialNumber, pair.expiresAt);
      schedule(renewalDelayMs(issuedAt, pair.expiresAt, now()));
    } catch (error) {
      const left = (provider.latest?.expiresAt ?? 0) - now();
      options.logger.warn({ err: error, msLeft: left }, 'gRPC certificate renewal failed; retrying');
      schedule(Math.min(30_000, Math.max(1_000, left / 10)));
    }
  };
  const issuedAt = now();
  const first = await issue();
  provider.publish(first);
  options.logger.info(
    { identity: spiffeId(options.trustDomain, options.identity), serialNumber: first.serialNumber, expiresAt: new Date(first.expiresAt).toISOString(), pkiRole: `${options.mount}/issue/${options.role}` },
    'gRPC mTLS certificate issued by Vault',
  );
  schedule(renewalDelayMs(issuedAt, first.expiresAt, now()));
  return new ProvidedTls('vault', options.identity, options.trustDomain, provider, () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  });
}

export interface FilesTlsOptions {
  identity: string;
  trustDomain: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  refreshMs: number;
  logger: Logger;
}

/**
 * Certificates from files that something else keeps fresh (a mesh, cert-manager, Vault Agent). Start-up waits for
 * the first read and checks that the certificate carries this service's identity.
 */
export async function filesTls(options: FilesTlsOptions): Promise<GrpcTls> {
  const watcher = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: options.certFile,
    privateKeyFile: options.keyFile,
    caCertificateFile: options.caFile,
    refreshIntervalMs: options.refreshMs,
  });
  const provider = new PushingProvider();
  let latest: KeyPair | undefined;
  let ca: Buffer | undefined;
  let identity: { certificate: Buffer; privateKey: Buffer } | undefined;
  const publish = (): void => {
    if (!ca || !identity) return;
    const x509 = new X509Certificate(identity.certificate);
    latest = { ...identity, ca, serialNumber: x509.serialNumber, expiresAt: Date.parse(x509.validTo) };
    provider.publish(latest);
  };
  const onCa: grpc.experimental.CaCertificateUpdateListener = (u) => {
    if (u) ca = u.caCertificate;
    publish();
  };
  const onIdentity: grpc.experimental.IdentityCertificateUpdateListener = (u) => {
    if (u) identity = { certificate: u.certificate, privateKey: u.privateKey };
    publish();
  };
  watcher.addCaCertificateListener(onCa);
  watcher.addIdentityCertificateListener(onIdentity);
  const stop = (): void => {
    watcher.removeCaCertificateListener(onCa);
    watcher.removeIdentityCertificateListener(onIdentity);
  };
  const deadline = Date.now() + Math.max(5_000, options.refreshMs);
  while (!latest && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!latest) {
    stop();
    throw new Error(`gRPC TLS files could not be read (${options.certFile}, ${options.keyFile}, ${options.caFile})`);
  }
  const x509 = new X509Certificate(latest.certificate);
  const id = identityOfUris(uriSans({ subjectaltname: x509.subjectAltName ?? '' }), options.trustDomain);
  if (id !== options.identity) {
    stop();
    throw new Error(`gRPC TLS certificate ${options.certFile} carries identity ${id ?? 'none'}, expected ${spiffeId(options.trustDomain, options.identity)}`);
  }
  options.logger.info({ identity: spiffeId(options.trustDomain, id), serialNumber: latest.serialNumber, expiresAt: new Date(latest.expiresAt).toISOString() }, 'gRPC mTLS certificate loaded from files');
  return new ProvidedTls('files', options.identity, options.trustDomain, provider, stop);
}

/** Builds the process's gRPC TLS from its settings; `issuer` is needed for `vault`. */
export async function grpcTlsFrom(
  settings: GrpcTlsSettings,
  identity: string,
  logger: Logger,
  issuer?: CertificateIssuer,
): Promise<GrpcTls> {
  if (settings.GRPC_TLS === 'insecure') {
    logger.warn('gRPC runs WITHOUT TLS (GRPC_TLS=insecure, development only): every caller is trusted');
    return insecureTls(settings.GRPC_TLS_TRUST_DOMAIN);
  }
  if (settings.GRPC_TLS === 'files') {
    return filesTls({
      identity,
      trustDomain: settings.GRPC_TLS_TRUST_DOMAIN,
      certFile: settings.GRPC_TLS_CERT_FILE!,
      keyFile: settings.GRPC_TLS_KEY_FILE!,
      caFile: settings.GRPC_TLS_CA_FILE!,
      refreshMs: settings.GRPC_TLS_FILES_REFRESH_MS,
      logger,
    });
  }
  if (!issuer) throw new Error('GRPC_TLS=vault needs a Vault client');
  return vaultTls({
    issuer,
    identity,
    trustDomain: settings.GRPC_TLS_TRUST_DOMAIN,
    mount: settings.GRPC_TLS_PKI_MOUNT,
    role: settings.GRPC_TLS_PKI_ROLE || identity,
    ttlMs: settings.GRPC_TLS_CERT_TTL_MS,
    altNames: settings.GRPC_TLS_ALT_NAMES,
    ipSans: settings.GRPC_TLS_IP_SANS,
    logger,
  });
}
