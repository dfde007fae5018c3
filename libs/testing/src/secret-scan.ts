/**
 * Finds secrets in what the services left behind: by value (the run's ledger, see secret-ledger.ts) and by shape
 * (the simulator's access tokens are JWTs, its refresh tokens and codes 64 upper-case hex; API keys
 * `ais_<clientId>_<43 base64url>`). One function per source shape: a MongoDB document, a Kafka message, a Zipkin
 * span, a log line. Findings name the kind and never carry the value.
 */
import type { LedgerEntry } from './secret-ledger';

export type ShapeKind = 'jwt' | 'hex64' | 'api-key-shape';

const SHAPES: ReadonlyArray<[ShapeKind, RegExp]> = [
  ['jwt', /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/],
  ['hex64', /(?<![0-9A-Za-z])[0-9A-F]{64}(?![0-9A-Za-z])/],
  ['api-key-shape', /(?<![A-Za-z0-9_-])ais_[a-z0-9]{8,40}_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/],
];

/** Characters of the values the ledger holds (base64url, hex, JWT); runs of them are looked up, not searched. */
const TOKEN_RUN = /[A-Za-z0-9._~-]{8,}/g;
const TOKEN_CHARS = /^[A-Za-z0-9._~-]+$/;

/** The ledger prepared for lookups: token-like values by exact run or by substring of a longer run. */
export class SecretIndex {
  private readonly byValue = new Map<string, string>();
  private readonly lengths: number[];
  /** Values with other characters (searched with indexOf). */
  private readonly others: Array<[string, string]> = [];

  constructor(entries: readonly LedgerEntry[]) {
    for (const { kind, value } of entries) {
      if (TOKEN_CHARS.test(value)) this.byValue.set(value, kind);
      else this.others.push([value, kind]);
    }
    this.lengths = [...new Set([...this.byValue.keys()].map((v) => v.length))].sort((a, b) => a - b);
  }

  get size(): number {
    return this.byValue.size + this.others.length;
  }

  /** Kinds of the ledger values in `text`. */
  kindsIn(text: string, out: Set<string> = new Set()): Set<string> {
    const seen = new Set<string>();
    for (const m of text.matchAll(TOKEN_RUN)) {
      const run = m[0];
      if (seen.has(run)) continue;
      seen.add(run);
      const exact = this.byValue.get(run);
      if (exact) out.add(exact);
      for (const len of this.lengths) {
        if (len >= run.length) break;
        for (let i = 0; i + len <= run.length; i += 1) {
          const kind = this.byValue.get(run.slice(i, i + len));
          if (kind) out.add(kind);
        }
      }
    }
    for (const [value, kind] of this.others) if (text.includes(value)) out.add(kind);
    return out;
  }
}

/** Kinds of secrets in `text`: ledger values and secret shapes. */
export function secretKindsIn(text: string, index: SecretIndex): string[] {
  const kinds = index.kindsIn(text);
  for (const [kind, re] of SHAPES) if (re.test(text)) kinds.add(kind);
  return [...kinds].sort();
}

function bytesText(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** Every key and string of a MongoDB document; binary values as their bytes (latin1), so nothing is re-encoded. */
export function documentText(doc: unknown): string {
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (v instanceof Uint8Array) parts.push(bytesText(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const bson = (v as { _bsontype?: string })._bsontype;
      if (bson === 'Binary') parts.push(bytesText((v as { buffer: Uint8Array }).buffer));
      else if (bson) parts.push(String(v));
      else if (v instanceof Date) return;
      else
        for (const [k, inner] of Object.entries(v)) {
          parts.push(k);
          walk(inner);
        }
    }
  };
  walk(doc);
  return parts.join('\n');
}

export interface KafkaMessageLike {
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: Record<string, Buffer | string | Array<Buffer | string> | undefined>;
}

/** Key, value and headers of a Kafka message as bytes (latin1): protobuf strings are their UTF-8 bytes. */
export function kafkaMessageText(m: KafkaMessageLike): string {
  const parts: string[] = [];
  const add = (v: Buffer | string | null | undefined) => {
    if (v !== null && v !== undefined) parts.push(typeof v === 'string' ? v : bytesText(v));
  };
  add(m.key);
  add(m.value);
  for (const [name, v] of Object.entries(m.headers ?? {})) {
    parts.push(name);
    for (const one of Array.isArray(v) ? v : [v]) add(one);
  }
  return parts.join('\n');
}

export function documentSecrets(doc: unknown, index: SecretIndex): string[] {
  return secretKindsIn(documentText(doc), index);
}

export function kafkaMessageSecrets(m: KafkaMessageLike, index: SecretIndex): string[] {
  return secretKindsIn(kafkaMessageText(m), index);
}

export function spanSecrets(span: unknown, index: SecretIndex): string[] {
  return secretKindsIn(JSON.stringify(span), index);
}

export function logLineSecrets(line: string, index: SecretIndex): string[] {
  return secretKindsIn(line, index);
}

/** Where a secret was found (`db.collection`, topic, service, log file), which kinds, and how often; no values. */
export class Findings {
  private readonly items = new Map<string, { source: string; where: string; kind: string; count: number; first: string }>();

  add(source: string, where: string, kinds: readonly string[], locator: string): void {
    for (const kind of kinds) {
      const key = `${source}\u0000${where}\u0000${kind}`;
      const item = this.items.get(key);
      if (item) item.count += 1;
      else this.items.set(key, { source, where, kind, count: 1, first: locator });
    }
  }

  get size(): number {
    return this.items.size;
  }

  /** One line per place and kind, e.g. `mongo gw_1.auth_sessions: state in 2 (first: _id s-1)`. */
  lines(): string[] {
    return [...this.items.values()].map((i) => `${i.source} ${i.where}: ${i.kind} in ${i.count} (first: ${i.first})`).sort();
  }
}
