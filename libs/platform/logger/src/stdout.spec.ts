import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from './index';
import { fdDestination } from './stdout';

/** A real pipe (a FIFO): read end and write end, both non-blocking like a service's stdout pipe. */
function pipe() {
  const dir = mkdtempSync(join(tmpdir(), 'fd-dest-'));
  const path = join(dir, 'fifo');
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  return {
    reader,
    writer,
    read(): string {
      const buf = Buffer.alloc(1 << 20);
      try {
        return buf.subarray(0, readSync(reader, buf)).toString('utf8');
      } catch {
        return '';
      }
    },
    cleanup() {
      for (const fd of [reader, writer]) {
        try {
          closeSync(fd);
        } catch {
          // already closed
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('fdDestination', () => {
  it('writes whole lines to the descriptor', () => {
    const p = pipe();
    try {
      const log = createLogger({ service: 'svc', destination: fdDestination({ fd: p.writer }) });
      log.info({ n: 1 }, 'hello');
      log.fatal('the end');
      const lines = p.read().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l['msg'])).toEqual(['hello', 'the end']);
    } finally {
      p.cleanup();
    }
  });

  it('goes quiet when the reader is gone (EPIPE) instead of retrying forever, also for fatal lines', () => {
    const p = pipe();
    try {
      closeSync(p.reader);
      const dest = fdDestination({ fd: p.writer });
      const log = createLogger({ service: 'svc', destination: dest });
      const t0 = Date.now();
      log.info('nobody reads this');
      log.fatal('nor this'); // pino flushes after fatal: the default destination loops here forever
      for (let i = 0; i < 100; i += 1) log.info({ i }, 'more');
      expect(Date.now() - t0).toBeLessThan(500);
      expect(dest.broken?.code).toBe('EPIPE');
      expect(dest.dropped).toBe(102);
    } finally {
      p.cleanup();
    }
  });

  it('waits a bounded time for a full pipe, drops the line, and writes again once the reader drains it', () => {
    const p = pipe();
    try {
      const dest = fdDestination({ fd: p.writer, maxBlockMs: 50 });
      const line = `${'x'.repeat(1023)}\n`;
      const t0 = Date.now();
      for (let i = 0; i < 80; i += 1) dest.write(line); // 80 KiB into a 64 KiB pipe nobody reads
      const ms = Date.now() - t0;
      expect(dest.dropped).toBeGreaterThan(0);
      expect(dest.broken).toBeUndefined();
      expect(ms).toBeLessThan(80 * 50 + 1000);
      while (p.read().length > 0) {
        // drain
      }
      const before = dest.dropped;
      dest.write('after\n');
      expect(dest.dropped).toBe(before);
      expect(p.read()).toBe('after\n');
    } finally {
      p.cleanup();
    }
  });
});
