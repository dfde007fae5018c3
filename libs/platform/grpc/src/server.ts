/**
 * gRPC server helpers: one server per process with health (grpc.health.v1, per service name), optional
 * reflection, keepalive, and handler wrapping that maps {@link AppError}s to status codes with details in
 * trailing metadata. Unknown errors become INTERNAL and are logged once with their stack.
 *
 * Every server listens with the process's {@link GrpcTls} (mTLS unless development chose `insecure`), and every
 * call is checked against {@link ACCESS_POLICY} with the identity of the caller's certificate before its handler
 * runs: a refused call answers PERMISSION_DENIED and is logged with the caller's identity.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type DescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { AppError, toAppError, toGrpcStatus } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { ACCESS_POLICY, decide } from './access';
import { peerIdentity, type GrpcTls } from './tls';

export interface CallContext {
  metadata: grpc.Metadata;
  deadline: Date | number | undefined;
  peer: string;
  /** The caller's workload identity from its certificate (undefined without TLS). */
  caller: string | undefined;
  cancelled: () => boolean;
}

/** Checks a call before its handler runs; returns the refusal or undefined to go on. */
/** `caller` is the identity read from the call's certificate (once per call: reading it parses the certificate). */
export type CallGuard = (path: string, call: grpc.ServerUnaryCall<unknown, unknown>, caller: string | undefined) => AppError | undefined;

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

export type ServiceHandlers<Def extends grpc.ServiceDefinition> = {
  [K in keyof Def]: Def[K] extends grpc.MethodDefinition<infer Req, infer Res> ? UnaryHandler<Req, Res> : never;
};

export const KEEPALIVE_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
};

function toMetadata(entries: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}

/** The caller's identity from its TLS certificate, if any. */
function callerOf(call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null }, trustDomain: string | undefined): string | undefined {
  if (!trustDomain) return undefined;
  return peerIdentity(call.getAuthContext()?.sslPeerCertificate, trustDomain);
}

/** Wraps an async handler as a grpc-js unary handler with error mapping (and the guard, when given). */
export function unary<Req, Res>(
  method: string,
  handler: UnaryHandler<Req, Res>,
  logger: Logger,
  guard?: { path: string; check: CallGuard; trustDomain?: string },
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const ctx: CallContext = {
      metadata: call.metadata,
      deadline: call.getDeadline(),
      peer: call.getPeer(),
      caller: callerOf(call, guard?.trustDomain),
      cancelled: () => call.cancelled,
    };
    const refused = guard?.check(guard.path, call as grpc.ServerUnaryCall<unknown, unknown>, ctx.caller);
    const run = refused ? Promise.reject(refused) : handler(call.request, ctx);
    run.then(
      (response) => callback(null, response),
      (error: unknown) => {
        const app = toAppError(error);
        const status = toGrpcStatus(app);
        const span = trace.getActiveSpan();
        if (app.kind === 'internal') {
          logger.error({ err: error, method }, 'unhandled error in gRPC handler');
          span?.recordException(error instanceof Error ? error : new Error(String(error)));
        } else {
          logger.info({ method, code: app.code, grpcCode: status.code }, 'gRPC call rejected');
        }
        span?.setStatus({ code: SpanStatusCode.ERROR, message: app.code });
        callback({ code: status.code, details: status.details, metadata: toMetadata(status.metadata) }, null);
      },
    );
  };
}

export interface GrpcServerOptions {
  logger: Logger;
  /** Transport security of the listening port; its mode decides whether callers are checked. */
  tls: GrpcTls;
  /** Who may call what (defaults to the platform's table). */
  policy?: typeof ACCESS_POLICY;
  /** Directory of .proto files for the reflection service; omitted = no reflection. */
  reflectionProtoRoot?: string;
}

/**
 * The access check of a TLS server: the caller's certificate identity must be allowed for the method. Refusals
 * are logged at warn with the caller and the method (never the request).
 */
export function accessGuard(logger: Logger, policy = ACCESS_POLICY): CallGuard {
  return (path, call, caller) => {
    const verdict = decide(path, caller, policy);
    if (verdict.allowed) return undefined;
    logger.warn({ method: path, caller: caller ?? null, peer: call.getPeer(), reason: verdict.reason }, 'gRPC call denied');
    trace.getActiveSpan()?.setAttribute('ais.grpc.denied_caller', caller ?? 'none');
    return new AppError({
      code: 'caller_not_allowed',
      kind: 'permission_denied',
      message:
        verdict.reason === 'unknown_method'
          ? `${path} is not in the access policy`
          : `caller ${caller ? `'${caller}'` : 'without an identity'} may not call ${path}`,
    });
  };
}

export class GrpcServer {
  readonly server: grpc.Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly serviceNames: string[] = [];
  private boundPort: number | undefined;

  constructor(private readonly options: GrpcServerOptions) {
    this.server = new grpc.Server(KEEPALIVE_OPTIONS);
    this.health.addToServer(this.server);
  }

  /** Registers a service whose methods are all unary async handlers. */
  add<Def extends grpc.ServiceDefinition>(name: string, definition: Def, handlers: ServiceHandlers<Def>): this {
    const impl: grpc.UntypedServiceImplementation = {};
    const tls = this.options.tls;
    const check = tls.mode === 'insecure' ? undefined : accessGuard(this.options.logger, this.options.policy);
    for (const key of Object.keys(definition) as (keyof Def & string)[]) {
      const handler = handlers[key] as UnaryHandler<unknown, unknown>;
      const path = definition[key]!.path;
      impl[key] = unary(`${name}/${key}`, handler, this.options.logger, check ? { path, check, trustDomain: tls.trustDomain } : undefined);
    }
    this.server.addService(definition, impl);
    this.serviceNames.push(name);
    this.health.setStatus(name, 'NOT_SERVING');
    return this;
  }

