import { ClockSpecError, clockFromSpec, env, formatClockSpec, loadConfig, parseClockSpec, scaledClockSpec, z } from './index';

const DAY = 86_400_000;

describe('clock specs', () => {
  it('parses real and scaled specs', () => {
    expect(parseClockSpec('real')).toEqual({ kind: 'real' });
    expect(parseClockSpec(' real ')).toEqual({ kind: 'real' });
    expect(parseClockSpec('scaled:1700000000000:1767225600000:1440')).toEqual({
      kind: 'scaled',
      realAnchorMs: 1_700_000_000_000,
      simAnchorMs: 1_767_225_600_000,
      rate: 1440,
    });
    expect(parseClockSpec('scaled:0:0:0.5')).toEqual({ kind: 'scaled', realAnchorMs: 0, simAnchorMs: 0, rate: 0.5 });
  });

  it.each([
    ['', /expected 'real' or 'scaled/],
    ['REAL', /expected 'real' or 'scaled/],
    ['fast', /expected 'real' or 'scaled/],
    ['scaled', /exactly three fields/],
    ['scaled:1:2', /exactly three fields/],
    ['scaled:1:2:3:4', /exactly three fields/],
    ['scaled:x:2:3', /realAnchorMs must be an integer/],
    ['scaled:1.5:2:3', /realAnchorMs must be an integer/],
    ['scaled:1:2026-01-01:3', /simAnchorMs must be an integer/],
    ['scaled:1:2:0', /rate must be a positive/],
    ['scaled:1:2:-1', /rate must be a positive/],
    ['scaled:1:2:1e3', /rate must be a positive/],
    ['scaled:1:2:Infinity', /rate must be a positive/],
    ['scaled:1:2:', /rate must be a positive/],
  ])('returns a clear error for %j', (text, message) => {
    const parsed = parseClockSpec(text);
    expect(parsed).toBeInstanceOf(ClockSpecError);
    expect((parsed as ClockSpecError).message).toMatch(message);
  });

  it('round-trips through formatClockSpec', () => {
    for (const text of ['real', 'scaled:1700000000000:1767225600000:1440', 'scaled:5:-7:0.25']) {
      const parsed = parseClockSpec(text);
      if (parsed instanceof ClockSpecError) throw parsed;
      expect(formatClockSpec(parsed)).toBe(text);
    }
  });
});

describe('clockFromSpec', () => {
  it('follows the real clock for `real`', () => {
    let real = 42;
    const clock = clockFromSpec('real', () => real);
    expect(clock.now()).toBe(42);
    real = 1_000;
    expect(clock.now()).toBe(1_000);
    expect(clock.rate).toBe(1);
  });

  it('scales elapsed real time from the anchors', () => {
    let real = 10_000;
    const clock = clockFromSpec(`scaled:10000:${100 * DAY}:1440`, () => real);
    expect(clock.now()).toBe(100 * DAY);
    real += 60_000; // one real minute = one simulated day at rate 1440
    expect(clock.now()).toBe(101 * DAY);
    real = 10_000 - 1_000; // before the real anchor, time runs backwards from the sim anchor
    expect(clock.now()).toBe(100 * DAY - 1_440_000);
    expect(clock.rate).toBe(1440);
  });

  it('keeps integer milliseconds for fractional rates', () => {
    let real = 0;
    const clock = clockFromSpec('scaled:0:0:0.3', () => real);
    real = 7;
    expect(Number.isInteger(clock.now())).toBe(true);
    expect(clock.now()).toBe(2);
  });

  it('two clocks built from the same spec agree, whenever each was built', () => {
    let real = 5_000;
    const spec = scaledClockSpec(Date.parse('2026-01-01T00:00:00Z'), 720, real);
    const first = clockFromSpec(spec, () => real);
    real += 12_345;
    const second = clockFromSpec(spec, () => real);
    expect(second.now()).toBe(first.now());
    expect(first.now()).toBe(Date.parse('2026-01-01T00:00:00Z') + 12_345 * 720);
  });

  it('throws the spec error for an invalid text and accepts a parsed spec', () => {
    expect(() => clockFromSpec('scaled:1:2:nope')).toThrow(ClockSpecError);
    expect(clockFromSpec({ kind: 'scaled', realAnchorMs: 0, simAnchorMs: 5, rate: 2 }, () => 3).now()).toBe(11);
  });
});

describe('env.clock', () => {
  const schema = z.object({ SIM_CLOCK: env.clock });

  it('defaults to real and parses a scaled spec', () => {
    expect(loadConfig('svc', schema, {}).SIM_CLOCK).toEqual({ kind: 'real' });
    expect(loadConfig('svc', schema, { SIM_CLOCK: 'scaled:1:2:3' }).SIM_CLOCK).toEqual({ kind: 'scaled', realAnchorMs: 1, simAnchorMs: 2, rate: 3 });
  });

  it('reports an invalid spec by name', () => {
    expect(() => loadConfig('svc', schema, { SIM_CLOCK: 'scaled:1:2' })).toThrow(/SIM_CLOCK: expected 'real' or 'scaled/);
  });
});
