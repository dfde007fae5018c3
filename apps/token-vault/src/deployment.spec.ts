// The environment the image, infra/compose.platform.yaml and infra/k8s/token-vault set is one this service accepts.
import { deployedEnvs, unknownVariables } from '@ais/testing';
import { schema } from './config';

const artefacts = deployedEnvs('token-vault');

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
    const shape: Record<string, { safeParse(v: unknown): { success: boolean } }> = schema.shape;
    const invalid = Object.entries(env).filter(([k, v]) => shape[k] && !shape[k].safeParse(v).success);
    expect(invalid).toEqual([]);
  });
});
