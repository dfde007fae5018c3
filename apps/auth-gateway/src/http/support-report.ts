/**
 * data-fetcher's support report of one connection, for operators: JSON (snake_case, ISO timestamps) and a
 * self-contained HTML page (no scripts, no external resources; every value escaped).
 */
import type { fetcherV1 } from '@ais/contracts-proto-ts';
import { escapeHtml } from '../connect/views';

const iso = (d: Date | undefined): string | null => d?.toISOString() ?? null;

function entryJson(e: fetcherV1.JournalEntry): Record<string, unknown> {
  return {
    at: iso(e.at),
    endpoint: e.endpoint,
    account_id: e.accountId || null,
    window_from: iso(e.windowFrom),
    window_to: iso(e.windowTo),
    http_status: e.httpStatus,
    error_code: e.errorCode || null,
    error_description: e.errorDescription || null,
    correlation_id: e.correlationId || null,
    duration_ms: e.durationMs,
    attended: e.attended,
    trace_id: e.traceId || null,
    mode: e.mode,
    task_id: e.taskId || null,
    items: e.items,
    action: e.action || null,
    due_at: iso(e.dueAt),
  };
}

export function supportReportJson(r: fetcherV1.GetSupportReportResponse): Record<string, unknown> {
  return {
    connection_id: r.connectionId,
    user_id: r.userId,
    client_id: r.clientId,
    provider_id: r.providerId,
    credentials_id: r.credentialsId,
    status: r.status,
    backfill: r.backfill,
    backfill_note: r.backfillNote || null,
    next_refresh_at: iso(r.nextRefreshAt),
    circuit: r.circuit,
    unsupported: r.unsupported,
    authorized_at: iso(r.authorizedAt),
    generated_at: iso(r.generatedAt),
    budget: r.budget.map((b) => ({ endpoint: b.endpoint, resource_id: b.resourceId || null, used: b.used, left: b.left, next_free_at: iso(b.nextFreeAt) })),
    last_success: r.lastSuccess.map((s) => ({ kind: s.kind, account_id: s.accountId || null, at: iso(s.at), synced_to: iso(s.syncedTo) })),
    errors: r.errors.map(entryJson),
    timeline: r.timeline.map(entryJson),
  };
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}th,td{border:1px solid #ccc;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}code{font-family:ui-monospace,monospace}.corr{font-family:ui-monospace,monospace;font-weight:700;background:#fff3c4;padding:0 .2rem}
.err{color:#b00020}.muted{color:#555}.note{border-left:4px solid #b00020;padding:.4rem .8rem;background:#fff5f5}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}`;

const text = (v: string | number | boolean | null | undefined): string => (v === null || v === undefined || v === '' ? '<span class="muted">–</span>' : escapeHtml(String(v)));
const time = (d: Date | undefined): string => text(iso(d));
const corr = (id: string): string => (id ? `<span class="corr" data-testid="correlation-id">${escapeHtml(id)}</span>` : text(''));

function table(testId: string, head: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="muted" data-testid="${testId}-empty">${escapeHtml(empty)}</p>`;
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table data-testid="${testId}"><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

const windowOf = (e: fetcherV1.JournalEntry): string => (e.windowFrom || e.windowTo ? `${time(e.windowFrom)} → ${time(e.windowTo)}` : text(''));

/** The operator's page: summary, errors (correlation ids first), budget, last successes, full timeline. */
export function supportReportPage(r: fetcherV1.GetSupportReportResponse): string {
  const summary: Array<[string, string]> = [
    ['Connection', text(r.connectionId)],
    ['User', text(r.userId)],
    ['API client', text(r.clientId)],
    ['Provider', text(r.providerId)],
    ['TrueLayer credentials id', text(r.credentialsId)],
    ['Status', text(r.status)],
    ['Authorized at', time(r.authorizedAt)],
    ['Backfill', `${text(r.backfill)}${r.backfillNote ? ` <span class="muted">(${escapeHtml(r.backfillNote)})</span>` : ''}`],
    ['Next scheduled refresh', time(r.nextRefreshAt)],
    ['Provider circuit (this instance)', text(r.circuit)],
    ['Not supported by the provider', text(r.unsupported.join(', '))],
    ['Report generated at', time(r.generatedAt)],
  ];
  const errors = table(
    'errors',
    ['Correlation id (X-TL-Correlation-Id)', 'At', 'Endpoint', 'Account', 'HTTP', 'Error', 'Description', 'Action', 'Mode', 'Trace id'],
    r.errors.map((e) => [corr(e.correlationId), time(e.at), text(e.endpoint), text(e.accountId), text(e.httpStatus || 'no answer'), `<span class="err">${text(e.errorCode)}</span>`, text(e.errorDescription), text(e.action), text(e.mode), text(e.traceId)]),
    'No errors recorded.',
  );
  const budget = table(
    'budget',
    ['Endpoint', 'Resource', 'Used', 'Left', 'Next free slot'],
    r.budget.map((b) => [text(b.endpoint), text(b.resourceId), text(b.used), text(b.left), b.nextFreeAt ? time(b.nextFreeAt) : 'free now']),
    'No unattended calls in the current window.',
  );
  const last = table(
    'last-success',
    ['Kind', 'Account', 'Last success', 'Transactions synced to'],
    r.lastSuccess.map((s) => [text(s.kind), text(s.accountId), time(s.at), time(s.syncedTo)]),
    'No successful read yet.',
  );
  const timeline = table(
    'timeline',
    ['At', 'Mode', 'Endpoint', 'Account', 'Window', 'HTTP', 'Error', 'Correlation id', 'ms', 'User present', 'Task', 'Items', 'Action', 'Due', 'Trace id'],
    r.timeline.map((e) => [
      time(e.at),
      text(e.mode),
      text(e.endpoint),
      text(e.accountId),
      windowOf(e),
      text(e.httpStatus || 'no answer'),
      e.errorCode ? `<span class="err">${escapeHtml(e.errorCode)}</span>` : text(''),
      corr(e.correlationId),
      text(e.durationMs),
      e.attended ? 'yes' : 'no',
      text(e.taskId),
      text(e.items),
      text(e.action),
      time(e.dueAt),
      text(e.traceId),
    ]),
    'No TrueLayer calls recorded.',
  );
  const title = `Support report: connection ${r.connectionId}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<style>${STYLE}</style></head>
<body data-testid="support-report"><main>
<h1 data-testid="page-title">${escapeHtml(title)}</h1>
<section data-testid="summary"><h2>Connection</h2><dl>${summary.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${v}</dd>`).join('')}</dl></section>
<section data-testid="errors-section"><h2>Errors (${r.errors.length})</h2>
<p class="note" data-testid="support-hint">When you contact TrueLayer support about this connection, quote the <strong>correlation ids</strong> below (TrueLayer's X-TL-Correlation-Id) with the time of each call: they let TrueLayer find the exact requests.</p>
${errors}</section>
<section><h2>Unattended budget (per endpoint, rolling window)</h2>${budget}</section>
<section><h2>Last success per data kind</h2>${last}</section>
<section><h2>Timeline (newest first, ${r.timeline.length} calls)</h2>${timeline}</section>
</main></body></html>`;
}
