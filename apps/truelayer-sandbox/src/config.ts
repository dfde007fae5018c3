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
    SANDBOX_HOST: z.string().default('127.0.0.1').describe('Address the simulator binds.'),
    SANDBOX_PORT: env.port.default(0).describe('Port of the simulator; 0 picks a free port.'),
    SANDBOX_AUTH_BASE_URL: env.url.optional().describe('Origin the simulator puts in the auth links it returns (default: its own address).'),
    SANDBOX_API_BASE_URL: env.url.optional().describe('Origin of the simulated Data API it advertises (default: its own address).'),
    SANDBOX_SEED: z.string().min(1).default('truelayer-sandbox').describe('Seed of the generated users, accounts and transactions (same seed, same data).'),
    SANDBOX_ADMIN: env.bool.optional().describe('Serve the /__admin test controls (default: on unless NODE_ENV=production).'),
    SANDBOX_CLOCK: env.clock.describe('Base of the simulated clock: `real` (default) or `scaled:<realAnchorMs>:<simAnchorMs>:<rate>`, the spec other processes of a test (data-fetcher) are given too; admin clock calls move an offset on top of it.'),
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
      }).describe('JSON array of {client_id, client_secret, redirect_uris[]}; replaces the default dev client.'),
    SANDBOX_CLIENT_ID: z.string().min(1).default('sandbox-ais-platform').describe('Client id of the default registered client.'),
    SANDBOX_CLIENT_SECRET: z.string().min(1).optional().describe('Client secret of the default registered client (required unless SANDBOX_CLIENTS is set).'),
    SANDBOX_REDIRECT_URIS: env.list.pipe(z.array(z.url()).min(1)).default(['http://127.0.0.1:3000/callback', 'http://localhost:3000/callback']).describe('Comma-separated redirect URIs registered for the default client.'),
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
