import { createLogger, forgetSecrets, REDACTED, scrubText } from '@ais/platform-logger';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import type { CallContext } from '@ais/platform-grpc';
import type { EventProducer } from '@ais/platform-kafka';
import type { TrueLayerClient } from '@ais/truelayer-client';
import { Writable } from 'node:stream';
import type { ConnectionDoc, ConnectionRepository } from '../src/data/connection.model';
import type { TokenCipher } from '../src/data/token-cipher';
import { psuIpOf, tokenVaultHandlers } from '../src/grpc/token-vault.service';
import { KafkaConnectionEvents } from '../src/kafka/connection-events';
import { ConnectionService, type ConnectionEventPayload, type LeasePort } from '../src/domain/connection-service';

const PSU_IP = '203.0.113.77';

/** A service over memory fakes: one repository map, a cipher that tags, TrueLayer answering one code. */
function setup() {
  const lines: string[] = [];
  const logger = createLogger({ service: 'tv-test', level: 'debug', destination: new Writable({ write: (c, _e, cb) => void (lines.push(String(c)), cb()) }) });
  const docs = new Map<string, ConnectionDoc>();
  const repo = {
    getForUser: async (clientId: string, userId: string, id: string) => {
      const d = docs.get(id);
      return d && d.clientId === clientId && d.userId === userId ? d : null;
    },
    get: async (id: string) => docs.get(id) ?? null,
    insert: async (doc: Omit<ConnectionDoc, 'createdAt' | 'updatedAt'>) => void docs.set(doc._id, { ...doc, createdAt: new Date(0), updatedAt: new Date(0) }),
    renew: async (id: string, p: { consentExpiresAt: Date }) => {
      const d = { ...docs.get(id)!, consentExpiresAt: p.consentExpiresAt, tokenVersion: docs.get(id)!.tokenVersion + 1 };
      docs.set(id, d);
      return d;
    },
    setStatus: async () => null,
    extendConsent: async (id: string, consentExpiresAt: Date) => {
      const d = { ...docs.get(id)!, consentExpiresAt, tokenVersion: docs.get(id)!.tokenVersion + 1 };
      docs.set(id, d);
      return d;
    },
  } as unknown as ConnectionRepository;
  const cipher: TokenCipher = { encrypt: async (_id, f, p) => `ct:${f}:${p.length}`, decrypt: async () => 'x', rewrap: async (_i, _f, c) => c };
  const leases: LeasePort = { acquire: async () => true, release: async () => undefined, holds: async () => true, once: async () => true };
  const tl = {
    auth: {
      exchangeCode: async () => ({ accessToken: 'at-1', refreshToken: 'rt-1', expiresAt: new Date('2026-11-25T13:00:00Z'), scope: ['info', 'accounts'] }),
      extendConnection: jest.fn(async () => ({ action: 'no_action_needed', accessToken: 'at-2', refreshToken: 'rt-2', expiresIn: 3600, expiresAt: new Date('2026-11-25T13:00:05Z'), tokenType: 'Bearer', correlationId: undefined })),
    },
    data: { me: jest.fn(async () => ({ results: [{ credentials_id: 'cred-1', provider: { provider_id: 'mock' }, consent_created_at: '2026-11-25T12:00:00Z', consent_expires_at: '2027-02-23T12:00:00Z' }] })) },
  };
  const truelayer = tl as unknown as TrueLayerClient;
  const events: ConnectionEventPayload[] = [];
  const clock = { now: () => new Date('2026-11-25T12:00:05Z') };
  const settings = { refreshAheadMs: 120_000, lockMs: 30_000, keepAliveAfterMs: 86_400_000, horizonsDays: [14, 7, 1], reconsentWindowDays: 14, jobIntervalMs: 60_000 };
  const service = new ConnectionService(repo, leases, cipher, async () => truelayer, { publish: async (e) => void events.push(e) }, settings, logger, clock);
  return { service, docs, events, lines, clock, tl };
}

const exchange = { clientId: 'c1', userId: 'u1', authCode: 'code-1', redirectUri: 'https://gw.test/v1/callback', codeVerifier: 'v'.repeat(43) };

