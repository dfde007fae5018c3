/**
 * The labelled set (apps/enrichment/data/labelled-set.jsonl) and the accuracy of the categoriser on it. One JSON object
 * per line, shaped like a TrueLayer transaction plus `expected` (merchant key and name, PFC primary and detailed; a
 * null merchant key means the line names no merchant, e.g. a cash withdrawal or interest, and is not scored for it).
 *
 * Split: every 5th line (1-based line numbers 5, 10, 15, ...) is the holdout. Rules and the dictionary are tuned
 * against the other lines only; the holdout is reported beside them as a check on generalisation.
 */
import { toDecimalString } from '@ais/contracts-events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { categorize, type Categorization } from '../domain/categorize';
import { PRIMARIES, validatePair, type PfcPrimary } from '@ais/contracts-events';

export const LABELLED_SET_PATH = join(__dirname, '../../data/labelled-set.jsonl');

export interface LabelledTransaction {
  description: string;
  /** Pounds, as TrueLayer returns it: negative for money out on account endpoints. */
  amount: number;
  currency: string;
  transaction_type: 'DEBIT' | 'CREDIT';
  transaction_category: string;
  transaction_classification: string[];
  merchant_name?: string;
  expected: { merchant_key: string | null; merchant_name: string | null; primary: string; detailed: string };
}

export interface LabelledLine extends LabelledTransaction {
  line: number;
  part: 'tuned' | 'holdout';
}

export function isHoldout(line: number): boolean {
  return line % 5 === 0;
}

export function loadLabelledSet(path = LABELLED_SET_PATH): LabelledLine[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: LabelledLine[] = [];
  lines.forEach((text, i) => {
    if (text.trim() === '') return;
    const line = i + 1;
    const tx = JSON.parse(text) as LabelledTransaction;
    const invalid = validatePair(tx.expected.primary, tx.expected.detailed);
    if (invalid) throw new Error(`labelled set line ${line}: ${invalid}`);
    out.push({ ...tx, line, part: isHoldout(line) ? 'holdout' : 'tuned' });
  });
  return out;
}

/** Pounds (a JSON number) as raw events carry them: a decimal string in major units ("-23.45"). */
export function toMajorUnits(amount: number): string {
  return toDecimalString(amount);
}

export function run(tx: LabelledTransaction): Categorization {
  return categorize({
    description: tx.description,
    amount: toMajorUnits(tx.amount),
    currency: tx.currency,
    transactionType: tx.transaction_type,
    transactionCategory: tx.transaction_category,
    providerClassification: tx.transaction_classification,
    merchantName: tx.merchant_name ?? '',
  });
}

export interface Score {
  n: number;
  primary: number;
  detailed: number;
  /** Over the lines with an expected merchant key. */
  merchantN: number;
  merchant: number;
}

export interface Miss {
  line: number;
  part: 'tuned' | 'holdout';
  description: string;
  expected: { primary: string; detailed: string; merchant_key: string | null };
  got: { primary: string; detailed: string; merchant_key: string; source: string; reason: string };
}

export interface Evaluation {
  version: string;
  taxonomy: string;
  parts: Record<'all' | 'tuned' | 'holdout', { overall: Score; byPrimary: Partial<Record<PfcPrimary, Score>> }>;
  misses: Miss[];
}

const empty = (): Score => ({ n: 0, primary: 0, detailed: 0, merchantN: 0, merchant: 0 });

function add(s: Score, hitP: boolean, hitD: boolean, merchant: boolean | undefined): void {
  s.n++;
  if (hitP) s.primary++;
  if (hitD) s.detailed++;
  if (merchant !== undefined) {
    s.merchantN++;
    if (merchant) s.merchant++;
  }
}

export function evaluate(set: readonly LabelledLine[]): Evaluation {
  const parts = { all: { overall: empty(), byPrimary: {} }, tuned: { overall: empty(), byPrimary: {} }, holdout: { overall: empty(), byPrimary: {} } } as Evaluation['parts'];
  const misses: Miss[] = [];
  let version = '';
  let taxonomy = '';
  for (const tx of set) {
    const got = run(tx);
    version = got.version;
    taxonomy = got.taxonomy;
    const hitP = got.primary === tx.expected.primary;
    const hitD = got.detailed === tx.expected.detailed;
    const merchant = tx.expected.merchant_key === null ? undefined : got.merchant.key === tx.expected.merchant_key;
    const primary = tx.expected.primary as PfcPrimary;
    for (const part of ['all', tx.part] as const) {
      add(parts[part].overall, hitP, hitD, merchant);
      add((parts[part].byPrimary[primary] ??= empty()), hitP, hitD, merchant);
    }
    if (!hitP || !hitD || merchant === false) {
      misses.push({
        line: tx.line,
        part: tx.part,
        description: tx.description,
        expected: { primary: tx.expected.primary, detailed: tx.expected.detailed, merchant_key: tx.expected.merchant_key },
        got: { primary: got.primary, detailed: got.detailed, merchant_key: got.merchant.key, source: got.source, reason: got.reason },
      });
    }
  }
  return { version, taxonomy, parts, misses };
}

export const ratio = (hit: number, n: number): number => (n === 0 ? 1 : hit / n);

export function primaryAccuracy(e: Evaluation, part: 'all' | 'tuned' | 'holdout' = 'all'): number {
  const s = e.parts[part].overall;
  return ratio(s.primary, s.n);
}

export function markdown(e: Evaluation): string {
  const pct = (hit: number, n: number): string => (n === 0 ? '–' : `${(100 * ratio(hit, n)).toFixed(1)}%`);
  const rows: string[] = [];
  rows.push(`# Enrichment quality report`, '');
  rows.push(`Enrichment version ${e.version}, taxonomy ${e.taxonomy}. Labelled set: apps/enrichment/data/labelled-set.jsonl; holdout = every 5th line (not tuned on).`, '');
  rows.push('| part | n | primary | detailed | merchant key |', '|---|---:|---:|---:|---:|');
  for (const part of ['tuned', 'holdout', 'all'] as const) {
    const s = e.parts[part].overall;
    rows.push(`| ${part} | ${s.n} | ${pct(s.primary, s.n)} | ${pct(s.detailed, s.n)} | ${pct(s.merchant, s.merchantN)} (${s.merchantN}) |`);
  }
  rows.push('', '## Per primary category', '', '| primary | n tuned | primary tuned | detailed tuned | n holdout | primary holdout | detailed holdout | merchant key (all) |', '|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const p of PRIMARIES) {
    const t = e.parts.tuned.byPrimary[p] ?? empty();
    const h = e.parts.holdout.byPrimary[p] ?? empty();
    const a = e.parts.all.byPrimary[p] ?? empty();
    rows.push(`| ${p} | ${t.n} | ${pct(t.primary, t.n)} | ${pct(t.detailed, t.n)} | ${h.n} | ${pct(h.primary, h.n)} | ${pct(h.detailed, h.n)} | ${pct(a.merchant, a.merchantN)} |`);
  }
  rows.push('', `## Misses (${e.misses.length})`, '', '| line | part | description | expected | got | source |', '|---:|---|---|---|---|---|');
  for (const m of e.misses) {
    const exp = `${m.expected.detailed}${m.expected.merchant_key ? ` / ${m.expected.merchant_key}` : ''}`;
    rows.push(`| ${m.line} | ${m.part} | \`${m.description.replace(/\|/g, '\\|')}\` | ${exp} | ${m.got.detailed} / ${m.got.merchant_key} | ${m.got.reason} |`);
  }
  return rows.join('\n') + '\n';
}
