import type { enrichmentV1 } from '@ais/contracts-proto-ts';
import { AppError, type FieldViolation } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import { randomUUID } from 'node:crypto';
import { categorize, type Categorization, type UserRule } from '../domain/categorize';
import { MAJOR_UNITS } from '../domain/enrich-raw';
import { slug } from '../domain/merchant';
import { isDetailed } from '@ais/contracts-events';
import { MAX_RULES_PER_USER, type StoredUserRule, type UserRuleStore } from '../data/user-rules.store';

/** Most transactions one CategorizeBatch call takes. */
export const MAX_BATCH = 1000;
const MAX_TEXT = 1000;
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;

/** Every field of the proto: PFC primary and detailed, merchant name and key, source, reason, confidence, versions. */
export function toResponse(c: Categorization): enrichmentV1.CategorizeResponse {
  return {
    category: c.primary,
    subcategory: c.detailed,
    merchant: c.merchant.name,
    source: c.source,
    merchantKey: c.merchant.key,
    confidence: c.confidence,
    version: c.version,
    reason: c.reason,
    taxonomy: c.taxonomy,
  };
}

/** Field violations of one CategorizeRequest (`prefix` names it inside a batch). */
export function validateCategorize(req: enrichmentV1.CategorizeRequest, prefix = ''): FieldViolation[] {
  const v: FieldViolation[] = [];
  if (req.description.length > MAX_TEXT) v.push({ field: `${prefix}description`, description: `at most ${MAX_TEXT} characters` });
  if (req.merchantName.length > MAX_TEXT) v.push({ field: `${prefix}merchant_name`, description: `at most ${MAX_TEXT} characters` });
  if (!MAJOR_UNITS.test(req.amount.trim())) v.push({ field: `${prefix}amount`, description: 'a decimal amount in major units, e.g. -12.50 (negative for money out)' });
  if (req.providerClassification.length > 4) v.push({ field: `${prefix}provider_classification`, description: 'at most 4 levels' });
  if (Boolean(req.clientId) !== Boolean(req.userId)) v.push({ field: `${prefix}${req.clientId ? 'user_id' : 'client_id'}`, description: 'client_id and user_id go together (both to consult the user rules, or neither)' });
  return v;
}

function inputOf(req: enrichmentV1.CategorizeRequest) {
  return {
    description: req.description,
    amount: req.amount.trim(),
    currency: req.currency,
    providerClassification: req.providerClassification,
    merchantName: req.merchantName,
    transactionType: req.transactionType,
    transactionCategory: req.transactionCategory,
  };
}

export function validateRule(rule: enrichmentV1.UserRule | undefined): FieldViolation[] {
  if (!rule) return [{ field: 'rule', description: 'required' }];
  const v: FieldViolation[] = [];
  if (!rule.clientId) v.push({ field: 'rule.client_id', description: 'required' });
  if (!rule.userId) v.push({ field: 'rule.user_id', description: 'required' });
  if (rule.clientId.length > 200) v.push({ field: 'rule.client_id', description: 'at most 200 characters' });
  if (rule.userId.length > 200) v.push({ field: 'rule.user_id', description: 'at most 200 characters' });
  if (rule.ruleId && !RULE_ID.test(rule.ruleId)) v.push({ field: 'rule.rule_id', description: 'letters, digits, _ . : - (at most 100), or empty to generate one' });
  if (!isDetailed(rule.detailedCategory)) v.push({ field: 'rule.detailed_category', description: 'a detailed PFC category, e.g. FOOD_AND_DRINK_GROCERIES (see apps/enrichment/docs/taxonomy.md)' });
  const merchantKey = rule.merchantKey.trim();
  const contains = rule.descriptionContains.trim();
  if (!merchantKey && !contains) v.push({ field: 'rule.merchant_key', description: 'merchant_key or description_contains is required' });
  if (merchantKey && !slug(merchantKey)) v.push({ field: 'rule.merchant_key', description: 'a merchant key such as "tesco" (letters and digits)' });
  if (merchantKey.length > 200) v.push({ field: 'rule.merchant_key', description: 'at most 200 characters' });
  if (contains.length > 200) v.push({ field: 'rule.description_contains', description: 'at most 200 characters' });
  if (!['', 'in', 'out'].includes(rule.direction)) v.push({ field: 'rule.direction', description: 'in, out or empty (both)' });
  return v;
}

