import type { z } from 'zod';
import type { ExtendConnectionParams, ExtendConnectionResult, TrueLayerAuthClient } from './auth-client';
import { dataBaseUrl, type TrueLayerEnvironment } from './environment';
import { TrueLayerError } from './errors';
import type { CallOptions, HttpResponse, HttpTransport } from './http';
import { cacheMaxAge, parseBody } from './parse';
import { errorBodySchema, responseStatus, type ResponseStatus } from './schemas/common';
import {
  asyncResponseSchema,
  batchResultsSchema,
  DATA_SCHEMAS,
  webhookBodySchema,
  type BatchResults,
  type DataItem,
  type DataResource,
  type WebhookBody,
} from './schemas/data';
import { formatDateParam, toDate } from './timestamps';
import { z as zod } from 'zod';

export interface DateRange {
  /** Inclusive. `Date` is sent as its UTC calendar date `YYYY-MM-DD`; strings must be `YYYY-MM-DD` or ISO datetime. */
  from: Date | string;
  /** Inclusive. */
  to: Date | string;
}

/** One Data API v1 read, described as data (used by sync calls, async tasks and result parsing). */
export type DataRequest =
  | { resource: 'me' }
  | { resource: 'info' }
  | { resource: 'accounts' }
  | { resource: 'account'; accountId: string }
  | { resource: 'balance'; accountId: string }
  | { resource: 'transactions'; accountId: string; range: DateRange }
  | { resource: 'pendingTransactions'; accountId: string; range?: DateRange }
  | { resource: 'standingOrders'; accountId: string }
  | { resource: 'directDebits'; accountId: string }
  | { resource: 'cards' }
  | { resource: 'card'; cardId: string }
  | { resource: 'cardBalance'; cardId: string }
  | { resource: 'cardTransactions'; cardId: string; range: DateRange }
  | { resource: 'cardPendingTransactions'; cardId: string; range?: DateRange };

export interface DataResponse<T> {
  results: T[];
  /** Envelope status; `Succeeded` when the body omits it (most examples do). */
  status: ResponseStatus;
  /** `X-TL-Correlation-Id`: log it, quote it to TrueLayer support. */
  correlationId: string | undefined;
  /** `X-Credentials-Id`: the connection id. */
  credentialsId: string | undefined;
  /** The `X-Client-Correlation-Id` that was sent. */
  clientCorrelationId: string;
  httpStatus: number;
  /** `Cache-Control: max-age` seconds when TrueLayer served/cached the response. */
  cacheMaxAgeSeconds: number | undefined;
}

/** A queued async request (`async=true`), to be matched with its webhook and fetched later. */
export interface PendingTask {
  taskId: string;
  resultsUri: string;
  status: ResponseStatus;
  /** Which schema the results parse with. */
  resource: DataResource;
  /** Webhook URI the task was started with, if any. */
  webhookUri: string | undefined;
  correlationId: string | undefined;
  credentialsId: string | undefined;
  startedAt: Date;
}

export type TaskResults<R extends DataResource> =
  | { done: false; status: ResponseStatus; correlationId: string | undefined }
  | ({ done: true } & DataResponse<DataItem<R>>);

export type WebhookMatch =
  | { ok: true; webhook: WebhookBody; succeeded: boolean }
  | { ok: false; reason: 'invalid_body' | 'task_id_mismatch' | 'results_uri_mismatch' | 'credentials_id_mismatch' };

const enc = encodeURIComponent;

