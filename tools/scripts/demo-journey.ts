/*
 * The main job's scripted user: connects a simulator user through our own hosted bank picker and permission screen
 * (the real redirects, with the page's browser-binding cookie), waits for the pipeline to take that user's history
 * all the way to the store, and reads the summary back through the public read API, as a product backend would.
 * Every request of the journey carries one W3C trace context, so the journey is one trace in the trace UI.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { TOPICS } from '@ais/contracts-events';

type Json = Record<string, unknown>;

/** The journey's trace: one trace id; each request gets its own parent span id, so the services' spans share it. */
export class JourneyTrace {
  readonly traceId = randomBytes(16).toString('hex');
  header(): Record<string, string> {
    return { traceparent: `00-${this.traceId}-${randomBytes(8).toString('hex')}-01` };
  }
}

/** A one-site cookie jar: what a browser would send back to the gateway (name=value, path-scoped). */
class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = (pair ?? '').indexOf('=');
      if (eq <= 0) continue;
      const path = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      this.cookies.set(pair!.slice(0, eq).trim(), { value: pair!.slice(eq + 1).trim(), path });
    }
  }
  header(pathname: string): Record<string, string> {
    const sent = [...this.cookies].filter(([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`));
    return sent.length > 0 ? { cookie: sent.map(([k, c]) => `${k}=${c.value}`).join('; ') } : {};
  }
}

export interface JourneyOptions {
  gatewayUrl: string;
  sandboxUrl: string;
  api: (path: string, init?: RequestInit) => Promise<Response>;
  userId: string;
  providerId: string;
  returnUrl: string;
  trace: JourneyTrace;
}

/**
 * Connects `userId` through the hosted picker: connect session (API) → picker page → permission screen → consent
 * form → TrueLayer's auth dialog (the simulator's login, done headless) → our callback → bounce → the product's
 * return URL. Returns the return URL's query (status, connection id) and fails loudly at any unexpected step.
 */
export async function connectThroughPicker(o: JourneyOptions): Promise<{ connectionId: string; steps: string[] }> {
  const jar = new CookieJar();
  const steps: string[] = [];
  const browse = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const u = new URL(url);
    const res = await fetch(u, { ...init, redirect: 'manual', headers: { ...o.trace.header(), ...jar.header(u.pathname), ...(init.headers ?? {}) } });
    jar.take(res);
    steps.push(`${init.method ?? 'GET'} ${u.pathname.replace(/\/connect\/[^/]+/, '/connect/…').replace(/\/bounce\/.+/, '/bounce/…')} ${res.status}`);
    return res;
  };
  const expect = async (res: Response, status: number, what: string): Promise<Response> => {
    if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} (expected ${status}): ${(await res.text()).slice(0, 300)}`);
    return res;
  };

  const created = await expect(
    await o.api(`/v1/users/${encodeURIComponent(o.userId)}/connect-sessions`, { method: 'POST', headers: o.trace.header(), body: JSON.stringify({ dialog: 'hosted', return_url: o.returnUrl }) }),
    201,
    'connect session',
  );
  const session = (await created.json()) as { url: string };
  steps.push('POST /v1/users/…/connect-sessions 201');

  const picker = await (await expect(await browse(session.url), 200, 'bank picker')).text();
  const choice = new RegExp(`href="([^"]*/consent\\?provider_id=${o.providerId})"`).exec(picker);
  if (!choice) throw new Error(`the bank picker does not offer ${o.providerId}`);
  const consentUrl = new URL(choice[1]!.replace(/&amp;/g, '&'), session.url).toString();
  const consent = await (await expect(await browse(consentUrl), 200, 'permission screen')).text();
  const action = /<form method="post" action="([^"]*\/consent)"/.exec(consent);
  if (!action) throw new Error('the permission screen has no consent form');
  const accepted = await expect(
    await browse(new URL(action[1]!, session.url).toString(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ provider_id: o.providerId }).toString() }),
    303,
    'consent form',
  );
  const authUrl = accepted.headers.get('location') ?? '';
  if (!authUrl.startsWith(o.sandboxUrl)) throw new Error(`the consent form did not send the browser to TrueLayer's dialog (${new URL(authUrl, o.gatewayUrl).origin})`);

  // TrueLayer's dialog: the simulator's login and consent without HTML (its admin shortcut), then back to us.
  const dialog = await expect(
    await fetch(`${o.sandboxUrl}/__admin/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth_url: authUrl, username: 'john', password: 'doe' }) }),
    200,
    "the simulator's auth dialog",
  );
  steps.push('bank login (simulator) 200');
  const { redirect_url: redirectUrl } = (await dialog.json()) as { redirect_url: string };
  const callback = await expect(await browse(redirectUrl), 303, 'callback');
  const bounce = await (await expect(await browse(new URL(callback.headers.get('location') ?? '', o.gatewayUrl).toString()), 200, 'bounce page')).text();
  const link = /href="([^"]*)" data-testid="return-to-app"/.exec(bounce);
  if (!link) throw new Error('the bounce page has no link back to the app');
  const back = new URL(link[1]!.replace(/&amp;/g, '&'));
  const connectionId = back.searchParams.get('connection_id');
  if (back.searchParams.get('status') !== 'connected' || !connectionId) throw new Error(`the product's return URL did not report a connection: status=${back.searchParams.get('status') ?? ''} error=${back.searchParams.get('error') ?? ''}`);
  return { connectionId, steps };
}

/**
 * Waits until the pipeline has taken everything published so far all the way through: enrichment's group has
 * committed every offset of the raw topic, then reconciliation's group every offset of the enriched topic (in this
 * order, as enrichment's output is reconciliation's input). Exact, unlike waiting for counts to settle.
 */
export async function waitForPipelineDrained(brokers: string, timeoutMs: number): Promise<{ raw: number; enriched: number }> {
  const kafka = new Kafka({ clientId: 'start-local', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    const drained = async (topic: string, groupId: string): Promise<number> => {
      for (;;) {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
        const lag = ends.reduce((n, e) => n + Math.max(0, Number(e.high) - Math.max(0, at.get(e.partition) ?? 0)), 0);
        if (lag === 0) return ends.reduce((n, e) => n + Number(e.high), 0);
        if (Date.now() > deadline) throw new Error(`the pipeline did not drain within ${timeoutMs / 1000} s: ${groupId} is ${lag} messages behind on ${topic}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const raw = await drained(TOPICS.raw, 'enrichment');
    const enriched = await drained(TOPICS.enriched, 'reconciliation');
    return { raw, enriched };
  } finally {
    await admin.disconnect().catch(() => undefined);
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
