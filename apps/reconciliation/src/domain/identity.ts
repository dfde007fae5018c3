/**
 * Stable account identity across re-consents (ARCHITECTURE.md invariant 5).
 *
 * TrueLayer's `account_id` belongs to one set of credentials: after a reauth (new `credentials_id`) the same bank
 * account may come back with a new `account_id`. Reconciliation keeps its own internal account id and matches each
 * fetched account or card of a connection against the user's known internal accounts, by rule, strongest first:
 *
 *   1. `provider_account_id`: a known account already carries this TrueLayer id (the same connection again, an
 *      extended consent, a redelivered event).
 *   2. `iban`: same provider, same IBAN.
 *   3. `domestic_number`: same provider, same sort code (or routing number, or BSB) and account number.
 *   4. `card`: same provider, same last four digits and name on card (and network, when both sides have one).
 *   5. `previous_connection`: the account belonged to the connection this one renews (token-vault's authorized
 *      event carries `previous_connection_id`), and display name, type and currency agree. For providers that send
 *      no numbers at all, this is the only link there is.
 *
 * Every rule also requires the same provider, the same kind (account or card), the same currency and no
 * conflicting identifier (both sides have an IBAN, or a domestic number, or a card number, and they differ):
 * two different bank accounts are never merged. Ambiguity never merges either: when a rule finds several known
 * accounts for one fetched account, or several fetched accounts want the same known one, the weaker rules may only
 * choose among those candidates; if that still leaves more than one, the fetched account gets a new internal id and
 * the result says which candidates were ambiguous. Matching is one-to-one within a list.
 *
 * Pure: no I/O. The fields are named as the generated `RawAccount`/`RawCard` of proto/ais/events/v1/raw_events.proto.
 */
import { createHash } from 'node:crypto';

export type AccountKind = 'account' | 'card';

/** An account (`RawAccount`) or card (`RawCard`) of one connection's list, reduced to what identity needs. */
export interface FetchedAccount {
  kind: AccountKind;
  /** TrueLayer's `account_id` (for cards too). */
  accountId: string;
  providerId: string;
  displayName: string;
  currency: string;
  /** `account_type` of accounts, `card_type` of cards. */
  type: string;
  number?: string;
  sortCode?: string;
  iban?: string;
  routingNumber?: string;
  bsb?: string;
  swiftBic?: string;
  partialCardNumber?: string;
  nameOnCard?: string;
  cardNetwork?: string;
  validFrom?: string;
  validTo?: string;
}

/** A known internal account of the user (as stored). */
export interface KnownAccount extends Omit<FetchedAccount, 'accountId'> {
  /** Internal id. */
  id: string;
  connectionId: string;
  /** Every TrueLayer id this account has had (newest last). */
  providerAccountIds: string[];
}

export type MatchRule = 'provider_account_id' | 'iban' | 'domestic_number' | 'card' | 'previous_connection';

export interface IdentityResult {
  fetched: FetchedAccount;
  /** The matched internal account, or undefined for a new one (see `newAccountId`). */
  matchedId?: string;
  rule?: MatchRule;
  /** Known accounts that fitted as well as another one, so none was taken. */
  ambiguousWith: string[];
}

export interface IdentityContext {
  connectionId: string;
  /** The connection this one renews, from token-vault's `ConnectionAuthorized.previous_connection_id`. */
  previousConnectionId?: string;
}

const RULES: readonly MatchRule[] = ['provider_account_id', 'iban', 'domestic_number', 'card', 'previous_connection'];

/** Upper case, no spaces, dashes or dots: "GB29 NWBK 6016-13" and "gb29nwbk601613" are the same. */
export function normaliseIdentifier(value: string | undefined): string {
  return (value ?? '').toUpperCase().replace(/[\s.-]/g, '');
}

function normaliseName(value: string | undefined): string {
  return (value ?? '').toUpperCase().replace(/[^A-Z0-9]+/g, ' ').trim();
}

type Identifiers = Pick<FetchedAccount, 'number' | 'sortCode' | 'iban' | 'routingNumber' | 'bsb' | 'partialCardNumber' | 'nameOnCard' | 'cardNetwork'>;

function domestic(a: Identifiers): string {
  const branch = normaliseIdentifier(a.sortCode) || normaliseIdentifier(a.routingNumber) || normaliseIdentifier(a.bsb);
  const number = normaliseIdentifier(a.number);
  return branch && number ? `${branch}/${number}` : '';
}