  async listen(host: string, port: number): Promise<number> {
    if (this.options.reflectionProtoRoot) this.addReflection(this.options.reflectionProtoRoot);
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, this.options.tls.serverCredentials(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      );
    });
    return this.boundPort;
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error('server not bound');
    return this.boundPort;
  }

  setServing(status: ServingStatus): void {
    this.health.setStatus('', status);
    for (const name of this.serviceNames) this.health.setStatus(name, status);
  }

  /** Graceful stop: refuses new calls and waits for in-flight ones. */
  shutdown(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }

  forceShutdown(): void {
    this.server.forceShutdown();
  }

  private addReflection(root: string): void {
    const files = listProtos(root);
    if (files.length === 0) return;
    // grpc.health.v1 too, so that grpcurl can describe and call it: from the bundle's copy or the npm package
    const health = healthProto(root);
    const definition = normaliseDescriptors(protoLoader.loadSync(health ? [...new Set([...files, health.file])] : files, { includeDirs: health ? [root, health.dir] : [root], keepCase: true }));
    // only what this server serves (the proto tree holds every service of the platform)
    const services = [...this.serviceNames, ...(health ? ['grpc.health.v1.Health'] : [])];
    new ReflectionService(definition, { services }).addToServer(this.server);
  }
}

/**
 * Makes proto-loader's file descriptors readable by strict clients (grpcurl, Go's protodesc). protobufjs writes one
 * file per package with no `dependency` list, relative type names (`google.protobuf.Timestamp`) and map entries
 * named after the field (`Statuses`, not `StatusesEntry`); protoc writes dependencies, fully-qualified names
 * (`.google.protobuf.Timestamp`) and `<Field>Entry`. This rewrites every served descriptor the protoc way.
 */
function normaliseDescriptors(definition: protoLoader.PackageDefinition): protoLoader.PackageDefinition {
  const files = new Map<string, FileDescriptorProto>();
  for (const value of Object.values(definition)) {
    for (const bytes of (value as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? []) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      if (!files.has(file.name)) files.set(file.name, file);
    }
  }
  const renameEntries = (m: DescriptorProto): void => {
    for (const nested of m.nestedType) {
      if (nested.options?.mapEntry && !nested.name.endsWith('Entry')) {
        const old = nested.name;
        nested.name = `${old}Entry`;
        for (const f of m.field) if (f.typeName === old || f.typeName.endsWith(`.${old}`)) f.typeName = `${f.typeName.slice(0, -old.length)}${nested.name}`;
      }
      renameEntries(nested);
    }
  };
  // fully-qualified type name → the file that defines it
  const owner = new Map<string, string>();
  const index = (file: string, scope: string, m: DescriptorProto): void => {
    const fqn = `${scope}.${m.name}`;
    owner.set(fqn, file);
    for (const e of m.enumType) owner.set(`${fqn}.${e.name}`, file);
    for (const n of m.nestedType) index(file, fqn, n);
  };
  for (const file of files.values()) {
    file.messageType.forEach(renameEntries);
    const pkg = file.package ? `.${file.package}` : '';
    for (const m of file.messageType) index(file.name, pkg, m);
    for (const e of file.enumType) owner.set(`${pkg}.${e.name}`, file.name);
  }
  const resolve = (name: string, scope: string): string | undefined => {
    if (!name || name.startsWith('.')) return name || undefined;
    const parts = scope.split('.').filter(Boolean);
    for (let i = parts.length; i >= 0; i -= 1) {
      const candidate = `.${[...parts.slice(0, i), name].join('.')}`;
      if (owner.has(candidate)) return candidate;
    }
    return undefined;
  };
  for (const file of files.values()) {
    const deps = new Set(file.dependency);
    const use = (fqn: string | undefined): string | undefined => {
      const from = fqn ? owner.get(fqn) : undefined;
      if (from && from !== file.name) deps.add(from);
      return fqn;
    };
    const walk = (m: DescriptorProto, scope: string): void => {
      const here = `${scope}.${m.name}`;
      for (const f of m.field) if (f.typeName) f.typeName = use(resolve(f.typeName, here)) ?? f.typeName;
      for (const n of m.nestedType) walk(n, here);
    };
    const pkg = file.package ? `.${file.package}` : '';
    for (const m of file.messageType) walk(m, pkg);
    for (const svc of file.service) {
      for (const method of svc.method) {
        method.inputType = use(resolve(method.inputType, pkg)) ?? method.inputType;
        method.outputType = use(resolve(method.outputType, pkg)) ?? method.outputType;
      }
    }
    file.dependency = [...deps];
  }
  const encoded = new Map([...files].map(([name, file]) => [name, Buffer.from(toBinary(FileDescriptorProtoSchema, file))]));
  for (const value of Object.values(definition)) {
    const protos = (value as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    if (!Array.isArray(protos)) continue;
    protos.forEach((bytes, i) => {
      protos[i] = encoded.get(fromBinary(FileDescriptorProtoSchema, bytes).name) ?? bytes;
    });
  }
  return definition;
}

/** health.proto: next to a bundled service's protos (tools/scripts/build-app.mjs copies it), or in node_modules. */
function healthProto(root: string): { file: string; dir: string } | undefined {
  const bundled = join(root, 'grpc/health/v1/health.proto');
  if (existsSync(bundled)) return { file: bundled, dir: root };
  try {
    const file = require.resolve('grpc-health-check/proto/health/v1/health.proto');
    return { file, dir: dirname(dirname(dirname(file))) };
  } catch {
    return undefined;
  }
}

function listProtos(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...listProtos(full));
    else if (entry.endsWith('.proto')) out.push(full);
  }
  return out;
}
