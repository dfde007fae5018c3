/**
 * Provider catalogue. `mock` follows the spec example (display name, country, scopes). The other ids are realistic
 * UK/EU provider ids; every one of them routes to the same mock-bank login in the sandbox.
 */
export const ALL_SCOPES = [
  'info',
  'accounts',
  'balance',
  'cards',
  'transactions',
  'direct_debits',
  'standing_orders',
  'offline_access',
] as const;
export type Scope = (typeof ALL_SCOPES)[number];

export interface AuthInputField {
  type: string;
  id: string;
  display_name: string;
  help_text: string;
  mandatory: boolean;
  values?: Array<{ value: string; display_name: string }>;
}

export interface Provider {
  provider_id: string;
  display_name: string;
  country: 'uk' | 'de' | 'es' | 'fr' | 'ie' | 'it' | 'lt' | 'pl';
  scopes: Scope[];
  /** Family strings (`providers=` values) that include this provider. */
  families: string[];
  /** Brand colour for the generated SVG logo. */
  colour: string;
  steps?: Array<{ title: string; fields: AuthInputField[] }>;
  /** Data endpoints this provider answers with 501 endpoint_not_supported. */
  unsupportedEndpoints?: string[];
  /** Provider-specific SCA window (Lloyds Banking Group: 45 min per reference §8). */
  scaWindowSeconds?: number;
  /** The widest transactions range per request, in days (see the `maxRangeDays` switch). */
  maxRangeDays?: number;
  /** Timestamp style of transaction timestamps (providers differ; clients must parse leniently). */
  timestampStyle: 'naive' | 'offset';
}

const FULL: Scope[] = [...ALL_SCOPES];
const NO_CARDS: Scope[] = ['info', 'accounts', 'balance', 'transactions', 'direct_debits', 'standing_orders', 'offline_access'];
const BASIC: Scope[] = ['info', 'accounts', 'balance', 'transactions', 'offline_access'];
const ukOb = (id: string, name: string, colour: string, extra: Partial<Provider> = {}): Provider => ({
  provider_id: id,
  display_name: name,
  country: 'uk',
  scopes: FULL,
  families: ['uk-ob-all'],
  colour,
  timestampStyle: 'offset',
  ...extra,
});
const eu = (id: string, name: string, country: Provider['country'], colour: string, extra: Partial<Provider> = {}): Provider => ({
  provider_id: id,
  display_name: name,
  country,
  scopes: BASIC,
  families: [`${country}-ob-all`],
  colour,
  timestampStyle: 'offset',
  ...extra,
});

