/*
 * A burst of connections with a slow consumer, by hand (issue 13; tests/integration/burst.ts says what it does
 * and checks):
 *
 *   npm run burst -- [--connections 1000] [--window-s 60] [--in-flight 64] [--slow reconciliation:2000:1000|none]
 *                    [--fetch-concurrency 4] [--fetcher-env KEY=value,KEY2=value] [--out bench/results/burst.json]
 *                    [--stack-dir .infra]
 *
 * It uses the stack of `--stack-dir` (default $AIS_STACK_DIR, else .infra; started with `npm run stack:up` or
 * infra/stack.sh up), starts the five services and the simulator for the run, writes the JSON report to --out and
 * prints a Markdown table (docs/CHAOS.md keeps the last full run's). Exit status 1 when a check failed.
 */
import { readStackEnv, REPO_ROOT } from '@ais/testing';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { burstMarkdown, runBurst, type BurstOptions } from '../../tests/integration/burst';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** `--slow service:stopMs:runMs` or `none`. */
export function parseSlow(text: string | undefined): BurstOptions['slow'] {
  if (text === undefined) return undefined;
  if (text === 'none') return null;
  const [service, stop, run] = text.split(':');
  if ((service !== 'reconciliation' && service !== 'enrichment') || !Number(stop) || !Number(run)) throw new Error(`--slow wants reconciliation|enrichment:<stop ms>:<run ms> or none, not ${text}`);
  return { service, stopMs: Number(stop), runMs: Number(run) };
}

async function main(): Promise<void> {
  // the stack: --stack-dir, else AIS_STACK_DIR, else the directory of AIS_STACK_ENV (as the benches take it), else .infra
  const envFile = process.env['AIS_STACK_ENV'];
  const stackDir = resolve(arg('--stack-dir') ?? process.env['AIS_STACK_DIR'] ?? (envFile ? dirname(envFile) : join(REPO_ROOT, '.infra')));
  // the harness reads the servers' addresses from the environment, as under jest's globalSetup
  Object.assign(process.env, readStackEnv(join(stackDir, 'stack.env')), { AIS_STACK_DIR: stackDir });
  const out = resolve(arg('--out') ?? join(REPO_ROOT, 'bench/results/burst.json'));
  const num = (name: string): number | undefined => (arg(name) === undefined ? undefined : Number(arg(name)));
  const slow = parseSlow(arg('--slow'));
  const report = await runBurst({
    ...(num('--connections') !== undefined ? { connections: num('--connections')! } : {}),
    ...(num('--window-s') !== undefined ? { windowMs: num('--window-s')! * 1000 } : {}),
    ...(num('--in-flight') !== undefined ? { inFlight: num('--in-flight')! } : {}),
    ...(num('--fetch-concurrency') !== undefined ? { fetchConcurrency: num('--fetch-concurrency')! } : {}),
    ...(slow !== undefined ? { slow } : {}),
    ...(arg('--fetcher-env') ? { fetcherEnv: Object.fromEntries(arg('--fetcher-env')!.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) } : {}),
  });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${burstMarkdown(report)}\n\n[burst] report: ${out}\n`);
  process.exitCode = report.ok ? 0 : 1;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`[burst] FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
