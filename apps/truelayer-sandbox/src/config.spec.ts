import { loadConfig } from '@ais/platform-config';
import { adminEnabled, clientsFromConfig, configSchema } from './config';

describe('config', () => {
  it('defaults and the default dev client', () => {
    const cfg = loadConfig('truelayer-sandbox', configSchema, { SANDBOX_CLIENT_SECRET: 's' });
    expect(cfg.SANDBOX_HOST).toBe('127.0.0.1');
    expect(cfg.SANDBOX_PORT).toBe(0);
    expect(clientsFromConfig(cfg)).toEqual([
      { client_id: 'sandbox-ais-platform', client_secret: 's', redirect_uris: ['http://127.0.0.1:3000/callback', 'http://localhost:3000/callback'] },
    ]);
    expect(adminEnabled(cfg)).toBe(true);
    expect(cfg.SANDBOX_CLOCK).toEqual({ kind: 'real' });
    expect(adminEnabled(loadConfig('x', configSchema, { SANDBOX_CLIENT_SECRET: 's', NODE_ENV: 'production' }))).toBe(false);
  });

  it('requires a secret unless SANDBOX_CLIENTS is given, and validates SANDBOX_CLIENTS', () => {
    expect(() => loadConfig('x', configSchema, {})).toThrow(/SANDBOX_CLIENT_SECRET/);
    const clients = JSON.stringify([{ client_id: 'a', client_secret: 'b', redirect_uris: ['https://x.example/cb'] }]);
    expect(clientsFromConfig(loadConfig('x', configSchema, { SANDBOX_CLIENTS: clients }))[0]?.client_id).toBe('a');
    expect(() => loadConfig('x', configSchema, { SANDBOX_CLIENTS: '[{"client_id":1}]' })).toThrow(/SANDBOX_CLIENTS/);
  });

  it('never echoes the secret in configuration errors', () => {
    try {
      loadConfig('x', configSchema, { SANDBOX_CLIENT_SECRET: 'super-secret-value', SANDBOX_PORT: 'abc' });
      throw new Error('expected failure');
    } catch (err) {
      expect(String(err)).not.toContain('super-secret-value');
    }
  });

  it('reads SANDBOX_CLOCK as a clock spec', () => {
    const cfg = loadConfig('x', configSchema, { SANDBOX_CLIENT_SECRET: 's', SANDBOX_CLOCK: 'scaled:1700000000000:1767225600000:1440' });
    expect(cfg.SANDBOX_CLOCK).toEqual({ kind: 'scaled', realAnchorMs: 1_700_000_000_000, simAnchorMs: 1_767_225_600_000, rate: 1440 });
    expect(() => loadConfig('x', configSchema, { SANDBOX_CLIENT_SECRET: 's', SANDBOX_CLOCK: 'fast' })).toThrow(/SANDBOX_CLOCK: expected 'real' or 'scaled/);
  });
});
