import { chooseStackProvider, parseEngineTimeout, parseProviderRequest, type EngineDetector } from './stack-provider';

const reachable: EngineDetector = () => Promise.resolve('unix:///var/run/docker.sock, Docker Desktop, server API 1.47');
const unreachable: EngineDetector = () => Promise.reject(new Error('Could not find a working container runtime strategy'));
const hanging: EngineDetector = () => new Promise<string>(() => undefined);

describe('chooseStackProvider', () => {
  it('auto takes containers when an engine is reachable, and says which', async () => {
    const choice = await chooseStackProvider({ request: 'auto', detect: reachable });
    expect(choice.provider).toBe('containers');
    expect(choice.reason).toContain('docker.sock');
  });

  it('auto takes native when no engine is reachable, with the detector’s reason', async () => {
    const choice = await chooseStackProvider({ request: 'auto', detect: unreachable });
    expect(choice).toEqual({ provider: 'native', reason: 'auto: no container engine reachable (Could not find a working container runtime strategy)' });
  });

  it('auto takes native when detection does not answer in time, without waiting longer than the timeout', async () => {
    const t0 = Date.now();
    const choice = await chooseStackProvider({ request: 'auto', detect: hanging, timeoutMs: 150 });
    const took = Date.now() - t0;
    expect(choice.provider).toBe('native');
    expect(choice.reason).toContain('no answer within 150 ms');
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(2_000);
  });

  it('native never asks for an engine', async () => {
    const detect = jest.fn(reachable);
    const choice = await chooseStackProvider({ request: 'native', detect });
    expect(choice.provider).toBe('native');
    expect(detect).not.toHaveBeenCalled();
  });

  it('containers uses the engine when reachable', async () => {
    await expect(chooseStackProvider({ request: 'containers', detect: reachable })).resolves.toMatchObject({ provider: 'containers' });
  });

  it('containers without a reachable engine fails with the reason instead of falling back', async () => {
    await expect(chooseStackProvider({ request: 'containers', detect: unreachable })).rejects.toThrow(
      'AIS_STACK_PROVIDER=containers, but no container engine is reachable: Could not find a working container runtime strategy',
    );
    await expect(chooseStackProvider({ request: 'containers', detect: hanging, timeoutMs: 50 })).rejects.toThrow('no answer within 50 ms');
  });
});

describe('AIS_STACK_PROVIDER and AIS_STACK_ENGINE_TIMEOUT_MS', () => {
  it('default to auto and 10 s; take the three names; reject anything else clearly', () => {
    expect(parseProviderRequest(undefined)).toBe('auto');
    expect(parseProviderRequest('')).toBe('auto');
    expect(['native', 'containers', 'auto'].map(parseProviderRequest)).toEqual(['native', 'containers', 'auto']);
    expect(() => parseProviderRequest('docker')).toThrow('AIS_STACK_PROVIDER=docker is not one of native, containers, auto');
    expect(parseEngineTimeout(undefined)).toBe(10_000);
    expect(parseEngineTimeout('2500')).toBe(2500);
    expect(() => parseEngineTimeout('soon')).toThrow('AIS_STACK_ENGINE_TIMEOUT_MS=soon is not a positive whole number');
  });
});
