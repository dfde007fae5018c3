/**
 * Categorisation onto Plaid's PFC v1 taxonomy. Sources, in order; the first that answers wins:
 *
 *   1. user      a user's override of this transaction (confidence 1.0) or a user rule (0.95)
 *   2. provider  TrueLayer's transaction_classification, mapped (0.85; 0.65 when only its top level is known,
 *                0.9 when the merchant dictionary names a detailed category under the same primary)
 *   3. rule      structural description rules: payment type, direction and decisive words (0.75-0.9)
 *   4. merchant  the merchant dictionary, matched on TrueLayer's merchant_name or the cleaned description (0.9)
 *   5. rule      keyword rules on the kind of business (0.6-0.8)
 *   6. fallback  payment type and direction (0.2-0.5)
 *
 * Structural rules come before the dictionary because a terminal's name says nothing about a cash withdrawal at a
 * supermarket ATM or a salary paid by a supermarket; keyword rules come after it. Pure: no I/O.
 */
import { normalise } from './merchant';
import { ALL_RULES, KEYWORD_RULES, STRUCTURAL_RULES, type Direction, type Rule, type RuleContext } from './rules';
import { isDetailed, primaryOf, TAXONOMY_VERSION, type PfcDetailed, type PfcPrimary } from '@ais/contracts-events';
import { mapTrueLayerClassification, trueLayerTargets } from './truelayer-classification';
import { canonical } from './merchant';
import { MERCHANTS } from './merchants.data';

/**
 * The version every enriched record carries. Bump rule (docs/taxonomy.md): MAJOR when the taxonomy or the shape of
 * a result changes; MINOR when a rule, dictionary entry, mapping or confidence changes (any change that can change a
 * result for some input); PATCH for changes that cannot change any result.
 */
export const ENRICHMENT_VERSION = '1.0.0';

export interface CategorizeInput {
  description: string;
  /** Decimal string in major units, as raw events carry it ("-2.99"); negative for money out on account endpoints. Only its sign is read. */
  amount: string;
  currency?: string;
  /** TrueLayer's transaction_type (DEBIT | CREDIT); wins over the amount's sign (card endpoints report purchases positive). */
  transactionType?: string;
  /** TrueLayer's transaction_category (PURCHASE, DIRECT_DEBIT, STANDING_ORDER, TRANSFER, ATM, ...). */
  transactionCategory?: string;
  /** TrueLayer's transaction_classification ([top-level, sub-category]), possibly empty. */
  providerClassification?: readonly string[];
  /** TrueLayer's merchant_name, possibly empty. */
  merchantName?: string;
  /** Used to find a user's override of this very transaction. */
  transactionId?: string;
}

export type CategorySource = 'user' | 'provider' | 'rule' | 'merchant' | 'fallback';

/** Source names in the order they are consulted. */
export const SOURCE_ORDER: readonly CategorySource[] = ['user', 'provider', 'rule', 'merchant', 'fallback'];

export interface Categorization {
  primary: PfcPrimary;
  detailed: PfcDetailed;
  merchant: { name: string; key: string };
  source: CategorySource;
  /** What decided within the source: "override:<id>", "user-rule:<id>", "truelayer:Shopping/Groceries", "rule:atm", "merchant:tesco", "fallback:purchase". */
  reason: string;
  /** 0 < confidence <= 1. */
  confidence: number;
  version: string;
  taxonomy: string;
}

/** A user's own categorisation: of one transaction (transactionId), or of every transaction matching a rule. */
export interface UserRule {
  id: string;
  detailed: PfcDetailed;
  transactionId?: string;
  merchantKey?: string;
  /** Matched case-insensitively against the raw description. */
  descriptionContains?: string;
  direction?: Direction;
}

/** Port: where a user's rules and overrides come from (enrichment's `user_rules` collection). Users are per API client. */
export interface UserRuleSource {
  rulesFor(clientId: string, userId: string): Promise<readonly UserRule[]>;
}

export class Categorizer {
  constructor(private readonly userRules: UserRuleSource) {}

  async categorize(clientId: string, userId: string, input: CategorizeInput): Promise<Categorization> {
    return categorize(input, await this.userRules.rulesFor(clientId, userId));
  }
}

