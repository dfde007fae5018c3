/**
 * The read API routes: each maps to its reconciliation gRPC call with the caller's client id, answers snake_case
 * JSON, and turns bad input and gRPC errors into problem JSON. The reconciliation fake keeps data per (client, user)
 * the way the real service does, so another client's key gets reconciliation's NOT_FOUND as a 404.
 */
import { reconciliationV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import request from 'supertest';
import { openApiDocument } from '../src/api/openapi';
import { accountJson, transactionJson } from '../src/api/read.routes';
import { harness, type Harness } from './harness';

const TX: reconciliationV1.Transaction = {
  ...reconciliationV1.Transaction.fromPartial({}),
  transactionId: 'txn_1',
  accountId: 'acc_1',
  status: 'booked',
  bookedAt: new Date('2026-02-03T00:00:00Z'),
  amount: '-4.20',
  currency: 'GBP',
  description: 'PRET A MANGER',
  transactionType: 'DEBIT',
  transactionCategory: 'PURCHASE',
  merchantName: 'Pret A Manger',
  merchantKey: 'pret-a-manger',
  category: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', source: 'user', reason: 'override', confidence: 1, version: '' },
  enrichedCategory: { primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_GROCERIES', source: 'merchant', reason: 'x', confidence: 0.8, version: 'e1' },
  userEdit: { categoryOverride: 'FOOD_AND_DRINK_COFFEE', notes: '', tags: ['work'], hidden: false, updatedAt: new Date('2026-02-04T00:00:00Z') },
  updatedAt: new Date('2026-02-04T00:00:00Z'),
  seq: '12',
};
const ACCOUNT: reconciliationV1.Account = {
  ...reconciliationV1.Account.fromPartial({}),
  accountId: 'acc_1',
  userId: 'user-1',
  connectionId: 'conn-1',
  displayName: 'Club Lloyds',
  accountType: 'TRANSACTION',
  currency: 'GBP',
  kind: 'account',
  providerId: 'ob-lloyds',
  numberLast4: '5678',
  sortCode: '30-94-57',
  latestBalance: { accountId: 'acc_1', currency: 'GBP', current: '1204.17', available: '2204.17', overdraft: '1000', creditLimit: '', asOf: new Date('2026-02-04T06:00:00Z') },
};

function withReconciliation(h: Harness, owner: () => string) {
  const guard = (r: { clientId: string; userId: string }) => {
    if (r.clientId !== owner() || r.userId !== 'user-1') throw AppError.notFound('user_not_found', 'no data for this user under this client');
  };
  const recon = {
    listAccounts: jest.fn(async (r: reconciliationV1.ListAccountsRequest) => (guard(r), { accounts: [ACCOUNT], nextPageToken: 'p2' })),
    getBalanceHistory: jest.fn(async (r: reconciliationV1.GetBalanceHistoryRequest) => (guard(r), { balances: [ACCOUNT.latestBalance!], nextPageToken: '' })),
    listTransactions: jest.fn(async (r: reconciliationV1.ListTransactionsRequest) => {
      guard(r);
      if (r.pageToken === 'forged') throw AppError.invalid('invalid_page_token', 'page_token is not one this service issued', [{ field: 'page_token', description: 'malformed' }]);
      return { transactions: [TX], nextPageToken: 'next' };
    }),
    getChanges: jest.fn(async (r: reconciliationV1.GetChangesRequest) => (guard(r), { added: [TX], modified: [], removed: [{ ...TX, transactionId: 'txn_0' }], accounts: [ACCOUNT], nextCursor: 'c2', hasMore: true })),
    editTransaction: jest.fn(async (r: reconciliationV1.EditTransactionRequest) => {
      guard(r);
      if (r.applyToMerchant) throw new AppError({ code: 'user_rules_unavailable', message: 'merchant rules are not available', kind: 'failed_precondition' });
      return r.requestId === 'slow' ? { applied: false, requestId: r.requestId, transaction: undefined } : { applied: true, requestId: r.requestId || 'generated', transaction: TX };
    }),
    editAccount: jest.fn(async (r: reconciliationV1.EditAccountRequest) => (guard(r), { applied: true, requestId: 'generated', account: ACCOUNT })),
    getSpendingSummary: jest.fn(async (r: reconciliationV1.GetSpendingSummaryRequest) => (guard(r), {
      months: [{ month: '2026-01', spending: [{ primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', total: '42.60', currency: 'GBP', count: 11 }], income: [], ownTransfers: 2 }],
    })),
    listRecurring: jest.fn(async (r: reconciliationV1.ListRecurringRequest) => (guard(r), { series: [] })),
  };
  (h.deps.downstreams as { reconciliation?: unknown }).reconciliation = recon;
  return recon;
}

describe('read API routes', () => {
  let h: Harness;
  let recon: ReturnType<typeof withReconciliation>;
  let clientId = '';
  let auth: { authorization: string };
  beforeEach(async () => {
    h = harness();
    recon = withReconciliation(h, () => clientId);
    const c = await h.newClient();
    clientId = c.clientId;
    auth = { authorization: `Bearer ${c.key}` };
  });

  it('GET accounts: the caller client id, snake_case, amounts as strings, masked number', async () => {
    const res = await request(h.pub).get('/v1/users/user-1/accounts?page_size=10&page_token=abc').set(auth).expect(200);
    expect(recon.listAccounts).toHaveBeenCalledWith({ clientId, userId: 'user-1', pageSize: 10, pageToken: 'abc' });
    expect(res.body).toEqual({ accounts: [accountJson(ACCOUNT)], next_page_token: 'p2' });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.accounts[0]).toMatchObject({ account_id: 'acc_1', number_last4: '5678', latest_balance: { current: '1204.17', credit_limit: null, as_of: '2026-02-04T06:00:00.000Z' }, user_edit: null });
  });

  it('GET balances and recurring', async () => {
    const b = await request(h.pub).get('/v1/users/user-1/accounts/acc_1/balances').set(auth).expect(200);
    expect(recon.getBalanceHistory).toHaveBeenCalledWith({ clientId, userId: 'user-1', accountId: 'acc_1', pageSize: 0, pageToken: '' });
    expect(b.body).toEqual({ balances: [expect.objectContaining({ account_id: 'acc_1', current: '1204.17' })], next_page_token: null });
    expect((await request(h.pub).get('/v1/users/user-1/recurring').set(auth).expect(200)).body).toEqual({ series: [] });
  });

  it('GET transactions: every query parameter reaches the call', async () => {
    const res = await request(h.pub)
      .get('/v1/users/user-1/transactions')
      .query({ account_id: 'acc_1', from: '2026-01-01', to: '2026-02-01T00:00:00Z', category: 'FOOD_AND_DRINK', merchant: 'pret-a-manger', q: 'pret (london)', status: 'booked', include_hidden: 'true', page_size: '25', page_token: 'tok' })
      .set(auth)
      .expect(200);
    expect(recon.listTransactions).toHaveBeenCalledWith({
      clientId,
      userId: 'user-1',
      pageSize: 25,
      pageToken: 'tok',
      accountId: 'acc_1',
      from: new Date('2026-01-01T00:00:00Z'),
      to: new Date('2026-02-01T00:00:00Z'),
      category: 'FOOD_AND_DRINK',
      merchantKey: 'pret-a-manger',
      text: 'pret (london)',
      status: 'booked',
      includeHidden: true,
    });
    expect(res.body.next_page_token).toBe('next');
    expect(res.body.transactions[0]).toEqual(transactionJson(TX));
    expect(res.body.transactions[0]).toMatchObject({
      amount: '-4.20',
      category: { detailed: 'FOOD_AND_DRINK_COFFEE', source: 'user' },
      enriched_category: { detailed: 'FOOD_AND_DRINK_GROCERIES' },
      user_edit: { category_override: 'FOOD_AND_DRINK_COFFEE', notes: null, tags: ['work'] },
      transfer_pair_id: null,
    });
  });

  it('bad query parameters: 400 problem JSON naming the parameter, no call made', async () => {
    for (const [qs, field] of [
      ['page_size=0', 'page_size'],
      ['page_size=501', 'page_size'],
      ['from=yesterday', 'from'],
      ['status=settled', 'status'],
      ['category=groceries', 'category'],
      ['include_hidden=yes', 'include_hidden'],
      ['unknown=1', '(query)'],
    ] as const) {
      const res = await request(h.pub).get(`/v1/users/user-1/transactions?${qs}`).set(auth).expect(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body).toMatchObject({ status: 400, code: 'invalid_query' });
      expect((res.body.errors as { field: string }[]).map((e) => e.field)).toContain(field);
    }
    expect((await request(h.pub).get('/v1/users/user-1/spending-summary?from=2026-1').set(auth).expect(400)).body.errors[0].field).toBe('from');
    expect((await request(h.pub).get('/v1/users/user-1/changes?count=9999').set(auth).expect(400)).body.errors[0].field).toBe('count');
    expect(recon.listTransactions).not.toHaveBeenCalled();
  });

  it("reconciliation's INVALID_ARGUMENT (a forged page token) is a 400 naming the field", async () => {
    const res = await request(h.pub).get('/v1/users/user-1/transactions?page_token=forged').set(auth).expect(400);
    expect(res.body).toMatchObject({ code: 'invalid_page_token', errors: [{ field: 'page_token', description: 'malformed' }] });
  });

  it('GET changes: cursor and count pass through; removed carries ids only', async () => {
    const res = await request(h.pub).get('/v1/users/user-1/changes?cursor=c1&count=50').set(auth).expect(200);
    expect(recon.getChanges).toHaveBeenCalledWith({ clientId, userId: 'user-1', cursor: 'c1', count: 50 });
    expect(res.body).toEqual({ added: [transactionJson(TX)], modified: [], removed: [{ transaction_id: 'txn_0', account_id: 'acc_1' }], accounts: [accountJson(ACCOUNT)], next_cursor: 'c2', has_more: true });
  });

  it('PATCH transaction: present fields set, null clears, Idempotency-Key is the request id; 200 applied, 202 queued', async () => {
    const res = await request(h.pub)
      .patch('/v1/users/user-1/transactions/txn_1')
      .set(auth)
      .set('Idempotency-Key', 'key-1')
      .send({ category_override: 'FOOD_AND_DRINK_COFFEE', notes: null, tags: ['work'] })
      .expect(200);
    expect(recon.editTransaction).toHaveBeenCalledWith(
      {
        clientId,
        userId: 'user-1',
        transactionId: 'txn_1',
        requestId: 'key-1',
        applyToMerchant: false,
        fields: { setCategoryOverride: true, categoryOverride: 'FOOD_AND_DRINK_COFFEE', setNotes: true, notes: '', setTags: true, tags: ['work'], setHidden: false, hidden: false },
      },
      { deadlineMs: 10_000 },
    );
    expect(res.body).toEqual({ applied: true, request_id: 'key-1', transaction: transactionJson(TX) });
    const queued = await request(h.pub).patch('/v1/users/user-1/transactions/txn_1').set(auth).set('Idempotency-Key', 'slow').send({ hidden: true }).expect(202);
    expect(queued.body).toEqual({ applied: false, request_id: 'slow', transaction: null });
    await request(h.pub).patch('/v1/users/user-1/transactions/txn_1').set(auth).send({ hidden: null }).expect(200);
    expect(recon.editTransaction.mock.calls.at(-1)![0]).toMatchObject({ requestId: '', fields: { setHidden: true, hidden: false, setNotes: false } });
  });

  it('PATCH validation: empty body, unknown field, bad key, category on an account; apply_to_merchant refused is 409', async () => {
    for (const [path, body, key, field] of [
      ['/v1/users/user-1/transactions/txn_1', {}, undefined, '(body)'],
      ['/v1/users/user-1/transactions/txn_1', { colour: 'red' }, undefined, '(body)'],
      ['/v1/users/user-1/transactions/txn_1', { category_override: 'coffee' }, undefined, 'category_override'],
      ['/v1/users/user-1/transactions/txn_1', { tags: 'work' }, undefined, 'tags'],
      ['/v1/users/user-1/transactions/txn_1', { notes: 'x' }, 'has space', 'Idempotency-Key'],
      ['/v1/users/user-1/accounts/acc_1', { category_override: 'INCOME_WAGES' }, undefined, '(body)'],
    ] as const) {
      const r = request(h.pub).patch(path).set(auth);
      if (key) void r.set('Idempotency-Key', key);
      const res = await r.send(body).expect(400);
      expect((res.body.errors as { field: string }[]).map((e) => e.field)).toContain(field);
    }
    expect(recon.editTransaction).not.toHaveBeenCalled();
    expect(recon.editAccount).not.toHaveBeenCalled();
    const refused = await request(h.pub).patch('/v1/users/user-1/transactions/txn_1').set(auth).send({ category_override: 'FOOD_AND_DRINK_COFFEE', apply_to_merchant: true }).expect(409);
    expect(refused.body).toMatchObject({ code: 'user_rules_unavailable' });
  });

  it('PATCH account and GET spending summary', async () => {
    const a = await request(h.pub).patch('/v1/users/user-1/accounts/acc_1').set(auth).send({ notes: 'bills', tags: null }).expect(200);
    expect(recon.editAccount.mock.calls[0]![0]).toMatchObject({ clientId, accountId: 'acc_1', fields: { setNotes: true, notes: 'bills', setTags: true, tags: [], setCategoryOverride: false } });
    expect(a.body).toMatchObject({ applied: true, account: { account_id: 'acc_1' } });
    const s = await request(h.pub).get('/v1/users/user-1/spending-summary?from=2026-01&to=2026-03&account_id=acc_1').set(auth).expect(200);
    expect(recon.getSpendingSummary).toHaveBeenCalledWith({ clientId, userId: 'user-1', fromMonth: '2026-01', toMonth: '2026-03', accountId: 'acc_1' });
    expect(s.body).toEqual({ months: [{ month: '2026-01', spending: [{ primary: 'FOOD_AND_DRINK', detailed: 'FOOD_AND_DRINK_COFFEE', total: '42.60', currency: 'GBP', count: 11 }], income: [], own_transfers: 2 }] });
    await request(h.pub).get('/v1/users/user-1/spending-summary?from=2026-04&to=2026-03').set(auth).expect(400);
  });

  it("another client's API key: every route is a 404 problem (reconciliation scopes by the key's client)", async () => {
    const other = await h.newClient();
    const o = { authorization: `Bearer ${other.key}` };
    const calls = [
      request(h.pub).get('/v1/users/user-1/accounts').set(o),
      request(h.pub).get('/v1/users/user-1/accounts/acc_1/balances').set(o),
      request(h.pub).get('/v1/users/user-1/transactions').set(o),
      request(h.pub).get('/v1/users/user-1/changes').set(o),
      request(h.pub).get('/v1/users/user-1/spending-summary').set(o),
      request(h.pub).get('/v1/users/user-1/recurring').set(o),
      request(h.pub).patch('/v1/users/user-1/transactions/txn_1').set(o).send({ notes: 'x' }),
      request(h.pub).patch('/v1/users/user-1/accounts/acc_1').set(o).send({ notes: 'x' }),
    ];
    for (const c of calls) {
      const res = await c;
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body).toMatchObject({ code: 'user_not_found' });
    }
    expect(recon.listAccounts).toHaveBeenCalledWith(expect.objectContaining({ clientId: other.clientId }));
  });

  it('no API key: 401; no reconciliation configured: 503 problem', async () => {
    await request(h.pub).get('/v1/users/user-1/transactions').expect(401);
    delete (h.deps.downstreams as { reconciliation?: unknown }).reconciliation;
    const res = await request(h.pub).get('/v1/users/user-1/transactions').set(auth).expect(503);
    expect(res.body).toMatchObject({ code: 'reconciliation_unavailable' });
  });

  it('the OpenAPI document lists every read route and its schemas match what the routes answer', () => {
    const paths = openApiDocument.paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths['/v1/users/{userId}/accounts']!)).toEqual(['get']);
    expect(Object.keys(paths['/v1/users/{userId}/accounts/{accountId}']!)).toEqual(['patch']);
    expect(Object.keys(paths['/v1/users/{userId}/transactions/{transactionId}']!)).toEqual(['patch']);
    for (const p of ['/v1/users/{userId}/accounts/{accountId}/balances', '/v1/users/{userId}/transactions', '/v1/users/{userId}/changes', '/v1/users/{userId}/spending-summary', '/v1/users/{userId}/recurring']) {
      expect(Object.keys(paths[p]!)).toEqual(['get']);
    }
    const schemas = openApiDocument.components.schemas as Record<string, { properties: Record<string, unknown> }>;
    expect(Object.keys(transactionJson(TX)).sort()).toEqual(Object.keys(schemas['Transaction']!.properties).sort());
    expect(Object.keys(accountJson(ACCOUNT)).sort()).toEqual(Object.keys(schemas['Account']!.properties).sort());
    const txParams = (paths['/v1/users/{userId}/transactions']!['get'] as { parameters: { name: string; in: string }[] }).parameters.filter((p) => p.in === 'query').map((p) => p.name);
    expect(txParams.sort()).toEqual(['account_id', 'category', 'from', 'include_hidden', 'merchant', 'page_size', 'page_token', 'q', 'status', 'to']);
  });
});
