import { Forwarder, idle } from './forwarder';

/** A send whose requests are held until the test lets them go. */
function heldSend() {
  const requests: Array<{ outs: string[]; release: () => void; fail: (e: Error) => void }> = [];
  const send = (outs: string[]) =>
    new Promise<void>((release, fail) => {
      requests.push({ outs, release: () => release(), fail });
    });
  return { requests, send };
}

const item = (offset: number, bytes = 10) => ({ offset: String(offset), out: `m${offset}`, bytes });

describe('Forwarder', () => {
  it('sends the first output at once and what is made meanwhile in the next request, in order', async () => {
    const { requests, send } = heldSend();
    const acked: string[] = [];
    const f = new Forwarder<string>(send, (o) => void acked.push(o), 1_000);
    f.push(item(0));
    expect(requests.map((r) => r.outs)).toEqual([['m0']]);
    f.push(item(1));
    f.push(item(2));
    expect(requests).toHaveLength(1); // one request in flight
    expect(f.busy).toBe(true);
    requests[0]!.release();
    await idle();
    expect(requests.map((r) => r.outs)).toEqual([['m0'], ['m1', 'm2']]);
    expect(acked).toEqual(['0']);
    requests[1]!.release();
    await f.drain();
    expect(acked).toEqual(['0', '2']);
    expect(f.busy).toBe(false);
  });

  it('resolves an offset only after the request carrying its output succeeded', async () => {
    const { requests, send } = heldSend();
    const acked: string[] = [];
    const f = new Forwarder<string>(send, (o) => void acked.push(o), 1_000);
    f.push(item(7));
    await idle();
    expect(acked).toEqual([]);
    requests[0]!.release();
    await f.drain();
    expect(acked).toEqual(['7']);
  });

  it('keeps each request within maxBytes, with at least one output even when it alone is larger', async () => {
    const sent: string[][] = [];
    const f = new Forwarder<string>(async (outs) => void sent.push(outs), () => undefined, 25);
    f.push(item(0, 5)); // goes at once
    [item(1, 10), item(2, 10), item(3, 10), item(4, 40), item(5, 5)].forEach((i) => f.push(i));
    await f.drain();
    expect(sent).toEqual([['m0'], ['m1', 'm2'], ['m3'], ['m4'], ['m5']]);
  });

  it('after a failed request sends nothing more, resolves no later offset, and rejects drain and push with the failure', async () => {
    const { requests, send } = heldSend();
    const acked: string[] = [];
    const f = new Forwarder<string>(send, (o) => void acked.push(o), 1_000);
    f.push(item(0));
    f.push(item(1));
    requests[0]!.release();
    await idle();
    requests[1]!.fail(new Error('broker gone'));
    f.push(item(2)); // queued while the failing request is still settling
    await expect(f.drain()).rejects.toThrow('broker gone');
    expect(() => f.push(item(3))).toThrow('broker gone');
    expect(requests).toHaveLength(2);
    expect(acked).toEqual(['0']);
  });
});
