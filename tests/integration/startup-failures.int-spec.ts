/** Misconfiguration fails fast, once, with a clear message: never a stack-trace loop, never a hang. */
import { runToExit } from '@ais/testing';
import { stackEnv } from './stack-env';

jest.setTimeout(120_000);

describe('start-up failures', () => {
  const infra = stackEnv();
  const base: Record<string, string> = { ...infra, OTEL_TRACES_EXPORTER: 'none', MONGODB_CONNECT_TIMEOUT_MS: '1500', KAFKA_CONNECT_TIMEOUT_MS: '1500', VAULT_TIMEOUT_MS: '1000' };

  it('a missing variable exits 78 naming the variable, before connecting anywhere', async () => {
    const env: Record<string, string> = { ...base };
    delete env['MONGODB_URI'];
    const r = await runToExit('token-vault', env);
    expect(r.code).toBe(78);
    expect(r.output).toContain('MONGODB_URI: is required but not set');
    expect(r.output).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.output).not.toContain(infra['VAULT_TOKEN']!);
  });

  it('a malformed variable exits 78 naming it', async () => {
    const r = await runToExit('auth-gateway', { ...base, TOKEN_VAULT_ADDR: 'not an address', DATA_FETCHER_ADDR: '127.0.0.1:1' });
    expect(r.code).toBe(78);
    expect(r.output).toContain('TOKEN_VAULT_ADDR: expected host:port');
  });

  it('an unreachable MongoDB exits 1 with one clear fatal line', async () => {
    const r = await runToExit('data-fetcher', { ...base, TOKEN_VAULT_ADDR: '127.0.0.1:1', MONGODB_URI: 'mongodb://127.0.0.1:1/?directConnection=true' });
    expect(r.code).toBe(1);
    const fatal = r.lines.filter((l) => l['level'] === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code: 'mongo_unreachable' });
    expect(String(fatal[0]!['msg'])).toContain('cannot reach MongoDB at 127.0.0.1:1');
    expect(r.ms).toBeLessThan(30_000);
  });

  it('an unreachable Vault exits 1 with one clear fatal line', async () => {
    const r = await runToExit('token-vault', { ...base, VAULT_ADDR: 'http://127.0.0.1:1' });
    expect(r.code).toBe(1);
    const fatal = r.lines.filter((l) => l['level'] === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(String(fatal[0]!['msg'])).toContain('Vault at http://127.0.0.1:1 is unreachable');
    expect(r.output).not.toContain(infra['VAULT_TOKEN']!);
  });

  it('an unreachable Kafka exits 1 within the start-up budget with one fatal line naming the address', async () => {
    const r = await runToExit('enrichment', { ...base, KAFKA_BROKERS: '127.0.0.1:1', STARTUP_TIMEOUT_MS: '3000' }, 60_000);
    expect(r.code).toBe(1);
    const fatal = r.lines.filter((l) => l['level'] === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code: 'kafka_unreachable' });
    expect(String(fatal[0]!['msg'])).toContain('cannot reach Kafka at 127.0.0.1:1 within 3000 ms');
    expect(r.ms).toBeLessThan(15_000); // 3 s budget + process start and shutdown, not kafkajs' own ~38 s
  });

  it('the default start-up budget is about 10 s', async () => {
    const r = await runToExit('reconciliation', { ...base, KAFKA_BROKERS: '127.0.0.1:1' }, 60_000);
    expect(r.code).toBe(1);
    expect(String(r.lines.find((l) => l['level'] === 'fatal')?.['msg'])).toContain('cannot reach Kafka at 127.0.0.1:1 within 10000 ms');
    expect(r.ms).toBeGreaterThan(9_000);
    expect(r.ms).toBeLessThan(22_000);
  });
});
