// Loaded into a service by a benchmark run (BENCH_<SERVICE>_NODE_OPTIONS=--require ./bench/profile.cjs, with
// BENCH_<SERVICE>_PROFILE_DIR=<dir>): profiles the whole life of the process through the inspector and, when it exits
// (the benchmark stops it with SIGTERM, and its graceful shutdown exits), writes <dir>/<pid>.cpuprofile (V8's CPU
// profile, for Chrome DevTools or bench/profile-report.mjs) and, with PROFILE_HEAP=1, <dir>/<pid>.heapprofile (a
// sampling heap profile of every allocation, collected or not). `node --cpu-prof` would do the first, but Node refuses
// it in NODE_OPTIONS, the one variable the benchmarks pass through to a service. PROFILE_INTERVAL_US sets the CPU
// sampling interval (default 500). Without PROFILE_DIR it does nothing.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload (--require), loaded before any module system of the service */
const dir = process.env.PROFILE_DIR;
if (dir) {
  const fs = require('node:fs');
  const path = require('node:path');
  const inspector = require('node:inspector');
  fs.mkdirSync(dir, { recursive: true });
  const heap = process.env.PROFILE_HEAP === '1';
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.PROFILE_INTERVAL_US ?? 500) });
  session.post('Profiler.start');
  if (heap) {
    session.post('HeapProfiler.enable');
    session.post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  // the main thread's session answers synchronously, so the files are written before the process ends
  process.on('exit', () => {
    session.post('Profiler.stop', (err, r) => {
      if (!err) fs.writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(r.profile));
    });
    if (heap) {
      session.post('HeapProfiler.stopSampling', (err, r) => {
        if (!err) fs.writeFileSync(path.join(dir, `${process.pid}.heapprofile`), JSON.stringify(r.profile));
      });
    }
  });
}
