export * from './lib/environment';
export * from './lib/errors';
export * from './lib/timestamps';
export * from './lib/pkce';
export * from './lib/auth-link';
export * from './lib/retry';
export {
  HttpTransport,
  SPAN_ATTRIBUTES,
  TRACER_NAME,
  type CallOptions,
  type FetchLike,
  type RetryPolicy,
  type SleepFn,
  type TransportOptions,
} from './lib/http';
export * from './lib/auth-client';
export * from './lib/data-client';
export * from './lib/client';
export * from './lib/schemas/common';
export * from './lib/schemas/data';
export * from './lib/schemas/auth';
export * from './lib/token-helpers';
