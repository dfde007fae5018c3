/**
 * JSON Schemas of protobuf messages, read from /proto itself: `buf build` (the repository's pinned buf) compiles the
 * files into a descriptor set with their comments, and each message becomes the schema of its proto3 JSON mapping
 * (the form ts-proto's `toJSON` writes): lowerCamelCase names, 64-bit integers as decimal strings, enums by name,
 * bytes as base64, google.protobuf.Timestamp as an RFC 3339 string, maps as objects. Field and message comments
 * become descriptions.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export type JsonSchema = Record<string, unknown>;

interface FieldProto {
  name: string;
  number: number;
  label?: string;
  type: string;
  typeName?: string;
  oneofIndex?: number;
  jsonName?: string;
}
interface EnumProto {
  name: string;
  value?: { name: string; number: number }[];
}
interface MessageProto {
  name: string;
  field?: FieldProto[];
  nestedType?: MessageProto[];
  enumType?: EnumProto[];
  oneofDecl?: { name: string }[];
  options?: { mapEntry?: boolean };
}
interface FileProto {
  name: string;
  package?: string;
  messageType?: MessageProto[];
  enumType?: EnumProto[];
  sourceCodeInfo?: { location?: { path?: number[]; leadingComments?: string }[] };
}

interface Indexed<T> {
  proto: T;
  file: string;
  comment: string;
  /** Comments of fields (messages) or values (enums) by index. */
  children: string[];
}

export const WORKSPACE_ROOT = resolve(__dirname, '../../..');

