import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaSecurityOptions } from './kafka';

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
