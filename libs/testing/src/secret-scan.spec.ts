import { eventsV1 } from '@ais/contracts-proto-ts';
import mongoose from 'mongoose';
import { randomBytes } from 'node:crypto';
import { documentSecrets, Findings, kafkaMessageSecrets, logLineSecrets, SecretIndex, spanSecrets } from './secret-scan';

// Shaped like the real ones: a gateway state / page token (43 base64url), an API key, the simulator's tokens.
const state = randomBytes(32).toString('base64url');
const pageToken = randomBytes(32).toString('base64url');
const apiKey = `ais_c${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
const clientSecret = randomBytes(24).toString('base64url');
const jwt = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ${randomBytes(30).toString('base64url')}.${randomBytes(64).toString('base64url')}`;
const refreshToken = randomBytes(32).toString('hex').toUpperCase();
const index = new SecretIndex([
  { kind: 'state', value: state },
  { kind: 'page-token', value: pageToken },
  { kind: 'client-secret', value: clientSecret },
]);

describe('secret scan: a planted secret is found in each source shape', () => {
  it('a MongoDB document: nested strings, keys and binary values; not in ids, dates or a hash of the value', () => {
    const clean = { _id: new mongoose.Types.ObjectId(), userId: 'u-1', createdAt: new Date(), stateHash: 'b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c', tokens: { accessCt: 'vault:v1:QUJDRA==' } };
    expect(documentSecrets(clean, index)).toEqual([]);
    expect(documentSecrets({ ...clean, session: { steps: [{ note: `state=${state}&x=1` }] } }, index)).toEqual(['state']);
    expect(documentSecrets({ ...clean, raw: new mongoose.mongo.Binary(Buffer.from(`{"refresh_token":"${refreshToken}"}`)) }, index)).toEqual(['hex64']);
    expect(documentSecrets({ ...clean, [pageToken]: true }, index)).toEqual(['page-token']);
    expect(documentSecrets({ ...clean, cached: Buffer.from(jwt) }, index)).toEqual(['jwt']);
  });

  it('Kafka message bytes: a protobuf value, the key and the headers', () => {
    const letter = (errorMessage: string) =>
      Buffer.from(eventsV1.DeadLetter.encode({ ...eventsV1.DeadLetter.fromPartial({ sourceTopic: 'ais.raw.v1', errorCode: 'unauthorized' }), errorMessage }).finish());
    expect(kafkaMessageSecrets({ key: Buffer.from('conn-1'), value: letter('bank said 401'), headers: { traceparent: Buffer.from('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01') } }, index)).toEqual([]);
    expect(kafkaMessageSecrets({ key: Buffer.from('conn-1'), value: letter(`refresh failed for ${refreshToken}`) }, index)).toEqual(['hex64']);
    expect(kafkaMessageSecrets({ key: Buffer.from('conn-1'), value: letter('x'), headers: { 'x-debug': [Buffer.from('a'), Buffer.from(`Bearer ${apiKey}`)] } }, index)).toEqual(['api-key-shape']);
    expect(kafkaMessageSecrets({ key: Buffer.from(clientSecret), value: null }, index)).toEqual(['client-secret']);
  });

  it('a Zipkin span: tags and names', () => {
    const span = { traceId: '0af7651916cd43dd8448eb211c80319c', id: 'b7ad6b7169203331', name: 'GET /v1/callback', localEndpoint: { serviceName: 'auth-gateway' }, tags: { 'http.route': '/v1/callback' } };
    expect(spanSecrets(span, index)).toEqual([]);
    expect(spanSecrets({ ...span, tags: { 'http.url': `http://127.0.0.1/v1/callback?code=${refreshToken}&state=${state}` } }, index)).toEqual(['hex64', 'state']);
    expect(spanSecrets({ ...span, name: `GET /connect/${pageToken}` }, index)).toEqual(['page-token']);
    expect(spanSecrets({ ...span, tags: { 'rpc.request': `{"authorization":"Bearer ${jwt}"}` } }, index)).toEqual(['jwt']);
  });

  it('a log line', () => {
    const line = (extra: Record<string, unknown>) => JSON.stringify({ level: 30, time: 1, service: 'auth-gateway', msg: 'callback', ...extra });
    expect(logLineSecrets(line({ sessionId: 's-1' }), index)).toEqual([]);
    expect(logLineSecrets(line({ url: `/bounce/${pageToken}` }), index)).toEqual(['page-token']);
    expect(logLineSecrets(`Error: token endpoint refused client ${clientSecret}`, index)).toEqual(['client-secret']);
    // a ledger value inside a longer run of token characters is found too
    expect(logLineSecrets(line({ cookie: `sid.${state}x9` }), index)).toEqual(['state']);
  });
});

describe('secret scan findings', () => {
  it('name the place and the kind with a count, never the value', () => {
    const findings = new Findings();
    findings.add('mongo', 'gw_1.auth_sessions', logLineSecrets(`"${state}"`, index), '_id s-1');
    findings.add('mongo', 'gw_1.auth_sessions', logLineSecrets(`"${state}"`, index), '_id s-2');
    findings.add('log', 'auth-gateway-42.log', logLineSecrets(apiKey, index), 'line 7');
    expect(findings.lines()).toEqual(['log auth-gateway-42.log: api-key-shape in 1 (first: line 7)', 'mongo gw_1.auth_sessions: state in 2 (first: _id s-1)']);
    expect(findings.lines().join('\n')).not.toContain(state);
  });

  it('a ledger value with characters outside base64url is still found', () => {
    const odd = new SecretIndex([{ kind: 'client-secret', value: 'a+b/c=d e!f-long' }]);
    expect(logLineSecrets('secret: a+b/c=d e!f-long.', odd)).toEqual(['client-secret']);
    expect(logLineSecrets('secret: a+b/c=d', odd)).toEqual([]);
  });
});
