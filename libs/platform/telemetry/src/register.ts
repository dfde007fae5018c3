/**
 * Loaded with `node --require` before the service's own code so instrumentations patch modules on first require:
 *   node --require ./libs/platform/telemetry/src/register.ts apps/x/src/main.ts   (via tsx)
 */
import { startTelemetry } from './sdk';

try {
  startTelemetry();
} catch (error) {
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'telemetry configuration invalid', err: String(error) })}\n`);
  process.exit(78);
}
