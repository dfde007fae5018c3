/**
 * Secret redaction shared by the logs and the spans, in three ways:
 * - by key: {@link redactFields} copies a value with the values under {@link SECRET_KEYS} replaced, at any depth
 *   (objects, arrays, Errors with their own fields and `cause`, Maps and Headers), cycle-safe and bounded;
 * - by value: {@link registerSecret} adds a secret the process learnt at run time; {@link scrubText} masks it wherever
 *   it appears in a string;
 * - by shape: {@link scrubText} also masks `code=`-style parameters, `/connect/<token>`, `/bounce/<token>` and
 *   `/overview/<token>` paths,
 *   bearer tokens and JWTs inside any string.
 */

export const REDACTED = '[REDACTED]';
export const CIRCULAR = '[Circular]';
export const DEPTH_LIMIT = '[Depth limit]';
export const TRUNCATED = '[Truncated]';
/** Nesting below this depth is replaced by {@link DEPTH_LIMIT}. */
export const MAX_DEPTH = 12;
/** Fields and elements visited per value; the rest of an object or array is replaced by one {@link TRUNCATED} entry. */
export const MAX_FIELDS = 2_000;

/**
 * Keys whose values never reach a log line or a span. The one list: matched case-insensitively and ignoring `-`, `_`
 * and `.`, so `pageToken`, `page_token` and `page-token` are one entry. A key ending in `token`, `secret`, `password`,
 * `apikey`, `authorization`, `cookie` or `privatekey` matches too (`x-vault-token`, `bounceToken`, `webhookSecret`).
 * `ciphertext` is the Transit ciphertext of a token.
 */
export const SECRET_KEYS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-vault-token',
  'vault_token',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'page_token',
  'bounce_token',
  'client_secret',
  'secret',
  'password',
  'passphrase',
  'pepper',
  'api_key',
  'private_key',
  'key',
  'code',
  'auth_code',
  'authorization_code',
  'code_verifier',
  'state',
  'ciphertext',
  'plaintext',
] as const;

const SECRET_KEY_SUFFIXES = ['token', 'secret', 'password', 'apikey', 'authorization', 'cookie', 'privatekey'];
/**
 * Keys that also name harmless things (error codes, lifecycle states). Their value is kept when it is a number or reads
 * like an identifier (`ECONNREFUSED`, `invalid_grant`, `awaiting_consent`); anything else (an OAuth code or state) is not.
 */
const AMBIGUOUS_KEYS = new Set(['code', 'state']);
const IDENTIFIER = /^(?:[a-z]+(?:[_.:-][a-z0-9]+)*|[A-Z]+(?:[_.:-][A-Z0-9]+)*)$/;

const normalize = (key: string): string => key.toLowerCase().replace(/[-_.]/g, '');
const SECRET_SET = new Set<string>(SECRET_KEYS.map(normalize));
const NOT_SECRET = 0;
const SECRET = 1;
const AMBIGUOUS = 2;
type KeyKind = typeof NOT_SECRET | typeof SECRET | typeof AMBIGUOUS;
const kindCache = new Map<string, KeyKind>();

function keyKind(key: string): KeyKind {
  let kind = kindCache.get(key);
  if (kind !== undefined) return kind;
  const n = normalize(key);
  kind = AMBIGUOUS_KEYS.has(n) ? AMBIGUOUS : SECRET_SET.has(n) || SECRET_KEY_SUFFIXES.some((s) => n.endsWith(s)) ? SECRET : NOT_SECRET;
  if (kindCache.size >= 10_000) kindCache.clear();
  kindCache.set(key, kind);
  return kind;
}

/** Whether `key` names a secret (see {@link SECRET_KEYS}), whatever its value. */
export function isSecretKey(key: string): boolean {
  return keyKind(key) !== NOT_SECRET;
}

/** Whether the value under `key` must be replaced: an empty value or a boolean carries nothing and is kept. */
export function isSecretField(key: string, value: unknown): boolean {
  const kind = keyKind(key);
  if (kind === NOT_SECRET || value === undefined || value === null || value === '' || typeof value === 'boolean') return false;
  if (kind === AMBIGUOUS) return !(typeof value === 'number' || (typeof value === 'string' && value.length <= 64 && IDENTIFIER.test(value)));
  return true;
}

interface Walk {
  ancestors: Set<object>;
  fields: number;
}

/**
 * A copy of `value` that is safe to serialise: secret fields replaced by {@link REDACTED}, Errors as
 * `{ type, message, stack, ...own fields, cause }`, Maps and Headers as objects, binary data as its size, cycles as
 * {@link CIRCULAR}, and work bounded by {@link MAX_DEPTH} and {@link MAX_FIELDS}. Strings are left to {@link scrubText}.
 */
