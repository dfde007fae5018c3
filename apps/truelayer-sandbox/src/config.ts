/** Environment schema of the sandbox (read only through @ais/platform-config). */
import { commonSchema, env, z } from '@ais/platform-config';
import type { Client } from './domain/state';

const clientSchema = z.object({
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  redirect_uris: z.array(z.url()).min(1),
  providers: z.array(z.string()).optional(),
});

export const configSchema = commonSchema
  .extend({
    SANDBOX_HOST: z.string().default('127.0.0.1'),
    SANDBOX_PORT: env.port.default(0),
    SANDBOX_AUTH_BASE_URL: env.url.optional(),
    SANDBOX_API_BASE_URL: env.url.optional(),
    SANDBOX_SEED: z.string().min(1).default('truelayer-sandbox'),
    SANDBOX_ADMIN: env.bool.optional(),
    /**
     * Base of the simulated clock: `real` (default) or `scaled:<realAnchorMs>:<simAnchorMs>:<rate>`, the spec other
     * processes of a test (data-fetcher) are given too; admin clock calls move an offset on top of it.
     */
    SANDBOX_CLOCK: env.clock,
    /** JSON array of {client_id, client_secret, redirect_uris[]}; replaces the default dev client. */
    SANDBOX_CLIENTS: z
      .string()
      .optional()
      .transform((s, c) => {
        if (s === undefined) return undefined;
        try {
          return z.array(clientSchema).min(1).parse(JSON.parse(s));
        } catch {
          c.addIssue({ code: 'custom', message: 'must be a JSON array of {client_id, client_secret, redirect_uris}' });
          return z.NEVER;
        }
      }),
    SANDBOX_CLIENT_ID: z.string().min(1).default('sandbox-ais-platform'),
    SANDBOX_CLIENT_SECRET: z.string().min(1).optional(),
    SANDBOX_REDIRECT_URIS: env.list.pipe(z.array(z.url()).min(1)).default(['http://127.0.0.1:3000/callback', 'http://localhost:3000/callback']),
  })
  .superRefine((cfg, c) => {
    if (!cfg.SANDBOX_CLIENTS && !cfg.SANDBOX_CLIENT_SECRET) {
      c.addIssue({ code: 'custom', path: ['SANDBOX_CLIENT_SECRET'], message: 'is required unless SANDBOX_CLIENTS is set' });
    }
  });

export type SandboxConfig = z.infer<typeof configSchema>;

/** Registered clients: SANDBOX_CLIENTS, or the default dev client. */
export function clientsFromConfig(config: SandboxConfig): Client[] {
  return (
    config.SANDBOX_CLIENTS ?? [
      { client_id: config.SANDBOX_CLIENT_ID, client_secret: config.SANDBOX_CLIENT_SECRET ?? '', redirect_uris: config.SANDBOX_REDIRECT_URIS },
    ]
  );
}

export function adminEnabled(config: SandboxConfig): boolean {
  return config.SANDBOX_ADMIN ?? config.NODE_ENV !== 'production';
}
