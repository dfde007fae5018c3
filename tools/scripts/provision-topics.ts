/*
 * Creates the platform's Kafka topics that are missing and waits until every partition's leader serves them:
 * the provisioning step `npm start` and the integration tests share (idempotent; safe while services run).
 *   node --require tsx/cjs tools/scripts/provision-topics.ts [--env <stack.env>] [--prefix <KAFKA_TOPIC_PREFIX>]
 * Brokers come from the env file (default $AIS_STACK_DIR/stack.env, else .infra/stack.env).
 */
import { provisionTopics, readStackEnv } from '@ais/testing';
import { join, resolve } from 'node:path';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const envFile = arg('--env') ?? join(resolve(process.env['AIS_STACK_DIR'] ?? join(__dirname, '../../.infra')), 'stack.env');
  const brokers = readStackEnv(envFile).KAFKA_BROKERS;
  const t0 = Date.now();
  const created = await provisionTopics({ brokers, prefix: arg('--prefix') ?? '' });
  process.stdout.write(`[topics] ready at ${brokers} in ${Date.now() - t0} ms${created.length > 0 ? `; created ${created.join(', ')}` : '; all existed'}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`[topics] FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
