/**
 * The containers provider of the test stack: the servers of infra/compose.yaml (same images, environment and
 * command) started with testcontainers on mapped ports, Vault set up by infra/vault-setup.sh (the script the native
 * stack runs), and DIR/stack.env written with the keys of STACK_ENV_FILE_KEYS for `containers`.
 *
 * NOT RUN BY THIS PROJECT: its machines have no container engine. It is type-checked and linted, and its pure parts
 * (compose reading, env composition) are unit-tested; starting the containers has never been exercised here.
 * testcontainers is loaded only when this provider is asked for, so the native path does not pay for it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { GenericContainer, StartedTestContainer } from 'testcontainers';
import { CONTAINERS_FILE, stackEnvKeys } from './stack-provider';
import type { StackEnv } from './stack';

const REPO_ROOT = join(__dirname, '../../..');
export const COMPOSE_FILE = join(REPO_ROOT, 'infra/compose.yaml');
const VAULT_SETUP = join(REPO_ROOT, 'infra/vault-setup.sh');

export const CONTAINER_SERVICES = ['mongo', 'kafka', 'vault', 'zipkin'] as const;
export type ContainerService = (typeof CONTAINER_SERVICES)[number];

export interface ComposeServiceSpec {
  image: string;
  environment: Record<string, string>;
  command?: string[];
}

/** The four servers as infra/compose.yaml defines them. Throws when one is missing or its image is not pinned. */
export function composeStackSpecs(text: string = readFileSync(COMPOSE_FILE, 'utf8')): Record<ContainerService, ComposeServiceSpec> {
  const doc = parse(text) as { services?: Record<string, { image?: unknown; environment?: unknown; command?: unknown }> } | null;
  const out = {} as Record<ContainerService, ComposeServiceSpec>;
  for (const name of CONTAINER_SERVICES) {
    const svc = doc?.services?.[name];
    if (!svc) throw new Error(`infra/compose.yaml has no service "${name}"`);
    const image = svc.image;
    if (typeof image !== 'string' || !/:[\w][\w.-]*$/.test(image) || image.endsWith(':latest')) {
      throw new Error(`infra/compose.yaml: service "${name}" needs an image with a pinned tag, found ${JSON.stringify(image)}`);
    }
    const environment: Record<string, string> = {};
    const env = svc.environment;
    if (Array.isArray(env)) {
      for (const item of env) {
        const s = String(item);
        const eq = s.indexOf('=');
        if (eq > 0) environment[s.slice(0, eq)] = s.slice(eq + 1);
      }
    } else if (env && typeof env === 'object') {
      for (const [k, v] of Object.entries(env as Record<string, unknown>)) environment[k] = v === null || v === undefined ? '' : String(v);
    }
    const spec: ComposeServiceSpec = { image, environment };
    if (Array.isArray(svc.command)) spec.command = svc.command.map(String);
    out[name] = spec;
  }
  return out;
}

export interface ContainerEndpoints {
  /** Where the mapped ports are reachable (testcontainers' getHost()). */
  host: string;
  kafkaPort: number;
  mongoPort: number;
  vaultPort: number;
  zipkinPort: number;
  vaultToken: string;
}

/** DIR/stack.env of a containers stack. */
export function containersStackEnv(dir: string, ep: ContainerEndpoints): StackEnv {
  const zipkin = `http://${ep.host}:${String(ep.zipkinPort)}`;
  const values: Record<string, string> = {
    AIS_STACK_DIR: dir,
    KAFKA_BROKERS: `${ep.host}:${String(ep.kafkaPort)}`,
    MONGODB_URI: `mongodb://${ep.host}:${String(ep.mongoPort)}/?directConnection=true`,
    VAULT_ADDR: `http://${ep.host}:${String(ep.vaultPort)}`,
    VAULT_TOKEN: ep.vaultToken,
    ZIPKIN_URL: zipkin,
    OTEL_EXPORTER_ZIPKIN_ENDPOINT: `${zipkin}/api/v2/spans`,
  };
  const env: Record<string, string> = {};
  for (const key of stackEnvKeys('containers')) {
    const v = values[key];
    if (v === undefined) throw new Error(`containers stack: no value for ${key}`);
    env[key] = v;
  }
  return env as StackEnv;
}

export function formatEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
}

/**
 * The listeners the broker advertises: the host's (mapped port) for clients, and the broker's own INTERNAL
 * listener on localhost (inter-broker traffic stays inside the container; the mapped port is not reachable there).
 */
export function kafkaStartScript(host: string, mappedPort: number): string {
  return [
    `export KAFKA_ADVERTISED_LISTENERS='PLAINTEXT://${host}:${String(mappedPort)},INTERNAL://localhost:29092'`,
    `export KAFKA_INTER_BROKER_LISTENER_NAME=INTERNAL`,
    'exec /etc/kafka/docker/run',
    '',
  ].join('\n');
}

const KAFKA_START = '/tmp/ais-kafka-start.sh';
const KAFKA_WAITING = 'ais: waiting for the start script';

/** Resolves with the container engine testcontainers would use; rejects when none is reachable. */
export async function detectContainerEngine(): Promise<string> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  const client = await getContainerRuntimeClient();
  const rt = client.info.containerRuntime;
  return `${rt.host}, ${rt.operatingSystem}, server API ${String(rt.serverVersion)}`;
}