export const PROVIDERS: readonly Provider[] = [
  {
    provider_id: 'mock',
    display_name: 'Mock',
    country: 'uk',
    scopes: ['accounts', 'balance', 'cards', 'info', 'transactions', 'offline_access'],
    families: ['uk-cs-mock'],
    colour: '#6c5ce7',
    timestampStyle: 'naive',
  },
  ukOb('ob-lloyds', 'Lloyds', '#006a4d', { scaWindowSeconds: 45 * 60 }),
  ukOb('ob-halifax', 'Halifax', '#005eb8', { scaWindowSeconds: 45 * 60 }),
  ukOb('ob-bos', 'Bank of Scotland', '#0c2340', { scaWindowSeconds: 45 * 60 }),
  ukOb('ob-lloyds-business', 'Lloyds Business', '#006a4d', { scaWindowSeconds: 45 * 60 }),
  ukOb('ob-barclays', 'Barclays', '#00aeef'),
  ukOb('ob-hsbc', 'HSBC', '#db0011'),
  ukOb('ob-natwest', 'NatWest', '#42145f'),
  ukOb('ob-rbs', 'Royal Bank of Scotland', '#0a2f64'),
  ukOb('ob-santander', 'Santander', '#ec0000'),
  ukOb('ob-nationwide', 'Nationwide', '#1c2b5a', { scopes: NO_CARDS }),
  ukOb('ob-monzo', 'Monzo', '#ff4f40', { scopes: NO_CARDS }),
  ukOb('ob-starling', 'Starling', '#7433ff', { scopes: NO_CARDS }),
  ukOb('ob-revolut', 'Revolut', '#191c1f', { scopes: NO_CARDS }),
  ukOb('ob-transferwise', 'Wise', '#9fe870', { scopes: ['accounts', 'balance', 'transactions', 'offline_access'] }),
  ukOb('ob-first-direct', 'first direct', '#000000', { unsupportedEndpoints: ['account.standing_orders'] }),
  {
    provider_id: 'amex',
    display_name: 'American Express',
    country: 'uk',
    scopes: ['info', 'cards', 'balance', 'transactions', 'offline_access'],
    families: ['uk-oauth-all'],
    colour: '#2e77bb',
    timestampStyle: 'offset',
  },
  eu('ob-aib', 'AIB', 'ie', '#7f2b7b', { families: ['ie-ob-all'] }),
  eu('ob-boi', 'Bank of Ireland', 'ie', '#0033a0', { families: ['ie-ob-all'] }),
  eu('xs2a-bbva', 'BBVA', 'es', '#004481', { families: ['es-ob-all', 'es-xs2a-all'] }),
  eu('xs2a-caixabank', 'CaixaBank', 'es', '#007eae', { families: ['es-ob-all', 'es-xs2a-all'] }),
  {
    ...eu('stet-credit-agricole', 'Crédit Agricole', 'fr', '#006a4e', { families: ['fr-stet-all', 'fr-ob-all'] }),
    steps: [
      {
        title: 'OAuthRedirect',
        fields: [
          {
            type: 'SingleChoiceField',
            id: 'branch-name',
            display_name: 'Branch Name',
            help_text: 'Please select a branch',
            mandatory: true,
            values: [
              { value: 'stet-credit-agricole-alpes-provence', display_name: 'Crédit Agricole Alpes Provence' },
              { value: 'stet-credit-agricole-aquitaine', display_name: "Crédit Agricole d'Aquitaine" },
            ],
          },
        ],
      },
    ],
  },
  eu('stet-bnp-paribas', 'BNP Paribas', 'fr', '#00915a', { families: ['fr-stet-all', 'fr-ob-all'] }),
  eu('xs2a-deutsche-bank', 'Deutsche Bank', 'de', '#0018a8', { families: ['de-xs2a-all', 'de-ob-all'] }),
  eu('xs2a-intesa-sanpaolo', 'Intesa Sanpaolo', 'it', '#00703c', { families: ['it-xs2a-all', 'it-ob-all'] }),
  eu('xs2a-swedbank-lt', 'Swedbank Lithuania', 'lt', '#ff5f00', { families: ['lt-xs2a-all', 'lt-ob-all'] }),
  eu('xs2a-pko', 'PKO Bank Polski', 'pl', '#004c9a', { families: ['pl-xs2a-all', 'pl-ob-all'] }),
];

export function findProvider(id: string): Provider | undefined {
  return PROVIDERS.find((p) => p.provider_id === id);
}

export function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[\s,+]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Providers selected by an auth link's `providers`, `disable_providers` and legacy `enable_mock` parameters. */
export function selectProviders(input: { providers?: string; disableProviders?: string; enableMock?: boolean }): Provider[] {
  const tokens = splitList(input.providers);
  const effective = tokens.length > 0 ? tokens : ['uk-ob-all', 'uk-oauth-all'];
  const disabled = new Set(splitList(input.disableProviders));
  const chosen = PROVIDERS.filter(
    (p) =>
      effective.includes(p.provider_id) ||
      p.families.some((f) => effective.includes(f)) ||
      (input.enableMock === true && p.provider_id === 'mock'),
  );
  return chosen.filter((p) => !disabled.has(p.provider_id));
}

export function logoSvg(provider: Provider): string {
  const initials = provider.display_name
    .split(/\s+/)
    .map((w) => w[0] ?? '')
    .join('')
    .slice(0, 3)
    .replace(/[<>&"']/g, '');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="${provider.colour}"/><text x="32" y="40" font-family="sans-serif" font-size="20" fill="#ffffff" text-anchor="middle">${initials}</text></svg>`;
}
