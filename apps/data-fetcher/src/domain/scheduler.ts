/**
 * The background loop of one data-fetcher instance. Each tick:
 * 1. reads the connections whose refresh (or post-consent fetch) is due, oldest first, through the index on the
 *    next due time (cost O(due work), not O(connections)), and runs each under a lease `fetch:<id>` so no two
 *    instances fetch the same connection at once (the lease is renewed while a long backfill runs);
 * 2. polls the async tasks whose webhook is late, and takes over tasks whose claimant died.
 * Ticks never overlap; `stop()` waits for the running one.
 */
import type { Logger } from '@ais/platform-logger';
import type { Leases } from '@ais/platform-mongo';
import type { FetchConnectionDoc, FetchStateStore } from '../data/fetch-state.store';
import type { Fetcher } from './fetcher';

export interface SchedulerOptions {
  store: FetchStateStore;
  fetcher: Fetcher;
  leases: Leases;
  instance: string;
  clock: { now(): Date };
  logger: Logger;
  tickMs: number;
  batch: number;
  /** Real-time lease on a connection (renewed every third of it while a run lasts). */
  leaseMs: number;
  /** Connections run at once by this instance. */
  concurrency: number;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private kicked = false;

  constructor(private readonly o: SchedulerOptions) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Runs a tick as soon as the current one (if any) ends: new work arrived (e.g. a consent). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.kicked = true;
      return;
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.o.logger.error({ err: error }, 'scheduler tick failed'))
        .finally(() => {
          this.running = undefined;
          if (this.stopped) return;
          const again = this.kicked;
          this.kicked = false;
          this.schedule(again ? 0 : this.o.tickMs);
        });
    }, ms);
  }

  /** One pass over due connections and late tasks; returns how many connections and tasks it ran. */
  async tick(): Promise<{ connections: number; tasks: number }> {
    const now = this.o.clock.now();
    const due = await this.o.store.findDue(now, this.o.batch);
    let connections = 0;
    await this.pool(due, async (conn) => {
      if (this.stopped) return;
      if (await this.runLeased(conn)) connections += 1;
    });
    const late = [...(await this.o.store.findPollDue(now, this.o.batch)), ...(await this.o.store.findLapsedClaims(now, this.o.batch))];
    let tasks = 0;
    await this.pool(late, async (task) => {
      if (this.stopped) return;
      const r = await this.o.fetcher.completeTask(task._id, 'poll');
      if (r !== 'skipped') tasks += 1;
    });
    return { connections, tasks };
  }

  private async runLeased(conn: FetchConnectionDoc): Promise<boolean> {
    const key = `fetch:${conn._id}`;
    if (!(await this.o.leases.acquire(key, this.o.instance, this.o.leaseMs))) return false;
    const renew = setInterval(() => {
      this.o.leases.renew(key, this.o.instance, this.o.leaseMs).catch((error: unknown) => this.o.logger.warn({ err: error, connectionId: conn._id }, 'lease renewal failed'));
    }, Math.max(1_000, Math.floor(this.o.leaseMs / 3)));
    try {
      // Re-read under the lease: another instance may have just run it.
      const fresh = await this.o.store.get(conn._id);
      if (!fresh || fresh.status !== 'active' || fresh.nextDueAt.getTime() > this.o.clock.now().getTime()) return false;
      if (fresh.backfill === 'pending' || fresh.backfill === 'running') await this.o.fetcher.runBackfill(conn._id);
      else await this.o.fetcher.runScheduled(conn._id);
      return true;
    } catch (error) {
      this.o.logger.error({ err: error, connectionId: conn._id }, 'fetch run failed');
      return false;
    } finally {
      clearInterval(renew);
      await this.o.leases.release(key, this.o.instance).catch(() => undefined);
    }
  }

  private async pool<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const item = items[next++]!;
        await work(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, items.length) }, worker));
  }
}
