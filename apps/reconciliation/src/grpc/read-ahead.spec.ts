import { startTestMetrics, type TestMetrics } from '@ais/testing';
import { ReadAhead } from './read-ahead';

describe('ReadAhead', () => {
  let m: TestMetrics;
  let now = 0;
  const settled = (seq: number) => ({ seq, committedSeq: seq });
  const outcome = (o: string) => m.value('ais_reconciliation_read_ahead_total', { outcome: o });
  const make = (maxEntries = 4, ttlMs = 1_000) => new ReadAhead<string[]>({ maxEntries, ttlMs, now: () => now });

  beforeEach(() => {
    now = 0;
    m = startTestMetrics();
  });
  afterEach(() => m.stop());

  it('serves the rows read ahead once, to the same page of the same user version and filter', async () => {
    const ra = make();
    let reads = 0;
    ra.start('p2', settled(7), 'f', async () => (reads += 1, ['a', 'b']));
    now = 999;
    await expect(ra.take('p2', settled(7), 'f')).resolves.toEqual(['a', 'b']);
    await expect(ra.take('p2', settled(7), 'f')).resolves.toBeUndefined();
    await expect(ra.take('p3', settled(7), 'f')).resolves.toBeUndefined();
    expect(reads).toBe(1);
    expect(await outcome('started')).toBe(1);
    expect(await outcome('hit')).toBe(1);
  });

  it('never serves rows from before a change: another seq, another filter, or a write in flight when the read began', async () => {
    const ra = make();
    ra.start('p2', settled(7), 'f', async () => ['old']);
    await expect(ra.take('p2', settled(8), 'f')).resolves.toBeUndefined();
    ra.start('p2', settled(7), 'hidden:[]', async () => ['old']);
    await expect(ra.take('p2', settled(7), 'hidden:["t1"]')).resolves.toBeUndefined();
    expect(await outcome('stale')).toBe(2);
    // a write had reserved numbers it had not committed yet: nothing is read ahead
    let reads = 0;
    ra.start('p2', { seq: 9, committedSeq: 8 }, 'f', async () => (reads += 1, ['mid-write']));
    await expect(ra.take('p2', { seq: 9, committedSeq: 8 }, 'f')).resolves.toBeUndefined();
    expect(reads).toBe(0);
    expect(ra.size).toBe(0);
  });

  it('drops rows older than ttlMs, and a failed read falls back to the query', async () => {
    const ra = make(4, 1_000);
    ra.start('p2', settled(1), 'f', async () => ['a']);
    now = 1_001;
    await expect(ra.take('p2', settled(1), 'f')).resolves.toBeUndefined();
    expect(await outcome('expired')).toBe(1);
    ra.start('p3', settled(1), 'f', () => Promise.reject(new Error('store down')));
    await expect(ra.take('p3', settled(1), 'f')).resolves.toBeUndefined();
    expect(await outcome('failed')).toBe(1);
    expect(await outcome('hit')).toBe(0);
  });

  it('deletes a read nobody asked for once ttlMs has passed', async () => {
    const ra = new ReadAhead<string[]>({ maxEntries: 4, ttlMs: 30 });
    ra.start('p2', settled(1), 'f', async () => ['a']);
    expect(ra.size).toBe(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(ra.size).toBe(0);
    expect(await outcome('expired')).toBe(1);
    await expect(ra.take('p2', settled(1), 'f')).resolves.toBeUndefined();
  });

  it('holds at most maxEntries reads (the oldest dropped first); 0 turns read-ahead off', async () => {
    const ra = make(2);
    for (const k of ['p1', 'p2', 'p3']) ra.start(k, settled(1), 'f', async () => [k]);
    expect(ra.size).toBe(2);
    expect(await outcome('dropped')).toBe(1);
    await expect(ra.take('p1', settled(1), 'f')).resolves.toBeUndefined();
    await expect(ra.take('p3', settled(1), 'f')).resolves.toEqual(['p3']);
    const off = make(0);
    let reads = 0;
    off.start('p1', settled(1), 'f', async () => (reads += 1, ['x']));
    expect(off.size).toBe(0);
    expect(reads).toBe(0);
  });
});
