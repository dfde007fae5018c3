/**
 * The category taxonomy every enriched transaction is placed on: Plaid's Personal Finance Category (PFC) taxonomy,
 * version 1 (16 primary categories, 104 detailed ones). A detailed category's name always starts with its primary's
 * name and an underscore. See apps/enrichment/docs/taxonomy.md for what each category holds here. Pure data.
 */

export const TAXONOMY_VERSION = 'plaid-pfc-v1';

export const PFC = {
  INCOME: [
    'INCOME_DIVIDENDS',
    'INCOME_INTEREST_EARNED',
    'INCOME_RETIREMENT_PENSION',
    'INCOME_TAX_REFUND',
    'INCOME_UNEMPLOYMENT',
    'INCOME_WAGES',
    'INCOME_OTHER_INCOME',
  ],
  TRANSFER_IN: [
    'TRANSFER_IN_CASH_ADVANCES_AND_LOANS',
    'TRANSFER_IN_DEPOSIT',
    'TRANSFER_IN_INVESTMENT_AND_RETIREMENT_FUNDS',
    'TRANSFER_IN_SAVINGS',
    'TRANSFER_IN_ACCOUNT_TRANSFER',
    'TRANSFER_IN_OTHER_TRANSFER_IN',
  ],
  TRANSFER_OUT: [
    'TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS',
    'TRANSFER_OUT_SAVINGS',
    'TRANSFER_OUT_WITHDRAWAL',
    'TRANSFER_OUT_ACCOUNT_TRANSFER',
    'TRANSFER_OUT_OTHER_TRANSFER_OUT',
  ],
  LOAN_PAYMENTS: [
    'LOAN_PAYMENTS_CAR_PAYMENT',
    'LOAN_PAYMENTS_CREDIT_CARD_PAYMENT',
    'LOAN_PAYMENTS_PERSONAL_LOAN_PAYMENT',
    'LOAN_PAYMENTS_MORTGAGE_PAYMENT',
    'LOAN_PAYMENTS_STUDENT_LOAN_PAYMENT',
    'LOAN_PAYMENTS_OTHER_PAYMENT',
  ],
  BANK_FEES: [
    'BANK_FEES_ATM_FEES',
    'BANK_FEES_FOREIGN_TRANSACTION_FEES',
    'BANK_FEES_INSUFFICIENT_FUNDS',
    'BANK_FEES_INTEREST_CHARGE',
    'BANK_FEES_OVERDRAFT_FEES',
    'BANK_FEES_OTHER_BANK_FEES',
  ],
  ENTERTAINMENT: [
    'ENTERTAINMENT_CASINOS_AND_GAMBLING',
    'ENTERTAINMENT_MUSIC_AND_AUDIO',
    'ENTERTAINMENT_SPORTING_EVENTS_AMUSEMENT_PARKS_AND_MUSEUMS',
    'ENTERTAINMENT_TV_AND_MOVIES',
    'ENTERTAINMENT_VIDEO_GAMES',
    'ENTERTAINMENT_OTHER_ENTERTAINMENT',
  ],
  FOOD_AND_DRINK: [
    'FOOD_AND_DRINK_BEER_WINE_AND_LIQUOR',
    'FOOD_AND_DRINK_COFFEE',
    'FOOD_AND_DRINK_FAST_FOOD',
    'FOOD_AND_DRINK_GROCERIES',
    'FOOD_AND_DRINK_RESTAURANT',
    'FOOD_AND_DRINK_VENDING_MACHINES',
    'FOOD_AND_DRINK_OTHER_FOOD_AND_DRINK',
  ],
  GENERAL_MERCHANDISE: [
    'GENERAL_MERCHANDISE_BOOKSTORES_AND_NEWSSTANDS',
    'GENERAL_MERCHANDISE_CLOTHING_AND_ACCESSORIES',
    'GENERAL_MERCHANDISE_CONVENIENCE_STORES',
    'GENERAL_MERCHANDISE_DEPARTMENT_STORES',
    'GENERAL_MERCHANDISE_DISCOUNT_STORES',
    'GENERAL_MERCHANDISE_ELECTRONICS',
    'GENERAL_MERCHANDISE_GIFTS_AND_NOVELTIES',
    'GENERAL_MERCHANDISE_OFFICE_SUPPLIES',
    'GENERAL_MERCHANDISE_ONLINE_MARKETPLACES',
    'GENERAL_MERCHANDISE_PET_SUPPLIES',
    'GENERAL_MERCHANDISE_SPORTING_GOODS',
    'GENERAL_MERCHANDISE_SUPERSTORES',
    'GENERAL_MERCHANDISE_TOBACCO_AND_VAPE',
    'GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE',
  ],
  HOME_IMPROVEMENT: [
    'HOME_IMPROVEMENT_FURNITURE',
    'HOME_IMPROVEMENT_HARDWARE',
    'HOME_IMPROVEMENT_REPAIR_AND_MAINTENANCE',
    'HOME_IMPROVEMENT_SECURITY',
    'HOME_IMPROVEMENT_OTHER_HOME_IMPROVEMENT',
  ],
  MEDICAL: [
    'MEDICAL_DENTAL_CARE',
    'MEDICAL_EYE_CARE',
    'MEDICAL_NURSING_CARE',
    'MEDICAL_PHARMACIES_AND_SUPPLEMENTS',
    'MEDICAL_PRIMARY_CARE',
    'MEDICAL_VETERINARY_SERVICES',
    'MEDICAL_OTHER_MEDICAL',
  ],
  PERSONAL_CARE: [
    'PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS',
    'PERSONAL_CARE_HAIR_AND_BEAUTY',
    'PERSONAL_CARE_LAUNDRY_AND_DRY_CLEANING',
    'PERSONAL_CARE_OTHER_PERSONAL_CARE',
  ],
  GENERAL_SERVICES: [
    'GENERAL_SERVICES_ACCOUNTING_AND_FINANCIAL_PLANNING',
    'GENERAL_SERVICES_AUTOMOTIVE',
    'GENERAL_SERVICES_CHILDCARE',
    'GENERAL_SERVICES_CONSULTING_AND_LEGAL',
    'GENERAL_SERVICES_EDUCATION',
    'GENERAL_SERVICES_INSURANCE',
    'GENERAL_SERVICES_POSTAGE_AND_SHIPPING',
    'GENERAL_SERVICES_STORAGE',
    'GENERAL_SERVICES_OTHER_GENERAL_SERVICES',
  ],
  GOVERNMENT_AND_NON_PROFIT: [
    'GOVERNMENT_AND_NON_PROFIT_DONATIONS',
    'GOVERNMENT_AND_NON_PROFIT_GOVERNMENT_DEPARTMENTS_AND_AGENCIES',
    'GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT',
    'GOVERNMENT_AND_NON_PROFIT_OTHER_GOVERNMENT_AND_NON_PROFIT',
  ],
  TRANSPORTATION: [
    'TRANSPORTATION_BIKES_AND_SCOOTERS',
    'TRANSPORTATION_GAS',
    'TRANSPORTATION_PARKING',
    'TRANSPORTATION_PUBLIC_TRANSIT',
    'TRANSPORTATION_TAXIS_AND_RIDE_SHARES',
    'TRANSPORTATION_TOLLS',
    'TRANSPORTATION_OTHER_TRANSPORTATION',
  ],
  TRAVEL: ['TRAVEL_FLIGHTS', 'TRAVEL_LODGING', 'TRAVEL_RENTAL_CARS', 'TRAVEL_OTHER_TRAVEL'],
  RENT_AND_UTILITIES: [
    'RENT_AND_UTILITIES_GAS_AND_ELECTRICITY',
    'RENT_AND_UTILITIES_INTERNET_AND_CABLE',
    'RENT_AND_UTILITIES_RENT',
    'RENT_AND_UTILITIES_SEWAGE_AND_WASTE_MANAGEMENT',
    'RENT_AND_UTILITIES_TELEPHONE',
    'RENT_AND_UTILITIES_WATER',
    'RENT_AND_UTILITIES_OTHER_UTILITIES',
  ],
} as const;

