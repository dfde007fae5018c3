import { callbackRequest, connectMockUser, ConnectMockUserError, newConnectionId, parseBouncePage } from './connect-mock-user';

const GATEWAY = 'http://127.0.0.1:7001';
const SIM = 'http://127.0.0.1:7002';
const RETURN_URL = 'https://app.example.test/connected';

/** The gateway's bounce page as its views render it (body attributes, escaped return link). */
function bounceHtml(returnUrl?: string): string {
  const link = returnUrl
    ? `<p><a class="button primary" href="${returnUrl.replace(/&/g, '&amp;')}" data-testid="return-to-app">Open the app</a></p>`
    : '<p class="muted">You can close this window and return to the app.</p>';
  return `<!doctype html>\n<html lang="en"><head><title>You are connected</title></head>\n<body data-testid="bounce-page" data-outcome="connected"><main><h1>You are connected</h1>\n${link}\n</main></body></html>`;
}

describe('pure parts', () => {
  it('builds the callback request a browser sends for query and form_post', () => {
    expect(callbackRequest({ redirect_url: `${GATEWAY}/v1/callback?code=c1&state=s1`, response_mode: 'query', credentials_id: 'x' })).toEqual({
      method: 'GET',
      url: `${GATEWAY}/v1/callback?code=c1&state=s1`,
      headers: {},
    });
    const post = callbackRequest({ redirect_url: `${GATEWAY}/v1/callback?code=c1&state=s%2B1`, redirect_uri: `${GATEWAY}/v1/callback`, response_mode: 'form_post', code: 'c1', state: 's+1', credentials_id: 'x' });
    expect(post).toEqual({ method: 'POST', url: `${GATEWAY}/v1/callback`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'code=c1&state=s%2B1' });
    expect(callbackRequest({ redirect_url: `${GATEWAY}/v1/callback?x=1`, response_mode: 'form_post', code: 'c', credentials_id: 'x' }).url).toBe(`${GATEWAY}/v1/callback`);
  });

  it('reads the outcome and connection id of a bounce page', () => {
    expect(parseBouncePage(bounceHtml(`${RETURN_URL}?status=connected&session_id=s&connection_id=conn-1`))).toEqual({ outcome: 'connected', connectionId: 'conn-1' });
    expect(parseBouncePage(bounceHtml())).toEqual({ outcome: 'connected', connectionId: undefined });
    expect(parseBouncePage('<body data-testid="outcome-page" data-outcome="rejected"><p>no</p></body>').outcome).toBeUndefined();
  });

  it('finds the one new connection id', () => {
    expect(newConnectionId(['a', 'b'], ['a', 'c', 'b'])).toBe('c');
    expect(() => newConnectionId(['a'], ['a'])).toThrow(/no new connection/);
    expect(() => newConnectionId([], ['a', 'b'])).toThrow(/2 new connections/);
  });
});

interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  redirect?: string;
}

/** A fake gateway + simulator behind one fetch: enough of both to walk the journey. */
function fakeStack(opts: { callbackStatus?: number; existing?: string[] } = {}) {
  const calls: Call[] = [];
  let connections = [...(opts.existing ?? [])];
  let returnUrl: string | undefined;
  const json = (status: number, body: unknown): Response => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const fake = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = String(input);
    const call: Call = { method: init.method ?? 'GET', url, headers: { ...(init.headers as Record<string, string>) }, body: init.body as string | undefined, redirect: init.redirect };
    calls.push(call);
    const path = new URL(url).pathname;
    if (url.startsWith(GATEWAY) && path === '/v1/users/u-1/connections') return json(200, { connections: connections.map((id) => ({ connection_id: id })) });
    if (url.startsWith(GATEWAY) && path === '/v1/users/u-1/connect-sessions' && call.method === 'POST') {
      if (call.headers['authorization'] !== 'Bearer key-1') return json(401, { code: 'invalid_api_key' });
      const body = JSON.parse(call.body ?? '{}') as { return_url?: string; response_mode?: string };
      returnUrl = body.return_url;
      return json(201, { session_id: 'sess', url: `${SIM}/?client_id=c&response_mode=${body.response_mode ?? 'query'}&state=st`, expires_at: '2030-01-01T00:00:00Z' });
    }
    if (url === `${SIM}/__admin/authorize`) {
      const body = JSON.parse(call.body ?? '{}') as { username: string; password: string; auth_url: string };
      if (body.password !== 'doe') return json(400, { error: 'wrong_credentials', message: 'unknown mock user or wrong password' });
      const mode = new URL(body.auth_url).searchParams.get('response_mode') ?? 'query';
      return json(200, { redirect_url: `${GATEWAY}/v1/callback?code=code-1&state=st`, redirect_uri: `${GATEWAY}/v1/callback`, response_mode: mode, code: 'code-1', state: 'st', credentials_id: 'cred-1' });
    }
    if (url.startsWith(`${GATEWAY}/v1/callback`)) {
      if (opts.callbackStatus) return new Response('<body data-testid="outcome-page" data-outcome="failed"><p data-testid="outcome-message">Your bank approved the request but we could not complete the connection.</p></body>', { status: opts.callbackStatus });
      connections = [...connections, 'conn-new'];
      return new Response(null, { status: 303, headers: { location: '/bounce/bounce-token-0123456789' } });
    }
    if (url === `${GATEWAY}/bounce/bounce-token-0123456789`) {
      return new Response(bounceHtml(returnUrl ? `${returnUrl}?status=connected&session_id=sess&connection_id=conn-from-bounce` : undefined), { status: 200 });
    }
    return json(404, { error: 'not_found', url });
  };
  return { calls, fetch: fake as typeof fetch };
}

