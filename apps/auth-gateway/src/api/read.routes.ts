/**
 * The read API under /v1/users/{userId} (API key required): accounts, balances, transactions, changes, edits,
 * spending summary and recurring series, each a thin mapping onto reconciliation's gRPC API with the caller's
 * client id. JSON in snake_case, amounts as decimal strings. Without RECONCILIATION_ADDR every route answers 503.
 */
import { DETAILED, type PfcDetailed } from '@ais/contracts-events';
import type { reconciliationV1 } from '@ais/contracts-proto-ts';
import { z } from '@ais/platform-config';
import { AppError } from '@ais/platform-errors';
import { Router, type Request, type Response } from 'express';
import type { Downstreams } from '../clients/grpc-clients';
import { clientOf } from './auth';
import { userIdOf } from './v1.routes';

const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const CATEGORY = /^[A-Z][A-Z_]{1,79}$/;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

// Path parameters, headers, queries and bodies as zod schemas: they validate here and are the OpenAPI document's schemas (openapi.ts).
/** accountId and transactionId. */
export const idParam = z.string().regex(ID);
export const idempotencyKeyHeader = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).describe('Makes retries of this edit safe: the same key applies the edit once.').meta({ examples: ['edit-2026-02-04-0001'] });

function idOf(req: Request, name: 'accountId' | 'transactionId'): string {
  const id = String(req.params[name] ?? '');
  if (!idParam.safeParse(id).success) throw AppError.invalid(`invalid_${name === 'accountId' ? 'account_id' : 'transaction_id'}`, `${name} is malformed`, [{ field: name, description: 'pattern' }]);
  return id;
}

function parse<T extends z.ZodType>(schema: T, value: unknown, what: 'query' | 'body'): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const errors = r.error.issues.map((i) => ({ field: i.path.join('.') || `(${what})`, description: i.message }));
    throw AppError.invalid(`invalid_${what}`, `invalid ${what === 'query' ? 'query parameter' : 'body field'}: ${errors.map((e) => e.field).join(', ')}`, errors);
  }
  return r.data;
}

const pageSize = z.coerce.number().int().min(1).max(500).optional().describe('Items per page.');
const pageToken = z.string().max(1000).optional().describe('next_page_token of the previous page (opaque).');
/** ISO 8601 date or date-time (UTC `Z` or an offset). */
const INSTANT = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d))?$/;
const instant = z
  .string()
  .max(40)
  .regex(INSTANT, 'an ISO 8601 date or date-time')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO 8601 date or date-time')
  .transform((s) => new Date(s));

export const transactionsQuery = z.strictObject({
  account_id: z.string().regex(ID).optional().describe('Only this account.'),
  from: instant.optional().describe('Posted at or after (ISO 8601 date or date-time).'),
  to: instant.optional().describe('Posted before (ISO 8601 date or date-time).'),
  category: z.string().regex(CATEGORY, 'a PFC primary or detailed category').optional().describe('A PFC primary or detailed category.').meta({ examples: ['FOOD_AND_DRINK'] }),
  merchant: z.string().min(1).max(200).optional().describe('A merchant_key.').meta({ examples: ['pret-a-manger'] }),
  q: z.string().min(1).max(100).optional().describe('Text in the description or merchant name (case-insensitive, literal).'),
  status: z.enum(['booked', 'pending']).optional().describe('Default: both.'),
  include_hidden: z.enum(['true', 'false']).optional().describe('Include transactions the user hid.'),
  page_size: pageSize,
  page_token: pageToken,
});

export const pageQuery = z.strictObject({ page_size: pageSize, page_token: pageToken });
export const changesQuery = z.strictObject({
  cursor: z.string().max(1000).optional().describe('next_cursor of the previous call; empty for the start.'),
  count: z.coerce.number().int().min(1).max(500).optional().describe('Maximum changes (default 100).'),
});
const month = z.string().regex(MONTH, 'YYYY-MM');
export const summaryQuery = z.strictObject({
  from: month.optional().describe('First month, YYYY-MM.').meta({ examples: ['2026-01'] }),
  to: month.optional().describe('Last month, YYYY-MM; not before from.').meta({ examples: ['2026-03'] }),
  account_id: z.string().regex(ID).optional().describe('Only this account.'),
});
export const recurringQuery = z.strictObject({});

const nullable = <T extends z.ZodType>(t: T) => t.nullable().optional();
const editFieldsBody = {
  notes: nullable(z.string().max(2000)),
  tags: nullable(z.array(z.string().min(1).max(64)).max(20)),
  hidden: nullable(z.boolean()),
};
/** In the document: at least one edit field present (editFields refuses a body that changes nothing with no_fields). */
const oneOf = (keys: string[]) => ({ anyOf: keys.map((k) => ({ required: [k] })) });
export const transactionEditBody = z
  .strictObject({
    category_override: nullable(z.enum(DETAILED as [PfcDetailed, ...PfcDetailed[]], 'a detailed PFC category')).describe('A detailed PFC category; null clears.'),
    ...editFieldsBody,
    apply_to_merchant: z.boolean().optional().describe('With a category_override: also a rule for every transaction of the merchant.'),
  })
  .meta(oneOf(['category_override', 'notes', 'tags', 'hidden']));