export function directionOf(input: Pick<CategorizeInput, 'amount' | 'transactionType'>): Direction {
  const t = (input.transactionType ?? '').toUpperCase();
  if (t === 'CREDIT') return 'in';
  if (t === 'DEBIT') return 'out';
  return input.amount.trim().startsWith('-') ? 'out' : 'in';
}

const IN_FOR_OUT: Partial<Record<PfcDetailed, PfcDetailed>> = {
  TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS: 'TRANSFER_IN_INVESTMENT_AND_RETIREMENT_FUNDS',
  TRANSFER_OUT_SAVINGS: 'TRANSFER_IN_SAVINGS',
  TRANSFER_OUT_WITHDRAWAL: 'TRANSFER_IN_DEPOSIT',
  TRANSFER_OUT_ACCOUNT_TRANSFER: 'TRANSFER_IN_ACCOUNT_TRANSFER',
  TRANSFER_OUT_OTHER_TRANSFER_OUT: 'TRANSFER_IN_OTHER_TRANSFER_IN',
  LOAN_PAYMENTS_PERSONAL_LOAN_PAYMENT: 'TRANSFER_IN_CASH_ADVANCES_AND_LOANS',
  LOAN_PAYMENTS_CAR_PAYMENT: 'TRANSFER_IN_CASH_ADVANCES_AND_LOANS',
  LOAN_PAYMENTS_STUDENT_LOAN_PAYMENT: 'TRANSFER_IN_CASH_ADVANCES_AND_LOANS',
  GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT: 'INCOME_TAX_REFUND',
};

/** Money coming in from a family we know as a destination of money out (a transfer back, a loan paid out, a tax refund). */
function forDirection(category: PfcDetailed, direction: Direction): PfcDetailed {
  return direction === 'in' ? (IN_FOR_OUT[category] ?? category) : category;
}

function result(category: PfcDetailed, source: CategorySource, reason: string, confidence: number, merchant: { name: string; key: string }): Categorization {
  return { primary: primaryOf(category), detailed: category, merchant, source, reason, confidence, version: ENRICHMENT_VERSION, taxonomy: TAXONOMY_VERSION };
}

function userMatch(rules: readonly UserRule[], input: CategorizeInput, merchantKey: string, direction: Direction): UserRule | undefined {
  const applicable = rules.filter((r) => isDetailed(r.detailed) && (!r.direction || r.direction === direction));
  const byTx = input.transactionId ? applicable.find((r) => r.transactionId === input.transactionId) : undefined;
  if (byTx) return byTx;
  const general = applicable.filter((r) => !r.transactionId);
  const desc = input.description.toLowerCase();
  return (
    general.find((r) => r.merchantKey !== undefined && r.merchantKey === merchantKey && (!r.descriptionContains || desc.includes(r.descriptionContains.toLowerCase()))) ??
    general.find((r) => r.merchantKey === undefined && r.descriptionContains !== undefined && r.descriptionContains !== '' && desc.includes(r.descriptionContains.toLowerCase()))
  );
}

function firstRule(rules: readonly Rule[], ctx: RuleContext): Rule | undefined {
  return rules.find((r) => r.when(ctx));
}

