import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { composeStackSpecs, containersStackEnv, formatEnvFile, kafkaStartScript } from './stack-containers';
import { parseEnvFile, readStackEnv } from './stack';
import { STACK_ENV_FILE_KEYS, stackEnvKeys } from './stack-provider';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const INFRA = join(__dirname, '../../../infra');

/** The KEY= lines infra/stack.sh's printf formats write into stack.env (run/<server>.env and the AIS_STACK_DIR line). */
function nativeStackEnvKeys(): string[] {
  const script = readFileSync(join(INFRA, 'stack.sh'), 'utf8');
  const keys: string[] = [];
  for (const m of script.matchAll(/printf '([^']*)'/g)) {
    for (const part of (m[1] ?? '').split('\\n')) {
      const k = /^([A-Z][A-Z0-9_]+)=/.exec(part);
      if (k?.[1]) keys.push(k[1]);
    }
  }
  return keys;
}

const endpoints = { host: 'localhost', kafkaPort: 32771, mongoPort: 32772, vaultPort: 32773, zipkinPort: 32774, vaultToken: 'a'.repeat(48) };

describe('stack.env keys shared by both providers', () => {
  it('the native stack (infra/stack.sh) writes exactly the keys STACK_ENV_FILE_KEYS gives it', () => {
    expect(nativeStackEnvKeys().sort()).toEqual(stackEnvKeys('native').sort());
  });

  it('the containers stack writes exactly its keys: the native ones without the native store’s PostgreSQL and Prometheus', () => {
    const env = containersStackEnv('/tmp/ais-stack-x', endpoints);
    expect(Object.keys(env)).toEqual(stackEnvKeys('containers'));
    const nativeOnly = stackEnvKeys('native').filter((k) => !stackEnvKeys('containers').includes(k));
    expect(nativeOnly).toEqual(['AIS_STORE_PG_PORT', 'AIS_STORE_PSQL', 'PROMETHEUS_URL', 'PROMETHEUS_TARGETS_DIR']);
    expect(Object.keys(STACK_ENV_FILE_KEYS).filter((k) => !nativeOnly.includes(k as never))).toEqual(Object.keys(env));
  });

  it('its values point at the mapped ports, and the file reads back through readStackEnv as the tests read it', () => {
    const env = containersStackEnv('/tmp/ais-stack-x', endpoints);
    expect(env).toMatchObject({
      KAFKA_BROKERS: 'localhost:32771',
      MONGODB_URI: 'mongodb://localhost:32772/?directConnection=true',
      VAULT_ADDR: 'http://localhost:32773',
      ZIPKIN_URL: 'http://localhost:32774',
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://localhost:32774/api/v2/spans',
      AIS_STACK_DIR: '/tmp/ais-stack-x',
    });
    const dir = mkdtempSync(join(tmpdir(), 'ais-tc-env-'));
    writeFileSync(join(dir, 'stack.env'), formatEnvFile(env));
    expect(readStackEnv(join(dir, 'stack.env'))).toEqual(env);
    expect(parseEnvFile(formatEnvFile(env))).toEqual(env);
  });
});

describe('composeStackSpecs', () => {
  it('takes the four servers from infra/compose.yaml, images pinned as written there', () => {
    const specs = composeStackSpecs();
    const compose = readFileSync(join(INFRA, 'compose.yaml'), 'utf8');
    for (const name of ['mongo', 'kafka', 'vault', 'zipkin'] as const) {
      expect(compose).toContain(`image: ${specs[name].image}`);
      expect(specs[name].image).toMatch(/:[\w][\w.-]*$/);
    }
    expect(specs.kafka.environment['KAFKA_PROCESS_ROLES']).toBe('broker,controller');
    expect(specs.vault.command).toEqual(expect.arrayContaining(['server', '-dev']));
    expect(specs.zipkin.environment['STORAGE_TYPE']).toBe('mem');
  });

  it('refuses a missing server or an unpinned image', () => {
    expect(() => composeStackSpecs('services:\n  mongo: { image: "mongo:7.0" }\n')).toThrow('infra/compose.yaml has no service "kafka"');
    const latest = 'services:\n  mongo: { image: "mongo" }\n  kafka: { image: "k:1" }\n  vault: { image: "v:1" }\n  zipkin: { image: "z:1" }\n';
    expect(() => composeStackSpecs(latest)).toThrow('service "mongo" needs an image with a pinned tag');
  });
});

describe('kafkaStartScript', () => {
  it('advertises the mapped port to clients and keeps inter-broker traffic inside the container', () => {
    const script = kafkaStartScript('localhost', 32771);
    expect(script).toContain("KAFKA_ADVERTISED_LISTENERS='PLAINTEXT://localhost:32771,INTERNAL://localhost:29092'");
    expect(script).toContain('KAFKA_INTER_BROKER_LISTENER_NAME=INTERNAL');
    expect(script.trim().split('\n').at(-1)).toBe('exec /etc/kafka/docker/run');
  });
});
