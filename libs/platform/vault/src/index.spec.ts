import { forgetSecrets, REDACTED, scrubText } from '@ais/platform-logger';
import { randomBytes } from 'node:crypto';
import { Vault } from './index';

describe('Vault', () => {
  afterEach(() => forgetSecrets());

  it('registers its token with the logger, so no log line or span of the process carries it', () => {
    const token = `hvs.${randomBytes(18).toString('base64url')}`;
    expect(scrubText(token)).toBe(token);
    new Vault({ addr: 'http://127.0.0.1:1', token });
    expect(scrubText(`vault call failed (token ${token})`)).toBe(`vault call failed (token ${REDACTED})`);
  });
});
