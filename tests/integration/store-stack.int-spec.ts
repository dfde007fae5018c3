/**
 * The local store, broker and Vault as `infra/stack.sh` runs them (FerretDB 2 + PostgreSQL with DocumentDB, Kafka,
 * OpenBao, in a stack dir of its own): what was written to the store or Vault survives `down` and `up` (a store whose
 * tokens were sealed by a Vault that forgot its keys is no use), the broker starts empty, `up --fresh` starts the store
 * and Vault empty too, and `down` leaves no process of
 * it behind (PostgreSQL's backends included). `restart` (the chaos suite's store and broker restarts) brings a
 * crashed server back on the same port with the same data, stack.env unchanged.
 */
import { parseEnvFile, REPO_ROOT } from '@ais/testing';
import { Kafka, logLevel } from 'kafkajs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ais/platform-logger';
import { connectMongo, type Connection } from '@ais/platform-mongo';

const STACK = join(REPO_ROOT, 'infra/stack.sh');

function stack(dir: string, ...args: string[]): string {
  const only = args.includes('--only') ? [] : ['--only', 'mongo'];
  return execFileSync('bash', [STACK, ...args, '--dir', dir, ...only], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
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

function kafkaOf(dir: string): Kafka {
  const brokers = parseEnvFile(readFileSync(join(dir, 'stack.env'), 'utf8'))['KAFKA_BROKERS']!.split(',');
  return new Kafka({ clientId: 'store-stack-it', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
}

/** The topics of the stack's broker. */
async function topicsOf(dir: string): Promise<string[]> {
  const admin = kafkaOf(dir).admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

/** One call to the stack's Vault API with its root token: the JSON answer, or null for a 404. */
async function vault(dir: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown> | null> {
  const env = parseEnvFile(readFileSync(join(dir, 'stack.env'), 'utf8'));
  const res = await fetch(`${env['VAULT_ADDR']}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': env['VAULT_TOKEN']!, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`Vault ${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>);
}

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

  it('keeps the data of the store and Vault across down and up (the broker starts empty), starts empty with --fresh, and leaves no process after down', async () => {
    const all = ['--only', 'mongo,kafka,vault'];
    const topic = `kept-it-${Date.now()}`;
    stack(dir, 'up', ...all);
    expect(processesOf(dir).length).toBeGreaterThanOrEqual(4); // FerretDB, PostgreSQL (with its backends), Kafka, OpenBao
    await withStore(dir, async (c) => {
      await c.collection('kept').insertOne({ _id: 'k1' as never, n: 1 });
      await c.collection('kept').createIndex({ n: 1 }, { name: 'n_idx' });
    });
    // the broker: a topic with a message
    const producer = kafkaOf(dir).producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'one' }] });
    await producer.disconnect();
    // Vault: a KV v2 secret and a Transit ciphertext (what token-vault keeps in the store)
    await vault(dir, 'POST', 'secret/data/kept-it', { data: { probe: 'kept' } });
    await vault(dir, 'POST', 'transit/keys/kept-it', {});
    const { ciphertext } = (await vault(dir, 'POST', 'transit/encrypt/kept-it', { plaintext: Buffer.from('sealed before down').toString('base64') }))!['data'] as { ciphertext: string };
    const vaultBefore = parseEnvFile(readFileSync(join(dir, 'stack.env'), 'utf8'))['VAULT_TOKEN'];

    stack(dir, 'down');
    expect(processesOf(dir)).toEqual([]);

    stack(dir, 'up', ...all);
    await withStore(dir, async (c) => {
      expect(await c.collection('kept').findOne({ _id: 'k1' as never })).toMatchObject({ n: 1 });
      expect((await c.collection('kept').indexes()).map((i) => i.name)).toContain('n_idx');
    });
    // the broker starts empty (a kept one recovers every partition before it is ready: minutes after a test run)
    expect(await topicsOf(dir)).not.toContain(topic);
    expect(parseEnvFile(readFileSync(join(dir, 'stack.env'), 'utf8'))['VAULT_TOKEN']).toBe(vaultBefore);
    expect(((await vault(dir, 'GET', 'secret/data/kept-it'))!['data'] as { data: unknown }).data).toEqual({ probe: 'kept' });
    const opened = (await vault(dir, 'POST', 'transit/decrypt/kept-it', { ciphertext }))!['data'] as { plaintext: string };
    expect(Buffer.from(opened.plaintext, 'base64').toString()).toBe('sealed before down');

    stack(dir, 'down');
    stack(dir, 'up', '--fresh', ...all);
    await withStore(dir, async (c) => {
      expect(await c.collection('kept').countDocuments()).toBe(0);
    });
    expect(await vault(dir, 'GET', 'secret/data/kept-it')).toBeNull();
    stack(dir, 'down');
    expect(processesOf(dir)).toEqual([]);
  }, 300_000);

  it('restart (after a SIGKILL) brings the store and the broker back on the same ports with the same data', async () => {
    stack(dir, 'up', '--only', 'mongo,kafka');
    const envBefore = readFileSync(join(dir, 'stack.env'), 'utf8');
    const brokers = parseEnvFile(envBefore)['KAFKA_BROKERS']!.split(',');
    const kafka = new Kafka({ clientId: 'store-stack-it', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
    const topic = `restart-it-${Date.now()}`;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'before the restart' }] });
    await producer.disconnect();
    await withStore(dir, (c) => c.collection('kept').insertOne({ _id: 'r1' as never, n: 2 }));
    const pidsBefore = processesOf(dir);

    const out = stack(dir, 'restart', '--only', 'kafka,mongo', '--signal', 'KILL');
    expect(out).toMatch(/kafka: restarted on port \d+/);
    expect(out).toMatch(/mongo: restarted on port \d+/);
    // the same addresses: a client's stack.env stays valid
    expect(readFileSync(join(dir, 'stack.env'), 'utf8')).toBe(envBefore);
    // new processes (the old ones were killed)
    expect(processesOf(dir).filter((p) => pidsBefore.includes(p)).length).toBeLessThan(pidsBefore.length);
    await withStore(dir, async (c) => {
      expect(await c.collection('kept').findOne({ _id: 'r1' as never })).toMatchObject({ n: 2 });
    });
    // the broker kept its log: the message produced before the restart is read after it
    const consumer = kafka.consumer({ groupId: `restart-it-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no message after the restart')), 60_000);
      void consumer.run({ eachMessage: async ({ message }) => (clearTimeout(t), resolve(String(message.value))) });
    });
    await consumer.disconnect();
    expect(got).toBe('before the restart');
    // restart without --only, or of a server it cannot restart, is refused with a clear line
    expect(() => execFileSync('bash', [STACK, 'restart', '--dir', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).toThrow(/restart needs --only/);
    stack(dir, 'down');
    expect(processesOf(dir)).toEqual([]);
  }, 300_000);
});
