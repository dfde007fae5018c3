/*
 * The read-api benchmark's baseline: a bare Express + MongoDB driver server, started as its own process by the
 * benchmark (as the gateway and reconciliation are), answering the two read routes with ONE query each on
 * reconciliation's own collection, the query that returns the data on the platform's path:
 *
 * - GET /v1/users/:userId/transactions?page_size=N   (default 50, at most 500): the user's live transactions,
 *   newest first: find {clientId, userId, removed: false}, sort {clientId, userId, bookedAt: -1, _id: -1}, hint
 *   `transactions_user_timeline`, limit N + 1 (data/queries.ts `cursors.transactions` without filters, which since
 *   7360408 also projects the view's fields: this server fetches whole documents, as a first driver version would).
 * - GET /v1/users/:userId/changes?cursor=C&count=N   (default 100, at most 500; cursor = reconciliation's opaque
 *   {s: seq}): the transaction changes after seq C: find {userId, seq > C}, sort {userId, seq}, limit N + 1
 *   (data/store.ts `cursors.transactionChanges`), rows of this client only.
 *
 * The bearer key is compared with READ_BARE_API_KEY in memory (constant time): a real client sends it, a bare
 * server checks it without a store. JSON in the gateway's shapes (snake_case, the same fields), so both sides send
 * about the same bytes. Env: MONGODB_URI, MONGODB_DB, READ_BARE_CLIENT_ID, READ_BARE_API_KEY. Prints
 * {"msg":"service ready","httpPort":N} when listening on 127.0.0.1; SIGTERM closes it.
 */
import express, { type Request, type Response } from 'express';
import { MongoClient, type Document } from 'mongodb';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

const need = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : null);
const orNull = (s: unknown) => (typeof s === 'string' && s !== '' ? s : null);
const signed = (amount: string, type: string) => (type === 'DEBIT' && !amount.startsWith('-') ? `-${amount}` : amount);

function categoryJson(e: Document | undefined): Document | null {
  if (!e?.['primary']) return null;
  return { primary: e['primary'], detailed: e['detailed'] ?? '', source: e['source'] ?? '', confidence: e['confidence'] ?? 0, version: orNull(e['version']) };
}

function transactionJson(d: Document): Document {
  const enriched = categoryJson(d['enrichment'] as Document | undefined);
  return {
    transaction_id: d['_id'],
    account_id: d['accountId'],
    status: d['status'],
    booked_at: iso(d['bookedAt']),
    amount: signed(String(d['amount']), String(d['transactionType'])),
    currency: d['currency'],
    description: d['description'],
    transaction_type: d['transactionType'],
    transaction_category: d['transactionCategory'],
    merchant_name: orNull(d['enrichment']?.['merchantName'] || d['merchantName']),
    merchant_key: orNull(d['enrichment']?.['merchantKey']),
    category: enriched,
    enriched_category: enriched,
    user_edit: null,
    recurring: d['recurring'] ? { series_id: d['recurring']['seriesId'], cadence: d['recurring']['cadence'] } : null,
    transfer_pair_id: orNull(d['transferPairId']),
    running_balance: d['runningBalance'] ?? null,
    normalised_provider_transaction_id: orNull(d['normalisedProviderTransactionId']),
    provider_transaction_id: orNull(d['providerTransactionId']),
    updated_at: iso(d['updatedAt']),
  };
}

function size(value: unknown, def: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new RangeError('size must be 1..500');
  return n;
}

function seqOf(cursor: unknown): number {
  if (cursor === undefined || cursor === '') return 0;
  const s = (JSON.parse(Buffer.from(String(cursor), 'base64url').toString('utf8')) as { s?: unknown }).s;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw new RangeError('bad cursor');
  return s;
}

async function main(): Promise<void> {
  const clientId = need('READ_BARE_CLIENT_ID');
  const keyHash = createHash('sha256').update(need('READ_BARE_API_KEY')).digest();
  const mongo = new MongoClient(need('MONGODB_URI'), { retryWrites: false });
  await mongo.connect();
  const transactions = mongo.db(need('MONGODB_DB')).collection('transactions');
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const authorised = (req: Request, res: Response): boolean => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (m?.[1] && timingSafeEqual(createHash('sha256').update(m[1]).digest(), keyHash)) return true;
    res.status(401).json({ code: 'invalid_api_key' });
    return false;
  };
  app.get('/v1/users/:userId/transactions', async (req, res) => {
    if (!authorised(req, res)) return;
    try {
      const n = size(req.query['page_size'], 50);
      const docs = await transactions
        .find({ clientId, userId: req.params.userId, removed: false })
        .sort({ clientId: 1, userId: 1, bookedAt: -1, _id: -1 })
        .hint('transactions_user_timeline')
        .limit(n + 1)
        .toArray();
      const page = docs.slice(0, n);
      const last = page[page.length - 1];
      res.setHeader('Cache-Control', 'no-store');
      res.json({
        transactions: page.map(transactionJson),
        next_page_token: docs.length > n && last ? Buffer.from(JSON.stringify({ b: iso(last['bookedAt']), i: last['_id'] })).toString('base64url') : null,
      });
    } catch (error) {
      res.status(error instanceof RangeError ? 400 : 500).json({ code: 'error', message: (error as Error).message });
    }
  });
  app.get('/v1/users/:userId/changes', async (req, res) => {
    if (!authorised(req, res)) return;
    try {
      const n = size(req.query['count'], 100);
      const since = seqOf(req.query['cursor']);
      const docs = (await transactions.find({ userId: req.params.userId, seq: { $gt: since } }).sort({ userId: 1, seq: 1 }).limit(n + 1).toArray()).filter((d) => d['clientId'] === clientId);
      const page = docs.slice(0, n);
      const added = page.filter((d) => !d['removed'] && Number(d['createdSeq']) > since);
      const modified = page.filter((d) => !d['removed'] && Number(d['createdSeq']) <= since);
      const removed = page.filter((d) => d['removed']);
      const next = page.length > 0 ? Number(page[page.length - 1]!['seq']) : since;
      res.setHeader('Cache-Control', 'no-store');
      res.json({
        added: added.map(transactionJson),
        modified: modified.map(transactionJson),
        removed: removed.map((d) => ({ transaction_id: d['_id'], account_id: d['accountId'] })),
        accounts: [],
        next_cursor: Buffer.from(JSON.stringify({ s: next })).toString('base64url'),
        has_more: docs.length > n,
      });
    } catch (error) {
      res.status(error instanceof RangeError ? 400 : 500).json({ code: 'error', message: (error as Error).message });
    }
  });
  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ msg: 'service ready', httpPort: (server.address() as AddressInfo).port })}\n`);
  });
  server.keepAliveTimeout = 65_000;
  process.on('SIGTERM', () => {
    server.close(() => void mongo.close().then(() => process.exit(0)));
    server.closeIdleConnections();
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
