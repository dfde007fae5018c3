import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mongoSecurityOptions } from './index';

describe('MongoDB transport security and per-service users', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mongo-sec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds nothing without settings (the URI decides, as on the local stack)', () => {
    expect(mongoSecurityOptions(undefined)).toEqual({});
  });

  it('turns on TLS with a CA and a client certificate when given', () => {
    expect(mongoSecurityOptions({ tls: {} })).toEqual({ tls: true });
    expect(mongoSecurityOptions({ tls: { caFile: '/ca.pem', certificateKeyFile: '/client.pem' } })).toEqual({ tls: true, tlsCAFile: '/ca.pem', tlsCertificateKeyFile: '/client.pem' });
  });

  it("authenticates as the service's own user with the password from its file", () => {
    writeFileSync(join(dir, 'pw'), 'pw-from-file\n');
    expect(mongoSecurityOptions({ auth: { username: 'token-vault', passwordFile: join(dir, 'pw') } })).toEqual({ auth: { username: 'token-vault', password: 'pw-from-file' }, authSource: 'admin' });
    expect(mongoSecurityOptions({ auth: { username: 'u', passwordFile: join(dir, 'pw'), authSource: 'token_vault' } })).toMatchObject({ authSource: 'token_vault' });
  });
});
