import { Lifecycle } from './index';

const silent = { info: () => undefined, error: () => undefined };

describe('Lifecycle', () => {
  it('runs phases in order, hooks of one phase together, and exits 0', async () => {
    const order: string[] = [];
    const exit = jest.fn();
    const lc = new Lifecycle({ timeoutMs: 1000, logger: silent, exit })
      .on('flush', 'db', () => void order.push('flush:db'))
      .on('readiness', 'health', () => void order.push('readiness'))
      .on('intake', 'consumer', async () => {
        await new Promise((r) => setTimeout(r, 20));
        order.push('intake:consumer');
      })
      .on('intake', 'server', () => void order.push('intake:server'))
      .on('drain', 'inflight', () => void order.push('drain'));
    await expect(lc.shutdown('test')).resolves.toBe(0);
    expect(order).toEqual(['readiness', 'intake:server', 'intake:consumer', 'drain', 'flush:db']);
    expect(exit).toHaveBeenCalledWith(0);
  });

  it('runs only once even when signalled twice', async () => {
    const hook = jest.fn();
    const exit = jest.fn();
    const lc = new Lifecycle({ timeoutMs: 1000, logger: silent, exit }).on('flush', 'x', hook);
    await Promise.all([lc.shutdown('a'), lc.shutdown('b')]);
    expect(hook).toHaveBeenCalledTimes(1);
    expect(exit).toHaveBeenCalledTimes(1);
  });

  it('forces and exits 1 when a hook hangs past the timeout', async () => {
    const onTimeout = jest.fn();
    const exit = jest.fn();
    const lc = new Lifecycle({ timeoutMs: 50, logger: silent, exit, onTimeout }).on(
      'drain',
      'stuck',
      () => new Promise<void>(() => undefined),
    );
    await expect(lc.shutdown('test')).resolves.toBe(1);
    expect(onTimeout).toHaveBeenCalled();
    expect(exit).toHaveBeenCalledWith(1);
  });

  it('keeps going after a failing hook but reports exit 1', async () => {
    const later = jest.fn();
    const exit = jest.fn();
    const lc = new Lifecycle({ timeoutMs: 1000, logger: silent, exit })
      .on('intake', 'bad', () => {
        throw new Error('nope');
      })
      .on('flush', 'later', later);
    await expect(lc.shutdown('test')).resolves.toBe(1);
    expect(later).toHaveBeenCalled();
  });
});
