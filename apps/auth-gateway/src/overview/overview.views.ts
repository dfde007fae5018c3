/**
 * The connection overview page: server-rendered HTML with inline SVG charts (no scripts, no third-party origin). Every
 * value from the user's data is escaped; the page's own style is a second inline style block allowed by its hash.
 */
import { escapeHtml, layout } from '../connect/views';

export const OVERVIEW_STYLE = `body.overview{max-width:60rem}
section{margin:1.6rem 0}h2{font-size:1.25rem;margin:.2rem 0 .6rem}
nav.sections ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4rem .9rem}
ul.rows{list-style:none;padding:0;margin:0}ul.rows li{display:flex;flex-wrap:wrap;justify-content:space-between;gap:.2rem .8rem;padding:.55rem 0;border-bottom:1px solid #ddd}
ul.rows .main{flex:1 1 12rem;min-width:0;overflow-wrap:anywhere}.amount{font-variant-numeric:tabular-nums;white-space:nowrap;font-weight:600}
.out{color:#1b1b1b}.in{color:#0a6b2d}
.banner{border:2px solid #8a5300;background:#fff6e5;border-radius:.4rem;padding:.7rem 1rem;margin:.8rem 0}
.notice{border:2px solid #0a6b2d;background:#eefaf1;border-radius:.4rem;padding:.7rem 1rem;margin:.8rem 0}
button.danger{border-color:#b00020;color:#b00020}
svg.chart{width:100%;height:auto;display:block;margin:.4rem 0}svg.bars{max-width:30rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:1rem}
figure{margin:0}figcaption{font-weight:600}`;

export interface OverviewAccount {
  accountId: string;
  kind: 'account' | 'card';
  name: string;
  accountType: string;
  numberLast4: string;
  currency: string;
  current: string;
  available: string;
  asOf: Date | undefined;
  /** Balance points in the months up to the chosen one, oldest first. */
  history: Array<{ at: Date; amount: number }>;
}

export interface OverviewCategory {
  primary: string;
  total: number;
  currency: string;
  count: number;
}

export interface OverviewSeries {
  merchant: string;
  cadence: string;
  amount: string;
  currency: string;
  direction: string;
  nextExpected: Date | undefined;
}

export interface OverviewTransaction {
  date: Date | undefined;
  description: string;
  category: string;
  amount: string;
  currency: string;
  status: string;
}

export interface OverviewConnection {
  connectionId: string;
  providerName: string;
  status: string;
  daysLeft: number;
  expiresAt: Date | undefined;
  reconsentDue: boolean;
}

export interface OverviewView {
  token: string;
  productName: string;
  csrf: string;
  linkExpiresAt: Date;
  /** Whether the read API answered (false: no data yet, or reconciliation not configured). */
  hasData: boolean;
  accounts: OverviewAccount[];
  months: string[];
  month: string;
  /** How many months the balance charts cover (up to and including `month`). */
  balanceMonths: number;
  spending: OverviewCategory[];
  recurring: OverviewSeries[];
  query: string;
  transactions: OverviewTransaction[];
  connections: OverviewConnection[];
  notice?: string | undefined;
}

/** Days before the consent ends from which the re-consent banner shows. */
export const RECONSENT_BANNER_DAYS = 14;

const GB = 'en-GB';

export function money(amount: string | number, currency: string): string {
  const n = typeof amount === 'number' ? amount : Number(amount);
  if (!Number.isFinite(n)) return `${String(amount)} ${currency}`;
  try {
    return new Intl.NumberFormat(GB, { style: 'currency', currency }).format(n);
  } catch {
    return `${n.toFixed(2)} ${currency}`;
  }
}

export function day(d: Date | undefined): string {
  return d ? new Intl.DateTimeFormat(GB, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }).format(d) : '—';
}

