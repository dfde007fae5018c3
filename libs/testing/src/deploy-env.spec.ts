import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPOSE_PLACEHOLDER, composeServiceEnv, dockerfileEnv, interpolateCompose, kubernetesEnv, unknownVariables } from './deploy-env';

describe('dockerfileEnv', () => {
  it('reads ENV instructions across continuation lines, quoted or not, and ignores other instructions', () => {
    const text = ['FROM node:20 AS build', 'ENV A=1', 'RUN echo B=2', 'ENV C="x y" \\', '    D=${VERSION} \\', '    E=5', 'CMD ["node"]'].join('\n');
    expect(dockerfileEnv(text)).toEqual({ A: '1', C: 'x y', D: '${VERSION}', E: '5' });
  });
});

describe('Compose environment', () => {
  it('interpolates like Compose with an unknown caller environment', () => {
    expect(interpolateCompose('${A:-dflt}/${B-x}/${C:?set C}/${D}/$$HOME')).toBe(`dflt/x/${COMPOSE_PLACEHOLDER}/${COMPOSE_PLACEHOLDER}/$HOME`);
  });

  it('resolves anchors and merge keys, and both environment forms', () => {
    const text = ['x-env: &env', '  A: "1"', '  B: two', 'services:', '  one:', '    environment:', '      <<: *env', '      B: ${B:-three}', '  two:', '    environment: ["C=4", "D=${D:?}"]'].join('\n');
    expect(composeServiceEnv(text, 'one')).toEqual({ A: '1', B: 'three' });
    expect(composeServiceEnv(text, 'two')).toEqual({ C: '4', D: COMPOSE_PLACEHOLDER });
    expect(composeServiceEnv(text, 'three')).toBeUndefined();
  });
});

describe('kubernetesEnv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-env-'));
  const deployment = (cm: string, command = '') =>
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: svc }',
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      '        - name: svc',
      ...(command ? [`          command: ${command}`] : []),
      `          envFrom: [{ configMapRef: { name: ${cm} } }]`,
      '          env: [{ name: LOG_LEVEL, value: debug }]',
    ].join('\n');
  writeFileSync(join(dir, 'configmap.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: svc-config }\ndata:\n  A: "1"\n  LOG_LEVEL: info\n');

  it('merges the referenced ConfigMap and the container env (env wins), and sees the Vault token file', () => {
    writeFileSync(join(dir, 'deployment.yaml'), deployment('svc-config', `["/bin/sh", "-c", "VAULT_TOKEN=\\"$(cat /vault/secrets/token)\\" exec node main.js"]`));
    expect(kubernetesEnv(dir, 'svc')).toEqual({ A: '1', LOG_LEVEL: 'debug', VAULT_TOKEN: 'vault-agent-token-file' });
  });

  it('fails on a ConfigMap that is not there', () => {
    writeFileSync(join(dir, 'deployment.yaml'), deployment('other-config'));
    expect(() => kubernetesEnv(dir, 'svc')).toThrow(/ConfigMap other-config/);
  });
});

it('unknownVariables allows the schema and the telemetry bootstrap only', () => {
  expect(unknownVariables({ A: '1', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', TYPO: 'x' }, ['A'])).toEqual(['TYPO']);
});
