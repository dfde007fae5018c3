import type { enrichmentV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import { categorize, type Categorization } from '../domain/categorize';

/**
 * The current proto (ais.enrichment.v1) has four string fields; until it grows fields for confidence and the
 * enrichment version, the PFC result is mapped onto them: category = PFC primary, subcategory = PFC detailed,
 * merchant = normalised merchant name, source = "provider" | "user" | "fallback" | "rule:<id>" (the merchant
 * dictionary as "rule:merchant:<key>").
 */
export function toResponse(c: Categorization): enrichmentV1.CategorizeResponse {
  const source = c.source === 'rule' ? c.reason : c.source === 'merchant' ? `rule:${c.reason}` : c.source;
  return {
    category: c.primary,
    subcategory: c.detailed,
    merchant: c.merchant.name,
    source,
    merchantKey: c.merchant.key,
    confidence: c.confidence,
    version: c.version,
    reason: c.reason,
    taxonomy: c.taxonomy,
  };
}

export function enrichmentHandlers(): ServiceHandlers<typeof enrichmentV1.EnrichmentServiceService> {
  return {
    async categorize(req) {
      if (req.description.length > 1000) throw AppError.invalid('invalid_argument', 'description too long', [{ field: 'description', description: 'at most 1000 characters' }]);
      if (!/^-?\d{1,18}$/.test(req.amount)) throw AppError.invalid('invalid_argument', 'amount must be integer minor units', [{ field: 'amount', description: 'e.g. -1250 for -12.50' }]);
      return toResponse(
        categorize({
          description: req.description,
          amount: req.amount,
          currency: req.currency,
          providerClassification: req.providerClassification,
          merchantName: req.merchantName,
        }),
      );
    },
    // placeholders until the user-rule store lands (this session, issue 10)
    categorizeBatch: () => Promise.reject(new AppError({ code: 'not_implemented', message: 'not implemented yet', kind: 'not_implemented' })),
    putUserRule: () => Promise.reject(new AppError({ code: 'not_implemented', message: 'not implemented yet', kind: 'not_implemented' })),
    listUserRules: () => Promise.reject(new AppError({ code: 'not_implemented', message: 'not implemented yet', kind: 'not_implemented' })),
    deleteUserRule: () => Promise.reject(new AppError({ code: 'not_implemented', message: 'not implemented yet', kind: 'not_implemented' })),
  };
}
