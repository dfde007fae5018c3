/* Jest globalSetup for integration tests: real servers once per run, connection settings into process.env. */
import { ensureStack } from './stack';

export default async function globalSetup(): Promise<void> {
  const handle = await ensureStack((m) => process.stdout.write(`${m}\n`));
  Object.assign(process.env, handle.env, { AIS_STACK_OWNED: handle.owned ? '1' : '0', AIS_STACK_DIR: handle.dir });
}
