import { clockFromSpec } from '@ais/platform-config';
import { createClock, DAY } from './clock';

describe('clock', () => {
  it('advances and sets relative to real time', () => {
    let real = 1_000;
    const clock = createClock(() => real);
    expect(clock.now()).toBe(1_000);
    clock.advance(DAY);
    expect(clock.now()).toBe(1_000 + DAY);
    real += 5;
    expect(clock.now()).toBe(1_005 + DAY);
    clock.set(new Date(0));
    expect(clock.now()).toBe(0);
    clock.reset();
    expect(clock.now()).toBe(real);
    expect(() => clock.advance(Number.NaN)).toThrow();
  });
});

describe('clock on a scaled base', () => {
  it('keeps advance/set/reset as offsets on top of the base and reports its rate', () => {
    let real = 0;
    const clock = createClock(clockFromSpec(`scaled:0:${10 * DAY}:1440`, () => real));
    expect(clock.rate()).toBe(1440);
    expect(clock.now()).toBe(10 * DAY);
    real += 60_000; // one real minute = one simulated day
    expect(clock.now()).toBe(11 * DAY);
    clock.advance(DAY);
    expect(clock.now()).toBe(12 * DAY);
    real += 30_000;
    expect(clock.now()).toBe(12.5 * DAY);
    clock.set(100 * DAY);
    expect(clock.now()).toBe(100 * DAY);
    real += 60_000; // flows at the base rate from the new instant
    expect(clock.now()).toBe(101 * DAY);
    clock.reset();
    expect(clock.offset()).toBe(0);
    expect(clock.now()).toBe(10 * DAY + 2.5 * DAY);
  });

  it('a plain function base has rate 1', () => {
    expect(createClock(() => 5).rate()).toBe(1);
  });
});
