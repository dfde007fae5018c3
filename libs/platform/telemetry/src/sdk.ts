/**
 * OpenTelemetry NodeSDK set-up. The exporter is chosen by the standard variables:
 * `OTEL_TRACES_EXPORTER` = `otlp` (production; `OTEL_EXPORTER_OTLP_ENDPOINT`), `zipkin` (local;
 * `OTEL_EXPORTER_ZIPKIN_ENDPOINT`), `console` or `none`. Spans go through a BatchSpanProcessor and the
 * {@link RedactingExporter}. Instrumented: http, express, grpc, mongoose. Kafka is traced by @ais/platform-kafka itself:
 * one PRODUCER span per publish (its context in every message's headers) and one CONSUMER span per processed
 * message. OpenTelemetry's kafkajs instrumentation is not loaded: it adds a span and a context injection per produced
 * message (31,800 for a heavy consent's change feed) and a second span per consumed one (producer.ts says what it cost).
 */
import { diag, DiagLogLevel, type Context, type DiagLogger } from '@opentelemetry/api';
import { loadConfig, z } from '@ais/platform-config';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { AttributeNames as ExpressAttributes, ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { MongooseInstrumentation } from '@opentelemetry/instrumentation-mongoose';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { RedactingExporter } from './redaction';

export const telemetrySchema = z.object({
  OTEL_SERVICE_NAME: z.string().min(1).describe('service.name of the spans: each image\'s ENV sets it to the service\'s name (as the test harness and npm start do); without it the telemetry bootstrap exits 78.'),
  OTEL_SERVICE_VERSION: z.string().default('0.1.0').describe('service.version of the spans (the images set it to the service\'s version).'),
  DEPLOYMENT_ENVIRONMENT: z.string().default('local').describe('deployment.environment of the spans.'),
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).default('false').describe('`true` turns tracing off.'),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'zipkin', 'console', 'none']).default('otlp').describe('`otlp` (production; OTEL_EXPORTER_OTLP_ENDPOINT), `zipkin` (local), `console` or `none`.'),
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: z.url().optional().describe('Zipkin span endpoint (OTEL_TRACES_EXPORTER=zipkin), e.g. http://127.0.0.1:9411/api/v2/spans.'),
  OTEL_METRICS_EXPORTER: z.string().default('none').describe('Metrics and OTel logs are opt-in (logs go to stdout via pino); unset = off, any other value = SDK\'s env handling.'),
  OTEL_LOGS_EXPORTER: z.string().default('none').describe('OpenTelemetry logs export; `none` (default): logs go to stdout through pino only.'),
  OTEL_SIMPLE_SPAN_PROCESSOR: z.enum(['true', 'false']).default('false').describe('Export each span as soon as it ends (tests and demos only; never in production).'),
});

export type TelemetryConfig = z.infer<typeof telemetrySchema>;

export interface TelemetryHandle {
  readonly enabled: boolean;
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}

/**
 * The SDK `register` started, kept on the process, not in this module: an image runs two esbuild bundles,
 * `register.js` (which starts the SDK) and `main.js` (whose shutdown hook flushes it), each with its own copy of this
 * module. Held in a module variable, main.js's `telemetry()` saw no SDK, and a SIGTERM lost the spans still queued in
 * the batch processor (up to 5 s of them).
 */
const ACTIVE = Symbol.for('ais.platform-telemetry.active');
type Active = { sdk: NodeSDK; processor: SpanProcessor };
const slot = globalThis as typeof globalThis & { [ACTIVE]?: Active };

function makeExporter(cfg: TelemetryConfig): SpanExporter | undefined {
  switch (cfg.OTEL_TRACES_EXPORTER) {
    case 'none':
      return undefined;
    case 'console':
      return new ConsoleSpanExporter();
    case 'zipkin':
      return new ZipkinExporter(cfg.OTEL_EXPORTER_ZIPKIN_ENDPOINT ? { url: cfg.OTEL_EXPORTER_ZIPKIN_ENDPOINT } : {});
    case 'otlp':
      // Reads OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT / _HEADERS itself.
      return new OTLPTraceExporter();
  }
}

