/**
 * TrueLayer's `transaction_classification` ([top-level, sub-category], free strings: the published list is partial)
 * mapped onto PFC v1. A sub-category we know gives a detailed category; a known top-level alone gives the category we
 * would pick for that whole class, flagged as `generic` so the merchant dictionary may refine it within the same
 * primary. Unknown strings map to nothing (never an error). Pure data and lookup.
 */
import type { PfcDetailed } from '@ais/contracts-events';

interface TopLevel {
  /** What the top-level alone means; undefined when it says nothing useful (e.g. "Uncategorized"). */
  default?: PfcDetailed;
  sub: Record<string, PfcDetailed>;
}

const TABLE: Record<string, TopLevel> = {
  'Auto & Transport': {
    default: 'TRANSPORTATION_OTHER_TRANSPORTATION',
    sub: {
      'Auto insurance': 'GENERAL_SERVICES_INSURANCE',
      'Auto payment': 'LOAN_PAYMENTS_CAR_PAYMENT',
      'Car rental': 'TRAVEL_RENTAL_CARS',
      'Gas & Fuel': 'TRANSPORTATION_GAS',
      Fuel: 'TRANSPORTATION_GAS',
      Parking: 'TRANSPORTATION_PARKING',
      'Public transport': 'TRANSPORTATION_PUBLIC_TRANSIT',
      'Public transportation': 'TRANSPORTATION_PUBLIC_TRANSIT',
      'Service & Auto Parts': 'GENERAL_SERVICES_AUTOMOTIVE',
      'Service & parts': 'GENERAL_SERVICES_AUTOMOTIVE',
      Taxi: 'TRANSPORTATION_TAXIS_AND_RIDE_SHARES',
      Tolls: 'TRANSPORTATION_TOLLS',
      'Bike & scooter hire': 'TRANSPORTATION_BIKES_AND_SCOOTERS',
    },
  },
  'Bills and Utilities': {
    default: 'RENT_AND_UTILITIES_OTHER_UTILITIES',
    sub: {
      Internet: 'RENT_AND_UTILITIES_INTERNET_AND_CABLE',
      Television: 'RENT_AND_UTILITIES_INTERNET_AND_CABLE',
      'Cable TV': 'RENT_AND_UTILITIES_INTERNET_AND_CABLE',
      'Mobile phone': 'RENT_AND_UTILITIES_TELEPHONE',
      Phone: 'RENT_AND_UTILITIES_TELEPHONE',
      'Home phone': 'RENT_AND_UTILITIES_TELEPHONE',
      Utilities: 'RENT_AND_UTILITIES_GAS_AND_ELECTRICITY',
      Energy: 'RENT_AND_UTILITIES_GAS_AND_ELECTRICITY',
      Water: 'RENT_AND_UTILITIES_WATER',
      Rent: 'RENT_AND_UTILITIES_RENT',
    },
  },
  'Business Services': {
    default: 'GENERAL_SERVICES_OTHER_GENERAL_SERVICES',
    sub: {
      Advertising: 'GENERAL_SERVICES_OTHER_GENERAL_SERVICES',
      Legal: 'GENERAL_SERVICES_CONSULTING_AND_LEGAL',
      'Office supplies': 'GENERAL_MERCHANDISE_OFFICE_SUPPLIES',
      Printing: 'GENERAL_SERVICES_OTHER_GENERAL_SERVICES',
      Shipping: 'GENERAL_SERVICES_POSTAGE_AND_SHIPPING',
    },
  },
  Education: {
    default: 'GENERAL_SERVICES_EDUCATION',
    sub: {
      'Books & Supplies': 'GENERAL_MERCHANDISE_BOOKSTORES_AND_NEWSSTANDS',
      'Student loan': 'LOAN_PAYMENTS_STUDENT_LOAN_PAYMENT',
      Tuition: 'GENERAL_SERVICES_EDUCATION',
    },
  },
  Entertainment: {
    default: 'ENTERTAINMENT_OTHER_ENTERTAINMENT',
    sub: {
      Arts: 'ENTERTAINMENT_SPORTING_EVENTS_AMUSEMENT_PARKS_AND_MUSEUMS',
      Amusement: 'ENTERTAINMENT_SPORTING_EVENTS_AMUSEMENT_PARKS_AND_MUSEUMS',
      Events: 'ENTERTAINMENT_SPORTING_EVENTS_AMUSEMENT_PARKS_AND_MUSEUMS',
      Games: 'ENTERTAINMENT_VIDEO_GAMES',
      'Movies & TV': 'ENTERTAINMENT_TV_AND_MOVIES',
      Cinema: 'ENTERTAINMENT_TV_AND_MOVIES',
      Music: 'ENTERTAINMENT_MUSIC_AND_AUDIO',
      'Newspapers & Magazines': 'GENERAL_MERCHANDISE_BOOKSTORES_AND_NEWSSTANDS',
    },
  },
  'Fees & Charges': {
    default: 'BANK_FEES_OTHER_BANK_FEES',
    sub: {
      'ATM fee': 'BANK_FEES_ATM_FEES',
      'Bank fees': 'BANK_FEES_OTHER_BANK_FEES',
      'Finance charge': 'BANK_FEES_INTEREST_CHARGE',
      'Interest charge': 'BANK_FEES_INTEREST_CHARGE',
      'Late fee': 'BANK_FEES_OTHER_BANK_FEES',
      'Service fee': 'BANK_FEES_OTHER_BANK_FEES',
      'Trade commissions': 'BANK_FEES_OTHER_BANK_FEES',
      'Foreign transaction fee': 'BANK_FEES_FOREIGN_TRANSACTION_FEES',
      Overdraft: 'BANK_FEES_OVERDRAFT_FEES',
    },
  },
  'Food & Dining': {
    default: 'FOOD_AND_DRINK_RESTAURANT',
    sub: {
      'Alcohol & Bars': 'FOOD_AND_DRINK_RESTAURANT',
      Bars: 'FOOD_AND_DRINK_RESTAURANT',
      'Coffee shops': 'FOOD_AND_DRINK_COFFEE',
      'Fast food': 'FOOD_AND_DRINK_FAST_FOOD',
      'Food delivery': 'FOOD_AND_DRINK_RESTAURANT',
      Groceries: 'FOOD_AND_DRINK_GROCERIES',
      Restaurants: 'FOOD_AND_DRINK_RESTAURANT',
    },
  },
  Gambling: { default: 'ENTERTAINMENT_CASINOS_AND_GAMBLING', sub: {} },
  'Gifts & Donations': {
    default: 'GOVERNMENT_AND_NON_PROFIT_DONATIONS',
    sub: { Charity: 'GOVERNMENT_AND_NON_PROFIT_DONATIONS', Gift: 'GENERAL_MERCHANDISE_GIFTS_AND_NOVELTIES' },
  },
  'Health & Fitness': {
    default: 'MEDICAL_OTHER_MEDICAL',
    sub: {
      Dentist: 'MEDICAL_DENTAL_CARE',
      Doctor: 'MEDICAL_PRIMARY_CARE',
      Eyecare: 'MEDICAL_EYE_CARE',
      Gym: 'PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS',
      'Health insurance': 'GENERAL_SERVICES_INSURANCE',
      Pharmacy: 'MEDICAL_PHARMACIES_AND_SUPPLEMENTS',
      Sports: 'PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS',
      Pets: 'MEDICAL_VETERINARY_SERVICES',
    },
  },
  Home: {
    default: 'HOME_IMPROVEMENT_OTHER_HOME_IMPROVEMENT',
    sub: {
      Furnishings: 'HOME_IMPROVEMENT_FURNITURE',
      'Home improvement': 'HOME_IMPROVEMENT_HARDWARE',
      'Home insurance': 'GENERAL_SERVICES_INSURANCE',
      'Home services': 'HOME_IMPROVEMENT_REPAIR_AND_MAINTENANCE',
      'Home supplies': 'HOME_IMPROVEMENT_OTHER_HOME_IMPROVEMENT',
      'Lawn & Garden': 'HOME_IMPROVEMENT_OTHER_HOME_IMPROVEMENT',
      Mortgage: 'LOAN_PAYMENTS_MORTGAGE_PAYMENT',
      Rent: 'RENT_AND_UTILITIES_RENT',
    },
  },
  Income: {
    default: 'INCOME_OTHER_INCOME',
    sub: {
      Salary: 'INCOME_WAGES',
      Paycheck: 'INCOME_WAGES',
      Interest: 'INCOME_INTEREST_EARNED',
      Dividends: 'INCOME_DIVIDENDS',
      Pension: 'INCOME_RETIREMENT_PENSION',
      Benefits: 'INCOME_OTHER_INCOME',
      Bonus: 'INCOME_WAGES',
      Reimbursement: 'INCOME_OTHER_INCOME',
    },
  },
  Investments: {
    default: 'TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS',
    sub: { 'Real-estate': 'TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS' },
  },
  'Pensions and insurances': {
    default: 'GENERAL_SERVICES_INSURANCE',
    sub: {
      Pension: 'TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS',
      'Life insurance': 'GENERAL_SERVICES_INSURANCE',
      Insurance: 'GENERAL_SERVICES_INSURANCE',
    },
  },
  'Personal Care': {
    default: 'PERSONAL_CARE_OTHER_PERSONAL_CARE',
    sub: {
      Hair: 'PERSONAL_CARE_HAIR_AND_BEAUTY',
      Laundry: 'PERSONAL_CARE_LAUNDRY_AND_DRY_CLEANING',
      'Spa & Massage': 'PERSONAL_CARE_HAIR_AND_BEAUTY',
      Beauty: 'PERSONAL_CARE_HAIR_AND_BEAUTY',
      Pharmacy: 'MEDICAL_PHARMACIES_AND_SUPPLEMENTS',
    },
  },
  'Personal Services': {
    default: 'GENERAL_SERVICES_OTHER_GENERAL_SERVICES',
    sub: {
      Childcare: 'GENERAL_SERVICES_CHILDCARE',
      'Dry cleaning': 'PERSONAL_CARE_LAUNDRY_AND_DRY_CLEANING',
      Legal: 'GENERAL_SERVICES_CONSULTING_AND_LEGAL',
      'Pet care': 'MEDICAL_VETERINARY_SERVICES',
    },
  },
  Shopping: {
    default: 'GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE',
    sub: {
      Books: 'GENERAL_MERCHANDISE_BOOKSTORES_AND_NEWSSTANDS',
      Clothing: 'GENERAL_MERCHANDISE_CLOTHING_AND_ACCESSORIES',
      'Electronics & Software': 'GENERAL_MERCHANDISE_ELECTRONICS',
      Electronics: 'GENERAL_MERCHANDISE_ELECTRONICS',
      General: 'GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE',
      Gifts: 'GENERAL_MERCHANDISE_GIFTS_AND_NOVELTIES',
      Groceries: 'FOOD_AND_DRINK_GROCERIES',
      Hobbies: 'GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE',
      Pets: 'GENERAL_MERCHANDISE_PET_SUPPLIES',
      'Sporting goods': 'GENERAL_MERCHANDISE_SPORTING_GOODS',
      'Department stores': 'GENERAL_MERCHANDISE_DEPARTMENT_STORES',
      Tobacco: 'GENERAL_MERCHANDISE_TOBACCO_AND_VAPE',
    },
  },
  Taxes: {
    default: 'GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT',
    sub: {
      'Council tax': 'GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT',
      'Income tax': 'GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT',
      'Vehicle tax': 'GOVERNMENT_AND_NON_PROFIT_GOVERNMENT_DEPARTMENTS_AND_AGENCIES',
    },
  },
  Travel: {
    default: 'TRAVEL_OTHER_TRAVEL',
    sub: {
      'Air Travel': 'TRAVEL_FLIGHTS',
      Flights: 'TRAVEL_FLIGHTS',
      Hotel: 'TRAVEL_LODGING',
      Accommodation: 'TRAVEL_LODGING',
      Rail: 'TRANSPORTATION_PUBLIC_TRANSIT',
      'Rental Car & Taxi': 'TRAVEL_RENTAL_CARS',
      Vacation: 'TRAVEL_OTHER_TRAVEL',
    },
  },
  Uncategorized: { sub: { Cash: 'TRANSFER_OUT_WITHDRAWAL', Transfers: 'TRANSFER_OUT_ACCOUNT_TRANSFER' } },
};