/** The descriptor set of /proto with source info, as buf writes it in JSON. */
export function buildDescriptorSet(root = WORKSPACE_ROOT): { file: FileProto[] } {
  const out = execFileSync(join(root, 'node_modules/.bin/buf'), ['build', 'proto', '-o', '-#format=json'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(out.toString('utf8')) as { file: FileProto[] };
}

const clean = (comment: string | undefined): string =>
  (comment ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');

const INT32 = new Set(['TYPE_INT32', 'TYPE_UINT32', 'TYPE_SINT32', 'TYPE_FIXED32', 'TYPE_SFIXED32']);
const INT64 = new Set(['TYPE_INT64', 'TYPE_UINT64', 'TYPE_SINT64', 'TYPE_FIXED64', 'TYPE_SFIXED64']);

/** Message and enum descriptors of a descriptor set by full name (no leading dot), with their comments. */
export class ProtoIndex {
  readonly messages = new Map<string, Indexed<MessageProto>>();
  readonly enums = new Map<string, Indexed<EnumProto>>();

  constructor(set: { file: FileProto[] }) {
    for (const file of set.file) {
      const comments = new Map<string, string>();
      for (const loc of file.sourceCodeInfo?.location ?? []) if (loc.leadingComments && loc.path) comments.set(loc.path.join('.'), clean(loc.leadingComments));
      const at = (path: number[]) => comments.get(path.join('.')) ?? '';
      const addEnum = (e: EnumProto, scope: string, path: number[]) =>
        this.enums.set(`${scope}.${e.name}`, { proto: e, file: file.name, comment: at(path), children: (e.value ?? []).map((_v, i) => at([...path, 2, i])) });
      const addMessage = (m: MessageProto, scope: string, path: number[]) => {
        const name = `${scope}.${m.name}`;
        this.messages.set(name, { proto: m, file: file.name, comment: at(path), children: (m.field ?? []).map((_f, i) => at([...path, 2, i])) });
        (m.nestedType ?? []).forEach((n, i) => addMessage(n, name, [...path, 3, i]));
        (m.enumType ?? []).forEach((e, i) => addEnum(e, name, [...path, 4, i]));
      };
      const pkg = file.package ?? '';
      (file.messageType ?? []).forEach((m, i) => addMessage(m, pkg, [4, i]));
      (file.enumType ?? []).forEach((e, i) => addEnum(e, pkg, [5, i]));
    }
  }

  message(name: string): Indexed<MessageProto> {
    const m = this.messages.get(name);
    if (!m) throw new Error(`no message ${name} in /proto`);
    return m;
  }
}

/** Component key of a message or enum schema (its full protobuf name). */
export const schemaKey = (fullName: string): string => fullName.replace(/^\./, '');

/**
 * JSON Schemas of `roots` and every message and enum they reach, keyed by full name; references point at
 * `${refBase}<full name>`.
 */
export function messageSchemas(index: ProtoIndex, roots: readonly string[], refBase: string): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  const pending = [...roots];
  const ref = (typeName: string): JsonSchema => {
    const key = schemaKey(typeName);
    if (!(key in out) && !pending.includes(key)) pending.push(key);
    return { $ref: `${refBase}${key}` };
  };
  const fieldSchema = (f: FieldProto): JsonSchema => {
    if (f.type === 'TYPE_MESSAGE' && schemaKey(f.typeName!) === 'google.protobuf.Timestamp') return { type: 'string', format: 'date-time' };
    if (f.type === 'TYPE_MESSAGE' || f.type === 'TYPE_ENUM') return ref(f.typeName!);
    if (f.type === 'TYPE_STRING') return { type: 'string' };
    if (f.type === 'TYPE_BOOL') return { type: 'boolean' };
    if (f.type === 'TYPE_DOUBLE' || f.type === 'TYPE_FLOAT') return { type: 'number' };
    if (INT32.has(f.type)) return { type: 'integer', ...(f.type.startsWith('TYPE_U') || f.type === 'TYPE_FIXED32' ? { minimum: 0 } : {}) };
    if (INT64.has(f.type)) return { type: 'string', pattern: '^-?[0-9]+$', description: '64-bit integer as a decimal string.' };
    if (f.type === 'TYPE_BYTES') return { type: 'string', contentEncoding: 'base64' };
    throw new Error(`unsupported protobuf field type ${f.type} (${f.name})`);
  };
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name in out) continue;
    const e = index.enums.get(name);
    if (e) {
      const values = e.proto.value ?? [];
      const described = values.map((v, i) => (e.children[i] ? `\`${v.name}\`: ${e.children[i]}` : '')).filter(Boolean);
      out[name] = {
        type: 'string',
        enum: values.map((v) => v.name),
        description: [e.comment, `Protobuf enum \`${name}\` (by name in JSON).`, ...described].filter(Boolean).join(' '),
      };
      continue;
    }
    const m = index.message(name);
    const properties: Record<string, JsonSchema> = {};
    const fields = m.proto.field ?? [];
    fields.forEach((f, i) => {
      let schema: JsonSchema;
      const entry = f.type === 'TYPE_MESSAGE' ? index.messages.get(schemaKey(f.typeName!)) : undefined;
      if (entry?.proto.options?.mapEntry) {
        const value = entry.proto.field!.find((x) => x.name === 'value')!;
        schema = { type: 'object', additionalProperties: fieldSchema(value) };
      } else if (f.label === 'LABEL_REPEATED') {
        schema = { type: 'array', items: fieldSchema(f) };
      } else {
        schema = fieldSchema(f);
      }
      const oneof = f.oneofIndex !== undefined ? m.proto.oneofDecl?.[f.oneofIndex]?.name : undefined;
      const text = [m.children[i], oneof ? `One of \`${oneof}\`.` : ''].filter(Boolean).join(' ');
      if (text) schema = '$ref' in schema ? { allOf: [schema], description: text } : { ...schema, description: [schema['description'], text].filter(Boolean).join(' ') };
      properties[f.jsonName ?? f.name] = schema;
    });
    const oneofs = (m.proto.oneofDecl ?? []).map((o, i) => `\`${o.name}\`: at most one of ${fields.filter((f) => f.oneofIndex === i).map((f) => `\`${f.jsonName ?? f.name}\``).join(', ')}.`);
    out[name] = {
      type: 'object',
      description: [m.comment, `Protobuf message \`${name}\` (${m.file}).`, ...oneofs].filter(Boolean).join(' '),
      properties,
      additionalProperties: false,
    };
  }
  return out;
}