describe('connection.authorized carries the consenting user', () => {
  it('passes psu_ip and the exchange time into the event, never into the stored connection or the log', async () => {
    const { service, docs, events, lines, clock } = setup();
    const doc = await service.exchangeCode({ ...exchange, previousConnectionId: '', psuIp: PSU_IP });
    expect(events).toEqual([expect.objectContaining({ kind: 'authorized', psuIp: PSU_IP, authenticatedAt: clock.now() })]);
    expect(JSON.stringify([...docs.values()])).not.toContain(PSU_IP);
    expect(JSON.stringify(doc)).not.toContain(PSU_IP);
    expect(lines.join('')).not.toContain(PSU_IP);
  });

  it('does the same for a re-consent through reauth (renewed in place)', async () => {
    const { service, events } = setup();
    const first = await service.exchangeCode({ ...exchange, previousConnectionId: '' });
    expect(events[0]).toMatchObject({ kind: 'authorized' });
    expect(events[0]).not.toHaveProperty('psuIp');
    const renewed = await service.exchangeCode({ ...exchange, codeVerifier: '', previousConnectionId: first._id, psuIp: '2001:db8::7' });
    expect(renewed._id).toBe(first._id);
    expect(events.at(-1)).toMatchObject({ kind: 'authorized', previousConnectionId: first._id, psuIp: '2001:db8::7', authenticatedAt: expect.any(Date) });
  });

  it('maps them onto ConnectionAuthorized.psu_ip and authenticated_at', async () => {
    const { service, events } = setup();
    await service.exchangeCode({ ...exchange, previousConnectionId: '', psuIp: PSU_IP });
    const published: eventsV1.ConnectionEvent[] = [];
    const producer = { service: 'token-vault', publish: async (_b: unknown, evs: eventsV1.ConnectionEvent[]) => void published.push(...evs) } as unknown as EventProducer;
    await new KafkaConnectionEvents(producer, '').publish(events[0]!);
    const p = published[0]!.payload;
    expect(p?.$case).toBe('authorized');
    if (p?.$case !== 'authorized') return;
    expect(p.authorized).toMatchObject({ psuIp: PSU_IP, authenticatedAt: new Date('2026-11-25T12:00:05Z'), userId: 'u1', credentialsId: 'cred-1' });
  });

  it('accepts only IP addresses from ExchangeCode.psu_ip (IPv4-mapped IPv6 unwrapped)', () => {
    expect(psuIpOf('198.51.100.4')).toBe('198.51.100.4');
    expect(psuIpOf('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(psuIpOf('2001:db8::1')).toBe('2001:db8::1');
    expect(psuIpOf('')).toBeUndefined();
    expect(psuIpOf('not-an-ip')).toBeUndefined();
    expect(psuIpOf('1.2.3.4, 5.6.7.8')).toBeUndefined();
  });
});

describe('an exchange registers what it learns with the logger', () => {
  afterEach(() => forgetSecrets());

  it('masks the code, the verifier and both tokens, even when the /me call after the exchange fails', async () => {
    const ctx = setup();
    const [authCode, accessToken, refreshToken] = ['A1B2C3D4E5F60718293A4B5C6D7E8F90', 'opaque-access-token-0123456789', 'opaque-refresh-token-9876543210'];
    ctx.tl.auth.exchangeCode = async () => ({ accessToken, refreshToken, expiresAt: new Date('2026-11-25T13:00:00Z'), scope: ['info'] });
    ctx.tl.data.me.mockRejectedValueOnce(new Error(`me failed for ${accessToken}`));
    await expect(ctx.service.exchangeCode({ ...exchange, authCode, previousConnectionId: '' })).rejects.toBeDefined();
    expect(scrubText(`${authCode} ${exchange.codeVerifier} ${accessToken} ${refreshToken}`)).toBe(`${REDACTED} ${REDACTED} ${REDACTED} ${REDACTED}`);
  });
});

describe('StartReconsent passes the present user on to TrueLayer', () => {
  const reconsent = async (userIp: string) => {
    const ctx = setup();
    const first = await ctx.service.exchangeCode({ ...exchange, previousConnectionId: '' });
    const handlers = tokenVaultHandlers({ connections: ctx.service, producer: { service: 'token-vault' } as unknown as EventProducer, topicPrefix: '' });
    const req = { clientId: 'c1', userId: 'u1', connectionId: first._id, redirectUri: 'https://gw.test/v1/callback', userReconfirmed: true, userIp, state: 's1' };
    const res = await handlers.startReconsent(req, {} as CallContext);
    return { ...ctx, res };
  };

  it('user_ip is the X-PSU-IP of the extend and of the /me call after it; never stored or logged', async () => {
    const { res, tl, docs, lines } = await reconsent(`::ffff:${PSU_IP}`);
    expect(res.outcome?.$case).toBe('extended');
    expect(tl.auth.extendConnection).toHaveBeenCalledWith(expect.objectContaining({ userHasReconfirmedConsent: true, user: { id: 'u1' } }), { psuIp: PSU_IP, provider: 'mock' });
    expect(tl.data.me).toHaveBeenLastCalledWith('at-2', { psuIp: PSU_IP, provider: 'mock' });
    expect(JSON.stringify([...docs.values()])).not.toContain(PSU_IP);
    expect(lines.join('')).not.toContain(PSU_IP);
  });

  it('without a user_ip, or with one that is not an IP address, the extend goes without X-PSU-IP', async () => {
    for (const userIp of ['', 'not-an-ip']) {
      const { res, tl } = await reconsent(userIp);
      expect(res.outcome?.$case).toBe('extended');
      expect(tl.auth.extendConnection).toHaveBeenCalledWith(expect.objectContaining({ userHasReconfirmedConsent: true }), { provider: 'mock' }); // the metrics label only
      expect(tl.data.me).toHaveBeenLastCalledWith('at-2', { provider: 'mock' });
    }
  });
});
