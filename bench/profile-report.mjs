#!/usr/bin/env node
// Summarises a profile written by bench/profile.cjs: node bench/profile-report.mjs <file> [rows]
// - <pid>.cpuprofile: self time by area (an npm package, a workspace file, a node: module, the collector, idle) and by
//   function, in ms and in % of the busy time (idle left out);
// - <pid>.heapprofile: allocated MB by allocating function, and by the first of the named stages on each stack
//   (BENCH_PROFILE_STAGES, comma-separated function names) when given.
import { readFileSync } from 'node:fs';

const [file, rowsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-report.mjs <file.cpuprofile|file.heapprofile> [rows]');
  process.exit(2);
}
const rows = Number(rowsArg ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8'));
const where = (cf) => `${cf.functionName || '(anonymous)'} ${(cf.url || '').split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
const area = (cf) => {
  const url = cf.url || '';
  if (url.includes('node_modules/')) {
    const rest = url.split('node_modules/').pop().split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url;
  return url.replace(/.*\/(apps|libs|dist)\//, '$1/') || cf.functionName || '(native)';
};
const top = (m, total, unit, scale) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, rows).forEach(([k, v]) => console.log(`${(v / scale).toFixed(1).padStart(9)} ${unit} ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`));

if (file.endsWith('.cpuprofile')) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < p.samples.length; i += 1) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byArea = new Map();
  const byFn = new Map();
  let busy = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    if (cf.functionName === '(idle)') continue;
    busy += us;
    byArea.set(area(cf), (byArea.get(area(cf)) ?? 0) + us);
    byFn.set(where(cf), (byFn.get(where(cf)) ?? 0) + us);
  }
  console.log(`busy ${(busy / 1e6).toFixed(2)} s (idle left out)\n-- self time by area`);
  top(byArea, busy, 'ms', 1e3);
  console.log('-- self time by function');
  top(byFn, busy, 'ms', 1e3);
} else {
  const byId = new Map();
  const parent = new Map();
  const walk = (n, up) => {
    byId.set(n.id, n);
    if (up) parent.set(n.id, up.id);
    for (const c of n.children) walk(c, n);
  };
  walk(p.head, undefined);
  const stages = (process.env.BENCH_PROFILE_STAGES ?? '').split(',').filter(Boolean);
  const byFn = new Map();
  const byStage = new Map();
  let total = 0;
  for (const s of p.samples) {
    total += s.size;
    const k = where(byId.get(s.nodeId).callFrame);
    byFn.set(k, (byFn.get(k) ?? 0) + s.size);
    if (stages.length > 0) {
      let stage = '(none of the stages)';
      for (let id = s.nodeId; id !== undefined; id = parent.get(id)) {
        if (stages.includes(byId.get(id).callFrame.functionName)) {
          stage = byId.get(id).callFrame.functionName;
          break;
        }
      }
      byStage.set(stage, (byStage.get(stage) ?? 0) + s.size);
    }
  }
  console.log(`allocated ${(total / 1e6).toFixed(0)} MB (sampled)`);
  if (stages.length > 0) {
    console.log('-- by stage');
    top(byStage, total, 'MB', 1e6);
  }
  console.log('-- by allocating function');
  top(byFn, total, 'MB', 1e6);
}
