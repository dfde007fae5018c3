import { upsertRetryingDuplicate } from './index';

const duplicate = Object.assign(new Error('E11000 duplicate key'), { code: 11000 });

describe('upsertRetryingDuplicate', () => {
  it('runs an upsert refused with a duplicate key once more, and returns what that run returns', async () => {
    const results: (Error | number)[] = [duplicate, 7];
    let runs = 0;
    const run = async () => {
      runs += 1;
      const r = results.shift()!;
      if (r instanceof Error) throw r;
      return r;
    };
    await expect(upsertRetryingDuplicate(run)).resolves.toBe(7);
    expect(runs).toBe(2);
  });

  it('passes any other error on at once, and a second duplicate key too', async () => {
    let runs = 0;
    await expect(upsertRetryingDuplicate(async () => ((runs += 1), Promise.reject(new Error('down'))))).rejects.toThrow('down');
    expect(runs).toBe(1);
    runs = 0;
    await expect(upsertRetryingDuplicate(async () => ((runs += 1), Promise.reject(duplicate)))).rejects.toBe(duplicate);
    expect(runs).toBe(2);
  });
});
