/**
 * Graceful shutdown in a fixed order, once, with a hard timeout.
 *
 * Services register hooks in phases: `readiness` (flip health to NOT_SERVING / 503), `intake` (stop accepting:
 * consumers leave the group, servers stop listening), `drain` (wait for in-flight work), `flush` (producers,
 * database, telemetry). Phases run in that order; hooks within a phase run concurrently. If everything has not
 * finished within `timeoutMs`, `onTimeout` runs (force-close) and the process exits with status 1.
 *
 * The hard timeout holds whatever state the shutdown is in: its timer keeps the event loop alive (a hook awaiting
 * a promise that never settles cannot end the process with status 0 either), and with `watchdogGraceMs` a watchdog
 * thread SIGKILLs the process if it is still alive that long after the timeout: the last resort when something
 * blocks the main thread itself (a synchronous write to a stuck pipe, an `exit` handler that never returns).
 */
import { Worker } from 'node:worker_threads';


export type Phase = 'readiness' | 'intake' | 'drain' | 'flush';
export const PHASES: readonly Phase[] = ['readiness', 'intake', 'drain', 'flush'];

export interface LifecycleLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface LifecycleOptions {
  timeoutMs: number;
  logger: LifecycleLogger;
  /** Called with the exit code when shutdown is over; `process.exit` in services, a spy in tests. */
  exit?: (code: number) => void;
  /** Last resort when the timeout fires (e.g. grpc forceShutdown, destroy sockets). */
  onTimeout?: () => void;
  /**
   * When set, a watchdog thread started with the shutdown SIGKILLs this process `timeoutMs + watchdogGraceMs` later
   * if it is still alive (services set it; unit tests that spy on `exit` leave it off).
   */
  watchdogGraceMs?: number;
}

const WATCHDOG_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
parentPort.on('message', (ms) => {
  setTimeout(() => {
    try { process.kill(workerData.pid, 'SIGKILL'); } catch { /* already gone */ }
  }, ms);
});
`;

export interface Watchdog {
  /** SIGKILLs the process `ms` from now unless it has exited. */
  arm(ms: number): void;
  stop(): Promise<void>;
}

/**
 * A thread that can kill process `pid` even while the main thread is blocked. Started ahead of need (a thread
 * boots on its own, but better not to rely on it while the main thread is stuck); no preloads (`execArgv: []`),
 * so it costs a few MB and no telemetry or compiler of its own; unref'd, so it never keeps the process alive.
 */
export function createWatchdog(pid = process.pid): Watchdog {
  const worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { pid }, execArgv: [], stdout: true, stderr: true });
  worker.unref();
  return {
    arm: (ms) => worker.postMessage(ms),
    stop: () => worker.terminate().then(() => undefined),
  };
}

interface Hook {
  name: string;
  phase: Phase;
  run: () => Promise<void> | void;
}

export class Lifecycle {
  private readonly hooks: Hook[] = [];
  private shutdownPromise: Promise<number> | undefined;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private watchdog: Watchdog | undefined;

  constructor(private readonly options: LifecycleOptions) {}

  /** Registers a shutdown hook. Hooks of one phase run together; phases run in order. */
  on(phase: Phase, name: string, run: () => Promise<void> | void): this {
    this.hooks.push({ name, phase, run });
    return this;
  }

  get shuttingDown(): boolean {
    return this.shutdownPromise !== undefined;
  }

  /** Installs SIGTERM/SIGINT handlers that start shutdown once. */
  installSignalHandlers(signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): this {
    if (this.options.watchdogGraceMs !== undefined) this.watchdog ??= createWatchdog();
    for (const signal of signals) {
      const handler = () => void this.shutdown(signal);
      this.signalHandlers.set(signal, handler);
      process.on(signal, handler);
    }
    return this;
  }

  /** Runs the shutdown sequence (idempotent) and resolves with the exit code it passed to `exit`. */
  shutdown(reason: string): Promise<number> {
    if (!this.shutdownPromise) this.shutdownPromise = this.run(reason);
    return this.shutdownPromise;
  }

  private async run(reason: string): Promise<number> {
    const { logger, timeoutMs } = this.options;
    const started = Date.now();
    logger.info({ reason, timeoutMs }, 'shutdown started');
    const graceMs = this.options.watchdogGraceMs;
    const watchdog = graceMs === undefined ? undefined : (this.watchdog ??= createWatchdog());
    watchdog?.arm(timeoutMs + (graceMs ?? 0));
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd: this timer must keep the process alive until the sequence is over or the deadline has passed.
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    let failures = 0;
    const sequence = (async () => {
      for (const phase of PHASES) {
        const hooks = this.hooks.filter((h) => h.phase === phase);
        const results = await Promise.allSettled(
          hooks.map(async (h) => {
            const t0 = Date.now();
            await h.run();
            logger.info({ hook: h.name, phase, ms: Date.now() - t0 }, 'shutdown hook done');
          }),
        );
        results.forEach((r, i) => {
          if (r.status === 'rejected') {
            failures += 1;
            logger.error({ err: r.reason, hook: hooks[i]?.name, phase }, 'shutdown hook failed');
          }
        });
      }
      return 'done' as const;
    })();
    const outcome = await Promise.race([sequence, timedOut]);
    if (timer) clearTimeout(timer);
    let code = 0;
    if (outcome === 'timeout') {
      logger.error({ reason, timeoutMs }, 'shutdown timed out; forcing');
      try {
        this.options.onTimeout?.();
      } catch (err) {
        logger.error({ err }, 'force shutdown failed');
      }
      code = 1;
    } else if (failures > 0) {
      code = 1;
    }
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    logger.info({ reason, code, ms: Date.now() - started }, 'shutdown complete');
    (this.options.exit ?? ((c: number) => process.exit(c)))(code);
    await watchdog?.stop(); // reached only when `exit` did not end the process (a spy in tests)
    return code;
  }
}
