/**
 * The outputs of one partition's consumed messages, sent on as they are made rather than when the consumed batch
 * ends, so the next stage starts on a batch's first message while the rest of it is still being worked on.
 *
 * - Order: one request in flight at a time, its outputs in offset order; what is made meanwhile goes out in the next
 *   request (up to `maxBytes`, at least one output). Requests to one partition therefore arrive in offset order.
 * - Delivery: a message's offset is passed to `acked` only after the request that carried its output succeeded,
 *   so a committed offset never runs ahead of what the next stage can read.
 * - Failure: after a request fails nothing more is sent; `drain` rejects with that failure (the consumer throws and
 *   Kafka redelivers from the last committed offset).
 *
 * Nothing here waits for the event loop: a caller that makes outputs in a tight loop yields (`idle`) so that the
 * acknowledgement of the request in flight can run and the next request go out.
 */
export interface Forwarded<T> {
  offset: string;
  out: T;
  bytes: number;
}

export class Forwarder<T> {
  private readonly queue: Array<Forwarded<T>> = [];
  private inflight: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly send: (outs: T[]) => Promise<void>,
    private readonly acked: (lastOffset: string) => void | Promise<void>,
    private readonly maxBytes: number,
  ) {}

  /** Queues a message's output; it goes out at once when no request is in flight. Throws an earlier send failure. */
  push(item: Forwarded<T>): void {
    if (this.failure) throw this.failure.error;
    this.queue.push(item);
    this.pump();
  }

  /** Whether a request is in flight (the caller should yield to the event loop now and then). */
  get busy(): boolean {
    return this.inflight !== undefined;
  }

  /** Resolves when everything queued is sent and acknowledged; rejects with the first send failure. */
  async drain(): Promise<void> {
    while (this.inflight) await this.inflight;
    if (this.failure) throw this.failure.error;
  }

  private pump(): void {
    if (this.inflight || this.failure || this.queue.length === 0) return;
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.bytes <= this.maxBytes)) bytes += this.queue[n++]!.bytes;
    const chunk = this.queue.splice(0, n);
    this.inflight = (async () => {
      await this.send(chunk.map((c) => c.out));
      await this.acked(chunk[chunk.length - 1]!.offset);
    })().then(
      () => {
        this.inflight = undefined;
        this.pump();
      },
      (error: unknown) => {
        this.failure = { error };
        this.inflight = undefined;
      },
    );
  }
}

/** Lets I/O callbacks (a request's acknowledgement) run before the caller goes on. */
export const idle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
