/**
 * Loads this library and kafkajs in the order the argument names, in a real Node process (jest's module registry
 * does not use Node's module cache, where the fix lives), and prints what kafkajs' producer will group with.
 *   library-first: as the services load them (only this library imports kafkajs)
 *   kafkajs-first: kafkajs loaded before the library: its producer holds the original, and the library says so
 */
/* eslint-disable @typescript-eslint/no-require-imports -- the load order is what this fixture is about */
const mode = process.argv[2];
if (mode === 'kafkajs-first') require('kafkajs');
require('../src');
if (mode === 'library-first') require('kafkajs');
const ours = require('../src/group-messages') as typeof import('../src/group-messages');
const cached = require('kafkajs/src/producer/groupMessagesPerPartition') as unknown;
process.stdout.write(
  JSON.stringify({
    fixed: ours.groupingFixed(),
    producerLoaded: require.cache[require.resolve('kafkajs/src/producer/sendMessages')] !== undefined,
    kafkajsGetsOurs: cached === ours.groupMessagesPerPartition,
  }),
);
