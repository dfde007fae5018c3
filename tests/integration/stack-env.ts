/** Connection settings the integration globalSetup put into process.env, plus per-test isolation helpers. */
import { randomBytes } from 'node:crypto';

export function stackEnv(): Record<string, string> {
  const keys = ['KAFKA_BROKERS', 'MONGODB_URI', 'VAULT_ADDR', 'VAULT_TOKEN', 'ZIPKIN_URL', 'OTEL_EXPORTER_ZIPKIN_ENDPOINT'];
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = process.env[k];
    if (!v) throw new Error(`${k} missing: integration globalSetup did not run`);
    out[k] = v;
  }
  return out;
}

/** A fresh namespace so suites sharing the servers never see each other's data or topics. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}
