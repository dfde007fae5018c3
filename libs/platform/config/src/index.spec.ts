import { ConfigError, checkGrpcTls, checkTransportSecurity, commonSchema, grpcTlsSchema, kafkaSchema, kafkaSecurityFrom, loadConfig, mongoSchema, mongoSecurityFrom, vaultOptionalSchema, z } from './index';

describe('loadConfig', () => {
  const schema = commonSchema.extend(mongoSchema.shape).extend(kafkaSchema.shape);

  it('parses and coerces a valid environment, applying defaults', () => {
    const cfg = loadConfig('svc', schema, {
      MONGODB_URI: 'mongodb://127.0.0.1:27017/?directConnection=true',
      MONGODB_DB: 'svc',
      KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9093',
      KAFKA_CLIENT_ID: 'svc',
    });
    expect(cfg.KAFKA_BROKERS).toEqual(['127.0.0.1:9092', '127.0.0.1:9093']);
    expect(cfg.LOG_LEVEL).toBe('info');
    expect(cfg.MONGODB_CONNECT_TIMEOUT_MS).toBe(10_000);
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('lists every missing or malformed variable by name, without echoing values', () => {
    const secret = 'not-a-uri-but-maybe-a-secret';
    let caught: unknown;
    try {
      loadConfig('svc', schema, { MONGODB_URI: secret, KAFKA_BROKERS: 'nohostport' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.issues.join('\n')).toMatch(/MONGODB_DB: is required but not set/);
    expect(err.issues.join('\n')).toMatch(/KAFKA_CLIENT_ID: is required but not set/);
    expect(err.issues.join('\n')).toMatch(/MONGODB_URI: expected a mongodb:\/\/ URI/);
    expect(err.issues.join('\n')).toMatch(/KAFKA_BROKERS/);
    expect(err.message).not.toContain(secret);
  });

  it('rejects an out-of-range enum value', () => {
    expect(() => loadConfig('svc', z.object({ LOG_LEVEL: commonSchema.shape.LOG_LEVEL }), { LOG_LEVEL: 'loud' })).toThrow(
      /LOG_LEVEL/,
    );
  });
});

describe('gRPC TLS settings', () => {
  const schema = commonSchema.extend(grpcTlsSchema.shape).extend(vaultOptionalSchema.shape).superRefine(checkGrpcTls);
  const vault = { VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 't' };

  it('defaults to certificates from Vault PKI, 24 h, the service name as role, localhost and 127.0.0.1 as names', () => {
    const cfg = loadConfig('svc', schema, vault);
    expect(cfg).toMatchObject({ GRPC_TLS: 'vault', GRPC_TLS_PKI_MOUNT: 'pki', GRPC_TLS_PKI_ROLE: '', GRPC_TLS_CERT_TTL_MS: 86_400_000, GRPC_TLS_ALT_NAMES: ['localhost'], GRPC_TLS_IP_SANS: ['127.0.0.1'], GRPC_TLS_TRUST_DOMAIN: 'ais-platform' });
  });

  it('needs Vault for vault mode and the three files for files mode', () => {
    expect(() => loadConfig('svc', schema, {})).toThrow(/VAULT_ADDR: is required but not set/);
    expect(() => loadConfig('svc', schema, { GRPC_TLS: 'files', GRPC_TLS_CERT_FILE: '/c', GRPC_TLS_KEY_FILE: '/k' })).toThrow(/GRPC_TLS_CA_FILE/);
    expect(loadConfig('svc', schema, { GRPC_TLS: 'files', GRPC_TLS_CERT_FILE: '/c', GRPC_TLS_KEY_FILE: '/k', GRPC_TLS_CA_FILE: '/ca' }).GRPC_TLS).toBe('files');
  });

  it('allows insecure only with NODE_ENV=development', () => {
    expect(loadConfig('svc', schema, { GRPC_TLS: 'insecure', NODE_ENV: 'development' }).GRPC_TLS).toBe('insecure');
    for (const NODE_ENV of ['production', 'test']) {
      expect(() => loadConfig('svc', schema, { ...vault, GRPC_TLS: 'insecure', NODE_ENV })).toThrow(/insecure gRPC is allowed only with NODE_ENV=development/);
    }
  });
});

describe('Kafka and MongoDB security settings', () => {
  const schema = commonSchema.extend(kafkaSchema.shape).extend(mongoSchema.shape).superRefine(checkTransportSecurity);
  const base = { KAFKA_BROKERS: 'k:9092', KAFKA_CLIENT_ID: 'c', MONGODB_URI: 'mongodb://m:27017', MONGODB_DB: 'd' };

  it('maps the variables to client settings, plaintext by default', () => {
    const plain = loadConfig('svc', schema, base);
    expect(kafkaSecurityFrom(plain)).toEqual({});
    expect(mongoSecurityFrom(plain)).toEqual({});
    const prod = loadConfig('svc', schema, {
      ...base,
      KAFKA_TLS: 'true',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'data-fetcher',
      KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka',
      MONGODB_TLS: 'true',
      MONGODB_TLS_CA_FILE: '/ca.pem',
      MONGODB_USERNAME: 'data-fetcher',
      MONGODB_PASSWORD_FILE: '/run/secrets/mongo',
    });
    expect(kafkaSecurityFrom(prod)).toEqual({ tls: { caFile: undefined }, sasl: { mechanism: 'scram-sha-512', username: 'data-fetcher', passwordFile: '/run/secrets/kafka' } });
    expect(mongoSecurityFrom(prod)).toEqual({ tls: { caFile: '/ca.pem', certificateKeyFile: undefined }, auth: { username: 'data-fetcher', passwordFile: '/run/secrets/mongo', authSource: undefined } });
  });

  it('refuses half-set credentials instead of silently connecting without them', () => {
    expect(() => loadConfig('svc', schema, { ...base, KAFKA_SASL_USERNAME: 'u' })).toThrow(/KAFKA_SASL_MECHANISM/);
    expect(() => loadConfig('svc', schema, { ...base, MONGODB_USERNAME: 'u' })).toThrow(/MONGODB_PASSWORD_FILE/);
  });
});
