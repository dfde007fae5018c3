/**
 * OpenAPI 3.1 pieces from the zod schemas the routes validate with (zod's JSON Schema, draft 2020-12, which is
 * OpenAPI 3.1's dialect). `io: 'input'`: what a caller sends, before coercion, defaults and transforms.
 */
import { z } from '@ais/platform-config';

export type JsonSchema = Record<string, unknown> & { description?: string; properties?: Record<string, JsonSchema>; required?: string[] };

/** The JSON Schema of what `schema` accepts (its description, if any, stays on it). */
export function fromZod(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...out } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw' }) as JsonSchema;
  return out;
}

/**
 * A parameter whose schema is `schema`; its description comes from the schema's `.describe()` unless given, its
 * example from the schema's `.meta({ examples })` unless given.
 */
function parameter(name: string, where: 'path' | 'query' | 'header', required: boolean, schema: z.ZodType, description?: string, example?: unknown): Record<string, unknown> {
  const { description: fromSchema, examples, ...rest } = fromZod(schema) as JsonSchema & { examples?: unknown[] };
  const text = description ?? fromSchema;
  const value = example ?? examples?.[0];
  return { name, in: where, required, ...(text ? { description: text } : {}), schema: rest, ...(value === undefined ? {} : { example: value }) };
}

export const pathParam = (name: string, schema: z.ZodType, description?: string, example?: unknown) => parameter(name, 'path', true, schema, description, example);

export const headerParam = (name: string, schema: z.ZodType, description?: string, example?: unknown) => parameter(name, 'header', false, schema, description, example);

/** One query parameter per property of the route's query object (required as the object says). */
export function queryParams(schema: z.ZodObject): Record<string, unknown>[] {
  const shape = schema.shape as Record<string, z.ZodType>;
  return Object.entries(shape).map(([name, prop]) => parameter(name, 'query', !prop.safeParse(undefined).success, prop));
}
