import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KAFKA_RETRY, kafkaSecurityOptions } from './kafka';

// kafkajs's own retry loop, the one its producers, consumers and cluster run with the options given to the client
// eslint-disable-next-line @typescript-eslint/no-require-imports
const createRetry = require('kafkajs/src/retry') as (o: object) => (fn: () => Promise<unknown>) => Promise<unknown>;

describe('Kafka transport security for production brokers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kafka-sec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is plaintext with no settings (the local stack)', () => {
    expect(kafkaSecurityOptions(undefined)).toEqual({});
    expect(kafkaSecurityOptions({})).toEqual({});
  });

  it('turns on verified TLS, with a private CA when given', () => {
    expect(kafkaSecurityOptions({ tls: {} })).toEqual({ ssl: true });
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    expect(kafkaSecurityOptions({ tls: { caFile: join(dir, 'ca.pem') } })).toEqual({ ssl: { ca: ['-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n'], rejectUnauthorized: true } });
  });

  it('reads the SASL/SCRAM password from its file, not the environment', () => {
    writeFileSync(join(dir, 'pw'), 's3cret-from-a-mounted-file\n');
    expect(kafkaSecurityOptions({ tls: {}, sasl: { mechanism: 'scram-sha-512', username: 'data-fetcher', passwordFile: join(dir, 'pw') } })).toEqual({
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'data-fetcher', password: 's3cret-from-a-mounted-file' },
    });
    expect(() => kafkaSecurityOptions({ sasl: { mechanism: 'scram-sha-256', username: 'u', passwordFile: join(dir, 'missing') } })).toThrow(/ENOENT/);
  });
});

describe('kafkajs retry of an unreachable broker', () => {
  afterEach(() => jest.useRealTimers());

  it('asks again at most 2 s apart, for over 30 s, before it gives up', async () => {
    jest.useFakeTimers();
    const at: number[] = [];
    const outcome = createRetry(KAFKA_RETRY)(async () => {
      at.push(Date.now());
      throw Object.assign(new Error('connect ECONNREFUSED'), { retriable: true });
    }).catch((e: unknown) => e);
    await jest.runAllTimersAsync();
    expect(String(await outcome)).toMatch(/ECONNREFUSED/);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps).toHaveLength(20);
    // a broker back from a restart is asked again within 2 s (with 10 s apart it sat idle for up to 10 s)
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2_000);
    // and a restart of half a minute is still waited out, as before the cap
    expect(at[at.length - 1]! - at[0]!).toBeGreaterThan(30_000);
  });
});