export function redactFields<T>(value: T): T {
  return walk(value, 0, { ancestors: new Set(), fields: 0 }) as T;
}

function walk(value: unknown, depth: number, w: Walk): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (depth > MAX_DEPTH) return DEPTH_LIMIT;
  if (w.ancestors.has(value)) return CIRCULAR;
  w.ancestors.add(value);
  try {
    return walkObject(value, depth, w);
  } catch {
    return '[Unserializable]';
  } finally {
    w.ancestors.delete(value);
  }
}

function walkObject(value: object, depth: number, w: Walk): unknown {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[Binary ${value.byteLength} bytes]`;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      if (++w.fields > MAX_FIELDS) {
        out.push(`${TRUNCATED} ${value.length - out.length} more`);
        break;
      }
      out.push(walk(item, depth + 1, w));
    }
    return out;
  }
  if (value instanceof Set) return walkObject([...value], depth, w);
  const out: Record<string, unknown> = {};
  if (value instanceof Error) {
    out['type'] = value.name || value.constructor?.name || 'Error';
    out['message'] = value.message;
    out['stack'] = value.stack;
    copyFields(value, out, depth, w);
    if (value.cause !== undefined && !Object.prototype.propertyIsEnumerable.call(value, 'cause')) out['cause'] = walk(value.cause, depth + 1, w);
    if (value instanceof AggregateError && !Object.prototype.propertyIsEnumerable.call(value, 'errors')) out['errors'] = walk(value.errors, depth + 1, w);
    return out;
  }
  if (isEntries(value)) {
    for (const [k, v] of value.entries()) if (!addField(out, String(k), v, depth, w)) break;
    return out;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const json: unknown = toJSON.call(value);
    if (json !== value) return walk(json, depth, w);
  }
  copyFields(value, out, depth, w);
  return out;
}

/** A Map, a fetch Headers or anything else that reads like one: JSON would print it as `{}`. */
function isEntries(value: object): value is { entries(): Iterable<[unknown, unknown]> } {
  const v = value as { entries?: unknown; get?: unknown; has?: unknown };
  return typeof v.entries === 'function' && typeof v.get === 'function' && typeof v.has === 'function';
}

function copyFields(value: object, out: Record<string, unknown>, depth: number, w: Walk): void {
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key) || key in out) continue;
    if (!addField(out, key, (value as Record<string, unknown>)[key], depth, w)) return;
  }
}

function addField(out: Record<string, unknown>, key: string, v: unknown, depth: number, w: Walk): boolean {
  if (++w.fields > MAX_FIELDS) {
    out[TRUNCATED] = `${MAX_FIELDS} fields per line`;
    return false;
  }
  out[key] = isSecretField(key, v) ? REDACTED : walk(v, depth + 1, w);
  return true;
}

// ---- secrets by value -------------------------------------------------------------------------------------------

/** Shorter values are not registered (they would mask ordinary words). */
export const MIN_SECRET_LENGTH = 8;
/** The registry keeps the most recently registered values (re-registering one refreshes it). */
export const MAX_SECRETS = 4_096;

// A scan reads the text's 4-character windows (grams) at every 4th position only. An occurrence of a form (8 characters
// or more) starting at p is first sampled at p, p+1, p+2 or p+3, and that gram lies inside it: so only the grams at
// offsets 0 to 3 of each form are indexed (4 entries per form, however long). A count per hash bucket rules out almost
// every position before the map is read; a candidate is confirmed with startsWith.
const GRAM = 4;
const STRIDE = 4; // at most MIN_SECRET_LENGTH - GRAM + 1
const BUCKET_BITS = 20;
let bucketCounts: Uint16Array | undefined; // allocated on the first registration (2 MiB)
const grams = new Map<number, { form: string; offset: number }[]>();
/** Registered value → the forms indexed for it (raw, JSON-escaped, URL-encoded), least recently registered first. */
const registry = new Map<string, string[]>();

const gramAt = (text: string, i: number): number =>
  ((text.charCodeAt(i) << 24) ^ (text.charCodeAt(i + 1) << 16) ^ (text.charCodeAt(i + 2) << 8) ^ text.charCodeAt(i + 3)) | 0;
const bucketOf = (gram: number): number => Math.imul(gram, 0x9e3779b1) >>> (32 - BUCKET_BITS);

function index(form: string): void {
  const counts = (bucketCounts ??= new Uint16Array(1 << BUCKET_BITS));
  for (let offset = 0; offset < STRIDE; offset += 1) {
    const g = gramAt(form, offset);
    const list = grams.get(g);
    if (list) list.push({ form, offset });
    else grams.set(g, [{ form, offset }]);
    const b = bucketOf(g);
    if (counts[b]! < 0xffff) counts[b]! += 1;
  }
}

function unindex(form: string): void {
  for (let offset = 0; offset < STRIDE; offset += 1) {
    const g = gramAt(form, offset);
    const list = grams.get(g);
    const at = list?.findIndex((e) => e.form === form && e.offset === offset) ?? -1;
    if (!list || at < 0) continue;
    list.splice(at, 1);
    if (list.length === 0) grams.delete(g);
    const b = bucketOf(g);
    if (bucketCounts![b]! < 0xffff) bucketCounts![b]! -= 1;
  }
}
/**
 * Registers a secret the process learnt at run time (a client secret, an access or refresh token, an API key, the
 * Vault token): from now on {@link scrubText} masks it in every log line and span. Values shorter than
 * {@link MIN_SECRET_LENGTH} are ignored; the registry keeps the {@link MAX_SECRETS} most recent.
 */
export function registerSecret(value: string | null | undefined): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  const known = registry.get(value);
  if (known) {
    registry.delete(value);
    registry.set(value, known);
    return;
  }
  const forms = [...new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)])];
  forms.forEach(index);
  registry.set(value, forms);
  if (registry.size > MAX_SECRETS) {
    const [oldest, oldForms] = registry.entries().next().value as [string, string[]];
    oldForms.forEach(unindex);
    registry.delete(oldest);
  }
}

/** Removes a value registered by {@link registerSecret} (or every value, with no argument: tests). */
export function forgetSecrets(value?: string): void {
  const values = value === undefined ? [...registry.keys()] : [value];
  for (const v of values) {
    registry.get(v)?.forEach(unindex);
    registry.delete(v);
  }
}

function maskRegistered(text: string): string {
  const counts = bucketCounts;
  if (registry.size === 0 || !counts || text.length < MIN_SECRET_LENGTH) return text;
  let ranges: [number, number][] | undefined;
  for (let i = 0; i + GRAM <= text.length; i += STRIDE) {
    const g = gramAt(text, i);
    if (counts[bucketOf(g)] === 0) continue;
    for (const { form, offset } of grams.get(g) ?? []) {
      const start = i - offset;
      if (start >= 0 && text.startsWith(form, start)) (ranges ??= []).push([start, start + form.length]);
    }
  }
  if (!ranges) return text;
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let masked = 0; // end of the masked text so far
  for (const [start, end] of ranges) {
    if (start < masked) {
      masked = Math.max(masked, end);
      continue;
    }
    out += text.slice(masked, start) + REDACTED;
    masked = end;
  }
  return out + text.slice(masked);
}

// ---- secrets by shape -------------------------------------------------------------------------------------------

/** Query-string and form parameters whose value is masked inside any string (case-insensitive). */
export const SECRET_PARAMS = [
  'code',
  'state',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'client_secret',
  'code_verifier',
  'api_key',
  'password',
] as const;

const SHAPES = new RegExp(
  [
    // name=value, not part of a longer name (errorcode=1 stays); the value ends at & # , ; ) < > whitespace, a quote or
    // a backslash (a JSON escape), and may hold [ ] so that masking twice gives the same text
    `(?<![\\w.-])((?:${SECRET_PARAMS.join('|')})=)[^&#,;)<>\\s"'\\\\]+`,
    // hosted-page, bounce and overview-link tokens travel in the path: /connect/<token>/..., /bounce/<token>, /overview/<token>
    `(\\/(?:connect|bounce|overview)\\/)[A-Za-z0-9_-]{16,}`,
    `\\b(Bearer\\s+)[A-Za-z0-9._~+/-]+=*`,
    `\\beyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}`,
    // PEM private keys (raw or JSON-escaped line breaks)
    `-----BEGIN [A-Z ]*PRIVATE KEY-----[\\s\\S]*?-----END [A-Z ]*PRIVATE KEY-----`,
  ].join('|'),
  'gi',
);

/** Masks registered secrets, secret parameters, hosted-page path tokens, bearer tokens, JWTs and PEM private keys in free text. */
export function scrubText(text: string): string {
  return maskRegistered(text).replace(SHAPES, (_m, param?: string, path?: string, bearer?: string) => `${param ?? path ?? bearer ?? ''}${REDACTED}`);
}
