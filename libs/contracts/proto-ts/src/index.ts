// Generated from /proto by `npm run generate` (buf + ts-proto). Never edit files under ./generated.
// Short strings decoded without garbage by every reader of the generated code (protobuf-strings.ts).
import './protobuf-strings';
// Messages encoded through one shared writer (protobuf-writer.ts).
export { encodeBytes, encodeMessage, type MessageEncoder } from './protobuf-writer';
export * from './generated';
export * as tokenvaultV1 from './generated/ais/tokenvault/v1/token_vault_service';
export * as fetcherV1 from './generated/ais/fetcher/v1/fetcher_service';
export * as enrichmentV1 from './generated/ais/enrichment/v1/enrichment_service';
export * as reconciliationV1 from './generated/index.ais.reconciliation.v1';
export * as eventsV1 from './generated/index.ais.events.v1';
export * as erasureV1 from './generated/ais/erasure/v1/erasure';
