/**
 * The Compose files load with compose-go (the library Docker Compose uses: the compose-spec schema, interpolation,
 * references) and the Kubernetes manifests validate against the schemas of the pinned Kubernetes version
 * (kubernetes-validate, strict: unknown fields are errors). No container engine or cluster is involved. Both tools
 * come from infra/install.sh (`bash infra/install.sh compose-check kubernetes-validate`; `npm test` runs it first).
 */
import { COMPOSE_PLACEHOLDER, composeServiceEnv } from '@ais/testing';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const versions = readFileSync(join(ROOT, 'infra/versions.env'), 'utf8');
const pinned = (name: string) => new RegExp(`^${name}=(\\S+)$`, 'm').exec(versions)![1]!;
const cache = process.env['AIS_INFRA_HOME'] ?? join(homedir(), '.cache/ais-platform');
const composeCheck = join(cache, `compose-check-${pinned('COMPOSE_GO_VERSION')}`, 'bin/compose-check');
const kubeValidate = join(cache, `kubernetes-validate-${pinned('KUBERNETES_VALIDATE_VERSION')}`, 'venv/bin/kubernetes-validate');
const K8S = pinned('KUBERNETES_SCHEMA_VERSION');

function tool(bin: string, args: string[]): { status: number | null; out: string } {
  if (!existsSync(bin)) throw new Error(`${bin} is not installed: run bash infra/install.sh compose-check kubernetes-validate`);
  const r = spawnSync(bin, args, { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const secrets = ['-env', `VAULT_TOKEN=${COMPOSE_PLACEHOLDER}`, '-env', `SANDBOX_CLIENT_SECRET=${COMPOSE_PLACEHOLDER}`];
const PLATFORM = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation', 'truelayer-sandbox'];

describe('compose files (compose-go)', () => {
  it('loads the infrastructure file', () => {
    const r = tool(composeCheck, [...secrets, 'infra/compose.yaml']);
    expect(r).toEqual({ status: 0, out: 'kafka\nmongo\nvault\nvault-init\nzipkin\n' });
  });

  it('loads the platform file with the infrastructure it includes and every service', () => {
    const r = tool(composeCheck, [...secrets, 'infra/compose.platform.yaml']);
    expect(r.status).toBe(0);
    expect(r.out.trim().split('\n')).toEqual(expect.arrayContaining([...PLATFORM, 'mongo', 'kafka', 'vault', 'vault-platform-init']));
  });

  it('gives each service the environment the unit tests check (anchors, merges and interpolation alike)', () => {
    const r = tool(composeCheck, ['-json', ...secrets, 'infra/compose.platform.yaml']);
    expect(r.status).toBe(0);
    const project = JSON.parse(r.out) as { services: Record<string, { environment: Record<string, string | null> }> };
    const text = readFileSync(join(ROOT, 'infra/compose.platform.yaml'), 'utf8');
    for (const svc of PLATFORM) expect([svc, project.services[svc]!.environment]).toEqual([svc, composeServiceEnv(text, svc)]);
  });

  it('refuses to start without the secrets it takes from the caller', () => {
    const r = tool(composeCheck, ['infra/compose.platform.yaml']);
    expect(r.status).toBe(1);
    expect(r.out).toContain('required variable VAULT_TOKEN is missing a value');
  });

  it('rejects what Compose rejects: an unknown key, a dependency on a missing service', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compose-check-'));
    writeFileSync(join(dir, 'a.yaml'), 'services:\n  a:\n    image: x:1.0.0\n    restart_policy: always\n');
    writeFileSync(join(dir, 'b.yaml'), 'services:\n  a:\n    image: x:1.0.0\n    depends_on: [nope]\n');
    expect(tool(composeCheck, [join(dir, 'a.yaml')])).toMatchObject({ status: 1, out: expect.stringContaining('restart_policy') });
    expect(tool(composeCheck, [join(dir, 'b.yaml')])).toMatchObject({ status: 1, out: expect.stringContaining('nope') });
  });
});

describe(`Kubernetes manifests (schemas of Kubernetes ${K8S}, strict)`, () => {
  const files = ['infra/k8s/namespace.yaml', ...readdirSync(join(ROOT, 'infra/k8s'), { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) => readdirSync(join(ROOT, 'infra/k8s', d.name)).filter((f) => f.endsWith('.yaml')).map((f) => `infra/k8s/${d.name}/${f}`))];

  it('validates every manifest', () => {
    expect(files.length).toBeGreaterThanOrEqual(26);
    const r = tool(kubeValidate, ['--strict', '-k', K8S, ...files]);
    expect(r.out).not.toMatch(/ERROR|WARN/);
    expect(r.status).toBe(0);
    for (const f of files) expect(r.out).toContain(`${f} passed`);
  });

  it('rejects a misspelt field and a wrong type', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8s-validate-'));
    const deployment = readFileSync(join(ROOT, 'infra/k8s/enrichment/deployment.yaml'), 'utf8');
    writeFileSync(join(dir, 'typo.yaml'), deployment.replace('readinessProbe:', 'readinesProbe:'));
    writeFileSync(join(dir, 'type.yaml'), deployment.replace('replicas: 2', 'replicas: two'));
    expect(tool(kubeValidate, ['--strict', '-k', K8S, join(dir, 'typo.yaml')]).status).not.toBe(0);
    expect(tool(kubeValidate, ['--strict', '-k', K8S, join(dir, 'type.yaml')]).status).not.toBe(0);
  });
});
