import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, parseEnvFile } from './stack';

describe('parseEnvFile', () => {
  it('reads KEY=value lines, skipping comments and blanks, keeping = inside values', () => {
    expect(parseEnvFile('# c\nA=1\n\nB="two"\nC=x=y\nbad line\n')).toEqual({ A: '1', B: 'two', C: 'x=y' });
  });
});

describe('freePort', () => {
  it('never gives one process the same port twice, bound or not (start-local picks a service\'s port before another service binds its own)', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 1_000; i += 1) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});

describe('infra/install.sh fingerprints', () => {
  const infra = join(__dirname, '../../../infra');
  const copyOfInfra = () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'ais-fp-'));
    fs.cpSync(infra, join(dir, 'infra'), { recursive: true });
    return join(dir, 'infra');
  };
  const fingerprints = (dir: string) => execFileSync('bash', [join(dir, 'install.sh'), '--fingerprints'], { encoding: 'utf8' });

  it('are the same for a checkout in another folder (a clone must reuse the cache, not wipe it)', () => {
    const a = copyOfInfra();
    const b = copyOfInfra();
    expect(fingerprints(a)).toBe(fingerprints(infra));
    expect(fingerprints(b)).toBe(fingerprints(infra));
    // and they follow the recipe: another source checksum is another store
    fs.appendFileSync(join(b, 'store/sources.sha256'), '0000  another-source.tar.gz\n');
    const store = (out: string) => out.split('\n').find((l) => l.startsWith('store-'));
    expect(store(fingerprints(b))).not.toBe(store(fingerprints(infra)));
    for (const dir of [a, b]) fs.rmSync(join(dir, '..'), { recursive: true, force: true });
  });
});
