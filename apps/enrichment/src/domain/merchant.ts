/**
 * Merchant normalisation: a UK bank statement line ("CRD 1234 TESCO STORES 2341 LONDON GB") becomes a display name and a
 * stable key ("Tesco", "tesco"). Noise (payment-type prefixes, card numbers, dates, times, references, store numbers,
 * towns, country codes, payment-processor prefixes, web domains, legal suffixes) is stripped; the rest is looked up in
 * a dictionary of merchant families. Pure: no I/O.
 */
import { MERCHANTS, type MerchantEntry } from './merchants.data';
import { UK_TOWNS } from './towns.data';

export type { MerchantEntry } from './merchants.data';

export interface NormalisedMerchant {
  /** Display name: the dictionary's, else TrueLayer's merchant_name, else the cleaned description in title case. */
  name: string;
  /** Stable key: the dictionary family's key, else a slug of the name; '' when nothing is left. */
  key: string;
  /** The dictionary family the transaction belongs to, when one matched. */
  entry?: MerchantEntry;
}

const MONTHS = 'JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC';

/** Leading channel / payment-type words that banks prepend; removed repeatedly. */
const PREFIX = new RegExp(
  '^(?:' +
    [
      'CARD PAYMENT(?: TO)?',
      'CARD PURCHASE',
      'CONTACTLESS(?: PAYMENT)?',
      'DEBIT CARD(?: PAYMENT)?',
      'PURCHASE',
      'POS',
      'CRD',
      'CARD',
      'VIS',
      'VISA',
      'DEB',
      'CPT',
      'CLP',
      'ATM',
      'DD',
      'DIRECT DEBIT(?: PAYMENT)?(?: TO)?',
      'SO',
      'STANDING ORDER(?: TO)?',
      'BGC',
      'BANK GIRO CREDIT(?: REF)?',
      'FPI',
      'FPO',
      'FASTER PAYMENTS?(?: RECEIVED| SENT| IN| OUT)?(?: FROM| TO)?',
      'TFR',
      'TRANSFER(?: TO| FROM)?',
      'BILL PAYMENT(?: TO| VIA FASTER PAYMENT(?: TO)?)?',
      'PAYMENT(?: TO| FROM)',
      'MOB(?:ILE)?(?: BANKING)?',
      'ONLINE(?: BANKING)?',
      'INTERNET(?: BANKING)?',
      'TO',
      'FROM',
      '\\){2,3}',
      `\\d{1,2}(?:${MONTHS})\\d{0,4}`,
      `\\d{1,2} (?:${MONTHS})(?: \\d{2,4})?`,
      '\\d{1,2}[/.-]\\d{1,2}(?:[/.-]\\d{2,4})?',
      '\\d{4}',
    ].join('|') +
    ')(?=\\s|$|[:*-])[\\s:*-]*',
);

/** Payment processors and marketplaces that put their own label before the merchant's. */
const PROCESSOR = /^(?:SQ ?\*|SUM ?UP ?\*|SUMUP\s|ZETTLE_?\s?\*|IZ ?\*|SP ?\*|CKO ?\*|TST ?\*|STRIPE ?\*|PAYPAL ?\*|PP ?\*|GOOGLE ?\*(?!PLAY)|WORLDPAY ?\*|YOYO ?\*|PAYPAL (?!PAYMENT|TRANSFER|PAY IN|CREDIT)(?=\S))\s*/;

const NOISE: readonly RegExp[] = [
  /\b(?:EUR|USD|GBP|CHF|PLN)\s?\d+(?:[.,]\d{2})?\b|\b\d+(?:[.,]\d{2})\s?(?:EUR|USD|GBP|CHF|PLN)\b/g, // FX amounts
  /\b(?:CARD|CRD|CD)\s*(?:NO\.?\s*)?[X*]*\d{4}\b/g, // CRD 1234, CARD NO XXXX1234
  /\b\d{4,6}[X*]{4,}\d{4}\b|[X*]{4,}\d{3,4}\b/g, // masked PANs
  /\b(?:REF|REFERENCE|MANDATE(?: NO)?)\b.*$/g, // references, to the end of the line
  /\bON\s+\d{1,2}\s*(?:[A-Z]{3}|[/.-]\d{1,2})(?:\s*\d{2,4})?\b/g, // "ON 12 MAR"
  new RegExp(`\\b\\d{1,2}\\s?(?:${MONTHS})(?:\\s?\\d{2,4})?\\b`, 'g'), // 12MAR, 12 MAR 24
  /\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b/g, // 12/03/24
  /\b\d{1,2}[:.]\d{2}(?::\d{2})?\b/g, // 14:32
  /\b(?:RATE|@)\s*\d+\.\d+\b/g,
  /\*(?=[A-Z0-9]*\d)[A-Z0-9]+/g, // *2K4F9, *MK1AB2CD3
  /\b(?=[A-Z]*\d)(?=\d*[A-Z])[A-Z0-9]{6,}\b/g, // mixed reference tokens
  /\b(?:STORE|STR|BRANCH|UNIT|SHOP|NO)\s*\d+\b/g, // store numbers
  /#\s*\d+/g,
  /\b\d{3,}\b/g, // any other long number
  /\b(?:WWW\.|HTTPS?:\/\/)/g,
  /\bHELP\./g,
  /\.(?:COM|CO\.UK|ORG\.UK|ORG|NET|UK|IO|EU)\b/g, // web domains keep their name
  /\b(?:GB|GBR|UK|IE|IRL|USA|US|NL|NLD|LUX|LU|FR|FRA|DE|DEU|ES|ESP|IT|ITA|PT|PRT|BE|SE|IRELAND|UNITED KINGDOM)\b$/g,
];