/**
 * Leaves out the span Express makes for each router a request passes through (six for a read-API page, half of the
 * gateway's spans in a heavy consent's read-back). Each is ended as soon as it starts and is never a parent, so
 * nothing points at it. They are dropped here, not by the instrumentation's `ignoreLayersType`: an ignored router
 * keeps its mount path on the request's route (the instrumentation removes it in the `next` wrapper that ignored
 * layers do not get), so each of the gateway's `/v1` routers a request passed through added a `/v1` to its
 * `http.route` and server span name (`/v1/v1/v1/v1/users/:userId/transactions`).
 */
class WithoutRouterSpans implements SpanProcessor {
  constructor(private readonly inner: SpanProcessor) {}
  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    if (span.attributes[ExpressAttributes.EXPRESS_TYPE] !== ExpressLayerType.ROUTER) this.inner.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

const diagToStderr: DiagLogger = {
  error: (msg, ...args) => process.stderr.write(`${JSON.stringify({ level: 'error', msg: `otel: ${msg}`, args: args.map(String) })}\n`),
  warn: (msg, ...args) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg: `otel: ${msg}`, args: args.map(String) })}\n`),
  info: () => undefined,
  debug: () => undefined,
  verbose: () => undefined,
};

/** Starts tracing once per process. Must run before the instrumented modules are first required. */
export function startTelemetry(env: Readonly<Record<string, string | undefined>> = process.env): TelemetryHandle {
  const cfg = loadConfig('telemetry', telemetrySchema, env);
  if (slot[ACTIVE]) return handle(true);
  const exporter = cfg.OTEL_SDK_DISABLED === 'true' ? undefined : makeExporter(cfg);
  if (!exporter) return handle(false);
  diag.setLogger(diagToStderr, DiagLogLevel.WARN);
  const redacting = new RedactingExporter(exporter);
  const processor = new WithoutRouterSpans(
    cfg.OTEL_SIMPLE_SPAN_PROCESSOR === 'true' ? new SimpleSpanProcessor(redacting) : new BatchSpanProcessor(redacting),
  );
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      'service.name': cfg.OTEL_SERVICE_NAME,
      'service.version': cfg.OTEL_SERVICE_VERSION,
      'deployment.environment.name': cfg.DEPLOYMENT_ENVIRONMENT,
    }),
    spanProcessors: [processor],
    ...(cfg.OTEL_METRICS_EXPORTER === 'none' ? { metricReaders: [] } : {}),
    ...(cfg.OTEL_LOGS_EXPORTER === 'none' ? { logRecordProcessors: [] } : {}),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => ['/livez', '/readyz', '/metrics'].includes((req.url ?? '').split('?')[0] ?? ''),
      }),
      // the request handler's span only: a span per middleware said nothing the server span and the handler's did
      // not (the routers' spans are left out by WithoutRouterSpans)
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
      new GrpcInstrumentation({ ignoreGrpcMethods: ['Check', 'Watch'] }),
      new MongooseInstrumentation({ suppressInternalInstrumentation: true }),
    ],
  });
  sdk.start();
  slot[ACTIVE] = { sdk, processor };
  return handle(true);
}

function handle(enabled: boolean): TelemetryHandle {
  return {
    enabled,
    async shutdown() {
      const active = slot[ACTIVE];
      if (!active) return;
      slot[ACTIVE] = undefined;
      await active.sdk.shutdown();
    },
    async forceFlush() {
      await slot[ACTIVE]?.processor.forceFlush();
    },
  };
}

/** The handle of the SDK started by `register` (or a no-op one). */
export function telemetry(): TelemetryHandle {
  return handle(slot[ACTIVE] !== undefined);
}
