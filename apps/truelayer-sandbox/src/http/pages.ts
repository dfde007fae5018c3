/** Server-rendered HTML for the auth dialog. Stable ids and data-testid attributes for browser tests. */
import { grantedScopes, type AuthSession } from '../domain/state';
import type { Provider } from '../domain/providers';
import { DOCUMENTED_USERS } from '../domain/users';
import { escapeHtml } from './common';

const SCOPE_TEXT: Record<string, string> = {
  info: 'Full name and contact details',
  accounts: 'Account details',
  balance: 'Balances',
  cards: 'Card details',
  transactions: 'Transactions',
  direct_debits: 'Direct debits',
  standing_orders: 'Standing orders',
  offline_access: 'Access for 90 days without you being present',
};

function layout(title: string, body: string, testId: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · TrueLayer sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}button{margin:.25rem 0;padding:.5rem 1rem}
.provider{display:flex;align-items:center;gap:.5rem;width:100%}.error{color:#b00020}table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;padding:.2rem .4rem}</style>
</head><body data-testid="${testId}"><h1 id="page-title">${escapeHtml(title)}</h1>
${body}
</body></html>`;
}

function cancelForm(session: AuthSession): string {
  return `<form method="post" action="/auth-dialog/${escapeHtml(session.id)}/cancel"><button type="submit" id="cancel" data-testid="cancel">Cancel</button></form>`;
}

export function providerPage(session: AuthSession, providers: Provider[]): string {
  const items = providers
    .map(
      (p) => `<li><form method="post" action="/auth-dialog/${escapeHtml(session.id)}/provider">
<input type="hidden" name="provider_id" value="${escapeHtml(p.provider_id)}">
<button class="provider" type="submit" id="provider-${escapeHtml(p.provider_id)}" data-testid="provider-${escapeHtml(p.provider_id)}"><img src="/logos/${escapeHtml(p.provider_id)}.svg" alt="" width="24" height="24">${escapeHtml(p.display_name)}</button></form></li>`,
    )
    .join('\n');
  return layout('Select your bank', `<ul id="provider-list" data-testid="provider-list">${items}</ul>${cancelForm(session)}`, 'provider-selection');
}

/** The consent page lists what the user will really share: the requested scopes this provider supports (the grant). */
export function consentPage(session: AuthSession, provider: Provider, clientId: string): string {
  const scopes = grantedScopes(session.scopes, provider).map((s) => `<li data-testid="scope-${escapeHtml(s)}">${escapeHtml(SCOPE_TEXT[s] ?? s)}</li>`).join('');
  return layout(
    'Share your data',
    `<p id="consent-text"><strong>${escapeHtml(clientId)}</strong> asks to access the following data from <strong id="consent-provider">${escapeHtml(provider.display_name)}</strong>:</p>
<ul id="consent-scopes">${scopes}</ul>
<form method="post" action="/auth-dialog/${escapeHtml(session.id)}/consent"><button type="submit" id="consent-allow" data-testid="consent-allow">Allow</button></form>
${cancelForm(session)}`,
    'consent',
  );
}

export function loginPage(session: AuthSession, provider: Provider, error?: string): string {
  const users = DOCUMENTED_USERS.map((u) => `<tr><td>${escapeHtml(u.username)}</td><td>${escapeHtml(u.password)}</td><td>${escapeHtml(u.behaviour)}</td></tr>`).join('');
  return layout(
    `${provider.display_name} (mock bank) login`,
    `${error ? `<p class="error" id="login-error" data-testid="login-error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/auth-dialog/${escapeHtml(session.id)}/login" id="login-form">
<label>Username <input name="username" id="username" data-testid="username" autocomplete="off"></label><br>
<label>Password <input name="password" id="password" data-testid="password" type="password"></label><br>
<button type="submit" id="login-submit" data-testid="login-submit">Log in</button>
</form>
${cancelForm(session)}
<details><summary>Sandbox users</summary><table id="sandbox-users"><tr><th>Username</th><th>Password</th><th>Behaviour</th></tr>${users}</table></details>`,
    'bank-login',
  );
}

export function errorPage(status: number, message: string): string {
  return layout('Something went wrong', `<p id="error-message" data-testid="error-message">${escapeHtml(message)}</p><p>HTTP ${status}</p>`, 'error-page');
}

export function formPostPage(redirectUri: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Redirecting…</title></head>
<body data-testid="form-post" onload="document.forms[0].submit()">
<form method="post" action="${escapeHtml(redirectUri)}" id="form-post">${inputs}<noscript><button type="submit">Continue</button></noscript></form>
</body></html>`;
}