/** What a payment was for, not who it went to: dropped from the ends of a name. */
const PURPOSE_TAIL = /\s(?:SALARY|SAL|WAGES|PAYROLL|PAY|DIV|DIVIDEND|DD|SO|RENT|PAYMENTS?|PYMTS?|REFUND|PAYOUT|CT|TAX|P2P|SUBSCRIPTION|MEMBERSHIP|TRANSFER|TFR|BGC|FPI|FPO|PROTECT\s+PLAN)$/;
const PURPOSE_HEAD = /^(?:EXPENSES\s+CLAIM|TOP[-\s]?UP|MOB\/BANK\s+TRANSFER(?:\s+TO)?|P2P|TRANSFER\s+TO|TO)\s+/;

const LEGAL = /\s+(?:LTD|LIMITED|PLC|LLP|INC|CO|& CO|T\/A)\.?$/;
const COUNTRY_INLINE = /\s(?:GB|GBR)(?=\s|$)/g;

const townsByLength = [...UK_TOWNS].sort((a, b) => b.length - a.length);
const TRAILING_TOWN = new RegExp(`\\s(?:${townsByLength.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);

/** Upper-case, apostrophes dropped, whitespace collapsed: the form every rule and dictionary pattern sees. */
export function canonical(text: string): string {
  return text
    .toUpperCase()
    .replace(/[’'`]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The description with statement noise removed, upper case ("TESCO STORES"); may be ''. */
export function clean(description: string): string {
  let s = canonical(description);
  for (let i = 0; i < 6; i++) {
    const before = s;
    s = s.replace(PREFIX, '').replace(PROCESSOR, '').trim();
    if (s === before) break;
  }
  for (const re of NOISE) s = s.replace(re, ' ');
  s = s.replace(COUNTRY_INLINE, ' ');
  s = tidy(s);
  for (let i = 0; i < 4; i++) {
    const before = s;
    s = tidy(s.replace(TRAILING_TOWN, (town, offset: number) => (/\s(?:OF|UPON|ON|IN|AT)$/.test(s.slice(0, offset)) ? town : '')).replace(/\s(?:GB|GBR|UK|IE|IRL|FR|DE|ES|NL|IT|PT|BE|US|USA)$/, '').replace(LEGAL, '').replace(PURPOSE_TAIL, '').replace(PURPOSE_HEAD, ''));
    if (s === before || s === '') break;
  }
  // A town or legal word alone is not a merchant name: keep what there was.
  return s;
}

function tidy(s: string): string {
  return s
    .replace(/\s*[*_]+\s*/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/^[\s\-.,:;/&]+|[\s\-.,:;/&]+$/g, '')
    .trim();
}

export function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[’'`]/g, '')
    .replace(/&/g, ' and ')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

export function titleCase(s: string): string {
  return s.toLowerCase().replace(/(^|[\s\-/&(])([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

export interface DictionaryMatch {
  entry: MerchantEntry;
  /** The text the family's pattern matched ("DECATHLON"). */
  matched: string;
}

/**
 * Answers of `lookup` by canonical text, the most recent `LOOKUPS_KEPT` (the oldest goes first). A lookup tries the
 * dictionary's patterns in turn (about 300), and statement texts repeat: a shop's merchant name and cleaned
 * description, a standing order's reference. Texts only, with no user or transaction id; each answer is frozen,
 * since every caller gets the same object.
 */
const LOOKUPS_KEPT = 10_000;
const lookups = new Map<string, DictionaryMatch | null>();

/** The dictionary family a text belongs to, if any (first match in dictionary order). */
export function lookup(text: string): DictionaryMatch | undefined {
  const s = canonical(text);
  if (s === '') return undefined;
  const known = lookups.get(s);
  if (known !== undefined) return known ?? undefined;
  let answer: DictionaryMatch | null = null;
  for (const entry of MERCHANTS) {
    const found = entry.pattern.exec(s);
    if (found) {
      answer = Object.freeze({ entry, matched: found[0] });
      break;
    }
  }
  if (lookups.size >= LOOKUPS_KEPT) lookups.delete(lookups.keys().next().value as string);
  lookups.set(s, answer);
  return answer ?? undefined;
}

/** Words that name a kind of business, not a brand: a group matched on them is named by the description. */
const GENERIC = /^(?:INSURANCE|CREDIT\s+CARD|PERSONAL\s+LOAN|LOAN\s+REPAYMENT|CAR\s*FINANCE|MOTOR\s+FINANCE|PCP|HIRE\s+PURCHASE|VAPE|TOBACCONIST|E-?CIG|GARDEN\s+CENTRE)$/;

function named(match: DictionaryMatch, cleaned: string): { name: string; key: string } {
  const { entry, matched } = match;
  if (!entry.group) return { name: entry.name, key: entry.key };
  const brand = matched.replace(/[^A-Z0-9&+. ]/g, ' ').replace(/\s+/g, ' ').trim();
  const name = GENERIC.test(brand) || brand === '' ? titleCase(cleaned || brand) : titleCase(brand);
  return { name, key: slug(name) };
}

export function normalise(description: string, merchantName?: string): NormalisedMerchant {
  const given = (merchantName ?? '').trim();
  const cleaned = clean(description);
  const match = (given !== '' ? lookup(given) : undefined) ?? lookup(cleaned) ?? lookup(description);
  if (match) return { ...named(match, cleaned), entry: match.entry };
  if (given !== '') return { name: given, key: slug(given) };
  const name = titleCase(cleaned);
  return { name, key: slug(name) };
}
