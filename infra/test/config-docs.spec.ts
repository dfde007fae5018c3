// docs/CONFIGURATION.md is what tools/scripts/config-docs.ts generates from the zod schemas today, and the
// generator refuses a variable without a description.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const run = (...args: string[]) => spawnSync(process.execPath, ['--require', 'tsx/cjs', 'tools/scripts/config-docs.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });

jest.setTimeout(120_000);

it('the committed configuration reference equals the generated one (npm run docs:config)', () => {
  const r = run('--check');
  expect(`${r.stdout}${r.stderr}`.trim()).toBe('docs/CONFIGURATION.md is up to date');
  expect(r.status).toBe(0);
});
