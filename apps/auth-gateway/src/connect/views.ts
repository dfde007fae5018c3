/** Server-rendered hosted pages. No scripts, no external styles; stable data-testid attributes for browser tests. */
import type { ProviderInfo } from './providers';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export const STYLE = `body{font-family:system-ui,sans-serif;max-width:38rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
a.button,button{display:inline-block;margin:.25rem 0;padding:.6rem 1.1rem;border-radius:.4rem;border:1px solid #444;background:#fff;color:#1b1b1b;text-decoration:none;font-size:1rem;cursor:pointer}
a.primary,button.primary{background:#0b5cff;color:#fff;border-color:#0b5cff}
ul.providers{list-style:none;padding:0}ul.providers li{margin:.3rem 0}
ul.providers a{display:flex;align-items:center;gap:.6rem;padding:.5rem;border:1px solid #ddd;border-radius:.4rem;color:inherit;text-decoration:none}
.logo-gap{display:inline-block;width:32px;flex:none}
form.inline{display:flex;flex-wrap:wrap;align-items:flex-end;gap:.5rem}form.inline label{display:flex;flex-direction:column;gap:.2rem;flex:1 1 12rem}
input[type=search],select{font:inherit;padding:.5rem;border:1px solid #444;border-radius:.4rem;min-height:2.75rem;width:100%;background:#fff;color:#1b1b1b}:focus-visible{outline:3px solid #0b5cff;outline-offset:2px}
.muted{color:#555;font-size:.9rem}.error{color:#b00020}dl dt{font-weight:600;margin-top:.6rem}dl dd{margin-left:0}`;

