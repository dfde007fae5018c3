/*
 * An example downstream consumer of the platform's change feed (see README.md next to this file).
 *
 *   CHANGE_FEED_API_KEY=<api key> node --require tsx/cjs examples/change-feed-consumer/src/main.ts http \
 *     --gateway http://127.0.0.1:8080 --user <user id> --state-dir ./feed-state [--page-size 100] [--max-pages N] [--poll-ms 5000]
 *   node --require tsx/cjs examples/change-feed-consumer/src/main.ts kafka \
 *     --brokers 127.0.0.1:9092 --group my-service --state-dir ./feed-state [--prefix <topic prefix>] [--user <id>] [--idle-exit-ms 5000]
 *
 * Prints one JSON line per page (http) and a summary line at the end. The API key is read from the environment,
 * never from the command line (which other users of the machine can see).
 */
import { followChanges } from './http-feed';
import { startKafkaFeed } from './kafka-feed';
import { stateFileOf } from './state-file';

function args(argv: string[]): { mode: string; opts: Map<string, string[]> } {
  const [mode = '', ...rest] = argv;
  const opts = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i]!;
    const value = rest[i + 1];
    if (!key.startsWith('--') || value === undefined) throw new Error(`expected --name value pairs, got ${key}`);
    opts.set(key.slice(2), [...(opts.get(key.slice(2)) ?? []), value]);
  }
  return { mode, opts };
}

const print = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

async function main(): Promise<void> {
  const { mode, opts } = args(process.argv.slice(2));
  const one = (name: string, fallback?: string): string => {
    const v = opts.get(name)?.[0] ?? fallback;
    if (v === undefined) throw new Error(`--${name} is required`);
    return v;
  };
  const int = (name: string): number | undefined => (opts.has(name) ? Number.parseInt(one(name), 10) : undefined);
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => {
        stopping = true;
        resolve();
      });
  });

  if (mode === 'http') {
    const apiKey = process.env['CHANGE_FEED_API_KEY'];
    if (!apiKey) throw new Error('CHANGE_FEED_API_KEY is not set');
    const userId = one('user');
    const pollMs = int('poll-ms');
    let total = 0;
    for (;;) {
      const { replica, pages } = await followChanges({
        gatewayUrl: one('gateway'),
        apiKey,
        userId,
        stateFile: stateFileOf(one('state-dir'), userId),
        pageSize: int('page-size') ?? 100,
        ...(opts.has('max-pages') ? { maxPages: int('max-pages')! } : {}),
        onPage: (page) => print({ source: 'http', added: page.added.length, modified: page.modified.length, removed: page.removed.length, accounts: page.accounts.length, has_more: page.has_more }),
      });
      total += pages;
      if (pollMs === undefined || stopping) {
        print({ done: true, pages: total, transactions: Object.keys(replica.transactions).length, accounts: Object.keys(replica.accounts).length, applied: replica.applied });
        return;
      }
      await Promise.race([new Promise((r) => setTimeout(r, pollMs)), stopped]);
    }
  }

  if (mode === 'kafka') {
    const idleExitMs = int('idle-exit-ms');
    let last = Date.now();
    const seen = new Map<string, { transactions: number; accounts: number; seq: string; applied: unknown }>();
    const feed = await startKafkaFeed({
      brokers: one('brokers').split(','),
      topicPrefix: opts.get('prefix')?.[0] ?? '',
      groupId: one('group'),
      stateDir: one('state-dir'),
      ...(opts.has('user') ? { users: opts.get('user')! } : {}),
      onEvent: (event, replica) => {
        last = Date.now();
        seen.set(event.userId, { transactions: Object.keys(replica.transactions).length, accounts: Object.keys(replica.accounts).length, seq: replica.seq, applied: replica.applied });
      },
    });
    for (;;) {
      await Promise.race([new Promise((r) => setTimeout(r, 250)), stopped]);
      if (stopping || (idleExitMs !== undefined && Date.now() - last >= idleExitMs)) break;
    }
    await feed.stop();
    print({ done: true, users: Object.fromEntries(seen) });
    return;
  }

  throw new Error('usage: main.ts http|kafka --name value ... (see the comment at the top of main.ts)');
}

main().catch((error: unknown) => {
  process.stderr.write(`change-feed-consumer: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
