import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openScanRun, readLedger, recordSecret, SCAN_DIR_ENV, stackLedgerFiles, teeOutput } from './secret-ledger';

describe('secret ledger', () => {
  let stackDir: string;
  const saved = process.env[SCAN_DIR_ENV];

  beforeEach(() => {
    stackDir = mkdtempSync(join(tmpdir(), 'ledger-spec-'));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env[SCAN_DIR_ENV];
    else process.env[SCAN_DIR_ENV] = saved;
    rmSync(stackDir, { recursive: true, force: true });
  });

  it('records random values once, in a 0600 file of the run; skips short or repetitive values', () => {
    const run = openScanRun(stackDir);
    process.env[SCAN_DIR_ENV] = run.dir;
    const state = 'Xq3v_9LmP0aZ-t7Rk2Wc8YbN5dFh1JgS4uEo6iVyBxA';
    recordSecret('state', state);
    recordSecret('state', state);
    recordSecret('code', 'anything');
    recordSecret('state', 'A'.repeat(80));
    recordSecret('code', undefined);
    expect(readLedger(run.ledger)).toEqual([{ kind: 'state', value: state }]);
    expect(statSync(run.ledger).mode & 0o777).toBe(0o600);
    expect(statSync(join(stackDir, 'secret-scan')).mode & 0o777).toBe(0o700);
    expect(stackLedgerFiles(stackDir)).toEqual([run.ledger]);
  });

  it('does nothing outside an integration run', () => {
    delete process.env[SCAN_DIR_ENV];
    recordSecret('api-key', 'ais_c0123456789abcdef_Xq3v_9LmP0aZ-t7Rk2Wc8YbN5dFh1JgS4uEo6iVyBxA');
    expect(stackLedgerFiles(stackDir)).toEqual([]);
  });

  it("tees a child's stdout and stderr into logs/<name>-<pid>.log", async () => {
    const run = openScanRun(stackDir);
    process.env[SCAN_DIR_ENV] = run.dir;
    const child = spawn(process.execPath, ['-e', 'console.log("to stdout"); console.error("to stderr")'], { stdio: ['ignore', 'pipe', 'pipe'] });
    teeOutput('demo', child);
    await new Promise((r) => child.once('close', r));
    expect(readdirSync(run.logs)).toEqual([`demo-${child.pid}.log`]);
    const text = readFileSync(join(run.logs, `demo-${child.pid}.log`), 'utf8');
    expect(text).toContain('to stdout\n');
    expect(text).toContain('to stderr\n');
  });

  it('keeps the logs of the last five runs on a stack dir and the ledgers of all', () => {
    const runs = Array.from({ length: 7 }, (_, i) => openScanRun(stackDir, new Date(Date.UTC(2026, 0, 1, 0, i))));
    expect(runs.map((r) => existsSync(r.logs))).toEqual([false, false, true, true, true, true, true]);
    expect(stackLedgerFiles(stackDir).sort()).toEqual(runs.map((r) => r.ledger).sort());
  });

  it('refuses a stack dir inside the repository that git does not ignore', () => {
    expect(() => openScanRun(join(__dirname, 'not-ignored'))).toThrow(/not git-ignored/);
  });
});
