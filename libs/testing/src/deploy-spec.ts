/// <reference types="jest" />
// A service's deployment spec, shared by apps/*/src/deployment.spec.ts. jest's globals are used only when the
// function runs (in jest); loading this module needs none of them, so every process can import @ais/testing, and
// the reference above lets code type-checked without jest's globals (bench/) compile it.
import { telemetrySchema } from '@ais/platform-telemetry';
import { deployedEnvs, unknownVariables } from './deploy-env';

interface ConfigSchema {
  shape: Record<string, { safeParse(v: unknown): { success: boolean } }>;
  safeParse(v: unknown): { error?: { issues: unknown[] } };
}

/**
 * A service's deployment spec (jest): the environment its image, infra/compose.platform.yaml and infra/k8s/<service>
 * set is one the service accepts: only variables its schema reads, and a valid configuration where the environment
 * is complete (compose, Kubernetes) or valid values where it is not (the image's ENV).
 */
export function describeDeployedEnv(service: string, schema: ConfigSchema): void {
  const artefacts = deployedEnvs(service);

  it('has deployment artefacts to check', () => {
    expect(artefacts.map((a) => a.source)).toEqual(expect.arrayContaining(['Dockerfile', 'compose']));
  });

  describe.each(artefacts)('$source', ({ env, complete }) => {
    it('sets only variables the service reads', () => {
      expect(unknownVariables(env, Object.keys(schema.shape))).toEqual([]);
    });

    it('is a valid configuration (a complete environment) or valid values (the image)', () => {
      if (complete) {
        expect(schema.safeParse(env).error?.issues ?? []).toEqual([]);
        return;
      }
      const invalid = Object.entries(env).filter(([k, v]) => schema.shape[k] && !schema.shape[k].safeParse(v).success);
      expect(invalid).toEqual([]);
    });

    // The image's CMD loads the telemetry bootstrap (register.js) first, and it exits 78 on a configuration it refuses
    // (OTEL_SERVICE_NAME is required): what the container gets is the image's ENV, then what compose or Kubernetes set.
    it("lets the telemetry bootstrap start (the image's ENV with what this artefact sets), and names where spans go", () => {
      const merged: Record<string, string | undefined> = { ...artefacts.find((a) => a.source === 'Dockerfile')?.env, ...env };
      const parsed = telemetrySchema.safeParse(merged);
      expect(parsed.error?.issues ?? []).toEqual([]);
      expect(parsed.data?.OTEL_SERVICE_NAME).toBe(service);
      if (!complete || parsed.data?.OTEL_SDK_DISABLED === 'true') return;
      // and a deployment names where its spans go: the exporters' defaults are a collector on the container's loopback
      const exporter = parsed.data?.OTEL_TRACES_EXPORTER;
      const endpoint =
        exporter === 'otlp' ? (merged['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? merged['OTEL_EXPORTER_OTLP_ENDPOINT']) : exporter === 'zipkin' ? merged['OTEL_EXPORTER_ZIPKIN_ENDPOINT'] : 'none needed';
      expect({ exporter, endpoint }).toEqual({ exporter, endpoint: expect.any(String) });
    });
  });
}
