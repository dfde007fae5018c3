// The local Prometheus evaluates infra/prometheus/alerts.yml; docs/RUNBOOK.md shows the same rules to the SRE who
// copies them into their own Prometheus. The two must not drift: every alert of the runbook is in the rule file with
// the same expression, `for` and labels, and the file has no alert the runbook does not explain.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(__dirname, '../..');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const ruleFile = parse(readFileSync(join(ROOT, 'infra/prometheus/alerts.yml'), 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
const fileRules = ruleFile.groups.flatMap((g) => g.rules);
const runbook = readFileSync(join(ROOT, 'docs/RUNBOOK.md'), 'utf8');

/** The alerts in the runbook's ```yaml blocks, with the section heading each one sits under. */
function runbookAlerts(): (Rule & { section: string })[] {
  const out: (Rule & { section: string })[] = [];
  let section = '';
  const lines = runbook.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    if (lines[i]!.trim() !== '```yaml') continue;
    const block: string[] = [];
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) block.push(lines[i]!);
    const parsed = parse(block.join('\n')) as unknown;
    if (Array.isArray(parsed)) for (const r of parsed as Rule[]) if (r.alert) out.push({ ...r, section });
  }
  return out;
}

const anchor = (heading: string) => heading.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');
const norm = (expr: string) => expr.replace(/\s+/g, ' ').trim();

describe('infra/prometheus/alerts.yml', () => {
  const documented = runbookAlerts();

  it('holds every alert of docs/RUNBOOK.md, and only those', () => {
    expect(documented.length).toBeGreaterThanOrEqual(8);
    expect(fileRules.map((r) => r.alert).sort()).toEqual(documented.map((r) => r.alert).sort());
  });

  it.each(runbookAlerts().map((r) => [r.alert, r] as const))('%s: same expression, duration and labels as the runbook', (_name, doc) => {
    const rule = fileRules.find((r) => r.alert === doc.alert)!;
    expect(norm(rule.expr)).toBe(norm(doc.expr));
    expect(rule.for ?? '0m').toBe(doc.for ?? '0m');
    expect(rule.labels).toEqual(doc.labels);
  });

  it("links each alert to its runbook section", () => {
    for (const doc of documented) {
      const rule = fileRules.find((r) => r.alert === doc.alert)!;
      expect([rule.alert, rule.annotations?.['runbook']]).toEqual([rule.alert, `docs/RUNBOOK.md#${anchor(doc.section)}`]);
    }
  });

  it('gives every rule a severity the runbook uses', () => {
    for (const r of fileRules) expect(['info', 'warning', 'critical']).toContain(r.labels?.['severity']);
  });
});
