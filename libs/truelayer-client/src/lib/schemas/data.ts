import { z } from 'zod';
import { currency, envelope, lenientNumber, openEnum, responseStatus, timestamp } from './common';

/** Data API v1 schemas (data-api-v1.json components.schemas), parsed leniently: unknown fields are kept. */

export const SCOPES = [
  'info',
  'accounts',
  'balance',
  'cards',
  'transactions',
  'direct_debits',
  'standing_orders',
  'offline_access',
] as const;
export type Scope = (typeof SCOPES)[number];

export const meSchema = z.looseObject({
  client_id: z.string().optional(),
  credentials_id: z.string().optional(),
  consent_status: z.string().optional(),
  consent_status_updated_at: timestamp.optional(),
  consent_created_at: timestamp.optional(),
  consent_expires_at: timestamp.optional(),
  provider: z
    .looseObject({
      display_name: z.string().optional(),
      logo_uri: z.string().optional(),
      provider_id: z.string().optional(),
    })
    .optional(),
  // The spec's enum lists six scopes; direct_debits/standing_orders also appear in practice (reference §5.3).
  scopes: z.array(openEnum(SCOPES)).optional(),
  privacy_policy: z.string().optional(),
});
export type Me = z.output<typeof meSchema>;

export const infoSchema = z.looseObject({
  full_name: z.string().optional(),
  branch_id: z.string().optional(),
  // The spec says format: email; providers rarely fill it and the format is not enforced here.
  emails: z.array(z.string()).optional(),
  phones: z.array(z.string()).optional(),
  update_timestamp: timestamp.optional(),
  date_of_birth: timestamp.optional(),
  addresses: z
    .array(
      z.looseObject({
        address: z.string().optional(),
        city: z.string().optional(),
        state: z.string().optional(),
        zip: z.string().optional(),
        country: z.string().optional(),
      }),
    )
    .optional(),
});
export type Info = z.output<typeof infoSchema>;

export const ACCOUNT_TYPES = ['TRANSACTION', 'SAVINGS', 'BUSINESS_TRANSACTION', 'BUSINESS_SAVINGS'] as const;

const providerRef = z.looseObject({
  provider_id: z.string().optional(),
  /** Deprecated upstream. */
  logo_uri: z.string().optional(),
  /** Deprecated upstream. */
  display_name: z.string().optional(),
});

export const accountSchema = z.looseObject({
  update_timestamp: timestamp,
  account_id: z.string().optional(),
  account_type: openEnum(ACCOUNT_TYPES).optional(),
  display_name: z.string(),
  currency,
  account_number: z.looseObject({
    number: z.string().optional(),
    sort_code: z.string().optional(),
    /** May hold `NOT_SUPPORTED_BY_GEO` / `NOT_SUPPORTED_BY_PROVIDER`. */
    swift_bic: z.string().optional(),
    iban: z.string().optional(),
    routing_number: z.string().optional(),
    bsb: z.string().optional(),
  }),
  provider: providerRef,
});
export type Account = z.output<typeof accountSchema>;

export const accountBalanceSchema = z.looseObject({
  currency,
  available: lenientNumber.optional(),
  current: lenientNumber,
  overdraft: lenientNumber.optional(),
  update_timestamp: timestamp.optional(),
});
export type AccountBalance = z.output<typeof accountBalanceSchema>;

export const TRANSACTION_CATEGORIES = [
  'ATM',
  'BILL_PAYMENT',
  'CASH',
  'CASHBACK',
  'CHEQUE',
  'CORRECTION',
  'CREDIT',
  'DIRECT_DEBIT',
  'DIVIDEND',
  'FEE_CHARGE',
  'INTEREST',
  'OTHER',
  'PURCHASE',
  'STANDING_ORDER',
  'TRANSFER',
  'DEBIT',
  'UNKNOWN',
] as const;

export const TRANSACTION_TYPES = ['DEBIT', 'CREDIT'] as const;

