/**
 * The API reference page of a real auth-gateway process in Chromium (playwright-core): GET /docs renders the
 * OpenAPI document with Swagger UI served from the gateway itself. The page lists every operation of the document;
 * an opened operation shows its example response; and nothing breaks the page's CSP or leaves the gateway's
 * origin: no CSP violation (reported by the page and by Chromium's console), no failed request, no request to
 * another origin. Screenshots go to test-artifacts/api-docs/.
 *
 * Needs /usr/bin/chromium (infra/install-browser.sh).
 */
import { freePort, startService, type ServiceProcess } from '@ais/testing';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { stackEnv, uniqueSuffix } from './stack-env';

jest.setTimeout(180_000);

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = resolve(__dirname, '..', '..', 'test-artifacts', 'api-docs');

interface Watch {
  requests: string[];
  failed: string[];
  consoleErrors: string[];
  violations: string[];
}

describe('API reference page (/docs) in Chromium', () => {
  const ns = uniqueSuffix();
  const infra = stackEnv();
  let gateway: ServiceProcess;
  let browser: Browser;
  let base: string;
  let operations: { method: string; path: string; operationId: string }[] = [];

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gateway = await startService('auth-gateway', {
      ...infra,
      LOG_LEVEL: 'info',
      KAFKA_TOPIC_PREFIX: `docs${ns}`,
      MONGODB_DB: `gw_docs_${ns}`,
      HTTP_PORT: String(port),
      PUBLIC_BASE_URL: base,
      GATEWAY_KEYS_VAULT_PATH: `ais/auth-gateway-${ns}`,
      TOKEN_VAULT_ADDR: '127.0.0.1:1',
      DATA_FETCHER_ADDR: '127.0.0.1:1',
      TRUELAYER_CLIENT_ID: 'docs-test',
      OTEL_TRACES_EXPORTER: 'none',
    });
    const doc = (await (await fetch(`${base}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { operationId: string }>> };
    operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method, path, operationId: op.operationId })));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await gateway?.stop();
  });

  /** A page that records every request, failure, console error and CSP violation. */
  const watched = async (width: number, height: number): Promise<{ page: Page; watch: Watch }> => {
    const page = await browser.newPage({ viewport: { width, height } });
    const watch: Watch = { requests: [], failed: [], consoleErrors: [], violations: [] };
    page.on('request', (r) => watch.requests.push(r.url()));
    page.on('requestfailed', (r) => watch.failed.push(`${r.url()}: ${r.failure()?.errorText ?? ''}`));
    page.on('console', (m) => (m.type() === 'error' ? watch.consoleErrors.push(m.text()) : undefined));
    await page.exposeFunction('__cspViolation', (text: string) => void watch.violations.push(text));
    // injected by the browser, outside the page's CSP: the page's own scripts are the ones under test
    await page.addInitScript({ content: "document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample));" });
    return { page, watch };
  };

  it('serves the page with a CSP that names no other origin', async () => {
    const res = await fetch(`${base}/docs`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:|\*/);
    expect(await res.text()).not.toMatch(/<script>|<script [^>]*>[^<]/); // no inline script
  });

  it('lists every operation of the document, shows an example, and stays on our origin without CSP violations', async () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    const { page, watch } = await watched(1280, 800);
    await page.goto(`${base}/docs`);
    await page.waitForSelector('.opblock', { timeout: 30_000 });
    await page.waitForFunction(`document.querySelectorAll('.opblock').length >= ${operations.length}`, undefined, { timeout: 30_000 });
    const listed = await page.$$eval('.opblock', (els) => els.map((e) => `${e.querySelector('.opblock-summary-method')?.textContent?.toLowerCase()} ${e.querySelector('.opblock-summary-path')?.getAttribute('data-path')}`));
    expect(listed.sort()).toEqual(operations.map((o) => `${o.method} ${o.path}`).sort());
    await page.screenshot({ path: join(ARTIFACTS, '01-operations-desktop.png'), fullPage: true });

    // open the change feed's operation: its example response is shown (rendered with inline styles)
    const changes = page.locator('#operations-default-getChanges');
    await changes.locator('.opblock-summary').click();
    await changes.locator('.responses-wrapper').waitFor();
    await page.waitForFunction(`(document.querySelector('#operations-default-getChanges .responses-wrapper')?.textContent ?? '').includes('next_cursor')`, undefined, { timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, '02-get-changes-desktop.png'), fullPage: true });

    const origin = new URL(base).origin;
    expect(watch.requests.length).toBeGreaterThanOrEqual(4); // page, css, bundle, init, document
    expect(watch.requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin)).toEqual([]);
    expect(watch.requests).toContain(`${base}/v1/openapi.json`);
    expect(watch.failed).toEqual([]);
    expect(watch.violations).toEqual([]);
    expect(watch.consoleErrors).toEqual([]);
    await page.close();
  });

  it('a CSP violation is caught by this harness (an inline script the page did not have)', async () => {
    const { page, watch } = await watched(375, 812);
    await page.goto(`${base}/docs`);
    await page.waitForSelector('.opblock', { timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, '03-operations-phone.png'), fullPage: true });
    await page.evaluate("(() => { const s = document.createElement('script'); s.textContent = 'window.injected = true'; document.body.appendChild(s); })()");
    await page.waitForTimeout(300);
    expect(await page.evaluate('window.injected === true')).toBe(false);
    expect(watch.violations.some((v) => v.startsWith('script-src'))).toBe(true);
    await page.close();
  });
});