async function waitForKafka(brokers: string, timeoutMs: number): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const admin = new Kafka({ brokers: [brokers], clientId: 'ais-stack-ready', logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      return;
    } catch (error) {
      last = error;
      await new Promise((res) => setTimeout(res, 500));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
  throw new Error(`kafka at ${brokers} not ready after ${String(timeoutMs)} ms: ${String(last)}`);
}

const execFileP = promisify(execFile);

/**
 * Starts the four servers, sets Vault up, writes DIR/stack.env (0600) and DIR/containers.json. On failure stops what
 * it started and throws.
 */
export async function startContainerStack(dir: string, log: (msg: string) => void, timeoutMs = 180_000): Promise<StackEnv> {
  const tc = await import('testcontainers');
  const specs = composeStackSpecs();
  const started: StartedTestContainer[] = [];
  const vaultToken = randomBytes(24).toString('hex');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  chmodSync(dir, 0o700);

  const withSpec = (c: GenericContainer, spec: ComposeServiceSpec, overrides: Record<string, string> = {}): GenericContainer => {
    const environment = { ...spec.environment, ...overrides };
    const unset = Object.keys(environment).filter((k) => environment[k]?.includes('${'));
    if (unset.length > 0) throw new Error(`infra/compose.yaml interpolates ${unset.join(', ')}; the containers stack gives no value for it`);
    c.withEnvironment(environment).withStartupTimeout(timeoutMs);
    return spec.command ? c.withCommand(spec.command) : c;
  };
  const start = async (name: ContainerService, c: GenericContainer): Promise<StartedTestContainer> => {
    const t0 = Date.now();
    const s = await c.start();
    started.push(s);
    log(`[stack] ${name} container ${s.getId().slice(0, 12)} up in ${((Date.now() - t0) / 1000).toFixed(2)}s (${specs[name].image})`);
    return s;
  };

  try {
    const [mongo, kafka, vault, zipkin] = await Promise.all([
      start('mongo', withSpec(new tc.GenericContainer(specs.mongo.image), specs.mongo).withExposedPorts(27017).withWaitStrategy(tc.Wait.forLogMessage(/Waiting for connections/))),
      // the broker must advertise the mapped port, known only once the container runs: it waits for a start script
      start(
        'kafka',
        withSpec(new tc.GenericContainer(specs.kafka.image), specs.kafka)
          .withExposedPorts(9092)
          .withEntrypoint(['sh', '-c', `echo '${KAFKA_WAITING}'; while [ ! -f ${KAFKA_START} ]; do sleep 0.1; done; exec sh ${KAFKA_START}`])
          .withWaitStrategy(tc.Wait.forLogMessage(KAFKA_WAITING)),
      ),
      start(
        'vault',
        withSpec(new tc.GenericContainer(specs.vault.image), specs.vault, { BAO_DEV_ROOT_TOKEN_ID: vaultToken })
          .withAddedCapabilities('IPC_LOCK')
          .withExposedPorts(8200)
          .withWaitStrategy(tc.Wait.forHttp('/v1/sys/health', 8200)),
      ),
      start('zipkin', withSpec(new tc.GenericContainer(specs.zipkin.image), specs.zipkin).withExposedPorts(9411).withWaitStrategy(tc.Wait.forHttp('/health', 9411))),
    ]);
    writeFileSync(join(dir, CONTAINERS_FILE), JSON.stringify({ ids: started.map((c) => c.getId()) }), { mode: 0o600 });

    const env = containersStackEnv(dir, {
      host: kafka.getHost(),
      kafkaPort: kafka.getMappedPort(9092),
      mongoPort: mongo.getMappedPort(27017),
      vaultPort: vault.getMappedPort(8200),
      zipkinPort: zipkin.getMappedPort(9411),
      vaultToken,
    });

    await kafka.copyContentToContainer([{ content: kafkaStartScript(kafka.getHost(), kafka.getMappedPort(9092)), target: KAFKA_START }]);
    await waitForKafka(env.KAFKA_BROKERS, timeoutMs);

    // the token goes to curl through a header file, not argv (as in stack.sh)
    const hdr = join(dir, 'vault.hdr');
    writeFileSync(hdr, `X-Vault-Token: ${vaultToken}\n`, { mode: 0o600 });
    try {
      const { stdout, stderr } = await execFileP('bash', [VAULT_SETUP, env.VAULT_ADDR, hdr], { timeout: 120_000 });
      writeFileSync(join(dir, 'logs/vault-setup.log'), stdout + stderr);
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      writeFileSync(join(dir, 'logs/vault-setup.log'), `${e.stdout ?? ''}${e.stderr ?? ''}`);
      throw new Error(`infra/vault-setup.sh failed against the vault container (see ${join(dir, 'logs/vault-setup.log')})`);
    }

    const file = join(dir, 'stack.env');
    writeFileSync(`${file}.tmp`, formatEnvFile(env), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    log(`[stack] containers stack up; env file: ${file}`);
    return env;
  } catch (error) {
    await Promise.all(started.map((c) => c.stop().catch(() => undefined)));
    throw new Error(`could not start the test servers with testcontainers: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Stops and removes the containers recorded in DIR/containers.json. */
export async function stopContainerStack(dir: string, log: (msg: string) => void = () => undefined): Promise<void> {
  const file = join(dir, CONTAINERS_FILE);
  if (!existsSync(file)) return;
  const { ids } = JSON.parse(readFileSync(file, 'utf8')) as { ids: string[] };
  const { getContainerRuntimeClient } = await import('testcontainers');
  const client = await getContainerRuntimeClient();
  await Promise.all(
    ids.map(async (id) => {
      const c = client.container.getById(id);
      await client.container.stop(c, { timeout: 10 });
      await client.container.remove(c, { removeVolumes: true });
      log(`[stack] container ${id.slice(0, 12)} stopped and removed`);
    }),
  );
  writeFileSync(file, JSON.stringify({ ids: [] }), { mode: 0o600 });
}
