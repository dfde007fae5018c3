/**
 * The README's `npm start` (tools/scripts/start-local.*) leaves nothing behind: when one service fails to start it
 * exits non-zero naming that service and why, after stopping every process it started (services and simulator);
 * when it is itself stopped with SIGTERM, it stops them too.
 */
import { spawn } from 'node:child_process';
import { pidAlive, REPO_ROOT, teeOutput } from '@ais/testing';

jest.setTimeout(240_000);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** `[start] spawned <name> pid <pid>` lines: every process start-local started. */
function spawnedPids(output: string): Map<string, number> {
  return new Map([...output.matchAll(/^\[start\] spawned (\S+) pid (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

function startLocal(command: string[], env: Record<string, string>, onOutput?: (text: string, pid: number) => void): { pid: number; done: Promise<Run> } {
  const child = spawn(command[0]!, command.slice(1), { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  teeOutput('npm-start', child);
  let output = '';
  const take = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    onOutput?.(output, child.pid!);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const done = new Promise<Run>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, output })));
  return { pid: child.pid!, done };
}

describe('npm start', () => {
  const stackDir = process.env['AIS_STACK_DIR'];

  it('exits non-zero naming the service that failed to start, and leaves none of its processes running', async () => {
    const run = await startLocal(['npm', 'start', '--', '--once'], {
      AIS_STACK_DIR: stackDir!,
      // enrichment alone gets a Kafka nobody listens on
      AIS_START_ENV_ENRICHMENT: 'KAFKA_BROKERS=127.0.0.1:1;STARTUP_TIMEOUT_MS=3000',
    }).done;
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/^\[start\] FAILED: enrichment exited \(1\) before it was ready: start-up failed: cannot reach Kafka at 127\.0\.0\.1:1 within 3000 ms/m);
    const pids = spawnedPids(run.output);
    expect([...pids.keys()].sort()).toEqual(expect.arrayContaining(['data-fetcher', 'enrichment', 'reconciliation', 'token-vault', 'truelayer-sandbox']));
    const left = [...pids].filter(([, pid]) => pidAlive(pid));
    expect(left).toEqual([]);
  });

  it('stops every process it started when it is sent SIGTERM', async () => {
    let signalled = false;
    const run = startLocal(['bash', 'tools/scripts/start-local.sh'], { AIS_STACK_DIR: stackDir! }, (text, pid) => {
      if (!signalled && text.includes('[start] probe recorded')) {
        signalled = true;
        process.kill(pid, 'SIGTERM'); // start-local.sh execs node: this is start-local itself
      }
    });
    const result = await run.done;
    expect(signalled).toBe(true);
    expect(result.output).toContain('[start] SIGTERM: stopping what was started');
    expect(result.code).toBe(143);
    const pids = spawnedPids(result.output);
    expect(pids.size).toBe(6); // simulator + five services
    expect([...pids].filter(([, pid]) => pidAlive(pid))).toEqual([]);
  });
});
