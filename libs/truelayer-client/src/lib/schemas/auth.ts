import { z } from 'zod';
import { lenientNumber, openEnum } from './common';
import { SCOPES } from './data';

/** Auth-server schemas (authentication-server.json), parsed leniently. */

export const tokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: lenientNumber,
  token_type: z.string(),
  /** Only with `offline_access`. */
  refresh_token: z.string().optional(),
  /** Space-separated granted scopes (may be narrower than requested). */
  scope: z.string().optional(),
});
export type TokenResponseBody = z.output<typeof tokenResponseSchema>;

export const authUriResponseSchema = z.looseObject({
  result: z.string(),
  success: z.boolean(),
});

export const debugResponseSchema = z.looseObject({
  credentials_id: z.string(),
  debug_id: z.string(),
  provider_id: z.string(),
});
export type DebugResponse = z.output<typeof debugResponseSchema>;

export const authInputStepFieldSchema = z.looseObject({
  type: z.string().optional(),
  id: z.string().optional(),
  display_name: z.string().optional(),
  help_text: z.string().optional(),
  mandatory: z.boolean().optional(),
  is_sensitive: z.boolean().optional(),
  values: z.array(z.looseObject({ value: z.string().optional(), display_name: z.string().optional() })).optional(),
  validations: z.array(z.unknown()).optional(),
  allowed_characters: z.string().optional(),
});

/**
 * The spec's `GetProvidersResponse` models one provider with `scopes` as a single enum string (and
 * additionalProperties false), but its own example (and the API) return a bare array of providers with `scopes` as an
 * array and extra fields (`availability`, `steps[].fields[]`). We follow the example: accept both forms of `scopes`
 * and normalise them to an array.
 */
export const providerSchema = z.looseObject({
  provider_id: z.string(),
  display_name: z.string(),
  logo_url: z.string().optional(),
  country: z.string(),
  scopes: z
    .union([z.array(openEnum(SCOPES)), z.string().transform((s) => s.split(/\s+/).filter(Boolean))])
    .default([]),
  steps: z
    .array(
      z.looseObject({
        title: z.string().optional(),
        fields: z.array(authInputStepFieldSchema).optional(),
      }),
    )
    .optional(),
  availability: z
    .looseObject({
      recommended_status: z.string().optional(),
      updated_at: z.string().optional(),
    })
    .optional(),
});
export type Provider = z.output<typeof providerSchema>;
export const providersResponseSchema = z.array(providerSchema);
