import { Partitioners, type PartitionerArgs, type PartitionMetadata } from 'kafkajs';
import { partitionOfKey, rememberingPartitioner } from './producer';

const partitions = (n: number, down: number[] = []): PartitionMetadata[] =>
  Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: down.includes(partitionId) ? -1 : 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));

/** A deterministic stream of produce calls: runs of one key (as a user's changes come), keys and topics changing. */
function calls(count: number, seed: number): PartitionerArgs[] {
  let x = seed;
  const next = (m: number) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % m;
  };
  const keys = ['user-1', 'user-2', 'u-ä-3', '', 'a-much-longer-user-id-0123456789abcdef', Buffer.from('user-1') as unknown as string];
  const out: PartitionerArgs[] = [];
  let key = keys[0]!;
  let topic = 'ais.ledger.v1';
  let meta = partitions(32);
  while (out.length < count) {
    if (next(4) === 0) key = keys[next(keys.length)]!;
    if (next(20) === 0) topic = next(2) === 0 ? 'ais.ledger.v1' : 'ais.enriched.v1';
    if (next(30) === 0) meta = partitions([1, 3, 32, 64][next(4)]!, next(3) === 0 ? [0] : []);
    const message = next(15) === 0 ? { key, value: null, partition: next(meta.length) } : next(25) === 0 ? { key: null, value: null } : { key, value: null };
    out.push({ topic, partitionMetadata: meta, message });
  }
  return out;
}

describe('the producers\' partitioner', () => {
  it('puts every message where kafkajs\'s default (Java-compatible) partitioner puts it, through changes of key, topic and partition count', () => {
    for (const seed of [1, 7, 42, 1234]) {
      const stream = calls(5_000, seed);
      const ours = rememberingPartitioner();
      const theirs = Partitioners.DefaultPartitioner();
      const keyed = (a: PartitionerArgs) => a.message.key !== null && (a.message.partition === undefined || a.message.partition === null);
      // unkeyed messages go round-robin from a random start in each: compare the keyed and explicit ones
      const mismatches = stream.filter((a) => keyed(a) || a.message.partition !== undefined).filter((a) => ours(a) !== theirs(a));
      expect(mismatches).toEqual([]);
    }
  });

  it('gives one key the same partition on every call, and two keys the partitions the default gives them', () => {
    const p = rememberingPartitioner();
    const meta = partitions(64);
    const at = (key: string) => p({ topic: 't', partitionMetadata: meta, message: { key, value: null } });
    const a = at('user-a');
    expect([at('user-a'), at('user-a')]).toEqual([a, a]);
    const b = at('user-b');
    const def = Partitioners.DefaultPartitioner();
    expect([a, b]).toEqual(['user-a', 'user-b'].map((key) => def({ topic: 't', partitionMetadata: meta, message: { key, value: null } })));
    // the same key after the topic grew: computed for the new count, not the remembered one
    const grown = partitions(128);
    expect(p({ topic: 't', partitionMetadata: grown, message: { key: 'user-b', value: null } })).toBe(def({ topic: 't', partitionMetadata: grown, message: { key: 'user-b', value: null } }));
  });

  it('honours an explicit partition even for the key it last saw', () => {
    const p = rememberingPartitioner();
    const meta = partitions(8);
    const first = p({ topic: 't', partitionMetadata: meta, message: { key: 'k', value: null } });
    const other = (first + 1) % 8;
    expect(p({ topic: 't', partitionMetadata: meta, message: { key: 'k', value: null, partition: other } })).toBe(other);
    expect(p({ topic: 't', partitionMetadata: meta, message: { key: 'k', value: null } })).toBe(first);
  });

  it('names the partition a producer puts a key on (partitionOfKey: the owner of a user, the ledger partition)', () => {
    const p = rememberingPartitioner();
    for (const count of [1, 3, 32, 64]) {
      for (const key of ['user-1', 'u-ä-3', 'a-much-longer-user-id-0123456789abcdef']) {
        expect([key, count, partitionOfKey(key, count)]).toEqual([key, count, p({ topic: 't', partitionMetadata: partitions(count), message: { key, value: null } })]);
      }
    }
  });
});
