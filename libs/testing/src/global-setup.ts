/* Jest globalSetup for integration tests: real servers once per run, connection settings into process.env. */
import { ensureStack } from './stack';
import { provisionTopics } from './topics';

export default async function globalSetup(): Promise<void> {
  const handle = await ensureStack((m) => process.stdout.write(`${m}\n`));
  // The same provisioning step as `npm start`; suites with their own topic prefix provision those themselves.
  await provisionTopics({ brokers: handle.env.KAFKA_BROKERS });
  Object.assign(process.env, handle.env, { AIS_STACK_OWNED: handle.owned ? '1' : '0', AIS_STACK_DIR: handle.dir });
}