/** Provider-specific extras; an open map (reference §5.3). */
export const transactionMetaSchema = z.looseObject({
  bank_transaction_id: z.string().optional(),
  provider_transaction_category: z.string().optional(),
  provider_reference: z.string().optional(),
  provider_merchant_name: z.string().optional(),
  provider_category: z.string().optional(),
  address: z.string().optional(),
  provider_id: z.string().optional(),
  counter_party_preferred_name: z.string().optional(),
  counter_party_iban: z.string().optional(),
  user_comments: z.string().optional(),
  debtor_account_name: z.string().optional(),
  transaction_type: z.string().optional(),
  provider_transaction_id: z.string().optional(),
  provider_source: z.string().optional(),
  cardNumber: z.string().optional(),
  location: z.string().optional(),
});

export const transactionSchema = z.looseObject({
  /** Not stable across requests: never use as a primary key. */
  transaction_id: z.string(),
  /** Stable id recommended by TrueLayer for de-duplication (often missing on pending items). */
  normalised_provider_transaction_id: z.string().optional(),
  provider_transaction_id: z.string().optional(),
  timestamp,
  description: z.string(),
  /** Accounts: negative = money out. Cards: purchases positive. Rely on transaction_type. */
  amount: lenientNumber,
  currency,
  transaction_type: openEnum(TRANSACTION_TYPES),
  transaction_category: openEnum(TRANSACTION_CATEGORIES),
  /**
   * Required by the spec, but the AU examples omit it and pending items often lack it: defaults to `[]`.
   */
  transaction_classification: z.array(z.string()).default([]),
  merchant_name: z.string().optional(),
  running_balance: z
    .looseObject({
      amount: lenientNumber.optional(),
      currency: currency.optional(),
    })
    .optional(),
  meta: transactionMetaSchema.optional(),
});
export type Transaction = z.output<typeof transactionSchema>;
/** Card transactions have the account-transaction shape (plus `meta.cardNumber`, `meta.location`). */
export const cardTransactionSchema = transactionSchema;
export type CardTransaction = Transaction;

export const standingOrderSchema = z.looseObject({
  /** UK OB frequency codes: EvryDay, EvryWorkgDay, IntrvlDay:XX, IntrvlWkDay:XX:YY, WkInMnthDay:XX:YY, IntrvlMnthDay:XX:YY, QtrDay[:x]. */
  frequency: z.string(),
  status: openEnum(['Active', 'Inactive'] as const).optional(),
  timestamp,
  currency: currency.optional(),
  meta: z.looseObject({ provider_account_id: z.string().optional() }).optional(),
  next_payment_date: timestamp.optional(),
  // The spec types the *_amount fields as string; the examples send numbers. Both become numbers.
  next_payment_amount: lenientNumber.optional(),
  first_payment_date: timestamp.optional(),
  first_payment_amount: lenientNumber.optional(),
  /** Open-ended orders use 9999-12-31. */
  final_payment_date: timestamp.optional(),
  final_payment_amount: lenientNumber.optional(),
  payee: z.string().optional(),
  reference: z.string().optional(),
});
export type StandingOrder = z.output<typeof standingOrderSchema>;

export const directDebitSchema = z.looseObject({
  /** May change between requests. */
  direct_debit_id: z.string(),
  timestamp,
  name: z.string(),
  status: openEnum(['Active', 'Inactive'] as const).optional(),
  previous_payment_timestamp: timestamp.optional(),
  previous_payment_amount: lenientNumber.optional(),
  currency: currency.optional(),
  // Required by the spec (with two required members); kept lenient: a missing meta or member is tolerated.
  meta: z
    .looseObject({
      provider_mandate_identification: z.string().optional(),
      provider_account_id: z.string().optional(),
      provider_direct_debit_id: z.string().optional(),
    })
    .optional(),
});
export type DirectDebit = z.output<typeof directDebitSchema>;

