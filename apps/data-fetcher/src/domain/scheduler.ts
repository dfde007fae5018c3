/**
 * The background loop of one data-fetcher instance. Each tick:
 * 1. reads the connections whose refresh (or post-consent fetch) is due, and runs each under a lease `fetch:<id>`
 *    so no two instances fetch the same connection at once (the lease is renewed while a long backfill runs).
 *    Order: first the post-consent fetches whose SCA window is still open, the earliest deadline first (after the
 *    window the bank serves only the last 90 days, so these are the only runs that lose data by waiting); then
 *    everything else due, oldest first. Both through an index (cost O(due work), not O(connections)). A consent
 *    that arrives while a tick runs (`kick`) goes ahead of what the tick has not started yet;
 * 2. polls the async tasks whose webhook is late, and takes over tasks whose claimant died.
 * Ticks never overlap; `stop()` waits for the running one.
 *
 * A running post-consent fetch is told to end early (at its next call boundary, Fetcher.runBackfill) when this
 * instance stops, and hands the connection over, due again at once; and when its lease renewal finds the lease
 * another instance's, and then writes nothing more. A shutdown therefore does not wait for a whole backfill (which
 * outlasts SHUTDOWN_TIMEOUT_MS against a slow bank), and a rolling deploy delays a user's history by one tick of
 * another instance, not by the lease. A background refresh is told too when this instance stops (not when its lease
 * is lost: it set its next due time in the future as it began, so no other instance runs it meanwhile): it ends at
 * its next unit, or during a pause before a retry, and leaves the units it did not finish to the next run, due at once.
 *
 * Traces: a tick belongs to no request, so it runs in the root context whatever was active when its timer was set (a
 * `kick` comes from the consumer span of a consent). A post-consent fetch continues its consent's trace (the
 * `consentTrace` recorded with `connection.authorized`), whichever tick or instance runs it; every other run starts
 * a trace of its own (a consent that arrives while a tick runs would otherwise be fetched in whatever trace the next
 * tick inherits).
 */
import type { Logger } from '@ais/platform-logger';
import type { Leases } from '@ais/platform-mongo';
import { contextOfTraceparent } from '@ais/platform-telemetry';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { FetchConnectionDoc, FetchStateStore } from '../data/fetch-state.store';
import { STOP_REASONS, type Fetcher } from './fetcher';

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

/** The pause after a run that threw, doubling per consecutive failure up to the maximum (business time). */
export const RUN_FAILURE_BASE_MS = 30_000;
export const RUN_FAILURE_MAX_MS = 3_600_000;

