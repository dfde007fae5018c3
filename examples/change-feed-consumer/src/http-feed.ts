/**
 * Follows one user's changes through the gateway: GET /v1/users/{userId}/changes?cursor=<stored cursor>, apply the
 * page, save the replica with the page's `next_cursor`, and again while `has_more` is true. The stored cursor is
 * where the next run starts: a stop at any point resumes without a gap, and a page applied again (a crash between
 * apply and save cannot happen here, as both are one atomic write) would change nothing.
 */
import { applyPage, type ChangesPage, type Replica } from './replica';
import { loadReplica, saveReplica } from './state-file';

export interface HttpFeedOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080. */
  gatewayUrl: string;
  /** Your API key (Authorization: Bearer). */
  apiKey: string;
  userId: string;
  /** Where the replica and its cursor are kept. */
  stateFile: string;
  /** Changes per page (1-500; default 100). */
  pageSize?: number;
  /** Stop after this many pages (default: until `has_more` is false). */
  maxPages?: number;
  /** Called after each page is applied and saved. */
  onPage?: (page: ChangesPage, replica: Replica) => void;
  fetch?: typeof fetch;
}

export class FeedError extends Error {
  constructor(
    readonly status: number,
    readonly problem: unknown,
  ) {
    super(`GET changes: HTTP ${status} ${JSON.stringify(problem)}`);
  }
}

/** Reads pages until the feed has no more (or `maxPages`); returns the saved replica and the pages read. */
export async function followChanges(o: HttpFeedOptions): Promise<{ replica: Replica; pages: number }> {
  const get = o.fetch ?? fetch;
  let replica = loadReplica(o.stateFile, o.userId);
  let pages = 0;
  for (;;) {
    if (o.maxPages !== undefined && pages >= o.maxPages) return { replica, pages };
    const url = new URL(`/v1/users/${encodeURIComponent(o.userId)}/changes`, o.gatewayUrl);
    url.searchParams.set('count', String(o.pageSize ?? 100));
    if (replica.cursor) url.searchParams.set('cursor', replica.cursor);
    const res = await get(url, { headers: { authorization: `Bearer ${o.apiKey}`, accept: 'application/json' } });
    const body = (await res.json()) as unknown;
    if (res.status !== 200) throw new FeedError(res.status, body);
    const page = body as ChangesPage;
    replica = applyPage(replica, page);
    saveReplica(o.stateFile, replica);
    pages += 1;
    o.onPage?.(page, replica);
    if (!page.has_more) return { replica, pages };
  }
}
