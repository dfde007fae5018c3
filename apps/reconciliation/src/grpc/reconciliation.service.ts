import type { reconciliationV1 } from '@ais/contracts-proto-ts';
import { AppError, isOpaqueId, requireIds } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import type { ReconciliationStore } from '../data/store';
import { accountView } from '../domain/view';

export function encodePageToken(lastId: string): string {
  return Buffer.from(JSON.stringify({ a: lastId }), 'utf8').toString('base64url');
}

export function decodePageToken(token: string): string | undefined {
  if (token === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown };
    if (typeof parsed.a === 'string' && isOpaqueId(parsed.a)) return parsed.a;
  } catch {
    // fall through
  }
  throw AppError.invalid('invalid_page_token', 'page_token is not one this service issued', [{ field: 'page_token', description: 'malformed' }]);
}

export function reconciliationHandlers(deps: { store: ReconciliationStore }): ServiceHandlers<typeof reconciliationV1.ReconciliationServiceService> {
  return {
    async listAccounts(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId });
      const size = req.pageSize === 0 ? 100 : Math.min(req.pageSize, 500);
      const after = decodePageToken(req.pageToken);
      const docs = await deps.store.accountsPage(req.clientId, req.userId, size + 1, after);
      const page = docs.slice(0, size);
      const last = page[page.length - 1];
      return {
        accounts: page.map((d) => accountView(d, undefined, undefined)),
        nextPageToken: docs.length > size && last ? encodePageToken(last._id) : '',
      };
    },
    // placeholders until the read API lands (this session, issue 10)
    getBalanceHistory: notYet,
    listTransactions: notYet,
    getChanges: notYet,
    editTransaction: notYet,
    editAccount: notYet,
    getSpendingSummary: notYet,
    listRecurring: notYet,
  };
}

const notYet = (): Promise<never> => Promise.reject(new AppError({ code: 'not_implemented', message: 'not implemented yet', kind: 'not_implemented' }));
