import { metrics } from '@opentelemetry/api';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { labelValue, lazyInstruments, startMetrics } from './metrics';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const settings = { serviceName: 'svc-under-test', serviceVersion: '1.2.3', environment: 'test', host: '127.0.0.1' };

describe('metrics endpoint', () => {
  afterEach(() => metrics.disable());

  it('serves what instruments record as Prometheus text on METRICS_PORT, and stops listening at shutdown', async () => {
    const port = await freePort();
    const handle = startMetrics({ ...settings, port });
    await handle.listening;
    const counter = lazyInstruments('spec', (meter) => meter.createCounter('ais_spec_events_total', { description: 'spec' }));
    counter().add(2, { stage: 'first' });
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/^ais_spec_events_total\{[^}]*stage="first"[^}]*\} 2$/m);
    expect(text).toContain('service_name="svc-under-test"'); // target_info carries the service
    await handle.shutdown();
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
    // After shutdown the API is back to no-ops: instruments made again record nothing and do not throw.
    expect(() => counter().add(1)).not.toThrow();
  });

  it('is off with port 0: no provider is registered', async () => {
    const handle = startMetrics({ ...settings, port: 0 });
    expect(handle.enabled).toBe(false);
    await expect(handle.listening).resolves.toBeUndefined();
    const before = metrics.getMeterProvider();
    expect(before.constructor.name).toBe('NoopMeterProvider');
  });

  it('rejects `listening` clearly when the port is taken', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const handle = startMetrics({ ...settings, port });
      await expect(handle.listening).rejects.toMatchObject({ code: 'metrics_listen_failed', message: expect.stringContaining(`127.0.0.1:${port}`) });
      await handle.shutdown();
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('makes provider and kind ids label values; anything else is `other`, a missing one `unknown`', () => {
    expect(labelValue('ob-lloyds')).toBe('ob-lloyds');
    expect(labelValue('transactions')).toBe('transactions');
    expect(labelValue(undefined)).toBe('unknown');
    expect(labelValue('')).toBe('unknown');
    expect(labelValue('Bearer abc.def')).toBe('other');
    expect(labelValue('https://x/y')).toBe('other');
    expect(labelValue('x'.repeat(65))).toBe('other');
  });
});
