/* Jest globalSetup for integration tests: real servers once per run, connection settings into process.env. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { openScanRun, SCAN_DIR_ENV } from './secret-ledger';
import { ensureStack, REPO_ROOT } from './stack';

export default async function globalSetup(): Promise<void> {
  const handle = await ensureStack((m) => process.stdout.write(`${m}\n`));
  // The same provisioning step as `npm start` (a child process: jest's global setup resolves no @ais/* aliases).
  // Suites with their own topic prefix provision those themselves.
  execFileSync(process.execPath, ['--require', 'tsx/cjs', 'tools/scripts/provision-topics.ts', '--env', join(handle.dir, 'stack.env')], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  // The run's secret ledger and service logs, read by the secret scan that runs last (zz-secret-scan.int-spec.ts).
  const scan = openScanRun(handle.dir);
  Object.assign(process.env, handle.env, { AIS_STACK_OWNED: handle.owned ? '1' : '0', AIS_STACK_DIR: handle.dir, [SCAN_DIR_ENV]: scan.dir });
}
