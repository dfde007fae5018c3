import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
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

describe('Lifecycle hard timeout in a real process', () => {
  const run = (mode: string) => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', join(__dirname, '../test/shutdown-fixture.ts'), mode], {
      cwd: join(__dirname, '../../../..'),
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: r.status, signal: r.signal, stdout: r.stdout, ms: Date.now() - t0 };
  };

  it('exits 1 at the deadline even when a hook awaits forever and nothing else holds the event loop', () => {
    const r = run('pending');
    expect(r.stdout).toContain('exit 1 after: shutdown started | shutdown timed out; forcing | shutdown complete');
    expect(r.status).toBe(1);
  });

  it('is killed by the watchdog when the main thread itself is blocked', () => {
    const r = run('blocked');
    expect(r.signal).toBe('SIGKILL');
    expect(r.ms).toBeLessThan(15_000); // not the spawnSync timeout (20 s), which would also SIGKILL
  });
});
