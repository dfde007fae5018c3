/** Behaviour switches, changeable at runtime through the admin API. */
export interface Switches {
  /** Refresh grant returns a new refresh token and invalidates the old one (default: stable refresh token). */
  refreshTokenRotation: boolean;
  /** Issuing an access token for a connection invalidates all earlier access tokens of that connection. */
  onlyNewestAccessTokenValid: boolean;
  /** transaction_id (and pending ids) re-randomised on every request; normalised_provider_transaction_id stays stable. */
  transactionIdInstability: boolean;
  /** direct_debit_id re-randomised on every request. */
  directDebitIdInstability: boolean;
  /** account_id values change when a connection is reauthenticated. */
  accountIdChangeOnReauth: boolean;
  /** Response cache TTL for identical data GETs (0 disables). */
  cacheTtlSeconds: number;
  /** Minutes after authentication during which any history range can be read (provider value wins if set). */
  scaWindowSeconds: number;
  /** History available outside the SCA window, in days. */
  historyDaysOutsideSca: number;
  /**
   * The widest `from`..`to` range (days, both ends counted) the bank serves per transactions request; a wider one
   * is refused with 400 `invalid_date_range` (TrueLayer publishes no limit; banks differ). 0 = no limit. A provider's
   * own value wins.
   */
  maxRangeDays: number;
  /** Unattended calls allowed per connection × account × endpoint per rolling 24 h. */
  unattendedCallLimit: number;
  accessTokenTtlSeconds: number;
  authCodeTtlSeconds: number;
  consentDays: number;
  /** Real-time delay (ms) before an async task runs. */
  asyncTaskDelayMs: number;
  /** Drop every async webhook (the task still completes). */
  dropWebhooks: boolean;
  /**
   * Return standing-order amounts and card `available` as strings, as the OpenAPI schema types them
   * (default false: numbers, as every example and observed response does).
   */
  specTypedAmounts: boolean;
  /** Async results are kept this long after the task finished (retention is UNCONFIRMED at TrueLayer); 0 = forever. */
  asyncResultTtlSeconds: number;
  /**
   * Refresh tokens lapse when unused for this many days (support article: OB refresh tokens must be used within a
   * rolling 30-day window; partly UNCONFIRMED). 0 disables the rule.
   */
  refreshTokenIdleDays: number;
}

export const DEFAULT_SWITCHES: Readonly<Switches> = Object.freeze({
  refreshTokenRotation: false,
  onlyNewestAccessTokenValid: true,
  transactionIdInstability: false,
  directDebitIdInstability: false,
  accountIdChangeOnReauth: false,
  cacheTtlSeconds: 3600,
  scaWindowSeconds: 300,
  historyDaysOutsideSca: 90,
  maxRangeDays: 0,
  unattendedCallLimit: 4,
  accessTokenTtlSeconds: 3600,
  authCodeTtlSeconds: 300,
  consentDays: 90,
  asyncTaskDelayMs: 20,
  dropWebhooks: false,
  specTypedAmounts: false,
  asyncResultTtlSeconds: 3600,
  refreshTokenIdleDays: 0,
});

export function applySwitchPatch(target: Switches, patch: Record<string, unknown>): string[] {
  const errors: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (!(key in DEFAULT_SWITCHES)) {
      errors.push(`unknown switch ${key}`);
      continue;
    }
    const k = key as keyof Switches;
    const expected = typeof DEFAULT_SWITCHES[k];
    if (typeof value !== expected || (typeof value === 'number' && (!Number.isFinite(value) || value < 0))) {
      errors.push(`switch ${key} must be a ${expected === 'number' ? 'non-negative number' : expected}`);
      continue;
    }
    (target as unknown as Record<string, unknown>)[k] = value;
  }
  return errors;
}