describe('connectMockUser (against a fake gateway and simulator)', () => {
  const base = { gatewayUrl: `${GATEWAY}/`, apiKey: 'key-1', simulatorUrl: SIM, userId: 'u-1', username: 'john', password: 'doe' };

  it('query mode without a return URL: the new connection from the list, the credentials id from the simulator', async () => {
    const stack = fakeStack({ existing: ['conn-old'] });
    await expect(connectMockUser({ ...base, fetch: stack.fetch })).resolves.toEqual({ connectionId: 'conn-new', userId: 'u-1', credentialsId: 'cred-1' });
    const callback = stack.calls.find((c) => c.url.startsWith(`${GATEWAY}/v1/callback`));
    expect(callback).toMatchObject({ method: 'GET', url: `${GATEWAY}/v1/callback?code=code-1&state=st`, redirect: 'manual' });
    const authorize = stack.calls.find((c) => c.url === `${SIM}/__admin/authorize`);
    expect(JSON.parse(authorize?.body ?? '{}')).toEqual({ auth_url: `${SIM}/?client_id=c&response_mode=query&state=st`, username: 'john', password: 'doe' });
    expect(JSON.parse(stack.calls.find((c) => c.url.endsWith('/connect-sessions'))?.body ?? '{}')).toEqual({ dialog: 'truelayer' });
  });

  it('form_post with a return URL: posts the form and reads the connection id from the bounce page', async () => {
    const stack = fakeStack();
    const out = await connectMockUser({ ...base, responseMode: 'form_post', returnUrl: RETURN_URL, providerId: 'mock', fetch: stack.fetch });
    expect(out).toEqual({ connectionId: 'conn-from-bounce', userId: 'u-1', credentialsId: 'cred-1' });
    expect(stack.calls.find((c) => c.url.startsWith(`${GATEWAY}/v1/callback`))).toMatchObject({ method: 'POST', url: `${GATEWAY}/v1/callback`, body: 'code=code-1&state=st' });
    expect(stack.calls.some((c) => c.url.startsWith(RETURN_URL))).toBe(false); // the app itself is never opened
    expect(stack.calls.some((c) => c.url.endsWith('/connections'))).toBe(false);
  });

  it('fails with the step and status: API key, mock login, callback', async () => {
    const wrongKey = connectMockUser({ ...base, apiKey: 'nope', fetch: fakeStack().fetch });
    await expect(wrongKey).rejects.toThrow(ConnectMockUserError);
    await expect(wrongKey).rejects.toMatchObject({ step: 'connect-session', status: 401 });
    await expect(connectMockUser({ ...base, password: 'wrong', fetch: fakeStack().fetch })).rejects.toMatchObject({ step: 'authorize', status: 400, message: expect.stringMatching(/wrong_credentials/) });
    await expect(connectMockUser({ ...base, fetch: fakeStack({ callbackStatus: 502 }).fetch })).rejects.toMatchObject({ step: 'callback', status: 502, message: expect.stringMatching(/could not complete the connection/) });
  });
});
