// Each service carries its own version (apps/<service>/package.json): the image tag in infra/compose.platform.yaml
// and infra/k8s/<service>, and the app.kubernetes.io/version labels, are that version.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are checked field by field below
type K8sObject = Record<string, any>;

const ROOT = join(__dirname, '../..');
const SERVICES = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'];
const version = (app: string) => (JSON.parse(readFileSync(join(ROOT, 'apps', app, 'package.json'), 'utf8')) as { version: string }).version;
const compose = parse(readFileSync(join(ROOT, 'infra/compose.platform.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, { image?: string; build?: { args?: Record<string, string> } }>;
};

describe.each([...SERVICES, 'truelayer-sandbox'])('%s', (app) => {
  it('has a semantic version of its own', () => {
    expect(version(app)).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  });

  it("is tagged with it in the compose file (image and the image's VERSION label)", () => {
    const svc = compose.services[app]!;
    const variable = `${app.toUpperCase().replace(/-/g, '_')}_VERSION`;
    expect(svc.image).toBe(`ais-platform/${app}:\${${variable}:-${version(app)}}`);
    expect(svc.build?.args?.['VERSION']).toBe(`\${${variable}:-${version(app)}}`);
  });
});

describe.each(SERVICES)('infra/k8s/%s', (app) => {
  const dir = join(ROOT, 'infra/k8s', app);
  const objects = ['deployment.yaml', 'service.yaml', 'pdb.yaml', 'configmap.yaml', 'serviceaccount.yaml'].flatMap((f) =>
    existsSync(join(dir, f)) ? parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as K8sObject) : [],
  );

  it('has a Deployment, Service, PodDisruptionBudget, ConfigMap and ServiceAccount', () => {
    expect(objects.map((o) => o['kind']).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
  });

  it('runs the image of its version and labels every object with it', () => {
    const deployment = objects.find((o) => o['kind'] === 'Deployment')!;
    expect(deployment['spec'].template.spec.containers[0].image).toBe(`ais-platform/${app}:${version(app)}`);
    expect(deployment['spec'].template.metadata.labels['app.kubernetes.io/version']).toBe(version(app));
    for (const o of objects) expect([o['kind'], o['metadata'].labels['app.kubernetes.io/version']]).toEqual([o['kind'], version(app)]);
  });

  it('has probes, resource requests and limits, a non-root security context, and a PDB selecting its pods', () => {
    const deployment = objects.find((o) => o['kind'] === 'Deployment')!;
    const pod = deployment['spec'].template.spec;
    const c = pod.containers[0];
    expect(c.readinessProbe).toBeDefined();
    expect(c.livenessProbe).toBeDefined();
    expect(c.resources.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(c.resources.limits).toMatchObject({ memory: expect.anything() });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    const pdb = objects.find((o) => o['kind'] === 'PodDisruptionBudget')!;
    expect(pdb['spec'].selector.matchLabels).toEqual(deployment['spec'].selector.matchLabels);
    expect(deployment['spec'].replicas).toBeGreaterThan(1);
  });

  it('takes secrets from Vault, never as values: no Secret objects, no secret-named variable with a value', () => {
    expect(objects.map((o) => o['kind'])).not.toContain('Secret');
    const cm = objects.find((o) => o['kind'] === 'ConfigMap')!;
    const secretish = Object.keys(cm['data']).filter((k) => /(TOKEN|SECRET|PASSWORD|PRIVATE_KEY)$/.test(k));
    expect(secretish).toEqual([]);
    const annotations = objects.find((o) => o['kind'] === 'Deployment')!['spec'].template.metadata.annotations;
    expect(annotations['vault.hashicorp.com/agent-inject']).toBe('true');
    expect(annotations['vault.hashicorp.com/role']).toBe(`ais-${app}`);
  });
});
