/**
 * Read-ahead of keyset pages: a client paging through a history asks for page n+1 as soon as page n arrives, and
 * while page n travels (gRPC, the gateway's JSON, the client) the store and this process would sit idle. So once a
 * page that was itself asked for with a page token goes out with a next token, the handler builds the next page
 * (its store query, the user's edits of its rows, their views), and the request that brings that token takes it
 * instead of building it again.
 *
 * Pages read ahead are only served if nothing the page shows can have changed since the read began. The version is
 * the user's `user_state` (`seq`, `committedSeq`) read at the start of the request that began the read: every
 * stored change of a user's data (transaction, account, balance, user edit) takes a sequence number before it is
 * written (data/store.ts, "The change feed and the single writer"), so an unchanged `seq` means no write began in
 * between, and `seq === committedSeq` at the start means none was in flight. The serving request reads the version
 * again (beside its user probe, no extra round trip) and also compares the page's whole filter (hidden ids, the
 * overrides of a category filter). A page's views carry the user's edits of its rows (notes, tags, overrides),
 * which take sequence numbers too. Anything else, or a page older than `ttlMs`, and the request builds the page itself.
 *
 * Per process and bounded: at most `maxEntries` reads in memory (the oldest dropped first), each one page of
 * views, each deleted once `ttlMs` has passed (so rows nobody asked for are not kept, an erased user's
 * included). Behind several instances a token may reach another one, which then queries as usual. A client that
 * stops paging leaves one unused read behind per stop: `ais_reconciliation_read_ahead_total{outcome}` counts them.
 */
import { lazyInstruments } from '@ais/platform-telemetry';
import type { UserVersion } from '../data/queries';
import { METER_NAME } from '../metrics';

export type ReadAheadOutcome = 'started' | 'hit' | 'stale' | 'expired' | 'dropped' | 'failed';

const counter = lazyInstruments(METER_NAME, (meter) =>
  meter.createCounter('ais_reconciliation_read_ahead_total', {
    description: 'Transaction pages read ahead for a paging client, by what became of them: started, hit (served), stale (the user changed), expired, dropped (the cache was full), failed',
  }),
);
const count = (outcome: ReadAheadOutcome) => counter().add(1, { outcome });

interface Entry<T> {
  version: number;
  filter: string;
  at: number;
  page: Promise<T | undefined>;
  /** Deletes the entry once it may no longer be served, so a page nobody asks for is not kept in memory. */
  timer: NodeJS.Timeout;
}

export interface ReadAheadOptions {
  /** Reads held at once (0 turns read-ahead off). */
  maxEntries: number;
  /** How long a page read ahead may be served after its read began. */
  ttlMs: number;
  now?: () => number;
}

export class ReadAhead<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly now: () => number;

  constructor(private readonly o: ReadAheadOptions) {
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Starts `read` for the page `key` names, unless read-ahead is off or a write was in flight when `version` was read.
   * `filter` is the page's whole filter as the serving request must find it.
   */
  start(key: string, version: UserVersion, filter: string, read: () => Promise<T>): void {
    if (this.o.maxEntries <= 0 || version.seq !== version.committedSeq) return;
    this.remove(key);
    while (this.entries.size >= this.o.maxEntries) {
      this.remove(this.entries.keys().next().value as string);
      count('dropped');
    }
    const page = read().catch(() => {
      count('failed');
      return undefined;
    });
    const timer = setTimeout(() => {
      if (this.remove(key)) count('expired');
    }, this.o.ttlMs);
    timer.unref();
    this.entries.set(key, { version: version.seq, filter, at: this.now(), page, timer });
    count('started');
  }

  private remove(key: string): Entry<T> | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    clearTimeout(e.timer);
    this.entries.delete(key);
    return e;
  }

  /**
   * The page read ahead for `key`, if it may be served now (same version, same filter, not expired); else
   * undefined and the caller builds the page. Either way the entry is gone: a page is served from it at most once.
   */
  async take(key: string, version: UserVersion, filter: string): Promise<T | undefined> {
    const e = this.remove(key);
    if (!e) return undefined;
    if (this.now() - e.at > this.o.ttlMs) {
      count('expired');
      return undefined;
    }
    if (e.version !== version.seq || version.seq !== version.committedSeq || e.filter !== filter) {
      count('stale');
      return undefined;
    }
    const page = await e.page;
    if (page) count('hit');
    return page;
  }
}