function toProtoRule(r: StoredUserRule): enrichmentV1.UserRule {
  return {
    ruleId: r.ruleId,
    clientId: r.clientId,
    userId: r.userId,
    detailedCategory: r.detailed,
    merchantKey: r.merchantKey ?? '',
    descriptionContains: r.descriptionContains ?? '',
    direction: r.direction ?? '',
  };
}

function requireUser(req: { clientId: string; userId: string }): void {
  const v: FieldViolation[] = [];
  if (!req.clientId) v.push({ field: 'client_id', description: 'required' });
  if (!req.userId) v.push({ field: 'user_id', description: 'required' });
  if (v.length > 0) throw AppError.invalid('invalid_argument', 'client_id and user_id are required', v);
}

export interface EnrichmentDeps {
  rules: UserRuleStore;
  clock: { now(): Date };
}

export function enrichmentHandlers(deps: EnrichmentDeps): ServiceHandlers<typeof enrichmentV1.EnrichmentServiceService> {
  /** Rules of each distinct (client, user) named in the requests, loaded once. */
  const rulesOf = async (reqs: readonly enrichmentV1.CategorizeRequest[]): Promise<Map<string, readonly UserRule[]>> => {
    const keys = new Map<string, { clientId: string; userId: string }>();
    for (const r of reqs) if (r.clientId && r.userId) keys.set(JSON.stringify([r.clientId, r.userId]), { clientId: r.clientId, userId: r.userId });
    const out = new Map<string, readonly UserRule[]>();
    for (const [k, u] of keys) out.set(k, await deps.rules.rulesFor(u.clientId, u.userId));
    return out;
  };
  const one = (req: enrichmentV1.CategorizeRequest, rules: Map<string, readonly UserRule[]>) =>
    toResponse(categorize(inputOf(req), req.clientId ? (rules.get(JSON.stringify([req.clientId, req.userId])) ?? []) : []));

  return {
    async categorize(req) {
      const v = validateCategorize(req);
      if (v.length > 0) throw AppError.invalid('invalid_argument', 'invalid categorize request', v);
      return one(req, await rulesOf([req]));
    },
    async categorizeBatch(req) {
      if (req.transactions.length > MAX_BATCH) {
        throw AppError.invalid('invalid_argument', `at most ${MAX_BATCH} transactions per call`, [{ field: 'transactions', description: `at most ${MAX_BATCH} items, got ${req.transactions.length}` }]);
      }
      const v = req.transactions.flatMap((t, i) => validateCategorize(t, `transactions[${i}].`));
      if (v.length > 0) throw AppError.invalid('invalid_argument', 'invalid transactions in the batch', v.slice(0, 100));
      const rules = await rulesOf(req.transactions);
      return { results: req.transactions.map((t) => one(t, rules)) };
    },
    async putUserRule(req) {
      const v = validateRule(req.rule);
      if (v.length > 0) throw AppError.invalid('invalid_argument', 'invalid user rule', v);
      const r = req.rule!;
      const ruleId = r.ruleId || randomUUID();
      const stored: StoredUserRule = {
        ruleId,
        clientId: r.clientId,
        userId: r.userId,
        detailed: r.detailedCategory as StoredUserRule['detailed'],
        ...(r.merchantKey.trim() ? { merchantKey: slug(r.merchantKey) } : {}),
        ...(r.descriptionContains.trim() ? { descriptionContains: r.descriptionContains.trim() } : {}),
        ...(r.direction ? { direction: r.direction as 'in' | 'out' } : {}),
      };
      // The cap is checked before the write; two racing puts can pass it together (soft limit by one or two).
      if (!(await deps.rules.exists(r.clientId, r.userId, ruleId)) && (await deps.rules.count(r.clientId, r.userId)) >= MAX_RULES_PER_USER) {
        throw new AppError({ code: 'too_many_rules', message: `a user holds at most ${MAX_RULES_PER_USER} rules`, kind: 'failed_precondition' });
      }
      await deps.rules.put(stored, deps.clock.now());
      return { rule: toProtoRule(stored) };
    },
    async listUserRules(req) {
      requireUser(req);
      return { rules: (await deps.rules.list(req.clientId, req.userId)).map(toProtoRule) };
    },
    async deleteUserRule(req) {
      requireUser(req);
      if (!req.ruleId) throw AppError.invalid('invalid_argument', 'rule_id is required', [{ field: 'rule_id', description: 'required' }]);
      return { deleted: await deps.rules.delete(req.clientId, req.userId, req.ruleId) };
    },
  };
}