/** A tick re-reads the open deadlines after a kick at most this often (real time). */
const URGENT_REREAD_MS = 1_000;

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private kicked = false;
  /** Aborted by `stop()`: the running post-consent fetches hand their connections over. */
  private stopping = new AbortController();
  /** New consents arrived during the running tick: its queue is re-read for deadlines before the next start. */
  private urgentArrived = false;

  constructor(private readonly o: SchedulerOptions) {}

  start(): void {
    this.stopped = false;
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.schedule(0);
  }

  /** Runs a tick as soon as the current one (if any) ends: new work arrived (e.g. a consent). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.kicked = true;
      this.urgentArrived = true;
      return;
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort(STOP_REASONS.stopping);
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

  /** One pass over due connections and late tasks, in the root context (see the file comment); returns how many connections and tasks it ran. */
  tick(): Promise<{ connections: number; tasks: number }> {
    return context.with(ROOT_CONTEXT, () => this.pass());
  }

  private async pass(): Promise<{ connections: number; tasks: number }> {
    const now = this.o.clock.now();
    this.urgentArrived = false;
    const queue = await this.dueInOrder(now);
    const taken = new Set<string>();
    let lastUrgentRead = 0;
    let connections = 0;
    const next = async (): Promise<FetchConnectionDoc | undefined> => {
      // At most once a second, and only the next few (a burst of consents kicks many times a second; each read
      // costs the store a sort of the open deadlines, which the 1,000-user burst showed in its start times).
      if (this.urgentArrived && Date.now() - lastUrgentRead >= URGENT_REREAD_MS) {
        this.urgentArrived = false;
        lastUrgentRead = Date.now();
        const urgent = (await this.o.store.findDueBeforeDeadline(this.o.clock.now(), this.o.concurrency)).filter((c) => !taken.has(c._id));
        const ids = new Set(urgent.map((c) => c._id));
        queue.splice(0, queue.length, ...urgent, ...queue.filter((c) => !ids.has(c._id)));
      }
      let conn = queue.shift();
      while (conn && taken.has(conn._id)) conn = queue.shift();
      if (conn) taken.add(conn._id);
      return conn;
    };
    const worker = async (): Promise<void> => {
      for (let conn = await next(); conn && !this.stopped; conn = await next()) {
        if (await this.runLeased(conn)) connections += 1;
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency }, worker));
    const late = [...(await this.o.store.findPollDue(now, this.o.batch)), ...(await this.o.store.findLapsedClaims(now, this.o.batch))];
    let tasks = 0;
    await this.pool(late, async (task) => {
      if (this.stopped) return;
      const r = await this.o.fetcher.completeTask(task._id, 'poll');
      if (r !== 'skipped') tasks += 1;
    });
    return { connections, tasks };
  }

  /** The due connections of one tick: open SCA windows by deadline, then the rest by due time. */
  async dueInOrder(now: Date): Promise<FetchConnectionDoc[]> {
    const [urgent, due] = await Promise.all([this.o.store.findDueBeforeDeadline(now, this.o.batch), this.o.store.findDue(now, this.o.batch)]);
    const ids = new Set(urgent.map((c) => c._id));
    return [...urgent, ...due.filter((c) => !ids.has(c._id))];
  }

  private async runLeased(conn: FetchConnectionDoc): Promise<boolean> {
    const key = `fetch:${conn._id}`;
    if (!(await this.o.leases.acquire(key, this.o.instance, this.o.leaseMs))) return false;
    const lost = new AbortController();
    const renew = setInterval(() => {
      this.o.leases
        .renew(key, this.o.instance, this.o.leaseMs)
        .then((held) => {
          if (held || lost.signal.aborted) return;
          this.o.logger.warn({ connectionId: conn._id }, 'lease lost: another instance holds the connection now');
          lost.abort(STOP_REASONS.leaseLost);
        })
        .catch((error: unknown) => this.o.logger.warn({ err: error, connectionId: conn._id }, 'lease renewal failed'));
    }, Math.max(1_000, Math.floor(this.o.leaseMs / 3)));
    try {
      // Re-read under the lease: another instance may have just run it.
      const fresh = await this.o.store.get(conn._id);
      if (!fresh || fresh.status !== 'active' || fresh.nextDueAt.getTime() > this.o.clock.now().getTime()) return false;
      if (fresh.backfill === 'pending' || fresh.backfill === 'running') {
        const signal = AbortSignal.any([this.stopping.signal, lost.signal]);
        await context.with(contextOfTraceparent(fresh.consentTrace), () => this.o.fetcher.runBackfill(conn._id, signal));
      } else await this.o.fetcher.runScheduled(conn._id, this.stopping.signal);
      if (fresh.runFailures) await this.o.store.update(conn._id, {}, ['runFailures']);
      return true;
    } catch (error) {
      // A run that throws (the store or Kafka failing, a bug) leaves the connection due: without a pause every
      // tick would run it again and ask the bank again for what it could not deliver. Back off, doubling.
      const failures = ((await this.o.store.get(conn._id).catch(() => null))?.runFailures ?? 0) + 1;
      const pauseMs = Math.min(RUN_FAILURE_BASE_MS * 2 ** (failures - 1), RUN_FAILURE_MAX_MS);
      const retryAt = new Date(this.o.clock.now().getTime() + pauseMs);
      await this.o.store.update(conn._id, { runFailures: failures, nextDueAt: retryAt }).catch(() => undefined);
      this.o.logger.error({ err: error, connectionId: conn._id, failures, retryAt }, 'fetch run failed');
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
