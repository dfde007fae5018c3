import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The TrueLayer reference material lives outside the repo, in the read-only `shared/` folder beside the checkout
 * (CI gets a copy there too). Override the location with TRUELAYER_REFERENCE_DIR. Read, never copied into the repo.
 */
export const REFERENCE_DIR = process.env['TRUELAYER_REFERENCE_DIR'] ?? resolve(__dirname, '../../../../../shared/truelayer');

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function loadOpenApi(name: 'data-api-v1.json' | 'authentication-server.json'): { [k: string]: Json } {
  return JSON.parse(readFileSync(join(REFERENCE_DIR, 'openapi', name), 'utf8')) as { [k: string]: Json };
}

export function loadReferenceMarkdown(): string {
  return readFileSync(join(REFERENCE_DIR, 'data-api-v1.md'), 'utf8');
}

/** Resolves a local `#/a/b` JSON pointer. */
export function resolveRef(doc: Json, ref: string): Json {
  let cur: Json = doc;
  for (const part of ref.replace(/^#\//, '').split('/')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) throw new Error(`bad ref ${ref}`);
    const next: Json | undefined = cur[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (next === undefined) throw new Error(`bad ref ${ref}`);
    cur = next;
  }
  return cur;
}

export function deref(doc: Json, node: Json): Json {
  let cur = node;
  for (let i = 0; i < 10; i++) {
    if (cur !== null && typeof cur === 'object' && !Array.isArray(cur) && typeof cur['$ref'] === 'string') {
      cur = resolveRef(doc, cur['$ref']);
    } else return cur;
  }
  throw new Error('ref loop');
}

export function isObj(j: Json | undefined): j is { [k: string]: Json } {
  return j !== null && j !== undefined && typeof j === 'object' && !Array.isArray(j);
}
