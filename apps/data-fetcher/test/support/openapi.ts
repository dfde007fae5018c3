import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * TrueLayer's OpenAPI documents live outside the repo, in the read-only `shared/` folder beside the checkout (as
 * for libs/truelayer-client's example tests); TRUELAYER_REFERENCE_DIR overrides the location. Read, never copied.
 */
export const REFERENCE_DIR = process.env['TRUELAYER_REFERENCE_DIR'] ?? resolve(__dirname, '../../../../../shared/truelayer');

/** `components.examples[name].value` of data-api-v1.json. */
export function dataApiExample(name: string): unknown {
  const doc = JSON.parse(readFileSync(join(REFERENCE_DIR, 'openapi', 'data-api-v1.json'), 'utf8')) as { components: { examples: Record<string, { value?: unknown }> } };
  const ex = doc.components.examples[name];
  if (!ex || ex.value === undefined) throw new Error(`no example ${name} in data-api-v1.json`);
  return ex.value;
}
