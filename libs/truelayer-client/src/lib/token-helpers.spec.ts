import { isAccessTokenExpiring, SingleFlight } from './token-helpers';

describe('isAccessTokenExpiring', () => {
  const t = { expiresAt: new Date(100_000) };
  it('uses the skew', () => {
    expect(isAccessTokenExpiring(t, 30_000)).toBe(false);
    expect(isAccessTokenExpiring(t, 40_000)).toBe(true);
    expect(isAccessTokenExpiring(t, 95_000, 0)).toBe(false);
    expect(isAccessTokenExpiring(t, 100_000, 0)).toBe(true);
  });
});

describe('SingleFlight', () => {
  it('shares one execution per key and forgets it afterwards', async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const fn = async () => {
      runs++;
      await gate;
      return runs;
    };
    const a = sf.run('conn-1', fn);
    const b = sf.run('conn-1', fn);
    const c = sf.run('conn-2', fn);
    expect(sf.size).toBe(2);
    release();
    await expect(Promise.all([a, b, c])).resolves.toEqual([2, 2, 2]);
    expect(runs).toBe(2);
    expect(sf.size).toBe(0);
  });
  it('propagates failures to every waiter and allows a retry', async () => {
    const sf = new SingleFlight<string>();
    const boom = () => Promise.reject(new Error('boom'));
    await expect(Promise.all([sf.run('k', boom), sf.run('k', boom)])).rejects.toThrow('boom');
    await expect(sf.run('k', async () => 'ok')).resolves.toBe('ok');
  });
});
