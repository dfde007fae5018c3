import { DAY, HOUR } from '../clock';
import { ResponseCache, UnattendedBudget } from './budget';
import { parseBoundary, resolveRange } from './dates';
import { TlError } from './errors';
import { FaultRegistry, parseFaultRule, type FaultRule } from './faults';
import { selectProviders } from './providers';

const NOW = Date.parse('2026-03-10T12:00:00Z');

describe('dates', () => {
  it('parses YYYY-MM-DD inclusively and ISO date-times (no offset = UTC)', () => {
    expect(parseBoundary('2026-03-01', 'from')).toBe(Date.parse('2026-03-01T00:00:00Z'));
    expect(parseBoundary('2026-03-01', 'to')).toBe(Date.parse('2026-03-02T00:00:00Z') - 1);
    expect(parseBoundary('2026-03-01T10:00:00', 'from')).toBe(Date.parse('2026-03-01T10:00:00Z'));
    expect(parseBoundary('2026-03-01T10:00:00+01:00', 'from')).toBe(Date.parse('2026-03-01T09:00:00Z'));
    expect(parseBoundary('2026-02-30', 'from')).toBeUndefined();
    expect(parseBoundary('01/03/2026', 'from')).toBeUndefined();
  });

  it('applies the SCA window and range rules', () => {
    const base = { now: NOW, historyDaysOutsideSca: 90 };
    const code = (r: ReturnType<typeof resolveRange>): string | undefined => (r instanceof TlError ? r.body.error : undefined);
    expect(code(resolveRange({ ...base, inScaWindow: true, from: '2019-01-01', to: '2026-03-10' }))).toBeUndefined();
    expect(code(resolveRange({ ...base, inScaWindow: false, from: '2019-01-01', to: '2026-03-10' }))).toBe('sca_exceeded');
    expect(code(resolveRange({ ...base, inScaWindow: false, from: '2025-12-15', to: '2026-03-10' }))).toBeUndefined();
    expect(code(resolveRange({ ...base, inScaWindow: false, from: '2026-03-05', to: '2026-03-01' }))).toBe('invalid_date_range');
    expect(code(resolveRange({ ...base, inScaWindow: false, from: '2026-04-01', to: '2026-04-02' }))).toBe('invalid_date_range');
    expect(code(resolveRange({ ...base, inScaWindow: false, from: 'x' }))).toBe('validation_error');
    const defaults = resolveRange({ ...base, inScaWindow: false });
    expect(defaults).toEqual({ fromMs: Date.parse('2026-03-10T00:00:00Z') - 90 * DAY, toMs: NOW });
  });
});

describe('unattended budget and cache', () => {
  it('allows `limit` calls per rolling 24 h', () => {
    const b = new UnattendedBudget();
    const k = UnattendedBudget.key('c', 'a', 'account.balance');
    for (let i = 0; i < 4; i += 1) expect(b.tryConsume(k, NOW + i * HOUR, 4)).toBe(true);
    expect(b.tryConsume(k, NOW + 5 * HOUR, 4)).toBe(false);
    expect(b.tryConsume(k, NOW + DAY - 1, 4)).toBe(false);
    expect(b.tryConsume(k, NOW + DAY, 4)).toBe(true);
    expect(b.tryConsume(k, NOW + DAY + 1, 4)).toBe(false);
    expect(b.tryConsume(UnattendedBudget.key('c', 'a', 'account.transactions'), NOW, 4)).toBe(true);
  });

  it('cache entries expire', () => {
    const c = new ResponseCache();
    c.set('k', NOW, 60, 200, { a: 1 });
    expect(c.get('k', NOW + 30_000)).toEqual({ status: 200, body: { a: 1 }, remainingSeconds: 30 });
    expect(c.get('k', NOW + 60_000)).toBeUndefined();
    c.set('z', NOW, 0, 200, {});
    expect(c.get('z', NOW)).toBeUndefined();
  });
});

describe('faults', () => {
  const rule = (input: Record<string, unknown>): FaultRule => {
    const r = parseFaultRule(input);
    if (typeof r === 'string') throw new Error(r);
    return r;
  };

  it('validates rules', () => {
    expect(parseFaultRule({})).toMatch(/needs/);
    expect(parseFaultRule({ error: 'made_up' })).toMatch(/unknown error code/);
    expect(parseFaultRule({ error: 'provider_error', rate: 2 })).toMatch(/rate/);
  });

  it('matches endpoint/provider, honours count and error rate deterministically', () => {
    const f = new FaultRegistry('seed');
    f.add(rule({ endpoint: 'account.*', provider: 'ob-monzo', error: 'provider_error', count: 2 }));
    expect(f.decide('accounts', 'ob-monzo').error).toBeUndefined();
    expect(f.decide('account.balance', 'mock').error).toBeUndefined();
    expect(f.decide('account.balance', 'ob-monzo').error).toEqual({ code: 'provider_error', status: 503, description: 'The provider service is unavailable.' });
    expect(f.decide('account.transactions', 'ob-monzo').error?.code).toBe('provider_error');
    expect(f.decide('account.transactions', 'ob-monzo').error).toBeUndefined();
    expect(f.list()).toHaveLength(0);

    f.add(rule({ endpoint: 'info', error: 'internal_server_error', rate: 0.3 }));
    let fired = 0;
    for (let i = 0; i < 1000; i += 1) if (f.decide('info', 'mock').error) fired += 1;
    expect(fired).toBeGreaterThan(230);
    expect(fired).toBeLessThan(370);
  });
});

describe('provider selection', () => {
  it('families, single ids, disable_providers and enable_mock', () => {
    const ids = (x: Parameters<typeof selectProviders>[0]) => selectProviders(x).map((p) => p.provider_id);
    expect(ids({ providers: 'uk-cs-mock' })).toEqual(['mock']);
    expect(ids({ providers: 'uk-ob-all' })).toContain('ob-monzo');
    expect(ids({ providers: 'uk-ob-all' })).not.toContain('mock');
    expect(ids({ providers: 'uk-ob-all', disableProviders: 'ob-monzo' })).not.toContain('ob-monzo');
    expect(ids({ providers: 'ob-monzo fr-ob-all' })).toEqual(['ob-monzo', 'stet-credit-agricole', 'stet-bnp-paribas']);
    expect(ids({ providers: 'uk-oauth-all', enableMock: true })).toEqual(['mock', 'amex']);
  });
});
