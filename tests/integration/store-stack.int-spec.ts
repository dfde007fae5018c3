/**
 * The local store as `infra/stack.sh` runs it (FerretDB 2 + PostgreSQL with DocumentDB, in a stack dir of its
 * own): what was written survives `down` and `up`, `up --fresh` starts empty, and `down` leaves no process of
 * it behind (PostgreSQL's backends included).
 */
import { parseEnvFile, REPO_ROOT } from '@ais/testing';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ais/platform-logger';
import { connectMongo, type Connection } from '@ais/platform-mongo';

const STACK = join(REPO_ROOT, 'infra/stack.sh');

function stack(dir: string, ...args: string[]): string {
  return execFileSync('bash', [STACK, ...args, '--dir', dir, '--only', 'mongo'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** PIDs of live processes whose environment carries this stack dir's marker (what stack.sh gives its servers). */
function processesOf(dir: string): number[] {
  const marker = `AIS_INFRA_STACK_DIR=${dir}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (environ.includes(marker) && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

const logger = createLogger({ service: 'store-stack-int', level: 'error' });

async function withStore<T>(dir: string, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const env = parseEnvFile(readFileSync(join(dir, 'stack.env'), 'utf8'));
  const conn = await connectMongo({ uri: env['MONGODB_URI']!, db: 'restart_it', logger });
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

describe('the local store under infra/stack.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ais-store-'));

  afterAll(() => {
    stack(dir, 'down');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps its data across down and up, starts empty with --fresh, and leaves no process after down', async () => {
    stack(dir, 'up');
    expect(processesOf(dir).length).toBeGreaterThanOrEqual(2); // FerretDB and PostgreSQL (with its backends)
    await withStore(dir, async (c) => {
      await c.collection('kept').insertOne({ _id: 'k1' as never, n: 1 });
      await c.collection('kept').createIndex({ n: 1 }, { name: 'n_idx' });
    });

    stack(dir, 'down');
    expect(processesOf(dir)).toEqual([]);

    stack(dir, 'up');
    await withStore(dir, async (c) => {
      expect(await c.collection('kept').findOne({ _id: 'k1' as never })).toMatchObject({ n: 1 });
      expect((await c.collection('kept').indexes()).map((i) => i.name)).toContain('n_idx');
    });

    stack(dir, 'down');
    stack(dir, 'up', '--fresh');
    await withStore(dir, async (c) => {
      expect(await c.collection('kept').countDocuments()).toBe(0);
    });
    stack(dir, 'down');
    expect(processesOf(dir)).toEqual([]);
  }, 240_000);
});
