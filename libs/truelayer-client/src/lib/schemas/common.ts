import { z } from 'zod';
import { normaliseTimestamp } from '../timestamps';

/** Timestamp string normalised to ISO-8601 UTC when parseable; kept verbatim otherwise (see timestamps.ts). */
export const timestamp = z.string().transform(normaliseTimestamp);

const NUMERIC_RE = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/** A number that may arrive as a numeric string (the spec types several amounts as string, examples send numbers). */
export const lenientNumber = z.union([
  z.number(),
  z
    .string()
    .regex(NUMERIC_RE, { message: 'expected a number or numeric string' })
    .transform((s) => Number(s)),
]);

/**
 * Open enum: the known values document the contract, but any string is accepted (TrueLayer adds values over time
 * and the reference says to accept e.g. any ISO currency code).
 */
export function openEnum<const T extends readonly [string, ...string[]]>(_values: T) {
  return z.string() as unknown as z.ZodType<T[number] | (string & {}), string>;
}

export const CURRENCIES = ['EUR', 'GBP', 'USD', 'AUD'] as const;
export const currency = openEnum(CURRENCIES);

export const RESPONSE_STATUSES = ['Succeeded', 'Queued', 'Running', 'Failed'] as const;
export const responseStatus = openEnum(RESPONSE_STATUSES);
export type ResponseStatus = z.output<typeof responseStatus>;

/** Auth-server and Data API v1 error body. */
export const errorBodySchema = z.looseObject({
  error: z.string(),
  error_description: z.string().optional(),
  error_details: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorBody = z.output<typeof errorBodySchema>;

/** RFC 7807 problem (only `/connections/extend` in v1). `errors` is an array in the schema, an object in the example. */
export const problemSchema = z.looseObject({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  trace_id: z.string().optional(),
  errors: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]).optional(),
});
export type Problem = z.output<typeof problemSchema>;

/** `{results: T[], status?}` envelope of every Data API v1 success response. */
export function envelope<T extends z.ZodType>(item: T) {
  return z.looseObject({
    results: z.array(item),
    status: responseStatus.optional(),
  });
}
