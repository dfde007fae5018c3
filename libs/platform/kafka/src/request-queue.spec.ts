// loading the library applies the fix (kafka.ts); nothing below applies it again before the queue tests
import './kafka';
import { fixRequestQueueTimerLoop, kafkajsRequestQueue, kafkajsVersion, PATCHED_KAFKAJS_VERSION } from './request-queue';

/** The parts of kafkajs' RequestQueue the tests drive (internal API of the pinned version). */
interface Queue {
  push(request: { entry: Entry; expectResponse: boolean; requestTimeout?: number; sendRequest: () => void }): void;
  fulfillRequest(response: { correlationId: number; payload: unknown; size: number }): void;
  maybeThrottle(ms: number): void;
  checkPendingRequests(): void;
  destroy(): void;
  pending: unknown[];
  throttleCheckTimeoutId: unknown;
}
interface Entry {
  correlationId: number;
  apiName: string;
  apiKey: number;
  apiVersion: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}
type QueueClass = new (options: Record<string, unknown>) => Queue;

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('kafkajs request queue (the timer loop fix)', () => {
  let queue: Queue;
  let checks: jest.SpyInstance;
  const sent: number[] = [];

  const request = (correlationId: number) => ({
    entry: { correlationId, apiName: 'Fetch', apiKey: 1, apiVersion: 11, resolve: () => undefined, reject: () => undefined },
    expectResponse: true,
    sendRequest: () => sent.push(correlationId),
  });

  beforeEach(() => {
    jest.useFakeTimers();
    sent.length = 0;
    const RequestQueue = kafkajsRequestQueue() as unknown as QueueClass;
    queue = new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'spec', broker: 'localhost:9092', logger });
    checks = jest.spyOn(queue, 'checkPendingRequests');
  });

  afterEach(() => {
    queue.destroy();
    jest.useRealTimers();
  });

  it('arms no check on a connection with nothing pending: an idle connection costs no timer callbacks', () => {
    queue.push(request(1));
    expect(sent).toEqual([1]);
    queue.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    checks.mockClear();
    // unpatched kafkajs 2.2.4 re-arms a negative-delay timeout after every check: about 1,000 checks a second
    jest.advanceTimersByTime(1_000);
    expect(checks).not.toHaveBeenCalled();
    expect(queue.throttleCheckTimeoutId).toBeNull();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('sends a request held by a throttle when the throttle ends, then arms nothing', () => {
    queue.maybeThrottle(50);
    queue.push(request(1));
    expect(sent).toEqual([]);
    expect(queue.pending).toHaveLength(1);
    jest.advanceTimersByTime(49);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual([1]);
    queue.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    checks.mockClear();
    jest.advanceTimersByTime(1_000);
    expect(checks).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('sends a request held by the in-flight limit when the one in flight is answered', () => {
    queue.push(request(1));
    queue.push(request(2));
    expect(sent).toEqual([1]);
    queue.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    expect(sent).toEqual([1, 2]);
    queue.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
    // a check armed while request 2 waited may still run once; none after it
    jest.advanceTimersByTime(20);
    checks.mockClear();
    jest.advanceTimersByTime(1_000);
    expect(checks).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('still sends a request when the throttle ends the moment it is queued (no request waits for nothing)', () => {
    queue.maybeThrottle(1);
    queue.push(request(1));
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(10);
    expect(sent).toEqual([1]);
  });

  // last: it applies the fix itself, and the cases above must see only what loading the library did
  it('is the kafkajs version the fix is written for (an upgrade must be reviewed against request-queue.ts)', () => {
    expect(kafkajsVersion()).toBe(PATCHED_KAFKAJS_VERSION);
    // idempotent: applying it again changes nothing
    const applied = kafkajsRequestQueue().prototype.scheduleCheckPendingRequests;
    expect(fixRequestQueueTimerLoop()).toBe(true);
    expect(kafkajsRequestQueue().prototype.scheduleCheckPendingRequests).toBe(applied);
  });
});
