/**
 * Structured JSON logging (pino) with trace correlation and secret redaction.
 *
 * - Every record carries `service.name`, `service.version`, `deployment.environment`.
 * - `trace_id` / `span_id` come from the active OpenTelemetry span (a pino mixin, so it works whatever the load order).
 * - Keys that may hold credentials are redacted at any depth up to {@link REDACT_DEPTH}, and string values that look
 *   like bearer tokens or JWTs are masked by the `err`/`msg` hooks.
 */
import { trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { fdDestination } from './stdout';

export type { Logger } from 'pino';
export { fdDestination, type FdDestination, type FdDestinationOptions } from './stdout';

/** Keys whose values never reach a log line. Lower-case; matched exactly at each depth. */
export const SECRET_KEYS = [
  'authorization',
  'cookie',
  'set-cookie',
  'password',
  'secret',
  'client_secret',
  'clientSecret',
  'token',
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'id_token',
  // OAuth authorization codes: always named so in this code base (never plain `code`, which is an error code).
  'authCode',
  'authorization_code',
  'code_verifier',
  'codeVerifier',
  'apiKey',
  'api_key',
  'x-api-key',
  'ciphertext',
  'plaintext',
  'key',
  'vaultToken',
  'VAULT_TOKEN',
] as const;

export const REDACT_DEPTH = 4;
export const REDACTED = '[REDACTED]';

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of SECRET_KEYS) {
    const plain = /^[A-Za-z_$][\w$]*$/.test(key);
    for (let depth = 0; depth < REDACT_DEPTH; depth += 1) {
      const prefix = Array.from({ length: depth }, () => '*').join('.');
      if (plain) paths.push(prefix ? `${prefix}.${key}` : key);
      else paths.push(prefix ? `${prefix}["${key}"]` : `["${key}"]`);
    }
  }
  return paths;
}

const TOKENISH = /\b(Bearer\s+)[A-Za-z0-9._~+/-]+=*|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;

/** Masks bearer tokens and JWT-shaped strings inside free text. */
export function scrubText(text: string): string {
  return text.replace(TOKENISH, (_m, bearer: string | undefined) => (bearer ? `${bearer}${REDACTED}` : REDACTED));
}

export interface LoggerSettings {
  service: string;
  version?: string;
  environment?: string;
  level?: string;
  /** Where lines go; stdout by default (see {@link fdDestination}: never blocks on a broken or full pipe). Tests pass a stream. */
  destination?: DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: {
      'service.name': settings.service,
      'service.version': settings.version ?? '0.0.0',
      'deployment.environment': settings.environment ?? 'local',
    },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: redactPaths(), censor: REDACTED },
    mixin() {
      const ctx = trace.getActiveSpan()?.spanContext();
      return ctx && trace.isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
    },
    serializers: {
      err: (err: unknown) => {
        const s = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
        if (typeof s['message'] === 'string') s['message'] = scrubText(s['message']);
        if (typeof s['stack'] === 'string') s['stack'] = scrubText(s['stack']);
        return s;
      },
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as Parameters<typeof method>;
        method.apply(this, scrubbed);
      },
    },
  };
  return pino(options, settings.destination ?? fdDestination());
}
