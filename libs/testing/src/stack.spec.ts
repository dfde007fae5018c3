import { parseEnvFile } from './stack';

describe('parseEnvFile', () => {
  it('reads KEY=value lines, skipping comments and blanks, keeping = inside values', () => {
    expect(parseEnvFile('# c\nA=1\n\nB="two"\nC=x=y\nbad line\n')).toEqual({ A: '1', B: 'two', C: 'x=y' });
  });
});
