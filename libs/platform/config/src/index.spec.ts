import { ConfigError, commonSchema, kafkaSchema, loadConfig, mongoSchema, z } from './index';

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