export const cardSchema = z.looseObject({
  account_id: z.string().optional(),
  card_network: z.string().optional(),
  card_type: z.string().optional(),
  currency: currency.optional(),
  display_name: z.string().optional(),
  partial_card_number: z.string().optional(),
  name_on_card: z.string().optional(),
  /** `YYYY-MM`: kept verbatim (not a timestamp). */
  valid_from: z.string().optional(),
  valid_to: z.string().optional(),
  update_timestamp: timestamp.optional(),
  provider: providerRef.optional(),
});
export type Card = z.output<typeof cardSchema>;

export const cardBalanceSchema = z.looseObject({
  // The spec types `available` as string; examples send a number. Both become numbers.
  available: lenientNumber.optional(),
  currency: currency.optional(),
  current: lenientNumber,
  credit_limit: lenientNumber.optional(),
  last_statement_balance: lenientNumber.optional(),
  last_statement_date: timestamp.optional(),
  payment_due: lenientNumber.optional(),
  payment_due_date: timestamp.optional(),
  update_timestamp: timestamp.optional(),
});
export type CardBalance = z.output<typeof cardBalanceSchema>;

export const asyncResponseSchema = z.looseObject({
  results_uri: z.string(),
  status: responseStatus,
  task_id: z.string(),
});
export type AsyncResponse = z.output<typeof asyncResponseSchema>;

/** Body of a Data v1 async webhook POST (spec `WebhookRequest`; `error*` on failure per the reference §6.2). */
export const webhookBodySchema = z.looseObject({
  request_timestamp: timestamp.optional(),
  request_uri: z.string().optional(),
  results_uri: z.string(),
  credentials_id: z.string().optional(),
  task_id: z.string(),
  status: openEnum(['Succeeded', 'Failed'] as const),
  error: z.string().optional(),
  error_description: z.string().optional(),
});
export type WebhookBody = z.output<typeof webhookBodySchema>;

/** Deprecated `GET /batch/results` body. */
const batchEntry = <T extends z.ZodType, B extends z.ZodType>(tx: T, balance: B) =>
  z.looseObject({
    account_id: z.string().optional(),
    transactions: z.array(tx).optional(),
    pending_transactions: z.array(tx).optional(),
    balance: balance.optional(),
  });
export const batchResultsSchema = z.looseObject({
  status: responseStatus,
  task_id: z.string(),
  request: z.looseObject({ from: timestamp.optional(), to: timestamp.optional() }).optional(),
  results: z.looseObject({
    accounts: z.array(batchEntry(transactionSchema, accountBalanceSchema)).optional(),
    cards: z.array(batchEntry(cardTransactionSchema, cardBalanceSchema)).optional(),
  }),
});
export type BatchResults = z.output<typeof batchResultsSchema>;

/** `/connections/extend` success (discriminated on `action_needed`). */
export const extendResponseSchema = z.discriminatedUnion('action_needed', [
  z.looseObject({
    action_needed: z.literal('no_action_needed'),
    access_token: z.string(),
    expires_in: lenientNumber,
    refresh_token: z.string(),
    token_type: z.string(),
  }),
  z.looseObject({ action_needed: z.literal('authentication_needed'), user_input_link: z.string() }),
  z.looseObject({ action_needed: z.literal('reconfirmation_of_consent_needed'), user_input_link: z.string() }),
]);
export type ExtendResponseBody = z.output<typeof extendResponseSchema>;

export const DATA_SCHEMAS = {
  me: envelope(meSchema),
  info: envelope(infoSchema),
  accounts: envelope(accountSchema),
  account: envelope(accountSchema),
  balance: envelope(accountBalanceSchema),
  transactions: envelope(transactionSchema),
  pendingTransactions: envelope(transactionSchema),
  standingOrders: envelope(standingOrderSchema),
  directDebits: envelope(directDebitSchema),
  cards: envelope(cardSchema),
  card: envelope(cardSchema),
  cardBalance: envelope(cardBalanceSchema),
  cardTransactions: envelope(cardTransactionSchema),
  cardPendingTransactions: envelope(cardTransactionSchema),
} as const;

export type DataResource = keyof typeof DATA_SCHEMAS;
export type DataItem<R extends DataResource> = z.output<(typeof DATA_SCHEMAS)[R]>['results'][number];
