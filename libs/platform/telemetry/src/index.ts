export { startTelemetry, telemetry, telemetrySchema, type TelemetryHandle, type TelemetryConfig } from './sdk';
export { startMetrics, lazyInstruments, labelValue, type MetricsHandle, type MetricsSettings } from './metrics';
export { FUNNEL_STAGES, NO_PROVIDER, recordFunnelStage, type FunnelStage } from './funnel';
export { RedactingExporter, scrubAttributes, scrubSpan, scrubString, MASK } from './redaction';
export { activeTraceparent, contextOfTraceparent, inSpan } from './span';
