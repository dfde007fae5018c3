import { readStackEnv, stopStack } from './stack';
import { join } from 'node:path';

export default async function globalTeardown(): Promise<void> {
  const dir = process.env['AIS_STACK_DIR'];
  if (process.env['AIS_STACK_OWNED'] !== '1' || !dir) return;
  await stopStack({ env: readStackEnv(join(dir, 'stack.env')), owned: true, dir });
}
