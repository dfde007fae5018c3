/*
 * Writes docs/asyncapi.json from the contracts (`npm run docs:asyncapi`); `--check` only compares and exits 1 when
 * the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asyncApiText } from './document';
import { WORKSPACE_ROOT } from './proto-schema';

export const ASYNCAPI_FILE = join(WORKSPACE_ROOT, 'docs', 'asyncapi.json');

if (require.main === module) {
  const text = asyncApiText();
  if (process.argv.includes('--check')) {
    const committed = readFileSync(ASYNCAPI_FILE, 'utf8');
    if (committed !== text) {
      process.stderr.write('docs/asyncapi.json is stale: run `npm run docs:asyncapi` and commit it\n');
      process.exit(1);
    }
    process.stdout.write('docs/asyncapi.json is up to date\n');
  } else {
    writeFileSync(ASYNCAPI_FILE, text);
    process.stdout.write(`wrote ${ASYNCAPI_FILE}\n`);
  }
}
