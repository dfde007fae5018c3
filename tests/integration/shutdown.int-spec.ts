/**
 * SIGTERM ends a service within its hard shutdown timeout whatever state it is in: also when the process that
 * started it is gone and its stdout/stderr are closed (issue 7: enrichment, orphaned by a failed `npm start`,
 * ignored SIGTERM until SIGKILL because its logger looped on EPIPE).
 */
import { provisionTopics, startService, type ServiceProcess } from '@ais/testing';
import { stackEnv, uniqueSuffix } from './stack-env';

jest.setTimeout(120_000);

const SHUTDOWN_TIMEOUT_MS = 4_000;

async function waitExit(proc: ServiceProcess, ms: number): Promise<number | string | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([proc.exited, new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)))]);
  clearTimeout(timer);
  return outcome;
}

describe('shutdown of an orphaned service', () => {
  const prefix = `sd${uniqueSuffix()}`;
  const infra = stackEnv();
  const env = { ...infra, TOKEN_VAULT_ADDR: '127.0.0.1:1', KAFKA_TOPIC_PREFIX: prefix, OTEL_TRACES_EXPORTER: 'none', SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) };
  const started: ServiceProcess[] = [];

  beforeAll(() => provisionTopics({ brokers: infra['KAFKA_BROKERS']!, prefix }));
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop(1_000)));
  });

  it.each(['enrichment', 'reconciliation', 'data-fetcher'])('%s exits on SIGTERM with its output closed, within the hard timeout', async (name) => {
    const proc = await startService(name, env);
    started.push(proc);
    proc.closeOutput(); // as when `npm start` died: the pipes' reader is gone
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    process.kill(proc.pid, 'SIGTERM');
    const code = await waitExit(proc, SHUTDOWN_TIMEOUT_MS + 3_000);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 3_000);
  });
});
