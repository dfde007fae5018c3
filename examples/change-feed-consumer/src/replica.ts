/**
 * A downstream copy of one user's accounts and transactions, kept up to date from the change feed. Applying is
 * idempotent: a change is an upsert (or a delete) of the document's latest state by its stable id, so a page or an
 * event that arrives twice leaves the copy as it was. The copy and its position in the feed (the HTTP cursor, or
 * the last Kafka sequence number applied) are saved together (state-file.ts), so they never disagree.
 */
import type { eventsV1 } from '@ais/contracts-proto-ts';

type Json = Record<string, unknown>;

export interface Replica {
  userId: string;
  /** HTTP: `next_cursor` of the last page applied ('' = from the start). */
  cursor: string;
  /** Kafka: the highest `seq` applied (decimal string; '0' = none). */
  seq: string;
  /** By transaction id (the read API's JSON, or the ChangeEvent's proto3 JSON). */
  transactions: Record<string, Json>;
  /** By account id. */
  accounts: Record<string, Json>;
  /** Counters of what was applied (for logs and tests). */
  applied: { upserted: number; removed: number; skipped: number };
}

export function emptyReplica(userId: string): Replica {
  return { userId, cursor: '', seq: '0', transactions: {}, accounts: {}, applied: { upserted: 0, removed: 0, skipped: 0 } };
}

/** One page of GET /v1/users/{userId}/changes. */
export interface ChangesPage {
  added: Json[];
  modified: Json[];
  removed: { transaction_id: string; account_id?: string }[];
  accounts: Json[];
  next_cursor: string;
  has_more: boolean;
}

/** Applies one page of the HTTP feed and moves the cursor to its `next_cursor`. */
export function applyPage(replica: Replica, page: ChangesPage): Replica {
  const next: Replica = { ...replica, transactions: { ...replica.transactions }, accounts: { ...replica.accounts }, applied: { ...replica.applied } };
  for (const t of [...page.added, ...page.modified]) {
    next.transactions[String(t['transaction_id'])] = t;
    next.applied.upserted += 1;
  }
  for (const r of page.removed) {
    delete next.transactions[r.transaction_id];
    next.applied.removed += 1;
  }
  for (const a of page.accounts) {
    next.accounts[String(a['account_id'])] = a;
    next.applied.upserted += 1;
  }
  next.cursor = page.next_cursor;
  return next;
}

/**
 * Applies one ChangeEvent of ais.ledger.v1 (decoded, then turned into JSON with ts-proto's `toJSON`). Events of a
 * user arrive in `seq` order, possibly more than once (at least once): one whose seq is not above the last applied
 * is skipped.
 */
export function applyChangeEvent(replica: Replica, event: eventsV1.ChangeEvent, json: Json): Replica {
  if (BigInt(event.seq || '0') <= BigInt(replica.seq)) return { ...replica, applied: { ...replica.applied, skipped: replica.applied.skipped + 1 } };
  const next: Replica = { ...replica, transactions: { ...replica.transactions }, accounts: { ...replica.accounts }, applied: { ...replica.applied }, seq: event.seq };
  const removed = event.kind === 3; // CHANGE_KIND_REMOVED
  const e = event.entity;
  switch (e?.$case) {
    case 'transaction':
      if (removed) {
        delete next.transactions[e.transaction.transactionId];
        next.applied.removed += 1;
      } else {
        next.transactions[e.transaction.transactionId] = json['transaction'] as Json;
        next.applied.upserted += 1;
      }
      break;
    case 'account':
      next.accounts[e.account.accountId] = json['account'] as Json;
      next.applied.upserted += 1;
      break;
    case 'balance': {
      const account = next.accounts[e.balance.accountId];
      if (account) next.accounts[e.balance.accountId] = { ...account, latestBalance: json['balance'] };
      next.applied.upserted += 1;
      break;
    }
    case 'erasure': {
      // the platform deleted the user's data (or these accounts'): so does the copy
      const accounts = new Set(e.erasure.accountIds);
      const all = e.erasure.reason === 'user_request';
      for (const [id, t] of Object.entries(next.transactions)) if (all || accounts.has(String(t['accountId']))) delete next.transactions[id];
      for (const id of Object.keys(next.accounts)) if (all || accounts.has(id)) delete next.accounts[id];
      next.applied.removed += 1;
      break;
    }
    case 'userEdit': {
      // the user's edit of a transaction or account comes as its own change (the edited document's seq stays):
      // store it on the document (its `category` for display is the edit's `categoryOverride` when one is set)
      const edit = (json['userEdit'] as Record<string, unknown> | undefined)?.['edit'];
      const target = e.userEdit.target === 'account' ? next.accounts : next.transactions;
      const doc = target[e.userEdit.targetId];
      if (doc) target[e.userEdit.targetId] = { ...doc, userEdit: edit };
      next.applied.upserted += 1;
      break;
    }
    default:
      next.applied.skipped += 1;
  }
  return next;
}