export function monthLabel(month: string): string {
  const d = new Date(`${month}-01T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? month : new Intl.DateTimeFormat(GB, { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(d);
}

/** FOOD_AND_DRINK → Food and drink. */
export function categoryLabel(c: string): string {
  if (!c) return 'Uncategorised';
  const s = c.toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const n2 = (v: number) => (Math.round(v * 10) / 10).toString();

/** A line chart of one account's balance in the month (role img; its description names the first, last, low and high). */
export function balanceChart(id: string, a: OverviewAccount): string {
  const pts = a.history;
  if (pts.length < 2) return `<p class="muted" data-testid="balance-chart-empty">Not enough balance data for these months.</p>`;
  const W = 320;
  const H = 140;
  const left = 4;
  const top = 14;
  const bottom = H - 18;
  const t0 = pts[0]!.at.getTime();
  const t1 = pts[pts.length - 1]!.at.getTime();
  const values = pts.map((p) => p.amount);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  const x = (t: number) => left + ((t - t0) / (t1 - t0 || 1)) * (W - 2 * left);
  const y = (v: number) => bottom - ((v - lo) / span) * (bottom - top);
  const line = pts.map((p) => `${n2(x(p.at.getTime()))},${n2(y(p.amount))}`).join(' ');
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  const desc = `From ${money(first.amount, a.currency)} on ${day(first.at)} to ${money(last.amount, a.currency)} on ${day(last.at)}; lowest ${money(lo, a.currency)}, highest ${money(hi, a.currency)}.`;
  const zero = lo < 0 && hi > 0 ? `<line x1="${left}" x2="${W - left}" y1="${n2(y(0))}" y2="${n2(y(0))}" stroke="#8a8a8a" stroke-dasharray="3 3"/>` : '';
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-t ${id}-d" data-testid="balance-chart" data-points="${pts.length}">
<title id="${id}-t">Balance of ${escapeHtml(a.name)}</title><desc id="${id}-d">${escapeHtml(desc)}</desc>
<line x1="${left}" x2="${W - left}" y1="${bottom}" y2="${bottom}" stroke="#767676"/>${zero}
<polyline points="${line}" fill="none" stroke="#0b5cff" stroke-width="2" stroke-linejoin="round"/>
<text x="${left}" y="10" font-size="10" fill="#1b1b1b">${escapeHtml(money(hi, a.currency))}</text>
<text x="${left}" y="${H - 4}" font-size="10" fill="#1b1b1b">${escapeHtml(day(first.at))}</text>
<text x="${W - left}" y="${H - 4}" font-size="10" fill="#1b1b1b" text-anchor="end">${escapeHtml(day(last.at))}</text>
</svg>`;
}

/** Horizontal bars, largest first, scaled per currency; role img with every total in its description. */
export function spendingChart(month: string, items: OverviewCategory[]): string {
  if (items.length === 0) return `<p data-testid="spending-empty">No spending in ${escapeHtml(monthLabel(month))}.</p>`;
  const W = 320;
  const row = 34;
  const H = items.length * row + 4;
  const max = new Map<string, number>();
  for (const c of items) max.set(c.currency, Math.max(max.get(c.currency) ?? 0, c.total));
  const bars = items
    .map((c, i) => {
      const w = Math.max(2, (c.total / (max.get(c.currency) || 1)) * (W - 8));
      const y0 = i * row;
      return `<text x="0" y="${y0 + 11}" font-size="11" fill="#1b1b1b">${escapeHtml(categoryLabel(c.primary))}</text><text x="${W}" y="${y0 + 11}" font-size="11" fill="#1b1b1b" text-anchor="end">${escapeHtml(money(c.total, c.currency))}</text><rect x="0" y="${y0 + 15}" width="${n2(w)}" height="12" rx="2" fill="#0b5cff"/>`;
    })
    .join('');
  const desc = items.map((c) => `${categoryLabel(c.primary)}: ${money(c.total, c.currency)} (${c.count} payment${c.count === 1 ? '' : 's'})`).join('; ');
  return `<svg class="chart bars" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="spending-t spending-d" data-testid="spending-chart">
<title id="spending-t">Spending by category in ${escapeHtml(monthLabel(month))}</title><desc id="spending-d">${escapeHtml(desc)}</desc>${bars}</svg>
<ul class="rows" data-testid="spending-list">${items
    .map((c) => `<li data-testid="spending-row" data-category="${escapeHtml(c.primary)}"><span class="main">${escapeHtml(categoryLabel(c.primary))} <span class="muted">${c.count} payment${c.count === 1 ? '' : 's'}</span></span><span class="amount">${escapeHtml(money(c.total, c.currency))}</span></li>`)
    .join('')}</ul>`;
}

function connectionsSection(v: OverviewView, base: string): string {
  const shown = v.connections.filter((c) => c.status !== 'revoked');
  if (shown.length === 0) return '<p data-testid="no-connections">No bank is connected.</p>';
  const banners = shown
    .map((c) => {
      if (c.status === 'reauth_required' || c.status === 'expired')
        return `<div class="banner" role="status" data-testid="reconsent-banner"><strong>Sharing from ${escapeHtml(c.providerName)} has stopped.</strong> Open ${escapeHtml(v.productName)} to connect again.</div>`;
      if (c.reconsentDue || c.daysLeft <= RECONSENT_BANNER_DAYS)
        return `<div class="banner" role="status" data-testid="reconsent-banner"><strong>Your permission for ${escapeHtml(c.providerName)} ends in ${c.daysLeft} day${c.daysLeft === 1 ? '' : 's'}.</strong> Open ${escapeHtml(v.productName)} to keep sharing.</div>`;
      return '';
    })
    .join('');
  const rows = shown
    .map((c) => {
      const status = c.status === 'active' ? `Active, <strong data-testid="consent-days-left">${c.daysLeft}</strong> day${c.daysLeft === 1 ? '' : 's'} left (until ${escapeHtml(day(c.expiresAt))})` : escapeHtml(categoryLabel(c.status));
      return `<li data-testid="connection" data-connection-id="${escapeHtml(c.connectionId)}"><span class="main"><strong>${escapeHtml(c.providerName)}</strong><br><span class="muted">${status}</span></span>
<form method="post" action="${base}/connections/${encodeURIComponent(c.connectionId)}/disconnect"><input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}"><button type="submit" class="danger" data-testid="disconnect">Disconnect ${escapeHtml(c.providerName)}</button></form></li>`;
    })
    .join('');
  return `${banners}<ul class="rows" data-testid="connections">${rows}</ul>
<p class="muted">Disconnecting stops ${escapeHtml(v.productName)} reading new data from that bank straight away.</p>`;
}

function accountRows(list: OverviewAccount[], testId: string): string {
  return `<ul class="rows" data-testid="${testId}">${list
    .map((a) => {
      const detail = [categoryLabel(a.accountType), a.numberLast4 ? `ending ${a.numberLast4}` : ''].filter(Boolean).join(', ');
      const available = a.available ? `<br><span class="muted">Available ${escapeHtml(money(a.available, a.currency))}</span>` : '';
      return `<li data-testid="account" data-account-id="${escapeHtml(a.accountId)}"><span class="main"><strong>${escapeHtml(a.name)}</strong><br><span class="muted">${escapeHtml(detail)}</span></span><span class="amount" data-testid="account-balance">${escapeHtml(money(a.current, a.currency))}${available}</span></li>`;
    })
    .join('')}</ul>`;
}

export function overviewPage(v: OverviewView): string {
  const base = `/overview/${encodeURIComponent(v.token)}`;
  const accounts = v.accounts.filter((a) => a.kind !== 'card');
  const cards = v.accounts.filter((a) => a.kind === 'card');
  const monthOptions = (v.months.includes(v.month) || !v.month ? v.months : [v.month, ...v.months])
    .map((m) => `<option value="${escapeHtml(m)}"${m === v.month ? ' selected' : ''}>${escapeHtml(monthLabel(m))}</option>`)
    .join('');
  const keepQuery = v.query ? `<input type="hidden" name="q" value="${escapeHtml(v.query)}">` : '';
  const keepMonth = v.month ? `<input type="hidden" name="month" value="${escapeHtml(v.month)}">` : '';
  const notice = v.notice ? `<div class="notice" role="status" data-testid="overview-notice">${escapeHtml(v.notice)}</div>` : '';
  const noData = v.hasData ? '' : '<p data-testid="no-data">Your bank data is not available yet. Please try again in a few minutes.</p>';
  const charts = v.accounts
    .map((a, i) => `<figure data-testid="balance-figure"><figcaption>${escapeHtml(a.name)}</figcaption>${balanceChart(`bal${i}`, a)}</figure>`)
    .join('');
  const recurring = v.recurring.length
    ? `<ul class="rows" data-testid="recurring-list">${v.recurring
        .map(
          (r) =>
            `<li data-testid="recurring-row"><span class="main"><strong>${escapeHtml(r.merchant)}</strong><br><span class="muted">${escapeHtml(categoryLabel(r.cadence))}, next expected <span data-testid="recurring-next">${escapeHtml(day(r.nextExpected))}</span></span></span><span class="amount ${r.direction === 'inflow' ? 'in' : 'out'}">${escapeHtml(money(r.amount, r.currency))}</span></li>`,
        )
        .join('')}</ul>`
    : '<p data-testid="recurring-empty">No recurring payments found.</p>';
  const txs = v.transactions.length
    ? `<ul class="rows" data-testid="transaction-list">${v.transactions
        .map((t) => {
          const n = Number(t.amount);
          return `<li data-testid="transaction-row"><span class="main">${escapeHtml(t.description)}<br><span class="muted">${escapeHtml(day(t.date))} · ${escapeHtml(categoryLabel(t.category))}${t.status === 'pending' ? ' · pending' : ''}</span></span><span class="amount ${n > 0 ? 'in' : 'out'}">${escapeHtml(money(t.amount, t.currency))}</span></li>`;
        })
        .join('')}</ul>`
    : `<p data-testid="transactions-empty">${v.query ? `No transactions match “${escapeHtml(v.query)}”.` : 'No transactions yet.'}</p>`;
  const body = `<p>Your bank accounts connected to ${escapeHtml(v.productName)}. This page works until ${escapeHtml(new Intl.DateTimeFormat(GB, { hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' }).format(v.linkExpiresAt))}; then open it again from the app.</p>
${notice}${noData}
<nav class="sections" aria-label="Sections"><ul><li><a href="#consent">Connected banks</a></li><li><a href="#accounts">Accounts</a></li><li><a href="#spending">Spending</a></li><li><a href="#recurring">Recurring</a></li><li><a href="#transactions">Transactions</a></li></ul></nav>
<section id="consent" aria-labelledby="consent-h" data-testid="consent-section"><h2 id="consent-h">Connected banks</h2>${connectionsSection(v, base)}</section>
<section id="accounts" aria-labelledby="accounts-h" data-testid="accounts-section"><h2 id="accounts-h">Accounts</h2>${accounts.length ? accountRows(accounts, 'account-list') : '<p>No accounts.</p>'}
${cards.length ? `<h3>Cards</h3>${accountRows(cards, 'card-list')}` : ''}</section>
<section id="spending" aria-labelledby="spending-h" data-testid="spending-section"><h2 id="spending-h">Spending in ${escapeHtml(v.month ? monthLabel(v.month) : 'this month')}</h2>
<form method="get" action="${base}" class="inline" data-testid="month-form"><label for="month">Month<select id="month" name="month" data-testid="month-select">${monthOptions}</select></label>${keepQuery}<button type="submit" data-testid="month-submit">Show month</button></form>
${spendingChart(v.month, v.spending)}
<h3>Balances over ${v.balanceMonths} months to ${escapeHtml(v.month ? monthLabel(v.month) : 'this month')}</h3><div class="charts">${charts || '<p>No accounts.</p>'}</div></section>
<section id="recurring" aria-labelledby="recurring-h" data-testid="recurring-section"><h2 id="recurring-h">Recurring payments</h2>${recurring}</section>
<section id="transactions" aria-labelledby="transactions-h" data-testid="transactions-section"><h2 id="transactions-h">Recent transactions</h2>
<form method="get" action="${base}#transactions" class="inline" role="search" data-testid="transaction-search-form"><label for="q">Search transactions<input type="search" id="q" name="q" value="${escapeHtml(v.query)}" maxlength="100" autocomplete="off" data-testid="transaction-search"></label>${keepMonth}<button type="submit" data-testid="transaction-search-submit">Search</button></form>
${txs}</section>`;
  return layout('Your connected accounts', 'overview-page', body, { extraStyle: OVERVIEW_STYLE, attrs: ' class="overview"' });
}
