/*
 * The main job's scripted user, after it connected through our hosted pages (@ais/testing's connectMockUser with
 * `dialog: 'hosted'`): one W3C trace context for every request of the journey (one trace in the trace UI), the
 * pipeline drained, the summary read back through the public read API, as a product backend would, and what the
 * stack's Prometheus scraped meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { TOPICS } from '@ais/contracts-events';
import { adminLagSource, readLag } from '@ais/platform-kafka';
import { promQuery, promRules, promTargets } from '@ais/testing';

type Json = Record<string, unknown>;

/** The journey's trace: one trace id; each request gets its own parent span id, so the services' spans share it. */
export class JourneyTrace {
  readonly traceId = randomBytes(16).toString('hex');
  header(): Record<string, string> {
    return { traceparent: `00-${this.traceId}-${randomBytes(8).toString('hex')}-01` };
  }
}

/**
 * Waits until the pipeline has taken everything published so far all the way through: enrichment's group has no lag
 * on the raw topic, then reconciliation's group none on the enriched topic (in this order, as enrichment's output is
 * reconciliation's input). The lag is the one the services report as `ais_kafka_consumer_lag` (readLag): exact,
 * unlike waiting for counts to settle.
 */
export async function waitForPipelineDrained(brokers: string, timeoutMs: number): Promise<void> {
  const source = adminLagSource(new Kafka({ clientId: 'start-local', brokers: brokers.split(','), logLevel: logLevel.NOTHING }));
  const deadline = Date.now() + timeoutMs;
  try {
    for (const [topic, groupId] of [[TOPICS.raw, 'enrichment'], [TOPICS.enriched, 'reconciliation']] as const) {
      for (;;) {
        const lag = (await readLag(source, groupId, [topic])).get(topic) ?? 0;
        if (lag === 0) break;
        if (Date.now() > deadline) throw new Error(`the pipeline did not drain within ${timeoutMs / 1000} s: ${groupId} is ${lag} messages behind on ${topic}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await source.close().catch(() => undefined);
  }
}

export interface DemoSummary {
  accounts: Array<{ name: string; kind: string; balance: string | null; currency: string }>;
  transactions: number;
  firstDate: string | null;
  lastDate: string | null;
  month: string;
  topCategories: Array<{ category: string; total: string; currency: string; count: number }>;
  recurring: Array<{ merchant: string; cadence: string; amount: string; currency: string; direction: string; next: string | null }>;
}

/** A decimal string with at least two decimals (amounts stay strings: no float arithmetic on money). */
function money(d: string): string {
  const [int, frac = ''] = d.split('.');
  return `${int}.${frac.padEnd(2, '0')}`;
}
/** Hundredths of a decimal string (further decimals dropped; only for ranking and adding up a month's spending). */
function toMinor(d: string): bigint {
  const neg = d.startsWith('-');
  const [int, frac = ''] = d.replace('-', '').split('.');
  const v = BigInt(int || '0') * 100n + BigInt((frac + '00').slice(0, 2));
  return neg ? -v : v;
}
function fromMinor(v: bigint): string {
  const a = abs(v);
  return `${v < 0n ? '-' : ''}${a / 100n}.${String(a % 100n).padStart(2, '0')}`;
}
const abs = (v: bigint): bigint => (v < 0n ? -v : v);

/** The user's data as the read API gives it to a product backend (every page of transactions). */
export async function readSummary(api: (path: string) => Promise<Response>, userId: string, now = new Date()): Promise<DemoSummary> {
  const user = encodeURIComponent(userId);
  const get = async (path: string): Promise<Json> => {
    const r = await api(path);
    if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status} ${(await r.text()).slice(0, 300)}`);
    return (await r.json()) as Json;
  };
  const accounts = ((await get(`/v1/users/${user}/accounts?page_size=100`))['accounts'] as Json[]).map((a) => {
    const b = a['latest_balance'] as Json | null;
    return { name: String(a['display_name']), kind: String(a['kind']), balance: b ? money(String(b['current'])) : null, currency: String(a['currency']) };
  });
  let transactions = 0;
  let firstDate: string | null = null;
  let lastDate: string | null = null;
  let token = '';
  for (let i = 0; i < 10_000; i += 1) {
    const page = await get(`/v1/users/${user}/transactions?page_size=500${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
    for (const t of page['transactions'] as Json[]) {
      transactions += 1;
      const d = String(t['booked_at']).slice(0, 10);
      if (firstDate === null || d < firstDate) firstDate = d;
      if (lastDate === null || d > lastDate) lastDate = d;
    }
    token = String(page['next_page_token'] ?? '');
    if (!token) break;
  }
  // "the last month": the last whole calendar month
  const m = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
  const months = (await get(`/v1/users/${user}/spending-summary?from=${m}&to=${m}`))['months'] as Json[];
  // the summary's rows are per detailed category: add them up per primary category (in minor units, per currency)
  const byPrimary = new Map<string, { category: string; minor: bigint; currency: string; count: number }>();
  for (const s of (months.find((x) => x['month'] === m)?.['spending'] as Json[] | undefined) ?? []) {
    const category = String(s['primary'] ?? 'UNCATEGORIZED');
    const currency = String(s['currency']);
    const row = byPrimary.get(`${category} ${currency}`) ?? { category, minor: 0n, currency, count: 0 };
    row.minor += toMinor(String(s['total']));
    row.count += Number(s['count']);
    byPrimary.set(`${category} ${currency}`, row);
  }
  const topCategories = [...byPrimary.values()]
    .sort((a, b) => (abs(b.minor) > abs(a.minor) ? 1 : abs(b.minor) < abs(a.minor) ? -1 : a.category.localeCompare(b.category)))
    .slice(0, 5)
    .map((r) => ({ category: r.category, total: fromMinor(r.minor), currency: r.currency, count: r.count }));
  const recurring = ((await get(`/v1/users/${user}/recurring`))['series'] as Json[])
    .map((s) => ({
      merchant: String(s['merchant_name']),
      cadence: String(s['cadence']),
      amount: money(String(s['amount'])),
      currency: String(s['currency']),
      direction: String(s['direction']),
      next: s['next_expected_date'] ? String(s['next_expected_date']).slice(0, 10) : null,
    }))
    .sort((a, b) => (a.next ?? '9999').localeCompare(b.next ?? '9999'));
  return { accounts, transactions, firstDate, lastDate, month: m, topCategories, recurring };
}

/** The summary as printed: one block a person reads, with stable `key: value` lines a test can check. */
export function formatSummary(s: DemoSummary): string[] {
  const lines = [`accounts: ${s.accounts.length}`];
  for (const a of s.accounts) lines.push(`  ${a.name.padEnd(28)} ${a.kind.padEnd(8)} ${(a.balance ?? '–').padStart(12)} ${a.currency}`);
  lines.push(`transactions: ${s.transactions} from ${s.firstDate ?? '–'} to ${s.lastDate ?? '–'}`);
  lines.push(`top spending categories in ${s.month}: ${s.topCategories.length}`);
  for (const c of s.topCategories) lines.push(`  ${c.category.padEnd(28)} ${c.total.padStart(12)} ${c.currency}  (${c.count} transactions)`);
  const today = new Date().toISOString().slice(0, 10);
  lines.push(`recurring payments: ${s.recurring.length}`);
  // upcoming payments first (soonest first), then series whose expected date has passed
  const ordered = [...s.recurring.filter((r) => r.next !== null && r.next >= today), ...s.recurring.filter((r) => r.next === null || r.next < today)];
  for (const r of ordered.slice(0, 10)) {
    const when = r.next === null ? '' : r.next < today ? `lapsed (expected ${r.next})` : `next ${r.next}`;
    lines.push(`  ${r.merchant.padEnd(28)} ${r.cadence.padEnd(12)} ${r.direction.padEnd(8)} ${r.amount.padStart(10)} ${r.currency}  ${when}`);
  }
  if (s.recurring.length > 10) lines.push(`  … and ${s.recurring.length - 10} more`);
  return lines;
}

/** The journey's trace as the trace UI has it (Zipkin's v2 API): spans per service, and what the TrueLayer hops carry. */
export interface TraceFacts {
  services: Map<string, number>;
  /** spans of calls to TrueLayer's Data API, and how many of them carry TrueLayer's X-TL-Correlation-Id */
  truelayerCalls: number;
  withCorrelationId: number;
  /** providers, fetch modes and TrueLayer endpoints named by the fetch spans */
  providers: string[];
  modes: string[];
  endpoints: number;
}

export async function traceFacts(zipkinUrl: string, traceId: string): Promise<TraceFacts> {
  const r = await fetch(`${zipkinUrl}/api/v2/trace/${traceId}`);
  const spans = r.status === 200 ? ((await r.json()) as Array<{ name?: string; localEndpoint?: { serviceName?: string }; tags?: Record<string, string> }>) : [];
  const services = new Map<string, number>();
  const providers = new Set<string>();
  const modes = new Set<string>();
  const endpoints = new Set<string>();
  let truelayerCalls = 0;
  let withCorrelationId = 0;
  for (const span of spans) {
    const name = span.localEndpoint?.serviceName ?? '?';
    services.set(name, (services.get(name) ?? 0) + 1);
    const tags = span.tags ?? {};
    if (span.name?.startsWith('truelayer ') && (tags['url.template'] ?? '').startsWith('/data/')) {
      truelayerCalls += 1;
      if (tags['truelayer.correlation_id']) withCorrelationId += 1;
      if (tags['url.template']) endpoints.add(tags['url.template']);
    }
    if (tags['ais.provider_id']) providers.add(tags['ais.provider_id']);
    if (tags['ais.fetch.mode']) modes.add(tags['ais.fetch.mode']);
  }
  return { services, truelayerCalls, withCorrelationId, providers: [...providers].sort(), modes: [...modes].sort(), endpoints: endpoints.size };
}

/** What the stack's Prometheus shows after the journey: its targets, the funnel by PromQL and its alert rules. */
export interface PrometheusFacts {
  /** Service name → the target's health (`up`, `down`, `unknown`). */
  targets: Map<string, string>;
  /** `sum by (stage) (ais_connect_funnel_total)`. */
  funnel: Map<string, number>;
  /** `sum(ais_truelayer_requests_total)`. */
  truelayerRequests: number;
  rules: number;
  rulesHealthy: number;
  firing: string[];
}

/**
 * Waits (at most `timeoutMs`) until Prometheus has scraped every one of `services` and its funnel query agrees with
 * `expected` (what the services' endpoints answered directly), then reads the facts. A scrape lags by up to one
 * interval (2 s locally), so the first query can show the numbers before the journey.
 */
export async function prometheusFacts(url: string, services: string[], expected: Map<string, number>, timeoutMs: number): Promise<PrometheusFacts> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const targets = new Map((await promTargets(url)).map((t) => [t.job, t.health] as const));
    const funnel = new Map((await promQuery(url, 'sum by (stage) (ais_connect_funnel_total)')).map((s) => [s.labels['stage'] ?? '', s.value] as const));
    const agrees = [...expected].every(([stage, n]) => (funnel.get(stage) ?? 0) === n);
    if ((services.every((s) => targets.get(s) === 'up') && agrees) || Date.now() > deadline) {
      const truelayerRequests = (await promQuery(url, 'sum(ais_truelayer_requests_total)'))[0]?.value ?? 0;
      const rules = await promRules(url);
      return {
        targets,
        funnel,
        truelayerRequests,
        rules: rules.length,
        rulesHealthy: rules.filter((r) => r.health === 'ok').length,
        firing: rules.filter((r) => r.state === 'firing').map((r) => r.name),
      };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