export const accountEditBody = z.strictObject(editFieldsBody).meta(oneOf(['notes', 'tags', 'hidden']));

/** JSON keys present → set_* true; null clears. */
function editFields(body: z.infer<typeof transactionEditBody>): reconciliationV1.EditFields {
  const f: reconciliationV1.EditFields = { setCategoryOverride: false, categoryOverride: '', setNotes: false, notes: '', setTags: false, tags: [], setHidden: false, hidden: false };
  if (body.category_override !== undefined) Object.assign(f, { setCategoryOverride: true, categoryOverride: body.category_override ?? '' });
  if (body.notes !== undefined) Object.assign(f, { setNotes: true, notes: body.notes ?? '' });
  if (body.tags !== undefined) Object.assign(f, { setTags: true, tags: body.tags ?? [] });
  if (body.hidden !== undefined) Object.assign(f, { setHidden: true, hidden: body.hidden ?? false });
  if (!(f.setCategoryOverride || f.setNotes || f.setTags || f.setHidden)) throw AppError.invalid('no_fields', 'the body changes nothing', [{ field: '(body)', description: 'set at least one field' }]);
  return f;
}

function requestIdOf(req: Request): string {
  const key = req.get('idempotency-key');
  if (key === undefined) return '';
  if (!idempotencyKeyHeader.safeParse(key).success) throw AppError.invalid('invalid_idempotency_key', 'Idempotency-Key must be 1-128 characters of [A-Za-z0-9._:-]', [{ field: 'Idempotency-Key', description: 'pattern' }]);
  return key;
}

// ---- JSON ----

const iso = (d: Date | undefined) => d?.toISOString() ?? null;
const orNull = (s: string) => (s === '' ? null : s);

function userEditJson(e: reconciliationV1.UserEdit | undefined): Record<string, unknown> | null {
  if (!e) return null;
  return { category_override: orNull(e.categoryOverride), notes: orNull(e.notes), tags: e.tags, hidden: e.hidden, updated_at: iso(e.updatedAt) };
}

function categoryJson(c: reconciliationV1.Category | undefined): Record<string, unknown> | null {
  if (!c) return null;
  return { primary: c.primary, detailed: c.detailed, source: c.source, confidence: c.confidence, version: orNull(c.version) };
}

export function balanceJson(b: reconciliationV1.Balance): Record<string, unknown> {
  return { account_id: b.accountId, currency: b.currency, current: b.current, available: orNull(b.available), overdraft: orNull(b.overdraft), credit_limit: orNull(b.creditLimit), as_of: iso(b.asOf) };
}

export function accountJson(a: reconciliationV1.Account): Record<string, unknown> {
  return {
    account_id: a.accountId,
    kind: a.kind,
    display_name: a.displayName,
    account_type: a.accountType,
    currency: a.currency,
    provider_id: a.providerId,
    connection_id: a.connectionId,
    number_last4: orNull(a.numberLast4),
    sort_code: orNull(a.sortCode),
    card_network: orNull(a.cardNetwork),
    latest_balance: a.latestBalance ? balanceJson(a.latestBalance) : null,
    user_edit: userEditJson(a.userEdit),
    updated_at: iso(a.updatedAt),
  };
}

export function transactionJson(t: reconciliationV1.Transaction): Record<string, unknown> {
  return {
    transaction_id: t.transactionId,
    account_id: t.accountId,
    status: t.status,
    booked_at: iso(t.bookedAt),
    amount: t.amount,
    currency: t.currency,
    description: t.description,
    transaction_type: t.transactionType,
    transaction_category: t.transactionCategory,
    merchant_name: orNull(t.merchantName),
    merchant_key: orNull(t.merchantKey),
    category: categoryJson(t.category),
    enriched_category: categoryJson(t.enrichedCategory),
    user_edit: userEditJson(t.userEdit),
    recurring: t.recurring ? { series_id: t.recurring.seriesId, cadence: t.recurring.cadence } : null,
    transfer_pair_id: orNull(t.transferPairId),
    running_balance: t.runningBalance ? { amount: t.runningBalance.amount, currency: t.runningBalance.currency } : null,
    normalised_provider_transaction_id: orNull(t.normalisedProviderTransactionId),
    provider_transaction_id: orNull(t.providerTransactionId),
    updated_at: iso(t.updatedAt),
  };
}

function totalJson(t: reconciliationV1.CategoryTotal): Record<string, unknown> {
  return { primary: orNull(t.primary), detailed: orNull(t.detailed), total: t.total, currency: t.currency, count: t.count };
}

function seriesJson(s: reconciliationV1.RecurringSeries): Record<string, unknown> {
  return {
    series_id: s.seriesId,
    merchant_name: s.merchantName,
    merchant_key: s.merchantKey,
    account_id: s.accountId,
    cadence: s.cadence,
    amount: s.amount,
    currency: s.currency,
    last_date: iso(s.lastDate),
    next_expected_date: iso(s.nextExpectedDate),
    occurrences: s.occurrences,
    direction: s.direction,
    primary_category: orNull(s.primaryCategory),
    detailed_category: orNull(s.detailedCategory),
    source: s.source,
    active: s.active,
  };
}

