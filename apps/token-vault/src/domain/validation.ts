import { AppError, type FieldViolation } from '@ais/platform-errors';

const ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Validates opaque identifiers coming from callers; collects every violation before failing. */
export function requireIds(fields: Record<string, string>): void {
  const violations: FieldViolation[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (!ID.test(value)) violations.push({ field, description: 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -' });
  }
  if (violations.length > 0) throw AppError.invalid('invalid_argument', `invalid ${violations.map((v) => v.field).join(', ')}`, violations);
}
