/**
 * The run-wide record the secret scan reads after an integration run (tests/integration/zz-secret-scan.int-spec.ts):
 * a ledger of every secret value a test learns, and the stdout + stderr of every process the harness starts.
 *
 * It lives in `<stack dir>/secret-scan/<run>/` (`ledger.ndjson`, mode 0600; `logs/<name>-<pid>.log`): outside the
 * repository, or in its git-ignored `.infra/`. globalSetup opens the run (`openScanRun`) and puts its directory into
 * AIS_SECRET_SCAN_DIR; without it (unit tests) recording and teeing do nothing.
 *
 * No @ais/* imports here: jest's globalSetup loads this file without the aliases.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { REPO_ROOT } from './stack';

export type SecretKind = 'client-secret' | 'api-key' | 'code' | 'state' | 'page-token' | 'bounce-token' | 'overview-link' | 'access-token' | 'refresh-token';

export interface LedgerEntry {
  kind: SecretKind;
  value: string;
}

export interface ScanRun {
  dir: string;
  ledger: string;
  logs: string;
  /** When globalSetup opened the run (ms since the epoch). */
  startedAt: number;
}

/**
 * Values shorter than this, or with fewer distinct characters than MIN_SECRET_DISTINCT, are not recorded: test-made
 * values such as `code=anything` or a forged `state=AAAA…` would match ordinary text. Every secret the services
 * issue is random and longer (states and page tokens 43+ characters, codes 64).
 */
export const MIN_SECRET_LENGTH = 16;
const MIN_SECRET_DISTINCT = 8;
export const SCAN_DIR_ENV = 'AIS_SECRET_SCAN_DIR';

/** Refuses a stack dir inside the repository unless git ignores it (the ledger holds live secrets). */
function assertOutsideTrackedTree(dir: string): void {
  const rel = relative(REPO_ROOT, resolve(dir));
  if (rel.startsWith('..') || resolve(rel) === rel) return;
  try {
    execFileSync('git', ['check-ignore', '-q', rel], { cwd: REPO_ROOT, stdio: 'ignore' });
  } catch {
    throw new Error(`the stack dir ${dir} is inside the repository and not git-ignored: the secret ledger cannot live there`);
  }
}

/** Runs whose logs are kept on a stack dir; older runs keep only their ledger (their data may still be on the stack). */
const KEEP_RUN_LOGS = 5;

/** Creates this run's directory under the stack dir, with an empty ledger (0600); drops the logs of older runs. */
export function openScanRun(stackDir: string, now: Date = new Date()): ScanRun {
  assertOutsideTrackedTree(stackDir);
  const root = join(stackDir, 'secret-scan');
  if (existsSync(root)) {
    const runs = readdirSync(root).filter((d) => d.startsWith('run-')).sort();
    for (const old of runs.slice(0, Math.max(0, runs.length - KEEP_RUN_LOGS + 1))) rmSync(join(root, old, 'logs'), { recursive: true, force: true });
  }
  const dir = join(root, `run-${now.toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  mkdirSync(join(dir, 'logs'), { recursive: true, mode: 0o700 });
  chmodSync(root, 0o700);
  const ledger = join(dir, 'ledger.ndjson');
  closeSync(openSync(ledger, 'a', 0o600));
  chmodSync(ledger, 0o600);
  writeFileSync(join(dir, 'run.json'), `${JSON.stringify({ startedAt: now.getTime() })}\n`, { mode: 0o600 });
  return { dir, ledger, logs: join(dir, 'logs'), startedAt: now.getTime() };
}

/** The run opened by globalSetup, if any. */
export function currentScanRun(): ScanRun | undefined {
  const dir = process.env[SCAN_DIR_ENV];
  if (!dir || !existsSync(join(dir, 'run.json'))) return undefined;
  const { startedAt } = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { startedAt: number };
  return { dir, ledger: join(dir, 'ledger.ndjson'), logs: join(dir, 'logs'), startedAt };
}

const recorded = new Set<string>();

/** Appends a secret a test learnt to the run's ledger (once per value and process). */
export function recordSecret(kind: SecretKind, value: string | null | undefined): void {
  const dir = process.env[SCAN_DIR_ENV];
  if (!dir || !value || value.length < MIN_SECRET_LENGTH || new Set(value).size < MIN_SECRET_DISTINCT || recorded.has(value)) return;
  recorded.add(value);
  appendFileSync(join(dir, 'ledger.ndjson'), `${JSON.stringify({ kind, value })}\n`, { mode: 0o600 });
}

/** Every entry of one ledger file (later lines win nothing: duplicates are kept). */
export function readLedger(file: string): LedgerEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LedgerEntry);
}

/** The ledgers of every run on this stack dir (their data stays in the stack's MongoDB and Kafka). */
export function stackLedgerFiles(stackDir: string): string[] {
  const root = join(stackDir, 'secret-scan');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((d) => join(root, d, 'ledger.ndjson'))
    .filter((f) => existsSync(f));
}

/** Appends everything `child` writes (stdout and stderr) to `logs/<name>-<pid>.log` of the current run. */
export function teeOutput(name: string, child: ChildProcess): void {
  const dir = process.env[SCAN_DIR_ENV];
  if (!dir || child.pid === undefined) return;
  const file = join(dir, 'logs', `${name}-${child.pid}.log`);
  const append = (chunk: Buffer | string) => appendFileSync(file, chunk, { mode: 0o600 });
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
}
