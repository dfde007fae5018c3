/**
 * Re-enrichment of stored history (after a rules change): reads a user's stored live transactions in pages
 * through `transactions_changes` ({userId, seq}; paging by seq never skips a row, since a row modified meanwhile
 * moves to a higher seq), asks enrichment's CategorizeBatch (with client and user id, so user rules apply), and
 * publishes ReEnrichment events (at most 500 items each) on ais.enriched.v1, keyed by user. The consumer, the
 * user's single writer, then writes only the rows whose enrichment changed, so the change feed reports only those.
 * This function writes nothing to the store itself.
 */
import { bindings, EVENT_TYPES } from '@ais/contracts-events';
import type { enrichmentV1, eventsV1 } from '@ais/contracts-proto-ts';
import type { Logger } from '@ais/platform-logger';
import { newMeta, type EventProducer } from '@ais/platform-kafka';
import { trace } from '@opentelemetry/api';
import type { ReconciliationStore, TransactionDoc } from './store';

/** What re-enrichment needs of enrichment's gRPC client (the generated client, promisified). */
export interface CategorizeClient {
  categorizeBatch(request: enrichmentV1.CategorizeBatchRequest): Promise<enrichmentV1.CategorizeBatchResponse>;
}

export interface ReEnrichDeps {
  store: ReconciliationStore;
  enrichment: CategorizeClient;
  producer: EventProducer;
  logger: Logger;
  topicPrefix?: string;
}

export interface ReEnrichOptions {
  /** Transactions per CategorizeBatch call (at most 1000, the server's limit). */
  pageSize?: number;
  /** Items per ReEnrichment event (at most 500). */
  eventSize?: number;
  /** Users read per page with `all`. */
  userPageSize?: number;
  /**
   * Only the rows of this API client (a new user rule is one client's): the same user id under another client is
   * another user. Without it every row is re-enriched as its own client's.
   */
  clientId?: string;
}

export interface ReEnrichReport {
  users: number;
  transactions: number;
  events: number;
}

export const REENRICH_MAX_ITEMS = 500;
const tracer = trace.getTracer('reconciliation-reenrich');

function request(doc: TransactionDoc, clientId: string, userId: string): enrichmentV1.CategorizeRequest {
  return {
    description: doc.description,
    amount: doc.amount,
    currency: doc.currency,
    providerClassification: doc.classification,
    merchantName: doc.merchantName,
    transactionType: doc.transactionType,
    transactionCategory: doc.transactionCategory,
    clientId,
    userId,
  };
}

function enrichmentOf(r: enrichmentV1.CategorizeResponse): eventsV1.TransactionEnrichment {
  return {
    primaryCategory: r.category,
    detailedCategory: r.subcategory,
    merchantName: r.merchant,
    merchantKey: r.merchantKey,
    source: r.source,
    reason: r.reason,
    confidence: r.confidence,
    version: r.version,
    taxonomy: r.taxonomy,
  };
}

/** Re-enriches one user's stored transactions; returns how many transactions and events. */
export async function reenrichUser(deps: ReEnrichDeps, userId: string, options: ReEnrichOptions = {}): Promise<ReEnrichReport> {
  const pageSize = Math.min(1000, options.pageSize ?? 500);
  const eventSize = Math.min(REENRICH_MAX_ITEMS, options.eventSize ?? REENRICH_MAX_ITEMS);
  const binding = bindings.enriched(deps.topicPrefix ?? '');
  return tracer.startActiveSpan('reenrich user', async (span) => {
    try {
      let after = 0;
      let transactions = 0;
      let events = 0;
      let version = '';
      for (;;) {
        const page = await deps.store.cursors.transactionChanges(userId, after, pageSize).toArray();
        if (page.length === 0) break;
        after = page[page.length - 1]!.seq;
        const live = page.filter((d) => !d.removed && (!options.clientId || d.clientId === options.clientId));
        if (live.length === 0) continue;
        // each row with its own client's rules (one user id may be used by two API clients)
        const res = await deps.enrichment.categorizeBatch({ transactions: live.map((d) => request(d, d.clientId, userId)) });
        if (res.results.length !== live.length) throw new Error(`CategorizeBatch returned ${res.results.length} results for ${live.length} transactions`);
        version = res.results[0]?.version ?? version;
        const byClient = new Map<string, { transactionId: string; enrichment: eventsV1.TransactionEnrichment }[]>();
        live.forEach((d, i) => {
          const items = byClient.get(d.clientId) ?? [];
          items.push({ transactionId: d._id, enrichment: enrichmentOf(res.results[i]!) });
          byClient.set(d.clientId, items);
        });
        const out: eventsV1.EnrichedEvent[] = [];
        for (const [clientId, items] of byClient) {
          for (let i = 0; i < items.length; i += eventSize) {
            out.push({
              meta: newMeta('reconciliation', EVENT_TYPES.reEnrichment),
              userId,
              clientId,
              payload: { $case: 'reEnrichment', reEnrichment: { items: items.slice(i, i + eventSize), reason: `replay:${version}` } },
            });
          }
        }
        await deps.producer.publish(binding, out);
        transactions += live.length;
        events += out.length;
      }
      span.setAttributes({ 'ais.reenrich.transactions': transactions, 'ais.reenrich.events': events });
      deps.logger.info({ userId, transactions, events, version }, 're-enrichment published');
      return { users: 1, transactions, events };
    } finally {
      span.end();
    }
  });
}

/** Re-enriches every user with stored data, paging users by id. */
export async function reenrichAll(deps: ReEnrichDeps, options: ReEnrichOptions = {}): Promise<ReEnrichReport> {
  const total: ReEnrichReport = { users: 0, transactions: 0, events: 0 };
  let after = '';
  for (;;) {
    const users = await deps.store.state
      .find(after ? { _id: { $gt: after } } : {})
      .sort({ _id: 1 })
      .limit(options.userPageSize ?? 200)
      .project<{ _id: string }>({ _id: 1 })
      .toArray();
    if (users.length === 0) return total;
    for (const u of users) {
      const r = await reenrichUser(deps, u._id, options);
      total.users += 1;
      total.transactions += r.transactions;
      total.events += r.events;
    }
    after = users[users.length - 1]!._id;
  }
}
