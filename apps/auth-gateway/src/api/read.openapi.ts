/**
 * OpenAPI paths and schemas of the read API (read.routes.ts) and erasure (erasure.routes.ts), merged into openapi.ts.
 * Parameter and request body schemas come from the routes' zod schemas; response schemas are written by hand.
 */
import { erasureIdParam } from './erasure.routes';
import { fromZod, headerParam, pathParam, queryParams } from './openapi-zod';
import { accountEditBody, changesQuery, idempotencyKeyHeader, idParam, pageQuery, recurringQuery, summaryQuery, transactionEditBody, transactionsQuery } from './read.routes';
import { userIdParam } from './v1.routes';

const problem = { $ref: '#/components/responses/Problem' };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, example?: unknown) => ({ 'application/json': { schema: ref(name), ...(example === undefined ? {} : { example }) } });
const userId = pathParam('userId', userIdParam);
const idPath = (name: 'accountId' | 'transactionId') => pathParam(name, idParam, undefined, name === 'accountId' ? 'acc_91b7' : 'txn_5f2c0a');
const page = queryParams(pageQuery);
const idempotencyKey = headerParam('Idempotency-Key', idempotencyKeyHeader);
const errors = { '400': problem, '401': problem, '403': problem, '404': problem, '429': problem, '503': problem, '504': problem };
const amount = { type: 'string', pattern: '^-?\\d+(\\.\\d+)?$', description: 'Decimal string in major units.' };
const date = { type: ['string', 'null'], format: 'date-time' };
const nullable = (t: string) => ({ type: [t, 'null'] });

const exampleTx = {
  transaction_id: 'txn_5f2c0a',
  account_id: 'acc_91b7',
  status: 'booked',
  booked_at: '2026-02-03T00:00:00.000Z',
  amount: '-4.20',
  currency: 'GBP',
  description: 'PRET A MANGER LONDON',
  transaction_type: 'DEBIT',
  transaction_category: 'PURCHASE',
  merchant_name: 'Pret A Manger',
  merchant_key: 'pret-a-manger',
  category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', source: 'merchant', confidence: 0.95, version: 'enrich-3' },
  enriched_category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', source: 'merchant', confidence: 0.95, version: 'enrich-3' },
  user_edit: null,
  recurring: null,
  transfer_pair_id: null,
  running_balance: null,
  normalised_provider_transaction_id: 'txn-1b4f2e9a0c',
  provider_transaction_id: null,
  updated_at: '2026-02-04T06:00:00.000Z',
};
const exampleAccount = {
  account_id: 'acc_91b7',
  kind: 'account',
  display_name: 'Club Lloyds',
  account_type: 'TRANSACTION',
  currency: 'GBP',
  provider_id: 'ob-lloyds',
  connection_id: 'conn_1',
  number_last4: '5678',
  sort_code: '30-94-57',
  card_network: null,
  latest_balance: { account_id: 'acc_91b7', currency: 'GBP', current: '1204.17', available: '2204.17', overdraft: '1000', credit_limit: null, as_of: '2026-02-04T06:00:00.000Z' },
  user_edit: { category_override: null, notes: 'bills', tags: [], hidden: false, updated_at: '2026-02-04T07:00:00.000Z' },
  updated_at: '2026-02-04T06:00:00.000Z',
};
const exampleSeries = {
  series_id: 'ser_2b9d',
  merchant_name: 'Netflix',
  merchant_key: 'netflix',
  account_id: 'acc_91b7',
  cadence: 'monthly',
  amount: '-10.99',
  currency: 'GBP',
  last_date: '2026-01-28T00:00:00.000Z',
  next_expected_date: '2026-02-28T00:00:00.000Z',
  occurrences: 14,
  direction: 'outflow',
  primary_category: 'ENTERTAINMENT',
  detailed_category: 'ENTERTAINMENT_TV_AND_MOVIES',
  source: 'history',
  active: true,
};

