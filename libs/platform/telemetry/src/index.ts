export { startTelemetry, telemetry, telemetrySchema, type TelemetryHandle, type TelemetryConfig } from './sdk';
export { RedactingExporter, scrubAttributes, scrubSpan, scrubString, MASK } from './redaction';
export { inSpan } from './span';
