/**
 * Structured JSON logging (pino) with trace correlation and secret redaction.
 *
 * - Every record carries `service.name`, `service.version`, `deployment.environment`.
 * - `trace_id` / `span_id` come from the active OpenTelemetry span (a pino mixin, so it works whatever the load order).
 * - Secrets are redacted on every line (see ./redact): fields by key at any depth in `formatters.log` (and in the
 *   bindings, serializers and formatters of every child logger), then the finished line by value and by shape in the
 *   `streamWrite` hook, which a child logger cannot replace.
 */
import { trace } from '@opentelemetry/api';
import pino, { type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { redactFields, scrubText } from './redact';
import { fdDestination } from './stdout';

export type { Logger } from 'pino';
export { fdDestination, type FdDestination, type FdDestinationOptions } from './stdout';
export {
  CIRCULAR,
  DEPTH_LIMIT,
  forgetSecrets,
  isSecretField,
  isSecretKey,
  MAX_DEPTH,
  MAX_FIELDS,
  MAX_SECRETS,
  MIN_SECRET_LENGTH,
  REDACTED,
  redactFields,
  registerSecret,
  scrubText,
  SECRET_KEYS,
  SECRET_PARAMS,
  TRUNCATED,
} from './redact';

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
    formatters: { level: (label) => ({ level: label }), log: (object) => redactFields(object) },
    mixin() {
      const ctx = trace.getActiveSpan()?.spanContext();
      return ctx && trace.isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
    },
    // formatters.log has already turned errors into plain objects; pino's own err serializer would rename their type
    serializers: { err: (err: unknown) => err },
    hooks: {
      // values interpolated into the message (`log.info('%o', obj)`) never reach formatters.log
      logMethod(args, method) {
        const message = typeof args[0] === 'string' ? 0 : 1;
        if (args.length > message + 1) {
          method.apply(this, args.map((a, i) => (i > message && typeof a === 'object' ? redactFields(a) : a)) as Parameters<typeof method>);
        } else method.apply(this, args);
      },
      streamWrite: scrubText,
    },
  };
  return guardChildren(pino(options, settings.destination ?? fdDestination()));
}

/**
 * Child loggers inherit `formatters.log` and the `streamWrite` hook, but their bindings skip `formatters.log` and their
 * own serializers and formatters run after it: redact those too. Children inherit `child` and `setBindings` from the
 * root, so this covers every descendant.
 */
function guardChildren(root: Logger): Logger {
  type ChildFn = (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) => Logger;
  const child = root.child as unknown as ChildFn;
  const setBindings = root.setBindings;
  const guardedChild: ChildFn = function (bindings, options) {
    return child.call(this, redactFields(bindings), options && guardOptions(options));
  };
  root.child = guardedChild as unknown as Logger['child'];
  root.setBindings = function guardedSetBindings(this: Logger, bindings: Bindings) {
    setBindings.call(this, redactFields(bindings));
  };
  return root;
}

function guardOptions(options: ChildLoggerOptions): ChildLoggerOptions {
  const guarded: ChildLoggerOptions = { ...options };
  if (options.serializers) {
    guarded.serializers = Object.fromEntries(
      Object.entries(options.serializers).map(([key, fn]) => [key, (value: unknown) => redactFields(fn(value))]),
    );
  }
  const formatters = options.formatters;
  if (formatters) {
    guarded.formatters = {
      ...formatters,
      ...(formatters.log ? { log: (object: object) => redactFields(formatters.log!(object)) } : {}),
      ...(formatters.bindings ? { bindings: (bindings: Bindings) => redactFields(formatters.bindings!(bindings)) } : {}),
    };
  }
  return guarded;
}
