/*
 * npm run enrichment:report: runs the categoriser over the labelled set, prints accuracy overall and per PFC primary
 * (tuned part, holdout, all), writes apps/enrichment/report/latest.json and latest.md, and exits 1 when primary
 * accuracy over the whole set is below 0.9.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRIMARIES } from '@ais/contracts-events';
import { evaluate, loadLabelledSet, markdown, primaryAccuracy, ratio } from '../src/quality/labelled-set';

const THRESHOLD = 0.9;

const set = loadLabelledSet();
const e = evaluate(set);
const outDir = join(__dirname, '../report');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'latest.json'), JSON.stringify(e, null, 2) + '\n');
writeFileSync(join(outDir, 'latest.md'), markdown(e));

const pct = (hit: number, n: number): string => (n === 0 ? '    –' : `${(100 * ratio(hit, n)).toFixed(1).padStart(5)}%`);
const say = (s: string): void => void process.stdout.write(s + '\n');
say(`enrichment ${e.version} on ${e.taxonomy}: ${set.length} labelled transactions`);
say(`${'part'.padEnd(10)} ${'n'.padStart(4)}  primary  detailed  merchant`);
for (const part of ['tuned', 'holdout', 'all'] as const) {
  const s = e.parts[part].overall;
  say(`${part.padEnd(10)} ${String(s.n).padStart(4)}  ${pct(s.primary, s.n)}   ${pct(s.detailed, s.n)}   ${pct(s.merchant, s.merchantN)}`);
}
say('');
say(`${'primary'.padEnd(26)} ${'n(t/h)'.padStart(7)}  prim(t)  prim(h)   det(t)   det(h)  merchant`);
for (const p of PRIMARIES) {
  const t = e.parts.tuned.byPrimary[p];
  const h = e.parts.holdout.byPrimary[p];
  const a = e.parts.all.byPrimary[p];
  if (!a) continue;
  say(`${p.padEnd(26)} ${`${t?.n ?? 0}/${h?.n ?? 0}`.padStart(7)}  ${pct(t?.primary ?? 0, t?.n ?? 0)}   ${pct(h?.primary ?? 0, h?.n ?? 0)}   ${pct(t?.detailed ?? 0, t?.n ?? 0)}   ${pct(h?.detailed ?? 0, h?.n ?? 0)}   ${pct(a.merchant, a.merchantN)}`);
}
say('');
say(`misses: ${e.misses.length} (listed in apps/enrichment/report/latest.md)`);
const accuracy = primaryAccuracy(e);
if (accuracy < THRESHOLD) {
  say(`FAIL: primary accuracy ${(100 * accuracy).toFixed(1)}% is below ${100 * THRESHOLD}%`);
  process.exitCode = 1;
} else {
  say(`OK: primary accuracy ${(100 * accuracy).toFixed(1)}% (threshold ${100 * THRESHOLD}%)`);
}
