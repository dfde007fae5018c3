export { GrpcServer, unary, KEEPALIVE_OPTIONS, type CallContext, type UnaryHandler, type ServiceHandlers } from './server';
export { createGrpcClient, checkHealth, fromServiceError, type CallOptions, type GrpcClient } from './client';
export { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