export const readApiPaths = {
  '/v1/users/{userId}/accounts': {
    get: {
      operationId: 'listAccounts',
      summary: "A user's accounts and cards with their latest balance",
      description: 'Ids are stable across re-consents. 404 `user_not_found` when this API client has no data for the user.',
      parameters: [userId, ...page],
      responses: { '200': { description: 'Accounts', content: json('AccountList', { accounts: [exampleAccount], next_page_token: null }) }, ...errors },
    },
  },
  '/v1/users/{userId}/accounts/{accountId}': {
    patch: {
      operationId: 'editAccount',
      summary: "Set the user's notes, tags or hidden flag of an account",
      description: 'Fields present are changed; `null` clears. 200 when applied (the account as it now reads), 202 when queued (applied shortly). Send an `Idempotency-Key` to make retries safe.',
      parameters: [userId, idPath('accountId'), idempotencyKey],
      requestBody: { required: true, content: json('AccountEdit', { notes: 'bills', hidden: null }) },
      responses: {
        '200': { description: 'Applied', content: json('AccountEditResult', { applied: true, request_id: 'req-8', account: { ...exampleAccount, user_edit: { ...exampleAccount.user_edit, notes: 'bills' } } }) },
        '202': { description: 'Queued', content: json('AccountEditResult', { applied: false, request_id: 'req-8', account: null }) },
        ...errors,
      },
    },
  },
  '/v1/users/{userId}/accounts/{accountId}/balances': {
    get: {
      operationId: 'getBalanceHistory',
      summary: 'Balance snapshots of an account, newest first',
      parameters: [userId, idPath('accountId'), ...page],
      responses: { '200': { description: 'Balances', content: json('BalanceList', { balances: [exampleAccount.latest_balance], next_page_token: null }) }, ...errors },
    },
  },
  '/v1/users/{userId}/transactions': {
    get: {
      operationId: 'listTransactions',
      summary: 'Transactions, newest first, with filters',
      description: 'Keyset pages: a page token stays valid while new rows arrive. `category` matches the effective category (the user\'s override, else the enrichment), primary or detailed. Hidden transactions are left out unless `include_hidden=true`.',
      parameters: [userId, ...queryParams(transactionsQuery)],
      responses: { '200': { description: 'Transactions', content: json('TransactionList', { transactions: [exampleTx], next_page_token: 'eyJiIjoiMjAyNi0wMi0wM1QwMDowMDowMC4wMDBaIiwiaSI6InR4bl81ZjJjMGEifQ' }) }, ...errors },
    },
  },
  '/v1/users/{userId}/transactions/{transactionId}': {
    patch: {
      operationId: 'editTransaction',
      summary: "Set the user's category, notes, tags or hidden flag of a transaction",
      description:
        'Fields present are changed; `null` clears. The edit survives every later sync. `apply_to_merchant: true` with a `category_override` also makes a rule for every transaction of the merchant (409 when rules are not available). 200 when applied (the transaction as it now reads), 202 when queued (applied shortly). Send an `Idempotency-Key` to make retries safe.',
      parameters: [userId, idPath('transactionId'), idempotencyKey],
      requestBody: { required: true, content: json('TransactionEdit', { category_override: 'FOOD_AND_DRINK_COFFEE', notes: 'with Sam', tags: ['work'], apply_to_merchant: false }) },
      responses: { '200': { description: 'Applied', content: json('TransactionEditResult', { applied: true, request_id: 'req-7', transaction: exampleTx }) }, '202': { description: 'Queued', content: json('TransactionEditResult', { applied: false, request_id: 'req-7', transaction: null }) }, '409': problem, ...errors },
    },
  },
  '/v1/users/{userId}/changes': {
    get: {
      operationId: 'getChanges',
      summary: 'Changes since a cursor (added, modified, removed)',
      description: 'Start with no cursor; store `next_cursor` and call again while `has_more` is true. A settled pending transaction comes back as modified; a pending one that disappeared as removed. User edits show as modified.',
      parameters: [userId, ...queryParams(changesQuery)],
      responses: { '200': { description: 'Changes', content: json('Changes', { added: [exampleTx], modified: [], removed: [{ transaction_id: 'txn_0a1', account_id: 'acc_91b7' }], accounts: [], next_cursor: 'eyJzIjo0Mn0', has_more: false }) }, ...errors },
    },
  },
  '/v1/users/{userId}/spending-summary': {
    get: {
      operationId: 'getSpendingSummary',
      summary: 'Spending and income per month and category',
      description: 'Booked transactions only, by their effective category, per currency; hidden transactions and transfers between the user\'s own accounts are excluded (the latter counted in `own_transfers`). Default range: the six months up to the latest transaction.',
      parameters: [userId, ...queryParams(summaryQuery)],
      responses: {
        '200': {
          description: 'Per month',
          content: json('SpendingSummary', { months: [{ month: '2026-01', spending: [{ primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', total: '42.60', currency: 'GBP', count: 11 }], income: [{ primary: 'INCOME', detailed: 'INCOME_WAGES', total: '2500.00', currency: 'GBP', count: 1 }], own_transfers: 2 }] }),
        },
        ...errors,
      },
    },
  },
  '/v1/users/{userId}/recurring': {
    get: {
      operationId: 'listRecurring',
      summary: 'Recurring payments and income found for the user',
      parameters: [userId, ...queryParams(recurringQuery)],
      responses: { '200': { description: 'Series', content: json('RecurringList', { series: [exampleSeries] }) }, ...errors },
    },
  },
  '/v1/users/{userId}': {
    delete: {
      operationId: 'eraseUser',
      summary: 'Erase the user everywhere',
      description:
        "Deletes every connection of the user at TrueLayer and here (tokens included), then the user's data in every service: connect sessions, fetch state, enrichment rules, accounts, transactions, balances, edits and recurring series. The erasure travels through the services in the user's order, so nothing fetched before it survives; its completion is confirmed by a ChangeEvent with `erasure` on ais.ledger.v1 and by the status resource in `Location`. Idempotent: repeating it answers 202 again with a new erasure id that finds nothing left.",
      parameters: [userId],
      responses: {
        '202': {
          description: 'Erasure accepted and in progress',
          headers: { Location: { description: 'The status resource of the erasure.', schema: { type: 'string' }, example: '/v1/users/user-8412/erasures/5b0c8f7e-3d2a-4c1b-9e8f-7a6b5c4d3e2f' } },
          content: json('ErasureAccepted', { erasure_id: '5b0c8f7e-3d2a-4c1b-9e8f-7a6b5c4d3e2f', status: 'in_progress', requested_at: '2026-02-04T09:30:00.000Z', connections_deleted: 1, deleted_at_truelayer: 1 }),
        },
        ...errors,
      },
    },
  },
  '/v1/users/{userId}/erasures/{erasureId}': {
    get: {
      operationId: 'getErasure',
      summary: 'Status of an erasure',
      description: '`in_progress` until the last service (reconciliation) has deleted the data and logged it, then `completed` with what each service deleted.',
      parameters: [userId, pathParam('erasureId', erasureIdParam)],
      responses: {
        '200': {
          description: 'The erasure',
          content: json('Erasure', {
            erasure_id: '5b0c8f7e-3d2a-4c1b-9e8f-7a6b5c4d3e2f',
            status: 'completed',
            reason: 'user_request',
            requested_at: '2026-02-04T09:30:00.000Z',
            connection_ids: ['conn_6c1f9a2e'],
            account_ids: ['acc_91b7'],
            steps: [
              { service: 'token-vault', documents_deleted: 1, completed_at: '2026-02-04T09:30:01.000Z', detail: '1 connection deleted at TrueLayer' },
              { service: 'reconciliation', documents_deleted: 214, completed_at: '2026-02-04T09:30:03.000Z', detail: '' },
            ],
          }),
        },
        ...errors,
      },
    },
  },
} as const;

const category = { type: ['object', 'null'], properties: { primary: { type: 'string' }, detailed: { type: 'string' }, source: { type: 'string' }, confidence: { type: 'number' }, version: nullable('string') } };
const userEdit = { type: ['object', 'null'], properties: { category_override: nullable('string'), notes: nullable('string'), tags: { type: 'array', items: { type: 'string' } }, hidden: { type: 'boolean' }, updated_at: date } };
const total = { type: 'object', properties: { primary: nullable('string'), detailed: nullable('string'), total: amount, currency: { type: 'string' }, count: { type: 'integer' } } };

export const readApiSchemas = {
  Balance: { type: 'object', properties: { account_id: { type: 'string' }, currency: { type: 'string' }, current: amount, available: nullable('string'), overdraft: nullable('string'), credit_limit: nullable('string'), as_of: date } },
  Account: {
    type: 'object',
    properties: {
      account_id: { type: 'string', description: 'Stable across re-consents.' },
      kind: { enum: ['account', 'card'] },
      display_name: { type: 'string' },
      account_type: { type: 'string' },
      currency: { type: 'string' },
      provider_id: { type: 'string' },
      connection_id: { type: 'string' },
      number_last4: nullable('string'),
      sort_code: nullable('string'),
      card_network: nullable('string'),
      latest_balance: { oneOf: [ref('Balance'), { type: 'null' }] },
      user_edit: userEdit,
      updated_at: date,
    },
  },
  AccountList: { type: 'object', properties: { accounts: { type: 'array', items: ref('Account') }, next_page_token: nullable('string') } },
  BalanceList: { type: 'object', properties: { balances: { type: 'array', items: ref('Balance') }, next_page_token: nullable('string') } },
  Transaction: {
    type: 'object',
    properties: {
      transaction_id: { type: 'string', description: 'Stable across re-fetches, re-consents and pending to booked.' },
      account_id: { type: 'string' },
      status: { enum: ['booked', 'pending'] },
      booked_at: date,
      amount: { ...amount, description: 'Negative = money out, on accounts and cards alike.' },
      currency: { type: 'string' },
      description: { type: 'string' },
      transaction_type: { type: 'string' },
      transaction_category: { type: 'string' },
      merchant_name: nullable('string'),
      merchant_key: nullable('string'),
      category: { ...category, description: "What the user sees: the user's override, else the enrichment." },
      enriched_category: category,
      user_edit: userEdit,
      recurring: { type: ['object', 'null'], properties: { series_id: { type: 'string' }, cadence: { type: 'string' } } },
      transfer_pair_id: { type: ['string', 'null'], description: 'The other side of a transfer between the user\'s own accounts.' },
      running_balance: { type: ['object', 'null'], properties: { amount, currency: { type: 'string' } } },
      normalised_provider_transaction_id: { type: ['string', 'null'], description: "TrueLayer's stable id of the transaction, when the provider gives one (pending rows often have none)." },
      provider_transaction_id: { type: ['string', 'null'], description: "The bank's own id, when sent." },
      updated_at: date,
    },
  },
  TransactionList: { type: 'object', properties: { transactions: { type: 'array', items: ref('Transaction') }, next_page_token: nullable('string') } },
  Changes: {
    type: 'object',
    required: ['added', 'modified', 'removed', 'accounts', 'next_cursor', 'has_more'],
    properties: {
      added: { type: 'array', items: ref('Transaction') },
      modified: { type: 'array', items: ref('Transaction') },
      removed: { type: 'array', items: { type: 'object', properties: { transaction_id: { type: 'string' }, account_id: { type: 'string' } } } },
      accounts: { type: 'array', items: ref('Account'), description: 'Accounts added or changed (including a new balance).' },
      next_cursor: { type: 'string' },
      has_more: { type: 'boolean' },
    },
  },
  TransactionEdit: fromZod(transactionEditBody),
  AccountEdit: fromZod(accountEditBody),
  TransactionEditResult: { type: 'object', properties: { applied: { type: 'boolean' }, request_id: { type: 'string' }, transaction: { oneOf: [ref('Transaction'), { type: 'null' }] } } },
  AccountEditResult: { type: 'object', properties: { applied: { type: 'boolean' }, request_id: { type: 'string' }, account: { oneOf: [ref('Account'), { type: 'null' }] } } },
  SpendingSummary: {
    type: 'object',
    properties: {
      months: {
        type: 'array',
        items: { type: 'object', properties: { month: { type: 'string', example: '2026-01' }, spending: { type: 'array', items: total }, income: { type: 'array', items: total }, own_transfers: { type: 'integer' } } },
      },
    },
  },
  RecurringSeries: {
    type: 'object',
    properties: {
      series_id: { type: 'string' },
      merchant_name: { type: 'string' },
      merchant_key: { type: 'string' },
      account_id: { type: 'string' },
      cadence: { enum: ['weekly', 'fortnightly', 'four_weekly', 'monthly', 'quarterly', 'yearly'] },
      amount,
      currency: { type: 'string' },
      last_date: date,
      next_expected_date: date,
      occurrences: { type: 'integer' },
      direction: { enum: ['outflow', 'inflow'] },
      primary_category: nullable('string'),
      detailed_category: nullable('string'),
      source: { enum: ['history', 'standing_order', 'direct_debit'] },
      active: { type: 'boolean' },
    },
  },
  RecurringList: { type: 'object', properties: { series: { type: 'array', items: ref('RecurringSeries') } } },
  ErasureAccepted: {
    type: 'object',
    properties: {
      erasure_id: { type: 'string', format: 'uuid' },
      status: { const: 'in_progress' },
      requested_at: date,
      connections_deleted: { type: 'integer', description: 'Connections deleted (0 when an earlier erasure already did).' },
      deleted_at_truelayer: { type: 'integer', description: 'Of those, deleted at TrueLayer too (the others had no usable token; logged).' },
    },
  },
  Erasure: {
    type: 'object',
    properties: {
      erasure_id: { type: 'string', format: 'uuid' },
      status: { enum: ['in_progress', 'completed'] },
      reason: { enum: ['user_request', 'retention'] },
      requested_at: date,
      connection_ids: { type: 'array', items: { type: 'string' } },
      account_ids: { type: 'array', items: { type: 'string' }, description: 'Internal account ids whose data was deleted.' },
      steps: {
        type: 'array',
        items: { type: 'object', properties: { service: { type: 'string' }, documents_deleted: { type: 'integer' }, completed_at: date, detail: { type: 'string' } } },
      },
    },
  },
} as const;
