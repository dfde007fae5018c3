import type { enrichmentV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import { categorize } from '../domain/categorize';

export function enrichmentHandlers(): ServiceHandlers<typeof enrichmentV1.EnrichmentServiceService> {
  return {
    async categorize(req) {
      if (req.description.length > 1000) throw AppError.invalid('invalid_argument', 'description too long', [{ field: 'description', description: 'at most 1000 characters' }]);
      if (!/^-?\d{1,18}$/.test(req.amount)) throw AppError.invalid('invalid_argument', 'amount must be integer minor units', [{ field: 'amount', description: 'e.g. -1250 for -12.50' }]);
      return categorize(req);
    },
  };
}
