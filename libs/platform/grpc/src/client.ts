/**
 * gRPC client helpers: one channel per downstream per process, a deadline on every call, AppErrors rebuilt
 * from status + metadata, and retries only for methods the caller marks idempotent.
 */
import * as grpc from '@grpc/grpc-js';
import { AppError, fromGrpcStatus, isAppError } from '@ais/platform-errors';
import { KEEPALIVE_OPTIONS } from './server';
import type { ChannelSecurity } from './tls';

export interface CallOptions {
  deadlineMs?: number;
  metadata?: Record<string, string>;
  /** Retry UNAVAILABLE up to this many extra times (idempotent methods only). */
  retries?: number;
  /**
   * Wait, up to the deadline, for a peer that cannot be reached (restarting, not up yet) instead of failing at once
   * with UNAVAILABLE: for background work that has nobody waiting on it (data-fetcher asking token-vault for a
   * token), never for a request a user waits on.
   */
  waitForReady?: boolean;
  /** Cancels the call (status CANCELLED) when aborted: a service shutting down stops waiting on its peers. */
  signal?: AbortSignal;
}

/**
 * The reconnect backoff of a channel to a peer service: first retry after 0.5 s, at most 5 s apart (grpc-js: 1 s,
 * then up to 120 s). A peer that restarts is back within seconds; with the default ceiling a channel that had been
 * failing for a minute could wait another minute or two after the peer was back, every call without
 * `waitForReady` failing at once with UNAVAILABLE meanwhile. A peer that is down costs one connect attempt per
 * channel every 5 s.
 */
export const RECONNECT_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

type PromiseClient<C> = {
  [K in keyof C as C[K] extends UnaryMethod<infer _Req, infer _Res> ? K : never]: C[K] extends UnaryMethod<
    infer Req,
    infer Res
  >
    ? (request: Req, options?: CallOptions) => Promise<Res>
    : never;
};

export type GrpcClient<C> = PromiseClient<C> & { close(): void; waitForReady(timeoutMs: number): Promise<void> };

function metadataToRecord(md: grpc.Metadata | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (!md) return out;
  for (const [k, v] of Object.entries(md.getMap())) out[k] = typeof v === 'string' ? v : v.toString('utf8');
  return out;
}

/** Converts a grpc-js ServiceError into an AppError (keeping the original as cause). */
export function fromServiceError(error: grpc.ServiceError): AppError {
  const app = fromGrpcStatus(error.code, error.details, metadataToRecord(error.metadata));
  Object.defineProperty(app, 'cause', { value: error, enumerable: false });
  return app;
}

/**
 * Wraps a ts-proto generated client constructor into a promise-returning client.
 * `address` is host:port; `defaultDeadlineMs` applies to every call without its own; `security` comes from the
 * process's GrpcTls (`tls.channel('<target service>')`), which also pins the server's identity.
 */
export function createGrpcClient<C extends grpc.Client>(
  Ctor: new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C,
  address: string,
  defaultDeadlineMs: number,
  security: ChannelSecurity,
): GrpcClient<C> {
  const client = new Ctor(address, security.credentials, { ...KEEPALIVE_OPTIONS, ...RECONNECT_OPTIONS, ...security.options });
  const call = <Req, Res>(name: string, request: Req, options: CallOptions = {}): Promise<Res> => {
    const method = (client as unknown as Record<string, UnaryMethod<Req, Res>>)[name];
    if (typeof method !== 'function') return Promise.reject(new Error(`no such method ${name}`));
    const { signal } = options;
    const attempt = (left: number): Promise<Res> =>
      new Promise<Res>((resolve, reject) => {
        if (signal?.aborted) return reject(fromGrpcStatus(grpc.status.CANCELLED, 'cancelled before it started', {}));
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
        if (options.waitForReady) md.setOptions({ waitForReady: true });
        const deadline = Date.now() + (options.deadlineMs ?? defaultDeadlineMs);
        const onAbort = () => pending.cancel();
        const pending = method.call(client, request, md, { deadline }, (err, res) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(res);
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      }).catch((err: unknown) => {
        if (isAppError(err)) throw err;
        const se = err as grpc.ServiceError;
        if (left > 0 && se.code === grpc.status.UNAVAILABLE && !signal?.aborted) return attempt(left - 1);
        throw typeof se.code === 'number' ? fromServiceError(se) : err;
      });
    return attempt(options.retries ?? 0);
  };
  return new Proxy({} as GrpcClient<C>, {
    get(_target, prop: string) {
      if (prop === 'close') return () => client.close();
      if (prop === 'waitForReady')
        return (timeoutMs: number) =>
          new Promise<void>((resolve, reject) =>
            client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
          );
      if (prop === 'then') return undefined;
      return (request: unknown, options?: CallOptions) => call(prop, request, options);
    },
  });
}

/** Asks a server's grpc.health.v1 Check for `service` ('' = the whole server). */
export async function checkHealth(address: string, security: ChannelSecurity, service = '', timeoutMs = 2000): Promise<string> {
  const { service: healthDefinition } = await import('grpc-health-check');
  const HealthClient = grpc.makeGenericClientConstructor(healthDefinition as grpc.ServiceDefinition, 'Health');
  const client = new HealthClient(address, security.credentials, security.options);
  try {
    return await new Promise<string>((resolve, reject) => {
      (client as unknown as { check: UnaryMethod<{ service: string }, { status: string | number }> }).check(
        { service },
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => (err ? reject(err) : resolve(String(res.status))),
      );
    });
  } finally {
    client.close();
  }
}
