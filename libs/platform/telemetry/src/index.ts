export { startTelemetry, telemetry, telemetrySchema, type TelemetryHandle, type TelemetryConfig } from './sdk';
export { startMetrics, lazyInstruments, labelValue, type MetricsHandle, type MetricsSettings } from './metrics';
export { RedactingExporter, scrubAttributes, scrubSpan, scrubString, MASK } from './redaction';
export { inSpan } from './span';
