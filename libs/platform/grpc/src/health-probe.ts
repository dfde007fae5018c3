/**
 * The container health check of a gRPC service (`node health-probe.js <service>`, the image's HEALTHCHECK and the
 * Kubernetes exec probes): asks the service's own grpc.health.v1 Check on its local port and exits 0 only when the
 * answer is SERVING. It reads the service's own settings, so it speaks the same transport security:
 * - `insecure`: plaintext;
 * - `files`: mutual TLS with the service's own certificate files (health may be called by any certificate of the
 *   platform's CA, access.ts) and the server's identity checked against the service's SPIFFE id;
 * - `vault`: the certificate lives only in the service's memory, so the probe can present none: it checks that the
 *   port accepts a TLS connection (weaker; deployments use `files`, infra/k8s/README.md).
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { checkHealth } from './client';
import { peerIdentity, spiffeId, type ChannelSecurity } from './tls';

export type ProbePlan =
  | { kind: 'health'; address: string; mode: 'insecure' | 'files'; service: string; trustDomain: string; files?: { cert: string; key: string; ca: string } }
  | { kind: 'tls-connect'; host: string; port: number };

/** What to probe, from the service's environment; throws a one-line reason when the settings cannot be probed. */
export function probePlan(service: string, env: Readonly<Record<string, string | undefined>>): ProbePlan {
  const port = Number(env['GRPC_PORT']);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('GRPC_PORT must be a fixed port (1-65535) to be probed');
  const bound = env['GRPC_HOST'] ?? '127.0.0.1';
  // a wildcard bind is reached on loopback
  const host = bound === '0.0.0.0' || bound === '::' || bound === '' ? '127.0.0.1' : bound;
  const mode = env['GRPC_TLS'] ?? 'vault';
  const trustDomain = env['GRPC_TLS_TRUST_DOMAIN'] ?? 'ais-platform';
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (mode === 'insecure') return { kind: 'health', address, mode, service, trustDomain };
  if (mode === 'files') {
    const cert = env['GRPC_TLS_CERT_FILE'];
    const key = env['GRPC_TLS_KEY_FILE'];
    const ca = env['GRPC_TLS_CA_FILE'];
    if (!cert || !key || !ca) throw new Error('GRPC_TLS=files needs GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE and GRPC_TLS_CA_FILE');
    return { kind: 'health', address, mode, service, trustDomain, files: { cert, key, ca } };
  }
  if (mode === 'vault') return { kind: 'tls-connect', host, port };
  throw new Error(`unknown GRPC_TLS mode '${mode}'`);
}

function security(plan: Extract<ProbePlan, { kind: 'health' }>): ChannelSecurity {
  if (!plan.files) return { credentials: grpc.credentials.createInsecure(), options: {} };
  const credentials = grpc.credentials.createSsl(readFileSync(plan.files.ca), readFileSync(plan.files.key), readFileSync(plan.files.cert), {
    checkServerIdentity: (_host, cert) => {
      const id = peerIdentity(cert, plan.trustDomain);
      return id === plan.service ? undefined : new Error(`server identity ${id ?? 'missing'}, expected ${spiffeId(plan.trustDomain, plan.service)}`);
    },
  });
  return { credentials, options: { 'grpc.ssl_target_name_override': plan.service } };
}

function tlsConnect(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // no client certificate: the server refuses the handshake after it, but answering TLS at all is the signal
    const socket = tls.connect({ host, port, ALPNProtocols: ['h2'], rejectUnauthorized: false, timeout: timeoutMs });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve('TLS_ACCEPTED');
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no TLS answer from ${host}:${port} within ${timeoutMs} ms`));
    });
    socket.once('error', reject);
  });
}

/** Runs the probe; resolves to the observed status ('SERVING' / 'TLS_ACCEPTED' are healthy). */
export async function runProbe(plan: ProbePlan, timeoutMs = 3_000): Promise<string> {
  if (plan.kind === 'tls-connect') return tlsConnect(plan.host, plan.port, timeoutMs);
  // '' = the whole server (SERVING once every service of the process is ready, server.ts)
  return checkHealth(plan.address, security(plan), '', timeoutMs);
}

export function healthy(status: string): boolean {
  return status === 'SERVING' || status === 'TLS_ACCEPTED';
}
