import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { groupMessagesPerPartition, type GroupArgs } from './group-messages';

// jest's module registry ignores Node's module cache, so this is kafkajs' own function, to compare with
// eslint-disable-next-line @typescript-eslint/no-require-imports
const original = require('kafkajs/src/producer/groupMessagesPerPartition') as <M>(a: GroupArgs<M>) => Record<string, M[]>;

interface Msg {
  key: string;
  n: number;
}

/** A deterministic pseudo-random sequence (the same cases every run). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('groupMessagesPerPartition (linear)', () => {
  const meta = (n: number) => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0 }));

  it('gives what kafkajs gives: the same partitions, the same messages in the same order, the same partitioner calls', () => {
    const rnd = lcg(7);
    for (const [count, partitions] of [
      [0, 3],
      [1, 1],
      [1_380, 1],
      [500, 3],
      [2_000, 12],
    ] as const) {
      const messages: Msg[] = Array.from({ length: count }, (_, n) => ({ key: `u${Math.floor(rnd() * 40)}`, n }));
      const calls = { ours: [] as number[], theirs: [] as number[] };
      const partitioner = (into: number[]) => (a: { topic: string; partitionMetadata: readonly unknown[]; message: Msg }) => {
        into.push(a.message.n);
        expect(a.topic).toBe('ais.ledger.v1');
        expect(a.partitionMetadata).toHaveLength(partitions);
        return Number(a.message.key.slice(1)) % partitions;
      };
      const args = { topic: 'ais.ledger.v1', partitionMetadata: meta(partitions), messages };
      const ours = groupMessagesPerPartition({ ...args, partitioner: partitioner(calls.ours) });
      const theirs = original({ ...args, partitioner: partitioner(calls.theirs) });
      expect(ours).toEqual(theirs);
      expect(Object.keys(ours)).toEqual(Object.keys(theirs));
      expect(calls.ours).toEqual(calls.theirs);
      expect(Object.values(ours).flat()).toHaveLength(count);
    }
  });

  it('groups nothing when the topic has no partition metadata, as kafkajs does', () => {
    const partitioner = jest.fn(() => 0);
    const args = { topic: 't', partitionMetadata: [], messages: [{ key: 'a', n: 1 }], partitioner };
    expect(groupMessagesPerPartition(args)).toEqual(original(args));
    expect(groupMessagesPerPartition(args)).toEqual({});
    expect(partitioner).not.toHaveBeenCalled();
  });
});

describe('groupMessagesPerPartition in kafkajs (a real process)', () => {
  const load = (mode: string) => {
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', join(__dirname, '../test/grouping-fixture.ts'), mode], {
      cwd: join(__dirname, '../../../..'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as { fixed: boolean; producerLoaded: boolean; kafkajsGetsOurs: boolean };
  };

  it("is what kafkajs' producer groups with when the library is loaded first, as the services load it", () => {
    expect(load('library-first')).toEqual({ fixed: true, producerLoaded: true, kafkajsGetsOurs: true });
  });

  it('is not claimed when kafkajs was loaded first: its producer holds the original', () => {
    expect(load('kafkajs-first')).toEqual({ fixed: false, producerLoaded: true, kafkajsGetsOurs: false });
  });
});