const norm = (s: string): string => s.toLowerCase().replace(/&/g, 'and').replace(/[^a-z0-9]/g, '');

const index: ReadonlyMap<string, { default?: PfcDetailed; sub: ReadonlyMap<string, PfcDetailed> }> = new Map(
  Object.entries(TABLE).map(([top, t]) => [norm(top), { ...(t.default ? { default: t.default } : {}), sub: new Map(Object.entries(t.sub).map(([k, v]) => [norm(k), v])) }]),
);

export interface ProviderMapping {
  detailed: PfcDetailed;
  /** True when only the top-level was recognised. */
  generic: boolean;
  /** The classification as received, joined: "Shopping/Groceries". */
  label: string;
}

export function mapTrueLayerClassification(classification: readonly string[] | undefined): ProviderMapping | undefined {
  const [top, sub] = (classification ?? []).map((c) => c.trim()).filter((c) => c !== '');
  if (!top) return undefined;
  const entry = index.get(norm(top));
  if (!entry) return undefined;
  const label = sub ? `${top}/${sub}` : top;
  const specific = sub ? entry.sub.get(norm(sub)) : undefined;
  if (specific) return { detailed: specific, generic: false, label };
  if (entry.default) return { detailed: entry.default, generic: true, label };
  return undefined;
}

/** Every PFC category the mapping can produce (for the taxonomy test). */
export function trueLayerTargets(): PfcDetailed[] {
  return Object.values(TABLE).flatMap((t) => [...(t.default ? [t.default] : []), ...Object.values(t.sub)]);
}