export function readRoutes(downstreams: Downstreams, opts: { editDeadlineMs: number }): Router {
  const router = Router({ caseSensitive: true });
  const recon = () => {
    const r = downstreams.reconciliation;
    if (!r) throw AppError.unavailable('reconciliation_unavailable', 'the read API is not configured on this gateway (RECONCILIATION_ADDR)');
    return r;
  };
  const scope = (req: Request, res: Response) => {
    // a user's financial data: never stored by shared caches
    res.setHeader('Cache-Control', 'no-store');
    return { clientId: clientOf(res)._id, userId: userIdOf(req) };
  };

  router.get('/users/:userId/accounts', async (req, res) => {
    const s = scope(req, res);
    const q = parse(pageQuery, req.query, 'query');
    const out = await recon().listAccounts({ ...s, pageSize: q.page_size ?? 0, pageToken: q.page_token ?? '' });
    res.json({ accounts: out.accounts.map(accountJson), next_page_token: orNull(out.nextPageToken) });
  });

  router.get('/users/:userId/accounts/:accountId/balances', async (req, res) => {
    const s = scope(req, res);
    const accountId = idOf(req, 'accountId');
    const q = parse(pageQuery, req.query, 'query');
    const out = await recon().getBalanceHistory({ ...s, accountId, pageSize: q.page_size ?? 0, pageToken: q.page_token ?? '' });
    res.json({ balances: out.balances.map(balanceJson), next_page_token: orNull(out.nextPageToken) });
  });

  router.get('/users/:userId/transactions', async (req, res) => {
    const s = scope(req, res);
    const q = parse(transactionsQuery, req.query, 'query');
    const out = await recon().listTransactions({
      ...s,
      pageSize: q.page_size ?? 0,
      pageToken: q.page_token ?? '',
      accountId: q.account_id ?? '',
      from: q.from,
      to: q.to,
      category: q.category ?? '',
      merchantKey: q.merchant ?? '',
      text: q.q ?? '',
      status: q.status ?? '',
      includeHidden: q.include_hidden === 'true',
    });
    res.json({ transactions: out.transactions.map(transactionJson), next_page_token: orNull(out.nextPageToken) });
  });

  router.get('/users/:userId/changes', async (req, res) => {
    const s = scope(req, res);
    const q = parse(changesQuery, req.query, 'query');
    const out = await recon().getChanges({ ...s, cursor: q.cursor ?? '', count: q.count ?? 0 });
    res.json({
      added: out.added.map(transactionJson),
      modified: out.modified.map(transactionJson),
      removed: out.removed.map((t) => ({ transaction_id: t.transactionId, account_id: t.accountId })),
      accounts: out.accounts.map(accountJson),
      next_cursor: out.nextCursor,
      has_more: out.hasMore,
    });
  });

  router.patch('/users/:userId/transactions/:transactionId', async (req, res) => {
    const s = scope(req, res);
    const transactionId = idOf(req, 'transactionId');
    const body = parse(transactionEditBody, req.body, 'body');
    // all of the request is checked before the downstream is asked (a bad edit is a 400 even without reconciliation)
    const edit = { ...s, transactionId, fields: editFields(body), applyToMerchant: body.apply_to_merchant === true, requestId: requestIdOf(req) };
    const out = await recon().editTransaction(edit, { deadlineMs: opts.editDeadlineMs });
    res.status(out.applied ? 200 : 202).json({ applied: out.applied, request_id: out.requestId, transaction: out.transaction ? transactionJson(out.transaction) : null });
  });

  router.patch('/users/:userId/accounts/:accountId', async (req, res) => {
    const s = scope(req, res);
    const accountId = idOf(req, 'accountId');
    const body = parse(accountEditBody, req.body, 'body');
    const edit = { ...s, accountId, fields: editFields(body), requestId: requestIdOf(req) };
    const out = await recon().editAccount(edit, { deadlineMs: opts.editDeadlineMs });
    res.status(out.applied ? 200 : 202).json({ applied: out.applied, request_id: out.requestId, account: out.account ? accountJson(out.account) : null });
  });

  router.get('/users/:userId/spending-summary', async (req, res) => {
    const s = scope(req, res);
    const q = parse(summaryQuery, req.query, 'query');
    if (q.from && q.to && q.from > q.to) throw AppError.invalid('invalid_query', 'from must not be after to', [{ field: 'from', description: 'after to' }]);
    const out = await recon().getSpendingSummary({ ...s, fromMonth: q.from ?? '', toMonth: q.to ?? '', accountId: q.account_id ?? '' });
    res.json({ months: out.months.map((m) => ({ month: m.month, spending: m.spending.map(totalJson), income: m.income.map(totalJson), own_transfers: m.ownTransfers })) });
  });

  router.get('/users/:userId/recurring', async (req, res) => {
    const s = scope(req, res);
    parse(recurringQuery, req.query, 'query');
    const out = await recon().listRecurring(s);
    res.json({ series: out.series.map(seriesJson) });
  });

  return router;
}
