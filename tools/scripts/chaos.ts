/*
 * The fault and chaos suite by hand (issue 13; tests/integration/chaos.ts says what it does and checks):
 *
 *   npm run chaos -- [--users heavy,john1,john2] [--faults kill:data-fetcher,truelayer-faults,...|all]
 *                    [--strike-at 0.3] [--down-ms 1000] [--out bench/results/chaos.json] [--stack-dir .infra]
 *                    [--restart-shared]
 *
 * Users are simulator logins (`john1` … `john100` with `doe1` … `doe100`, `john`/`doe`, `heavy`/`heavy`, `small`/
 * `small`). Faults: kill:data-fetcher, kill:enrichment, kill:reconciliation, kill:token-vault, kill:auth-gateway,
 * stop:data-fetcher, stop:enrichment, stop:reconciliation, stop:token-vault, stop:auth-gateway (SIGTERM and a
 * restart, as a rolling deploy), truelayer-faults, restart:kafka, restart:store
 * (default all). It uses the stack of `--stack-dir` (default
 * $AIS_STACK_DIR, else .infra; started with `npm run stack:up` or infra/stack.sh up), starts a Kafka broker and
 * store of its own for the two restart faults (--restart-shared: restarts the stack's instead), writes the JSON
 * report to --out and prints a Markdown table (docs/CHAOS.md keeps the last full run's). Exit status 1 when any
 * invariant was broken.
 */
import { readStackEnv, REPO_ROOT } from '@ais/testing';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FAULTS, runChaos, type ChaosReport, type ChaosUser, type FaultName } from '../../tests/integration/chaos';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** A simulator login's password (the mock bank's fixed users). */
export function userOf(login: string): ChaosUser {
  const m = /^john(\d+)$/.exec(login);
  const password = m ? `doe${m[1]}` : login === 'john' ? 'doe' : login;
  return { userId: `chaos-${login}`, username: login, password };
}

export function parseFaults(text: string | undefined): FaultName[] {
  if (!text || text === 'all') return [...FAULTS];
  const out = text.split(',').map((f) => f.trim());
  for (const f of out) if (!(FAULTS as readonly string[]).includes(f)) throw new Error(`unknown fault ${f}; known: ${FAULTS.join(', ')}`);
  return out as FaultName[];
}

const s = (ms: number | null): string => (ms === null ? '–' : (ms / 1000).toFixed(1));

/** The report as a Markdown table (one row per run). */
export function markdownTable(r: ChaosReport): string {
  const rows = [r.baseline, ...r.runs].map((x) => {
    const txs = x.snapshots.reduce((a, y) => a + y.transactions, 0);
    const redelivered = x.feed.reduce((a, f) => a + f.redelivered, 0);
    const feedEvents = x.feed.reduce((a, f) => a + f.events, 0);
    return `| ${x.fault} | ${s(x.struckAtMs)} | ${s(x.downtimeMs)} | ${s(x.recoverMs)} | ${s(x.settledMs)} | ${txs} | ${x.fault === 'none' ? 'baseline' : x.snapshots.length === 0 ? 'not reached' : x.violations.some((v) => v.includes('store differs')) ? 'differs' : 'equal'} | ${feedEvents} (${redelivered} redelivered) | ${x.trueLayerCalls} / ${x.trueLayerFailures} | ${x.unattendedRefused} / ${x.maxUnattendedPer24h} | ${x.deadLetters} → ${x.deadLettersAfterReplay} | ${x.ok ? 'pass' : 'FAIL'} |`;
  });
  return [
    `Run ${r.startedAt} on ${r.machine}; users ${r.users.join(', ')}; faults strike at ${Math.round(r.strikeAt * 100)}% of the undisturbed run's raw events (kills of enrichment and reconciliation: of its stored transactions).`,
    '',
    '| fault | struck at (s) | down (s) | recovered after (s) | settled (s) | transactions | store vs undisturbed | ledger events | TrueLayer calls / failed | refused / max unattended per 24 h | dead letters → after replay | invariants |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    ...[r.baseline, ...r.runs].flatMap((x) => x.violations.map((v) => `- **${x.fault}**: ${v}`)),
  ].join('\n');
}

async function main(): Promise<void> {
  const stackDir = resolve(arg('--stack-dir') ?? process.env['AIS_STACK_DIR'] ?? join(REPO_ROOT, '.infra'));
  // the harness reads the servers' addresses from the environment, as under jest's globalSetup
  Object.assign(process.env, readStackEnv(join(stackDir, 'stack.env')), { AIS_STACK_DIR: stackDir });
  const users = (arg('--users') ?? 'heavy,john1,john2').split(',').map((u) => userOf(u.trim()));
  const out = resolve(arg('--out') ?? join(REPO_ROOT, 'bench/results/chaos.json'));
  const report = await runChaos({
    users,
    faults: parseFaults(arg('--faults')),
    strikeAt: Number(arg('--strike-at') ?? 0.3),
    downMs: Number(arg('--down-ms') ?? 1000),
    stackDir,
    ownServers: !process.argv.includes('--restart-shared'),
  });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${markdownTable(report)}\n\n[chaos] report: ${out}\n`);
  process.exitCode = report.ok ? 0 : 1;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    const output = (error as { output?: unknown }).output;
    process.stderr.write(`[chaos] FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n${typeof output === 'string' ? `its output:\n${output}\n` : ''}`);
    process.exit(1);
  });
}
