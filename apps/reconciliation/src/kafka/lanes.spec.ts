import { InOrderOffsets, lanesOf, Slots } from './lanes';

const msg = (key: string | null) => ({ key: key === null ? null : Buffer.from(key) });

describe('lanes', () => {
  it('groups a batch by key, each lane in offset order, lanes in the order of their first message', () => {
    expect(lanesOf([msg('a'), msg('b'), msg('a'), msg(null), msg('c'), msg('b'), msg('')])).toEqual([[0, 2], [1, 5], [3, 6], [4]]);
    expect(lanesOf([])).toEqual([]);
  });

  it('resolves an offset only once it and every earlier one finished', () => {
    const resolved: string[] = [];
    const o = new InOrderOffsets(['10', '11', '12', '13', '14'], (off) => resolved.push(off));
    o.finish(1);
    o.finish(3);
    expect(resolved).toEqual([]);
    o.finish(0);
    expect(resolved).toEqual(['10', '11']);
    o.finish(4);
    expect(resolved).toEqual(['10', '11']);
    o.finish(2);
    expect(resolved).toEqual(['10', '11', '12', '13', '14']);
  });

  it('lets at most `size` holders in at once, first come first served', async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    let inside = 0;
    let most = 0;
    const gates = new Map<string, () => void>();
    const run = (name: string) =>
      slots.with(async () => {
        order.push(name);
        inside += 1;
        most = Math.max(most, inside);
        await new Promise<void>((r) => gates.set(name, r));
        inside -= 1;
      });
    const all = ['a', 'b', 'c', 'd'].map(run);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a', 'b']);
    gates.get('b')!();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a', 'b', 'c']);
    gates.get('a')!();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    gates.get('c')!();
    gates.get('d')!();
    await Promise.all(all);
    expect(most).toBe(2);
    // a holder that throws gives its slot back
    await expect(slots.with(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await Promise.all([slots.with(async () => undefined), slots.with(async () => undefined)]);
  });
});