function card(a: Identifiers): string {
  const last4 = normaliseIdentifier(a.partialCardNumber).slice(-4);
  const name = normaliseName(a.nameOnCard);
  return last4 && name ? `${last4}/${name}` : '';
}

/** Two identifiers that both exist and differ: the accounts are certainly different. */
function conflicts(a: Identifiers, b: Identifiers): boolean {
  const differ = (x: string, y: string): boolean => x !== '' && y !== '' && x !== y;
  return (
    differ(normaliseIdentifier(a.iban), normaliseIdentifier(b.iban)) ||
    differ(domestic(a), domestic(b)) ||
    differ(normaliseIdentifier(a.partialCardNumber).slice(-4), normaliseIdentifier(b.partialCardNumber).slice(-4)) ||
    differ(normaliseIdentifier(a.cardNetwork), normaliseIdentifier(b.cardNetwork))
  );
}

function compatible(f: FetchedAccount, k: KnownAccount): boolean {
  return f.kind === k.kind && f.providerId === k.providerId && f.currency.toUpperCase() === k.currency.toUpperCase() && !conflicts(f, k);
}

function fits(rule: MatchRule, f: FetchedAccount, k: KnownAccount, ctx: IdentityContext): boolean {
  switch (rule) {
    case 'provider_account_id':
      return f.accountId !== '' && k.providerAccountIds.includes(f.accountId);
    case 'iban': {
      const iban = normaliseIdentifier(f.iban);
      return iban !== '' && iban === normaliseIdentifier(k.iban);
    }
    case 'domestic_number': {
      const d = domestic(f);
      return d !== '' && d === domestic(k);
    }
    case 'card': {
      const c = card(f);
      return f.kind === 'card' && c !== '' && c === card(k);
    }
    case 'previous_connection':
      return (
        (k.connectionId === ctx.previousConnectionId || k.connectionId === ctx.connectionId) &&
        normaliseName(f.displayName) === normaliseName(k.displayName) &&
        f.type.toUpperCase() === k.type.toUpperCase()
      );
  }
}

/**
 * Matches a connection's fetched accounts (or cards) to the user's known internal accounts. Rules are applied in
 * precedence order across the whole list, so a strong match is never taken away by a weaker one of another
 * fetched account; a known account is taken at most once.
 */
export function matchAccounts(fetched: readonly FetchedAccount[], known: readonly KnownAccount[], ctx: IdentityContext): IdentityResult[] {
  const results: IdentityResult[] = fetched.map((f) => ({ fetched: f, ambiguousWith: [] }));
  const taken = new Set<string>();
  // Candidates still allowed per fetched account: undefined = every compatible known account.
  const narrowed = new Map<number, Set<string>>();
  for (const rule of RULES) {
    const wants = new Map<number, KnownAccount[]>();
    results.forEach((r, i) => {
      if (r.matchedId) return;
      const allowed = narrowed.get(i);
      const candidates = known.filter((k) => !taken.has(k.id) && (!allowed || allowed.has(k.id)) && compatible(r.fetched, k) && fits(rule, r.fetched, k, ctx));
      if (candidates.length > 0) wants.set(i, candidates);
    });
    // how many fetched accounts want each known one under this rule
    const demand = new Map<string, number>();
    for (const candidates of wants.values()) for (const k of candidates) demand.set(k.id, (demand.get(k.id) ?? 0) + 1);
    for (const [i, candidates] of wants) {
      const r = results[i]!;
      if (candidates.length === 1 && demand.get(candidates[0]!.id) === 1) {
        r.matchedId = candidates[0]!.id;
        r.rule = rule;
        r.ambiguousWith = [];
        taken.add(r.matchedId);
      } else {
        // ambiguous under this rule: weaker rules may only choose among these candidates
        narrowed.set(i, new Set(candidates.map((k) => k.id)));
        r.ambiguousWith = candidates.map((k) => k.id).sort();
      }
    }
  }
  return results;
}

/**
 * The internal id of an account seen for the first time: derived from the user, provider, kind and the TrueLayer
 * id it was first seen with on its connection, so that replaying the same events into an empty store gives the
 * same ids (deterministic, no counters).
 */
export function newAccountId(userId: string, connectionId: string, f: Pick<FetchedAccount, 'kind' | 'providerId' | 'accountId'>): string {
  const digest = createHash('sha256').update([userId, f.providerId, f.kind, connectionId, f.accountId].join('\u0000')).digest('base64url');
  return `acc_${digest.slice(0, 22)}`;
}