export function categorize(input: CategorizeInput, userRules: readonly UserRule[] = []): Categorization {
  const direction = directionOf(input);
  const type = (input.transactionCategory ?? '').toUpperCase();
  const normalised = normalise(input.description, input.merchantName);
  const merchant = { name: normalised.name, key: normalised.key };
  const entry = normalised.entry;

  // 1. The user's own say.
  const own = userMatch(userRules, input, merchant.key, direction);
  if (own) return own.transactionId ? result(own.detailed, 'user', `override:${own.id}`, 1, merchant) : result(own.detailed, 'user', `user-rule:${own.id}`, 0.95, merchant);

  // 2. TrueLayer's classification.
  const provider = mapTrueLayerClassification(input.providerClassification);
  if (provider) {
    const known = entry ? forDirection(entry.category, direction) : undefined;
    if (known && primaryOf(known) === primaryOf(provider.detailed) && known !== provider.detailed) return result(known, 'provider', `truelayer:${provider.label}`, 0.9, merchant);
    if (known === provider.detailed) return result(provider.detailed, 'provider', `truelayer:${provider.label}`, 0.95, merchant);
    return result(provider.detailed, 'provider', `truelayer:${provider.label}`, provider.generic ? 0.65 : 0.85, merchant);
  }

  const ctx: RuleContext = { text: canonical(input.description), direction, type };

  // 3. Structural rules.
  const structural = firstRule(STRUCTURAL_RULES, ctx);
  if (structural) return result(structural.category, 'rule', `rule:${structural.id}`, structural.confidence, merchant);

  // 4. The merchant dictionary.
  if (entry) return result(forDirection(entry.category, direction), 'merchant', `merchant:${entry.key}`, 0.9, merchant);

  // 5. Keyword rules, on the cleaned name and on TrueLayer's merchant_name.
  // (Not on the raw line: a payment reference such as "REF TICKETS" says what it was for, not who was paid.)
  const named: RuleContext = { ...ctx, text: canonical(`${merchant.name} ${input.merchantName ?? ''}`) };
  const keyword = firstRule(KEYWORD_RULES, named);
  if (keyword) return result(forDirection(keyword.category, direction), 'rule', `rule:${keyword.id}`, keyword.confidence, merchant);

  // 6. Payment type and direction.
  return fallback(type, direction, ctx.text, merchant);
}

const COMPANY = /\b(?:LTD|LIMITED|PLC|LLP|CO|GROUP|HOLDINGS|SERVICES|UK)\b/;
const PERSON_PAYMENT = /^(?:FPI|FPO|BGC|TFR|SO|BP)\b|\bFASTER\s+PAYMENTS?\b|\bTRANSFER\b|\bMOBILE\s+PAYMENT\b|\bBANK\s+TRANSFER\b|\bONLINE\s+PAYMENT\b|\bPAYM\b/;

function fallback(type: string, direction: Direction, text: string, merchant: { name: string; key: string }): Categorization {
  if (direction === 'in') {
    if (type === 'PURCHASE' || /\bREFUND\b|\bREVERSAL\b/.test(text)) return result('GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE', 'fallback', 'fallback:refund', 0.3, merchant);
    if (/^BGC\b|\bBANK\s+GIRO\b/.test(text) && COMPANY.test(text)) return result('INCOME_WAGES', 'fallback', 'fallback:giro-from-company', 0.5, merchant);
    if (['TRANSFER', 'STANDING_ORDER'].includes(type) || PERSON_PAYMENT.test(text)) return result('TRANSFER_IN_ACCOUNT_TRANSFER', 'fallback', 'fallback:transfer-in', 0.5, merchant);
    return result('TRANSFER_IN_OTHER_TRANSFER_IN', 'fallback', 'fallback:money-in', 0.25, merchant);
  }
  if (['TRANSFER', 'STANDING_ORDER'].includes(type) || (type !== 'PURCHASE' && type !== 'DIRECT_DEBIT' && PERSON_PAYMENT.test(text))) {
    return result('TRANSFER_OUT_ACCOUNT_TRANSFER', 'fallback', 'fallback:transfer-out', 0.5, merchant);
  }
  if (type === 'DIRECT_DEBIT' || type === 'BILL_PAYMENT') return result('GENERAL_SERVICES_OTHER_GENERAL_SERVICES', 'fallback', 'fallback:direct-debit', 0.3, merchant);
  return result('GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE', 'fallback', 'fallback:purchase', 0.2, merchant);
}

/** Every detailed category the categoriser can emit on its own (user rules aside), for the taxonomy test. */
export function emittableCategories(): string[] {
  const fromRules = ALL_RULES.map((r) => r.category);
  const fromMerchants = MERCHANTS.map((m) => m.category);
  const flipped = Object.values(IN_FOR_OUT);
  const fallbacks = ['GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE', 'INCOME_WAGES', 'TRANSFER_IN_ACCOUNT_TRANSFER', 'TRANSFER_IN_OTHER_TRANSFER_IN', 'TRANSFER_OUT_ACCOUNT_TRANSFER', 'GENERAL_SERVICES_OTHER_GENERAL_SERVICES'];
  return [...new Set([...fromRules, ...fromMerchants, ...flipped, ...fallbacks, ...trueLayerTargets()])];
}
