/*
 * A bare grpc-js unary echo on loopback (same library, same keepalive options, same mTLS as the services: a
 * certificate from the stack's Vault PKI, VAULT_ADDR and VAULT_TOKEN in the environment): the baseline for RPC
 * benchmarks. It presents token-vault's identity, so one client channel setting serves both.
 */
import * as grpc from '@grpc/grpc-js';
import { KEEPALIVE_OPTIONS } from '@ais/platform-grpc';
import { stackGrpcTls } from '@ais/testing';

const identity = (b: Buffer) => b;
export const ECHO_DEFINITION: grpc.ServiceDefinition = {
  Echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

// Started as its own process by the benchmark; importing ECHO_DEFINITION starts nothing.
if (require.main === module) {
  const server = new grpc.Server(KEEPALIVE_OPTIONS);
  server.addService(ECHO_DEFINITION, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  void stackGrpcTls(process.env, 'token-vault').then((tls) =>
    server.bindAsync('127.0.0.1:0', tls.serverCredentials(), (err, port) => {
      if (err) throw err;
      process.stdout.write(`${JSON.stringify({ msg: 'service ready', grpcPort: port })}\n`);
    }),
  );
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}
