// Loaded into a service by bench/memory.bench.ts (NODE_OPTIONS=--require <this file>): every 250 ms, one JSON line
// of V8 heap statistics in MB (used, total, limit) to $HEAP_STATS_DIR/<pid>.jsonl. The timer is unref'd, so it
// never keeps the service alive; without HEAP_STATS_DIR it does nothing.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload (--require), loaded before any module system of the service */
const dir = process.env.HEAP_STATS_DIR;
if (dir) {
  const fs = require('node:fs');
  const path = require('node:path');
  const v8 = require('node:v8');
  const MB = 1048576;
  const fd = fs.openSync(path.join(dir, `${process.pid}.jsonl`), 'a');
  const timer = setInterval(() => {
    const h = v8.getHeapStatistics();
    const line = { t: Date.now(), used: h.used_heap_size / MB, total: h.total_heap_size / MB, limit: h.heap_size_limit / MB, external: h.external_memory / MB, malloced: h.malloced_memory / MB };
    try {
      fs.writeSync(fd, `${JSON.stringify(line)}\n`);
    } catch {
      clearInterval(timer);
    }
  }, 250);
  timer.unref();
}
