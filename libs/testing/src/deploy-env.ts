/**
 * The environment each deployment artefact gives a service, read offline so that each service's unit tests can
 * check it against the service's own zod schema: the image's ENV (apps/<service>/Dockerfile), the Compose service
 * (infra/compose.platform.yaml, anchors and merges resolved, `${VAR:?}` filled with a placeholder and
 * `${VAR:-default}` with its default) and the Kubernetes Deployment (infra/k8s/<service>/: its ConfigMap, the
 * container's env, and VAULT_TOKEN when its command reads the token file).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { telemetrySchema } from '@ais/platform-telemetry';
import { REPO_ROOT } from './stack';

export interface DeployedEnv {
  /** `Dockerfile`, `compose`, `kubernetes` */
  source: string;
  env: Record<string, string>;
  /** false for the image's ENV: a partial environment the deployment completes. */
  complete: boolean;
}

/** The `ENV` of a service's image (apps/<service>/Dockerfile), as `dockerfileEnv` reads it. */
export function imageEnv(service: string): Record<string, string> {
  return dockerfileEnv(readFileSync(join(REPO_ROOT, 'apps', service, 'Dockerfile'), 'utf8'));
}

/** Stands in for a value Compose takes from the caller's environment (`${VAR:?...}`). */
export const COMPOSE_PLACEHOLDER = 'compose-placeholder-value';

/** `ENV` instructions of a Dockerfile (`ENV K=V K2="V 2"` and continuation lines); build ARGs stay as `${ARG}`. */
export function dockerfileEnv(text: string): Record<string, string> {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const env: Record<string, string> = {};
  for (const line of joined.split(/\r?\n/)) {
    const m = /^\s*ENV\s+(.*)$/i.exec(line);
    if (!m) continue;
    for (const pair of m[1]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      const raw = pair[2]!;
      env[pair[1]!] = raw.startsWith('"') ? raw.slice(1, -1) : raw;
    }
  }
  return env;
}

/** Compose's interpolation of one value, with the caller's environment unknown. */
export function interpolateCompose(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (all, _name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (all === '$$') return '$';
    if (op === ':-' || op === '-') return arg ?? '';
    return COMPOSE_PLACEHOLDER;
  });
}

function stringMap(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (Array.isArray(value)) {
    const out: Record<string, string> = {};
    for (const item of value as string[]) {
      const eq = item.indexOf('=');
      if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return out;
  }
  if (typeof value !== 'object') throw new Error(`${where}: expected a map`);
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

/** The environment of one service of a Compose file; undefined when the file has no such service. */
export function composeServiceEnv(text: string, service: string): Record<string, string> | undefined {
  const doc = parse(text, { merge: true }) as { services?: Record<string, { environment?: unknown }> };
  const svc = doc.services?.[service];
  if (!svc) return undefined;
  const env = stringMap(svc.environment, `services.${service}.environment`);
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolateCompose(v)]));
}

interface K8sObject {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
  spec?: { template?: { spec?: { containers?: Array<{ name?: string; command?: string[]; env?: Array<{ name: string; value?: string }>; envFrom?: Array<{ configMapRef?: { name: string } }> }> } } };
}

/** The container environment of a service's Deployment in `dir` (its ConfigMaps, env, and the Vault token file). */
export function kubernetesEnv(dir: string, service: string): Record<string, string> {
  const objects: K8sObject[] = [];
  for (const file of ['configmap.yaml', 'deployment.yaml']) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) objects.push(doc.toJS() as K8sObject);
  }
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === service);
  if (!deployment) throw new Error(`${dir}: no Deployment named ${service}`);
  const container = deployment.spec?.template?.spec?.containers?.find((c) => c.name === service);
  if (!container) throw new Error(`${dir}: Deployment ${service} has no container named ${service}`);
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const name = from.configMapRef?.name;
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === name);
    if (!cm) throw new Error(`${dir}: ConfigMap ${name ?? '?'} referenced by ${service} is not in configmap.yaml`);
    Object.assign(env, cm.data ?? {});
  }
  for (const e of container.env ?? []) env[e.name] = e.value ?? '';
  // the command exports the token file the Vault Agent writes (deployment.yaml)
  if ((container.command ?? []).join(' ').includes('VAULT_TOKEN="$(cat ')) env['VAULT_TOKEN'] = 'vault-agent-token-file';
  return env;
}

/** Every deployment artefact of `service` that exists, with the environment it sets. */
export function deployedEnvs(service: string, root = REPO_ROOT): DeployedEnv[] {
  const out: DeployedEnv[] = [];
  const dockerfile = join(root, 'apps', service, 'Dockerfile');
  if (existsSync(dockerfile)) out.push({ source: 'Dockerfile', env: dockerfileEnv(readFileSync(dockerfile, 'utf8')), complete: false });
  const compose = composeServiceEnv(readFileSync(join(root, 'infra/compose.platform.yaml'), 'utf8'), service);
  if (compose) out.push({ source: 'compose', env: compose, complete: true });
  const k8s = join(root, 'infra/k8s', service);
  if (existsSync(k8s)) out.push({ source: 'kubernetes', env: kubernetesEnv(k8s, service), complete: true });
  return out;
}

/**
 * Variables a service reads besides its own schema's: the telemetry bootstrap's (libs/platform/telemetry) and
 * the OTLP exporter's own (read by the OpenTelemetry SDK).
 */
export const TELEMETRY_VARIABLES: readonly string[] = [...Object.keys(telemetrySchema.shape), 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS'];

/** Keys of `env` that neither `schemaKeys` nor the telemetry bootstrap read. */
export function unknownVariables(env: Record<string, string>, schemaKeys: readonly string[]): string[] {
  const known = new Set([...schemaKeys, ...TELEMETRY_VARIABLES]);
  return Object.keys(env).filter((k) => !known.has(k)).sort();
}