export type PfcPrimary = keyof typeof PFC;
export type PfcDetailed = (typeof PFC)[PfcPrimary][number];

export const PRIMARIES: readonly PfcPrimary[] = Object.keys(PFC) as PfcPrimary[];
export const DETAILED: readonly PfcDetailed[] = PRIMARIES.flatMap((p) => PFC[p] as readonly PfcDetailed[]);

const primaryByDetailed: ReadonlyMap<string, PfcPrimary> = new Map(PRIMARIES.flatMap((p) => PFC[p].map((d) => [d, p] as const)));

export function isPrimary(value: string): value is PfcPrimary {
  return Object.prototype.hasOwnProperty.call(PFC, value);
}

export function isDetailed(value: string): value is PfcDetailed {
  return primaryByDetailed.has(value);
}

/** The primary a detailed category belongs to. Throws on a name that is not in the taxonomy. */
export function primaryOf(detailed: PfcDetailed): PfcPrimary {
  const primary = primaryByDetailed.get(detailed);
  if (!primary) throw new Error(`not a ${TAXONOMY_VERSION} detailed category: ${detailed}`);
  return primary;
}

/** Checks a (primary, detailed) pair read from outside (a user rule, a stored record, a labelled set). */
export function validatePair(primary: string, detailed: string): string | undefined {
  if (!isPrimary(primary)) return `unknown primary category ${JSON.stringify(primary)}`;
  if (!isDetailed(detailed)) return `unknown detailed category ${JSON.stringify(detailed)}`;
  if (primaryByDetailed.get(detailed) !== primary) return `${detailed} is not under ${primary}`;
  return undefined;
}

/** The catch-all detailed category of a primary (`<PRIMARY>_OTHER_...`), used when only the primary is known. */
export function otherOf(primary: PfcPrimary): PfcDetailed {
  const list = PFC[primary] as readonly PfcDetailed[];
  return list.find((d) => d.startsWith(`${primary}_OTHER_`)) ?? (list[list.length - 1] as PfcDetailed);
}
