/**
 * A process that shuts down with one stuck hook, for lifecycle.spec.ts:
 *   pending  - the hook's promise never settles and nothing else keeps the event loop alive
 *   blocked  - the hook blocks the main thread for good (as a synchronous write to a stuck pipe would)
 */
import { Lifecycle } from '../src/index';

const mode = process.argv[2];
const lines: string[] = [];
const logger = { info: (_o: object, msg?: string) => void lines.push(msg ?? ''), error: (_o: object, msg?: string) => void lines.push(msg ?? '') };
const lifecycle = new Lifecycle({ timeoutMs: 300, logger, watchdogGraceMs: 300 });
lifecycle.on('drain', 'stuck', () => {
  if (mode === 'blocked') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  return new Promise<void>(() => undefined);
});
process.on('exit', (code) => process.stdout.write(`exit ${code} after: ${lines.join(' | ')}\n`));
void lifecycle.shutdown('test');
