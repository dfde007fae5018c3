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
