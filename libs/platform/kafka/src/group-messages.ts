/**
 * A linear replacement for kafkajs 2.2.4's `groupMessagesPerPartition`, which sorts a send's messages into
 * partitions by copying the partition's array for every message it adds (`[...current, message]`). A send of n
 * messages to one partition therefore copies n²/2 array slots: the change feed sends a user's changes to the user's
 * partition, and one publish of 1,380 records allocated about 7.6 MB there, 255-267 MB of the 1,954 MB reconciliation
 * allocated in a heavy user's consent (a sampling heap profile, docs/BENCHMARKS.md, consent). This one pushes onto
 * each partition's array: the same partitions, the same messages in the same order, the partitioner called for the
 * same messages in the same order (group-messages.spec.ts compares the two).
 *
 * kafkajs' `sendMessages` takes the function with a `require` when it is loaded, so it cannot be swapped on a loaded
 * module like this library's other fixes (request-queue.ts, produce-encoding.ts). Instead the function's entry in
 * Node's module cache is filled before kafkajs is loaded: this module is imported by kafka.ts ahead of `kafkajs`,
 * and only this library loads kafkajs (the services' bundles keep it in node_modules, so the same cache serves it).
 * When kafkajs was loaded first, or is another version, nothing is replaced and `groupingFixed()` says so.
 */
import Module from 'node:module';
import { PATCHED_KAFKAJS_VERSION, kafkajsVersion } from './request-queue';

/** kafkajs' arguments (producer/sendMessages.js). */
export interface GroupArgs<M> {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly M[];
  partitioner: (a: { topic: string; partitionMetadata: readonly unknown[]; message: M }) => number;
}

/** Messages by partition (keys as kafkajs' own: the partition numbers), in send order within each. */
export function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: GroupArgs<M>): Record<string, M[]> {
  const result: Record<string, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const list = result[partition];
    if (list) list.push(message);
    else result[partition] = [message];
  }
  return result;
}

const MODULE_ID = 'kafkajs/src/producer/groupMessagesPerPartition';
const SENDER_ID = 'kafkajs/src/producer/sendMessages';

let installed = false;

/**
 * Fills the module cache entry of kafkajs' `groupMessagesPerPartition` with the function above, unless kafkajs'
 * producer is loaded already (it holds the original then) or the installed kafkajs is not the version known here.
 */
export function installGroupMessagesPerPartition(): boolean {
  if (installed) return true;
  if (kafkajsVersion() !== PATCHED_KAFKAJS_VERSION) return false;
  const file = require.resolve(MODULE_ID);
  if (require.cache[require.resolve(SENDER_ID)] !== undefined) return false;
  const entry = new Module(file, module);
  entry.filename = file;
  entry.loaded = true;
  entry.exports = groupMessagesPerPartition;
  require.cache[file] = entry;
  installed = true;
  return true;
}

/** Whether kafkajs' producer groups with the function above (what its module cache entry holds). */
export function groupingFixed(): boolean {
  const file = require.resolve(MODULE_ID);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return installed && require.cache[file] !== undefined && require(file) === groupMessagesPerPartition;
}

installGroupMessagesPerPartition();
