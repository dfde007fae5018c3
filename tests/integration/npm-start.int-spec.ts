/**
 * The README's `npm start` (tools/scripts/start-local.*) leaves nothing behind: when one service fails to start it
 * exits non-zero naming that service and why, after stopping every process it started (services and simulator);
 * when it is itself stopped with SIGTERM, it stops them too. With --once it prints the journey's summary (accounts with
 * balances, transactions and their dates, last month's top categories, recurring payments, the journey's trace, what
 * the stack's Prometheus scraped) and stops; a second start reuses the API client and the stored data, also after
 * `npm run stack:down` stopped the stack in between (its store and Vault keep their data).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive, REPO_ROOT, teeOutput } from '@ais/testing';

jest.setTimeout(480_000);

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

  it('--once prints the journey summary from the read API, leaves no process behind, and a second start reuses the data', async () => {
    const summaryOf = (output: string) => ({
      accounts: Number(/^accounts: (\d+)$/m.exec(output)?.[1] ?? NaN),
      transactions: /^transactions: (\d+) from (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d)$/m.exec(output)?.slice(1),
      categories: Number(/^top spending categories in \d{4}-\d\d: (\d+)$/m.exec(output)?.[1] ?? NaN),
      recurring: Number(/^recurring payments: (\d+)$/m.exec(output)?.[1] ?? NaN),
      trace: /^journey trace: (\d+) spans from (.+)$/m.exec(output)?.slice(1),
    });
    const first = await startLocal(['npm', 'start', '--', '--once'], { AIS_STACK_DIR: stackDir! }).done;
    expect(first.code).toBe(0);
    // the user connected through our own picker and permission screen, with the real redirects
    expect(first.output).toMatch(/through the hosted bank picker: POST \/v1\/users\/…\/connect-sessions 201 → GET \/connect\/… 200 → GET \/connect\/…\/consent 200 → POST \/connect\/…\/consent 303 → bank login \(simulator\) 200 → GET \/v1\/callback 303 → GET \/bounce\/… 200/);
    const a = summaryOf(first.output);
    expect(a.accounts).toBeGreaterThan(0);
    expect(first.output).toMatch(/^ {2}\S.* (account|card) +-?\d+\.\d{2,} [A-Z]{3}$/m); // a balance per account
    expect(Number(a.transactions?.[0])).toBeGreaterThan(0);
    expect(a.transactions![1]! < a.transactions![2]!).toBe(true);
    expect(a.categories).toBeGreaterThan(0);
    expect(a.recurring).toBeGreaterThan(0);
    // one trace from the browser's first request to the store: all five services' spans
    expect(Number(a.trace?.[0])).toBeGreaterThan(0);
    expect(a.trace?.[1]).toBe('auth-gateway, data-fetcher, enrichment, reconciliation, token-vault');
    // its Data API hops carry TrueLayer's correlation id, and the fetch spans the provider and the mode
    const tl = /^journey trace: (\d+) Data API calls \((\d+) endpoints\), (\d+) with TrueLayer's correlation id; provider (\S+); fetch mode (.+)$/m.exec(first.output);
    expect(Number(tl?.[1])).toBeGreaterThan(0);
    expect(Number(tl?.[2])).toBeGreaterThan(1);
    expect(tl?.[3]).toBe(tl?.[1]);
    expect(tl?.[4]).toBe('ob-barclays');
    expect(tl?.[5]).toBe('backfill'); // the post-consent fetch of the full history
    expect(first.output).toMatch(/^overview page: +http:\/\/127\.0\.0\.1:\d+\/overview\/\S+ +\(HTTP 200;/m);
    expect(first.output).toMatch(/^journey trace: +http:\/\/127\.0\.0\.1:\d+\/zipkin\/traces\/[0-9a-f]{32}$/m);
    // every service's Prometheus endpoint: the connection funnel's six stages, once each, and the TrueLayer counters
    expect(first.output).toMatch(/^connection funnel: link_created 1 → bank_chosen 1 → permission_accepted 1 → consented 1 → tokens_stored 1 → first_data 1$/m);
    expect(Number(/^TrueLayer requests counted by the services' metrics: (\d+)$/m.exec(first.output)?.[1])).toBeGreaterThan(Number(tl?.[1]));
    expect(first.output.match(/^metrics: +http:\/\/127\.0\.0\.1:\d+\/metrics +\((auth-gateway|token-vault|data-fetcher|enrichment|reconciliation)\)$/gm)).toHaveLength(5);
    // the stack's Prometheus scraped the five while they ran: the same funnel by PromQL, the runbook's rules evaluated
    expect(first.output).toMatch(/^prometheus: +http:\/\/127\.0\.0\.1:\d+ +\(scrapes 5 services: auth-gateway, data-fetcher, enrichment, reconciliation, token-vault;/m);
    expect(first.output).toMatch(/^prometheus funnel: +sum by \(stage\) \(ais_connect_funnel_total\): link_created 1 → bank_chosen 1 → permission_accepted 1 → consented 1 → tokens_stored 1 → first_data 1$/m);
    expect(first.output).toMatch(/^prometheus alerts: +(\d+) rules of infra\/prometheus\/alerts\.yml loaded, \1 evaluated without error, firing: /m);
    // and the services are off its targets once they stopped
    expect(readdirSync(process.env['PROMETHEUS_TARGETS_DIR']!).filter((f) => f.endsWith('.json'))).toEqual([]);
    const firstPids = spawnedPids(first.output);
    expect(firstPids.size).toBe(6);
    expect([...firstPids].filter(([, pid]) => pidAlive(pid))).toEqual([]);

    // the second start finds the API client and the user's data: the same bank again is reconciled, not duplicated
    const second = await startLocal(['npm', 'start', '--', '--once'], { AIS_STACK_DIR: stackDir! }).done;
    expect(second.code).toBe(0);
    expect(second.output).toContain('[start] API client local-demo reused');
    expect(second.output).toMatch(/^== demo-user: connected again \(\d+ earlier connections?; the stored data is reused and reconciled, not duplicated\) ==$/m);
    const b = summaryOf(second.output);
    expect(b.accounts).toBe(a.accounts);
    // the simulator's history moves with the clock (a new transaction may appear between the runs), so: the same
    // count give or take a few, where duplicating the bank's history would double it
    const [na, nb] = [Number(a.transactions![0]), Number(b.transactions![0])];
    expect(nb).toBeGreaterThanOrEqual(na);
    expect(nb - na).toBeLessThanOrEqual(5);
    expect([...spawnedPids(second.output)].filter(([, pid]) => pidAlive(pid))).toEqual([]);
  });

  it('after `npm run stack:down`, a start on the same stack dir finds the API client and the user\'s data again', async () => {
    // the README's path: `npm start`, later `npm run stack:down`, later `npm start` again (own stack dir: the shared
    // one must stay up). Before Vault kept its data, the second start made a new API client (the
    // key's pepper was gone with Vault) and failed with 0 transactions for demo-user.
    const dir = mkdtempSync(join(tmpdir(), 'ais-restart-'));
    const env = { AIS_STACK_DIR: dir };
    const down = async () => (await startLocal(['npm', 'run', 'stack:down', '--', '--dir', dir], env).done).code;
    try {
      const first = await startLocal(['npm', 'start', '--', '--once'], env).done;
      expect(first.code).toBe(0);
      expect(first.output).toContain('[start] API client local-demo created');
      const transactionsOf = (output: string) => Number(/^transactions: (\d+) from /m.exec(output)?.[1] ?? NaN);
      const accountsOf = (output: string) => Number(/^accounts: (\d+)$/m.exec(output)?.[1] ?? NaN);
      expect(await down()).toBe(0);

      const second = await startLocal(['npm', 'start', '--', '--once'], env).done;
      expect(second.code).toBe(0);
      expect(second.output).toContain('[start] API client local-demo reused');
      expect(second.output).toMatch(/^== demo-user: connected again \(1 earlier connection; the stored data is reused and reconciled, not duplicated\) ==$/m);
      expect(accountsOf(second.output)).toBe(accountsOf(first.output));
      const [na, nb] = [transactionsOf(first.output), transactionsOf(second.output)];
      expect(na).toBeGreaterThan(0);
      expect(nb).toBeGreaterThanOrEqual(na);
      expect(nb - na).toBeLessThanOrEqual(5); // the simulator's history moves with the clock; a duplicate would double it
    } finally {
      await down();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops every process it started when it is sent SIGTERM', async () => {
    let signalled = false;
    const run = startLocal(['bash', 'tools/scripts/start-local.sh'], { AIS_STACK_DIR: stackDir! }, (text, pid) => {
      if (!signalled && text.includes('[start] connected at')) {
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
