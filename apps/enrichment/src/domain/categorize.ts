/**
 * Categorisation: TrueLayer's own `transaction_classification` first, then our merchant rules, then a
 * direction-based fallback. Pure: no I/O.
 */

export interface CategorizeInput {
  description: string;
  /** Minor units as a decimal string, negative for money out. */
  amount: string;
  providerClassification: string[];
  merchantName: string;
}

export interface Categorization {
  category: string;
  subcategory: string;
  merchant: string;
  source: string;
}

interface Rule {
  id: string;
  pattern: RegExp;
  merchant: string;
  category: string;
  subcategory: string;
}

export const RULES: readonly Rule[] = [
  { id: 'tesco', pattern: /\bTESCO\b/i, merchant: 'Tesco', category: 'Shopping', subcategory: 'Groceries' },
  { id: 'sainsburys', pattern: /\bSAINSBURY'?S?\b/i, merchant: "Sainsbury's", category: 'Shopping', subcategory: 'Groceries' },
  { id: 'uber', pattern: /\bUBER\b(?!\s*EATS)/i, merchant: 'Uber', category: 'Transport', subcategory: 'Taxi' },
  { id: 'tfl', pattern: /\bTFL\b|TRANSPORT FOR LONDON/i, merchant: 'Transport for London', category: 'Transport', subcategory: 'Public transport' },
  { id: 'netflix', pattern: /\bNETFLIX\b/i, merchant: 'Netflix', category: 'Entertainment', subcategory: 'Subscriptions' },
  { id: 'spotify', pattern: /\bSPOTIFY\b/i, merchant: 'Spotify', category: 'Entertainment', subcategory: 'Subscriptions' },
  { id: 'amazon', pattern: /\bAMAZON\b|\bAMZN\b/i, merchant: 'Amazon', category: 'Shopping', subcategory: 'General' },
  { id: 'salary', pattern: /\bSALARY\b|\bPAYROLL\b/i, merchant: '', category: 'Income', subcategory: 'Salary' },
];

function titleCase(s: string): string {
  return s.toLowerCase().replace(/\b\w/g, (c) => c.toUpperCase());
}

export function categorize(input: CategorizeInput): Categorization {
  const [category, subcategory] = input.providerClassification.filter((c) => c.trim() !== '');
  const rule = RULES.find((r) => r.pattern.test(input.description) || (input.merchantName !== '' && r.pattern.test(input.merchantName)));
  const merchant = input.merchantName.trim() !== '' ? input.merchantName.trim() : (rule?.merchant ?? '');
  if (category) return { category, subcategory: subcategory ?? '', merchant, source: 'provider' };
  if (rule) return { category: rule.category, subcategory: rule.subcategory, merchant: merchant || rule.merchant, source: `rule:${rule.id}` };
  const incoming = !input.amount.trim().startsWith('-');
  return { category: incoming ? 'Income' : 'Uncategorized', subcategory: '', merchant: merchant ? titleCase(merchant) : '', source: 'fallback' };
}