export function layout(title: string, testId: string, body: string, opts: { refresh?: { seconds: number; url: string }; attrs?: string; extraStyle?: string } = {}): string {
  const refresh = opts.refresh ? `<meta http-equiv="refresh" content="${opts.refresh.seconds};url=${escapeHtml(opts.refresh.url)}">` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">${refresh}
<style>${STYLE}</style>${opts.extraStyle ? `<style>${opts.extraStyle}</style>` : ''}</head>
<body data-testid="${testId}"${opts.attrs ?? ''}><main><h1 id="page-title" data-testid="page-title">${escapeHtml(title)}</h1>
${body}
</main></body></html>`;
}

/** Plain-words description of each TrueLayer scope and why we ask for it. */
export const SCOPE_TEXT: Record<string, { what: string; why: string }> = {
  info: { what: 'Your name, address and contact details held by the bank', why: 'to confirm that the accounts belong to you' },
  accounts: { what: 'Your account names, numbers and sort codes', why: 'to know which accounts to show you' },
  balance: { what: 'The balances of your accounts', why: 'to show you how much money you have' },
  cards: { what: 'Your card details, balances and card transactions', why: 'to include your cards in your overview' },
  transactions: { what: 'Your transactions: incoming and outgoing payments', why: 'to show and categorise your spending and income' },
  direct_debits: { what: 'Your direct debits', why: 'to show your regular payments' },
  standing_orders: { what: 'Your standing orders', why: 'to show your regular payments' },
  offline_access: { what: 'Keep this access while you are not using the app', why: 'so your information stays up to date for the whole consent period' },
};

export interface PickerView {
  token: string;
  productName: string;
  providers: ProviderInfo[];
  countries: string[];
  query: string;
  country: string;
}

export function pickerPage(v: PickerView): string {
  const base = `/connect/${encodeURIComponent(v.token)}`;
  const options = ['', ...v.countries]
    .map((c) => `<option value="${escapeHtml(c)}"${c === v.country ? ' selected' : ''}>${c ? escapeHtml(c.toUpperCase()) : 'All countries'}</option>`)
    .join('');
  const items = v.providers
    .map((p) => {
      const logo = p.logoUrl ? `<img src="${escapeHtml(p.logoUrl)}" alt="" width="32" height="32" data-testid="logo-${escapeHtml(p.providerId)}">` : '<span class="logo-gap" aria-hidden="true"></span>';
      return `<li><a href="${base}/consent?provider_id=${encodeURIComponent(p.providerId)}" id="provider-${escapeHtml(p.providerId)}" data-testid="provider-${escapeHtml(p.providerId)}">${logo}<span>${escapeHtml(p.displayName)}</span><span class="muted">${escapeHtml(p.country.toUpperCase())}</span></a></li>`;
    })
    .join('\n');
  const empty = v.providers.length === 0 ? '<p data-testid="no-providers">No bank matches your search.</p>' : '';
  return layout(
    'Choose your bank',
    'bank-picker',
    `<p>${escapeHtml(v.productName)} uses TrueLayer to connect to your bank. Choose the bank that holds your account.</p>
<form method="get" action="${base}" class="inline" role="search" data-testid="bank-search-form">
<label>Search <input type="search" name="q" value="${escapeHtml(v.query)}" id="bank-search" data-testid="bank-search" autocomplete="off"></label>
<label>Country <select name="country" id="country-filter" data-testid="country-filter">${options}</select></label>
<button type="submit" data-testid="bank-search-submit">Search</button>
</form>
<ul class="providers" id="provider-list" data-testid="provider-list">${items}</ul>${empty}
${cancelForm(v.token)}`,
  );
}

function cancelForm(token: string): string {
  return `<form method="post" action="/connect/${encodeURIComponent(token)}/cancel"><button type="submit" id="connect-cancel" data-testid="connect-cancel">Cancel</button></form>`;
}

export interface ConsentView {
  token: string;
  productName: string;
  provider: ProviderInfo;
  scopes: string[];
  privacyPolicyUrl: string;
  consentDays: number;
}

export function consentPage(v: ConsentView): string {
  const items = v.scopes
    .map((s) => {
      const t = SCOPE_TEXT[s] ?? { what: s, why: 'to provide the service you asked for' };
      return `<dt data-testid="permission-${escapeHtml(s)}">${escapeHtml(t.what)}</dt><dd class="muted">Why: ${escapeHtml(t.why)}.</dd>`;
    })
    .join('');
  return layout(
    'Share your bank data',
    'permission-screen',
    `<p><strong>${escapeHtml(v.productName)}</strong> asks to read the following information from <strong data-testid="consent-provider">${escapeHtml(v.provider.displayName)}</strong>:</p>
<dl data-testid="permission-list">${items}</dl>
<h2>For how long</h2>
<p data-testid="consent-duration">For <strong>${v.consentDays} days</strong>. After that we ask you again; if you do not confirm, access stops.</p>
<h2>Who connects to your bank</h2>
<p data-testid="truelayer-info">TrueLayer connects to your bank on our behalf. TrueLayer is authorised and regulated by the Financial Conduct Authority (FCA) under the Payment Services Regulations 2017 to provide account information services. Your bank login details are never shared with us or with TrueLayer's customers.</p>
<h2>How to stop sharing</h2>
<p data-testid="revoke-info">You can stop sharing at any time in the app (Settings → Connected banks → Disconnect), by contacting us, or through your bank.</p>
<p><a href="${escapeHtml(v.privacyPolicyUrl)}" data-testid="privacy-policy" rel="noopener noreferrer" target="_blank">Privacy policy</a>: how we use and protect your data.</p>
<form method="post" action="/connect/${encodeURIComponent(v.token)}/consent">
<input type="hidden" name="provider_id" value="${escapeHtml(v.provider.providerId)}">
<button type="submit" class="primary" id="consent-continue" data-testid="consent-continue">Agree and continue to ${escapeHtml(v.provider.displayName)}</button>
</form>
<p><a href="/connect/${encodeURIComponent(v.token)}" class="button" data-testid="consent-back">Choose another bank</a></p>
${cancelForm(v.token)}`,
  );
}

export interface ReconfirmView {
  token: string;
  productName: string;
  providerName: string;
  scopes: string[];
  daysLeft: number;
  privacyPolicyUrl: string;
  consentDays: number;
}

/** Our own re-consent page: the user reconfirms what is shared (TrueLayer's extend requires this). */
export function reconfirmPage(v: ReconfirmView): string {
  const items = v.scopes
    .map((s) => {
      const t = SCOPE_TEXT[s] ?? { what: s, why: 'to provide the service you asked for' };
      return `<dt data-testid="permission-${escapeHtml(s)}">${escapeHtml(t.what)}</dt><dd class="muted">Why: ${escapeHtml(t.why)}.</dd>`;
    })
    .join('');
  const left = v.daysLeft > 0 ? `Your current permission ends in <strong data-testid="days-left">${v.daysLeft}</strong> day${v.daysLeft === 1 ? '' : 's'}.` : 'Your current permission has ended.';
  return layout(
    'Keep sharing your bank data',
    'reconfirm-screen',
    `<p>${left} <strong>${escapeHtml(v.productName)}</strong> asks to keep reading this information from <strong data-testid="consent-provider">${escapeHtml(v.providerName)}</strong>:</p>
<dl data-testid="permission-list">${items}</dl>
<p data-testid="consent-duration">If you confirm, sharing continues for another <strong>${v.consentDays} days</strong>.</p>
<p data-testid="truelayer-info">TrueLayer connects to your bank on our behalf. TrueLayer is authorised and regulated by the Financial Conduct Authority (FCA) under the Payment Services Regulations 2017 to provide account information services.</p>
<p data-testid="revoke-info">You can stop sharing at any time in the app (Settings → Connected banks → Disconnect), by contacting us, or through your bank.</p>
<p><a href="${escapeHtml(v.privacyPolicyUrl)}" data-testid="privacy-policy" rel="noopener noreferrer" target="_blank">Privacy policy</a></p>
<form method="post" action="/connect/${encodeURIComponent(v.token)}/reconfirm">
<button type="submit" class="primary" id="reconfirm-continue" data-testid="reconfirm-continue">Confirm and keep sharing</button>
</form>
${cancelForm(v.token)}`,
  );
}

export interface OutcomeView {
  outcome: 'cancelled' | 'failed' | 'rejected' | 'expired';
  title: string;
  message: string;
  returnUrl?: string;
}

/** The end of a journey that did not connect (cancelled, provider error, rejected state, expired link). */
export function outcomePage(v: OutcomeView): string {
  const back = v.returnUrl ? `<p><a class="button primary" href="${escapeHtml(v.returnUrl)}" data-testid="return-to-app">Return to the app</a></p>` : '<p class="muted">You can close this window.</p>';
  return layout(v.title, 'outcome-page', `<p data-testid="outcome-message" class="${v.outcome === 'cancelled' ? '' : 'error'}">${escapeHtml(v.message)}</p>${back}`, {
    attrs: ` data-outcome="${escapeHtml(v.outcome)}"`,
  });
}

export interface BounceView {
  /** The product's universal link / app link (or web URL); undefined when the session has no return URL. */
  appUrl: string | undefined;
  webUrl: string | undefined;
  providerName: string | undefined;
  outcome: 'connected' | 'extended';
  autoRedirectSeconds: number;
}

/** Hosted bounce page: a tap on the universal link / app link opens the app; the web fallback works everywhere. */
export function bouncePage(v: BounceView): string {
  const bank = v.providerName ? ` to ${escapeHtml(v.providerName)}` : '';
  const links = v.appUrl
    ? `<p><a class="button primary" href="${escapeHtml(v.appUrl)}" data-testid="return-to-app">Open the app</a></p>
<p class="muted">App does not open? <a href="${escapeHtml(v.webUrl ?? v.appUrl)}" data-testid="web-fallback">Continue in your browser</a>.</p>`
    : '<p class="muted">You can close this window and return to the app.</p>';
  const message = v.outcome === 'extended' ? `You keep sharing your bank data${bank.replace(' to ', ' from ')} for another 90 days.` : `Your bank account is connected${bank}.`;
  return layout(v.outcome === 'extended' ? 'All set' : 'You are connected', 'bounce-page', `<p data-testid="bounce-message">${message}</p>\n${links}`, {
    attrs: ` data-outcome="${v.outcome}"`,
    ...(v.appUrl && v.autoRedirectSeconds > 0 ? { refresh: { seconds: v.autoRedirectSeconds, url: v.appUrl } } : {}),
  });
}