function describe(req: DataRequest): { path: string; template: string; query: Record<string, string | undefined> } {
  const range = (r: DateRange | undefined) =>
    r ? { from: formatDateParam(r.from, 'from'), to: formatDateParam(r.to, 'to') } : {};
  const id = (v: string, name: string) => {
    if (!v) throw new TypeError(`${name} is required`);
    return enc(v);
  };
  switch (req.resource) {
    case 'me':
      return { path: '/me', template: '/me', query: {} };
    case 'info':
      return { path: '/info', template: '/info', query: {} };
    case 'accounts':
      return { path: '/accounts', template: '/accounts', query: {} };
    case 'account':
      return { path: `/accounts/${id(req.accountId, 'accountId')}`, template: '/accounts/{account_id}', query: {} };
    case 'balance':
      return {
        path: `/accounts/${id(req.accountId, 'accountId')}/balance`,
        template: '/accounts/{account_id}/balance',
        query: {},
      };
    case 'transactions':
      return {
        path: `/accounts/${id(req.accountId, 'accountId')}/transactions`,
        template: '/accounts/{account_id}/transactions',
        query: range(req.range),
      };
    case 'pendingTransactions':
      return {
        path: `/accounts/${id(req.accountId, 'accountId')}/transactions/pending`,
        template: '/accounts/{account_id}/transactions/pending',
        query: range(req.range),
      };
    case 'standingOrders':
      return {
        path: `/accounts/${id(req.accountId, 'accountId')}/standing_orders`,
        template: '/accounts/{account_id}/standing_orders',
        query: {},
      };
    case 'directDebits':
      return {
        path: `/accounts/${id(req.accountId, 'accountId')}/direct_debits`,
        template: '/accounts/{account_id}/direct_debits',
        query: {},
      };
    case 'cards':
      return { path: '/cards', template: '/cards', query: {} };
    case 'card':
      return { path: `/cards/${id(req.cardId, 'cardId')}`, template: '/cards/{account_id}', query: {} };
    case 'cardBalance':
      return {
        path: `/cards/${id(req.cardId, 'cardId')}/balance`,
        template: '/cards/{account_id}/balance',
        query: {},
      };
    case 'cardTransactions':
      return {
        path: `/cards/${id(req.cardId, 'cardId')}/transactions`,
        template: '/cards/{account_id}/transactions',
        query: range(req.range),
      };
    case 'cardPendingTransactions':
      return {
        path: `/cards/${id(req.cardId, 'cardId')}/transactions/pending`,
        template: '/cards/{account_id}/transactions/pending',
        query: range(req.range),
      };
  }
}

const pendingResultsSchema = zod.looseObject({ status: responseStatus });

/** Data API v1 (data-api-v1.json). Every method takes the connection's access token first. */
export class TrueLayerDataClient {
  private readonly base: string;

  constructor(
    env: TrueLayerEnvironment,
    private readonly http: HttpTransport,
    /** Only for `extendConnection`; a data-only client (no client credentials) has none. */
    private readonly auth?: TrueLayerAuthClient,
  ) {
    this.base = dataBaseUrl(env);
  }

  /** Generic synchronous read. The typed helpers below all delegate here. */
  async get<R extends DataRequest>(
    accessToken: string,
    req: R,
    call: CallOptions = {},
  ): Promise<DataResponse<DataItem<R['resource']>>> {
    const d = describe(req);
    const op = `GET /data/v1${d.template}`;
    const res = await this.http.request(
      {
        method: 'GET',
        baseUrl: this.base,
        path: d.path,
        pathTemplate: `/data/v1${d.template}`,
        query: d.query,
        bearer: accessToken,
        retry: 'idempotent',
      },
      call,
    );
    return this.toDataResponse(req.resource, res, op);
  }

  private toDataResponse<K extends DataResource>(
    resource: K,
    res: HttpResponse,
    op: string,
  ): DataResponse<DataItem<K>> {
    const schema = DATA_SCHEMAS[resource] as z.ZodType;
    const body = parseBody(schema, res, op) as { results: DataItem<K>[]; status?: ResponseStatus };
    return {
      results: body.results,
      status: body.status ?? 'Succeeded',
      correlationId: res.correlationId,
      credentialsId: res.credentialsId,
      clientCorrelationId: res.clientCorrelationId,
      httpStatus: res.status,
      cacheMaxAgeSeconds: cacheMaxAge(res.headers),
    };
  }

  me(t: string, call?: CallOptions) {
    return this.get(t, { resource: 'me' }, call);
  }
  info(t: string, call?: CallOptions) {
    return this.get(t, { resource: 'info' }, call);
  }
  accounts(t: string, call?: CallOptions) {
    return this.get(t, { resource: 'accounts' }, call);
  }
  account(t: string, accountId: string, call?: CallOptions) {
    return this.get(t, { resource: 'account', accountId }, call);
  }
  accountBalance(t: string, accountId: string, call?: CallOptions) {
    return this.get(t, { resource: 'balance', accountId }, call);
  }
  /** Settled transactions in the inclusive range (always pass both dates, reference §5.2). */
  transactions(t: string, accountId: string, range: DateRange, call?: CallOptions) {
    return this.get(t, { resource: 'transactions', accountId, range }, call);
  }
  pendingTransactions(t: string, accountId: string, range?: DateRange, call?: CallOptions) {
    return this.get(t, { resource: 'pendingTransactions', accountId, ...(range ? { range } : {}) }, call);
  }
  standingOrders(t: string, accountId: string, call?: CallOptions) {
    return this.get(t, { resource: 'standingOrders', accountId }, call);
  }
  directDebits(t: string, accountId: string, call?: CallOptions) {
    return this.get(t, { resource: 'directDebits', accountId }, call);
  }
  cards(t: string, call?: CallOptions) {
    return this.get(t, { resource: 'cards' }, call);
  }
  card(t: string, cardId: string, call?: CallOptions) {
    return this.get(t, { resource: 'card', cardId }, call);
  }
  cardBalance(t: string, cardId: string, call?: CallOptions) {
    return this.get(t, { resource: 'cardBalance', cardId }, call);
  }
  cardTransactions(t: string, cardId: string, range: DateRange, call?: CallOptions) {
    return this.get(t, { resource: 'cardTransactions', cardId, range }, call);
  }
  cardPendingTransactions(t: string, cardId: string, range?: DateRange, call?: CallOptions) {
    return this.get(t, { resource: 'cardPendingTransactions', cardId, ...(range ? { range } : {}) }, call);
  }

