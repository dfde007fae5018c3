/**
 * A log destination for a file descriptor (stdout by default) that can never hang the process.
 *
 * pino's default destination buffers lines and writes them asynchronously; on exit, and after every `fatal` line,
 * it calls `flushSync()`, which retries a failed write every 100 ms for as long as it fails with anything but
 * EAGAIN. When the reader of stdout is gone (the parent that spawned the service died, so the pipe or socket is
 * broken: EPIPE), that loop never ends; it blocks the event loop, so no timer (not even the shutdown's hard
 * timeout) fires again, and the process stays alive after SIGTERM until SIGKILL.
 *
 * This destination writes each line synchronously (nothing is buffered, so there is nothing to flush), waits a
 * bounded time for a reader that is slow (EAGAIN: a full pipe), and goes quiet for good on any other error
 * (EPIPE, EBADF): a service whose log reader is gone keeps working and shuts down normally.
 */
import { writeSync } from 'node:fs';

export interface FdDestinationOptions {
  fd?: number;
  /** Longest time one line may wait for a full pipe to drain before it is dropped. Default 2000 ms. */
  maxBlockMs?: number;
}

export interface FdDestination {
  write(line: string): void;
  /** Lines not written (broken or persistently full output). */
  readonly dropped: number;
  /** Set once a write failed for good; nothing more is written. */
  readonly broken: NodeJS.ErrnoException | undefined;
}

const pause = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(pause, 0, 0, ms);

export function fdDestination(options: FdDestinationOptions = {}): FdDestination {
  const fd = options.fd ?? 1;
  const maxBlockMs = options.maxBlockMs ?? 2_000;
  let broken: NodeJS.ErrnoException | undefined;
  let dropped = 0;
  return {
    get dropped() {
      return dropped;
    },
    get broken() {
      return broken;
    },
    write(line: string) {
      if (broken) {
        dropped += 1;
        return;
      }
      let buf = Buffer.from(line, 'utf8');
      const giveUpAt = Date.now() + maxBlockMs;
      while (buf.length > 0) {
        try {
          const n = writeSync(fd, buf);
          buf = buf.subarray(n);
        } catch (error) {
          const err = error as NodeJS.ErrnoException;
          if ((err.code === 'EAGAIN' || err.code === 'EBUSY') && Date.now() < giveUpAt) {
            sleep(5);
            continue;
          }
          if (err.code !== 'EAGAIN' && err.code !== 'EBUSY') broken = err;
          dropped += 1;
          return;
        }
      }
    },
  };
}
