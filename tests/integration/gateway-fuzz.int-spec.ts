/**
 * Property-based fuzzing of the auth-gateway from its own OpenAPI document, at CI scale: tools/scripts/fuzz-gateway.sh
 * (schemathesis, pinned in infra/versions.env and cached outside the checkout) against the gateway with token-vault,
 * data-fetcher, enrichment, reconciliation and the TrueLayer simulator on this run's stack. A fixed seed and example
 * count, so a failure reproduces with the same command:
 *
 *   AIS_STACK_ENV=<stack>/stack.env bash tools/scripts/fuzz-gateway.sh --max-examples 5 --seed 20261201
 *
 * Expected: the document is valid OpenAPI 3.1, no 5xx, every response's status code, content type and body conform to
 * the document, an undocumented method is a 405 with the documented methods in Allow, no error line in the gateway's log, and every process the script started is gone afterwards.
 */
import { pidAlive, REPO_ROOT } from '@ais/testing';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

jest.setTimeout(300_000);

const SEED = 20261201;
const MAX_EXAMPLES = 5;
const REPORT = join(REPO_ROOT, 'tmp', 'fuzz-gateway-ci');

function runScript(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['tools/scripts/fuzz-gateway.sh', ...args], { cwd: REPO_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.once('close', (code) => resolve({ code, output }));
  });
}

describe('schemathesis against the gateway (CI scale)', () => {
  it(`seed ${SEED}, ${MAX_EXAMPLES} examples per operation: valid document, no 5xx, every response conforms`, async () => {
    rmSync(REPORT, { recursive: true, force: true });
    const run = await runScript(['--max-examples', String(MAX_EXAMPLES), '--seed', String(SEED), '--report', REPORT]);
    const summaryLine = run.output.split('\n').find((l) => l.startsWith('[fuzz] seed '));
    // the one line a CI log needs: counts, seed and verdict
    process.stdout.write(`${summaryLine ?? run.output.slice(-3000)}\n`);
    const summary = JSON.parse(readFileSync(join(REPORT, 'summary.json'), 'utf8')) as {
      exitCode: number;
      requests: number;
      statuses: Record<string, number>;
      failures: Record<string, number>;
      checked: Record<string, { success: number; failure: number }>;
      checks: string[];
      operations: number;
      gatewayErrors: number;
      documentErrors: string[];
      seed: number;
    };
    // the document the gateway served (the runner saved it)
    const served = JSON.parse(readFileSync(join(REPORT, 'openapi.json'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.values(served.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    expect(documented).toBeGreaterThanOrEqual(20);
    expect({ documentErrors: summary.documentErrors, failures: summary.failures, fiveXx: summary.statuses['5xx'] ?? 0, gatewayErrors: summary.gatewayErrors, exitCode: summary.exitCode }).toEqual({
      documentErrors: [],
      failures: {},
      fiveXx: 0,
      gatewayErrors: 0,
      exitCode: 0,
    });
    expect(summary.seed).toBe(SEED);
    // every check ran, on many responses (a check that never ran would pass silently)
    for (const check of summary.checks) expect([check, (summary.checked[check]?.success ?? 0) > documented]).toEqual([check, true]);
    expect(summary.operations).toBe(documented);
    expect(summary.requests).toBeGreaterThan(20 * documented);
    expect(summary.statuses['2xx'] ?? 0).toBeGreaterThan(documented);
    expect(run.code).toBe(0);
    const spawned = [...run.output.matchAll(/^\[fuzz\] spawned (\S+) pid (\d+)$/gm)].map((m) => ({ name: m[1]!, pid: Number(m[2]) }));
    expect(spawned.map((p) => p.name).sort()).toEqual(['auth-gateway', 'data-fetcher', 'enrichment', 'reconciliation', 'token-vault', 'truelayer-sandbox']);
    expect(spawned.filter((p) => pidAlive(p.pid))).toEqual([]);
  });
});
