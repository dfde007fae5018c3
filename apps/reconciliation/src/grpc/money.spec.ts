import { DecimalSum, magnitude } from './money';

describe('DecimalSum', () => {
  it('sums exactly where floats drift', () => {
    const s = new DecimalSum();
    for (let i = 0; i < 10; i += 1) s.add('0.1');
    expect(s.toString()).toBe('1.00');
    expect(new DecimalSum().add('0.1').add('0.2').toString()).toBe('0.30');
    expect(new DecimalSum().add('-12.5').add('2.505').toString()).toBe('-9.995');
    expect(new DecimalSum().add('99999999999999999.99').add('0.01').toString()).toBe('100000000000000000.00');
    expect(new DecimalSum().add('-0.05').toString()).toBe('-0.05');
  });

  it('rejects what is not a decimal', () => {
    for (const bad of ['1e3', 'abc', '', '1.2.3', 'NaN']) expect(() => new DecimalSum().add(bad)).toThrow();
  });

  it('magnitude drops the sign', () => {
    expect(magnitude('-4.20')).toBe('4.20');
    expect(magnitude('4.20')).toBe('4.20');
  });
});