  // ---- async mode (reference §6) ----

  /** Starts `req` with `async=true` (and `webhook_uri` if given). Expects 202 with `{results_uri, status, task_id}`. */
  async startTask(
    accessToken: string,
    req: DataRequest,
    opts: { webhookUri?: string } = {},
    call: CallOptions = {},
  ): Promise<PendingTask> {
    const d = describe(req);
    const op = `GET /data/v1${d.template}`;
    if (opts.webhookUri !== undefined) {
      const u = safeUrl(opts.webhookUri);
      if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) throw new TypeError('webhookUri must be an http(s) URL');
    }
    const res = await this.http.request(
      {
        method: 'GET',
        baseUrl: this.base,
        path: d.path,
        pathTemplate: `/data/v1${d.template}`,
        query: { ...d.query, async: 'true', webhook_uri: opts.webhookUri },
        bearer: accessToken,
        retry: 'idempotent',
        expect: [202],
      },
      call,
    );
    const body = parseBody(asyncResponseSchema, res, op);
    this.assertResultsUri(body.results_uri, res, op);
    return {
      taskId: body.task_id,
      resultsUri: body.results_uri,
      status: body.status,
      resource: req.resource,
      webhookUri: opts.webhookUri,
      correlationId: res.correlationId,
      credentialsId: res.credentialsId,
      startedAt: new Date(this.http.now()),
    };
  }

  /**
   * Checks an incoming webhook body against a pending task: same `task_id`, same `results_uri` and (when both are
   * known) same `credentials_id`. The webhook is unauthenticated in Data v1: treat a match only as a signal to fetch
   * the results with your own token.
   */
  matchWebhook(body: unknown, task: PendingTask): WebhookMatch {
    const parsed = webhookBodySchema.safeParse(body);
    if (!parsed.success) return { ok: false, reason: 'invalid_body' };
    const w = parsed.data;
    if (w.task_id !== task.taskId) return { ok: false, reason: 'task_id_mismatch' };
    if (normaliseUrl(w.results_uri) !== normaliseUrl(task.resultsUri)) return { ok: false, reason: 'results_uri_mismatch' };
    if (w.credentials_id && task.credentialsId && w.credentials_id !== task.credentialsId) {
      return { ok: false, reason: 'credentials_id_mismatch' };
    }
    return { ok: true, webhook: w, succeeded: w.status === 'Succeeded' };
  }

  /**
   * Fetches a task's results. Only URIs under the configured `${api}/data/v1/results/` are fetched (the bearer token
   * is never sent elsewhere). Returns `{done:false}` while Queued/Running; throws TrueLayerError when the task Failed.
   */
  async fetchResults<K extends DataResource>(
    accessToken: string,
    task: Pick<PendingTask, 'resultsUri'> & { resource: K },
    call: CallOptions = {},
  ): Promise<TaskResults<K>> {
    const op = 'GET /data/v1/results/{task_id}';
    const url = this.checkedResultsUrl(task.resultsUri);
    const res = await this.http.request(
      {
        method: 'GET',
        baseUrl: this.base,
        path: '',
        pathTemplate: '/data/v1/results/{task_id}',
        absoluteUrl: url,
        bearer: accessToken,
        retry: 'idempotent',
        expect: [200, 202],
      },
      call,
    );
    const body = res.body as Record<string, unknown> | undefined;
    const hasResults = typeof body === 'object' && body !== null && Array.isArray(body['results']);
    if (!hasResults) {
      const failed = errorBodySchema.safeParse(body);
      const st = pendingResultsSchema.safeParse(body);
      if (st.success && st.data.status === 'Failed') {
        throw new TrueLayerError({
          httpStatus: res.status,
          code: failed.success ? failed.data.error : 'task_failed',
          description: failed.success ? failed.data.error_description : 'async task failed',
          correlationId: res.correlationId,
          clientCorrelationId: res.clientCorrelationId,
          credentialsId: res.credentialsId,
          operation: op,
          attempts: res.attempts,
        });
      }
      if (st.success && (st.data.status === 'Queued' || st.data.status === 'Running' || res.status === 202)) {
        return { done: false, status: st.data.status, correlationId: res.correlationId };
      }
    }
    return { done: true, ...this.toDataResponse(task.resource, res, op) };
  }

  // ---- deprecated batch endpoints (reference §6.4); prefer per-endpoint async ----

  /** @deprecated TrueLayer deprecated batch; use startTask per endpoint. */
  async startBatchTransactions(
    accessToken: string,
    p: {
      from: Date | string;
      to: Date | string;
      pending?: boolean;
      balance?: boolean;
      webhookUri?: string;
      accountIds?: string[];
    },
    call: CallOptions = {},
  ): Promise<{ taskId: string; resultsUri: string; status: ResponseStatus; correlationId: string | undefined }> {
    const op = 'POST /data/v1/batch/transactions';
    const res = await this.http.request(
      {
        method: 'POST',
        baseUrl: this.base,
        path: '/batch/transactions',
        pathTemplate: '/data/v1/batch/transactions',
        bearer: accessToken,
        body: {
          kind: 'json',
          data: {
            from: formatDateParam(p.from, 'from'),
            to: formatDateParam(p.to, 'to'),
            pending: p.pending,
            balance: p.balance,
            webhook_uri: p.webhookUri,
            account_ids_whitelist: p.accountIds,
          },
        },
        retry: 'idempotent',
        expect: [202],
      },
      call,
    );
    const body = parseBody(asyncResponseSchema, res, op);
    return { taskId: body.task_id, resultsUri: body.results_uri, status: body.status, correlationId: res.correlationId };
  }

  /** @deprecated Returns `{done:false}` while the batch task is Queued/Running (HTTP 202). */
  async batchResults(
    accessToken: string,
    call: CallOptions = {},
  ): Promise<
    | { done: false; status: ResponseStatus; correlationId: string | undefined }
    | (BatchResults & { done: true; correlationId: string | undefined })
  > {
    const op = 'GET /data/v1/batch/results';
    const res = await this.http.request(
      {
        method: 'GET',
        baseUrl: this.base,
        path: '/batch/results',
        pathTemplate: '/data/v1/batch/results',
        bearer: accessToken,
        retry: 'idempotent',
        expect: [200, 202],
      },
      call,
    );
    if (res.status === 202) {
      const pending = parseBody(pendingResultsSchema, res, op);
      return { done: false, status: pending.status, correlationId: res.correlationId };
    }
    return { ...parseBody(batchResultsSchema, res, op), done: true, correlationId: res.correlationId };
  }

  // ---- connection management ----

  /** Same as `auth.extendConnection` (the endpoint lives on the API host). */
  extendConnection(p: ExtendConnectionParams, call: CallOptions = {}): Promise<ExtendConnectionResult> {
    if (!this.auth) return Promise.reject(new TypeError('extendConnection needs a client built with client credentials (createTrueLayerClient)'));
    return this.auth.extendConnection(p, call);
  }

  private checkedResultsUrl(uri: string): string {
    const u = safeUrl(uri);
    const base = safeUrl(`${this.base}/results/`);
    if (!u || !base || u.origin !== base.origin || !u.pathname.startsWith(base.pathname) || u.pathname === base.pathname) {
      throw new TypeError('results_uri is not under the configured Data API results path; refusing to send a token to it');
    }
    return u.toString();
  }

  private assertResultsUri(uri: string, res: HttpResponse, op: string): void {
    try {
      this.checkedResultsUrl(uri);
    } catch {
      throw new TrueLayerError({
        httpStatus: res.status,
        code: 'invalid_response',
        description: 'results_uri is not under the configured Data API host',
        correlationId: res.correlationId,
        clientCorrelationId: res.clientCorrelationId,
        operation: op,
      });
    }
  }
}

function safeUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

function normaliseUrl(s: string): string {
  return safeUrl(s)?.toString() ?? s;
}

/** Convenience: Date of a task's webhook `request_timestamp`, if parseable. */
export function webhookRequestTime(w: WebhookBody): Date | undefined {
  return toDate(w.request_timestamp);
}
