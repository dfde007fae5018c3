/**
 * Mock-bank users. The documented TrueLayer sandbox users (john/doe, johnN/doeN, john/eternal, error.<code>/error)
 * plus simulator-specific data profiles (small/small, heavy/heavy).
 */
export type Profile = 'standard' | 'small' | 'heavy';

export interface MockUser {
  username: string;
  profile: Profile;
  /** Seed key for deterministic data; users sharing it see the same data. */
  dataKey: string;
  fullName: string;
  /** Every Data API call of this connection fails with this code (documented error users). */
  errorCode?: string;
  /** Outcome of POST /connections/extend for this user. */
  extendOutcome: 'no_action_needed' | 'authentication_needed';
}

export const MOCK_ERROR_CODES = [
  'account_permanently_locked',
  'account_temporarily_locked',
  'internal_error',
  'provider_error',
  'user_input_required',
  'wrong_credentials',
] as const;

export interface DocumentedUser {
  username: string;
  password: string;
  behaviour: string;
}

export const DOCUMENTED_USERS: readonly DocumentedUser[] = [
  { username: 'john', password: 'doe', behaviour: 'Standard data set: current + savings account and a credit card. Extend → authentication_needed.' },
  { username: 'john1 … john100', password: 'doe1 … doe100', behaviour: 'Standard profile with data seeded per user.' },
  { username: 'john', password: 'eternal', behaviour: 'Standard data set. Extend → no_action_needed (new tokens).' },
  { username: 'small', password: 'small', behaviour: 'Simulator profile: one current account, about 100 transactions.' },
  { username: 'heavy', password: 'heavy', behaviour: 'Simulator profile: 6 years of history, more than 20,000 transactions on the current account.' },
  ...MOCK_ERROR_CODES.map((code) => ({
    username: `error.${code}`,
    password: 'error',
    behaviour: `Connection succeeds, then every Data API call fails with ${code}.`,
  })),
];

export function authenticateMockUser(username: string, password: string): MockUser | undefined {
  const u = username.trim();
  if (u === 'john' && password === 'doe') {
    return { username: u, profile: 'standard', dataKey: 'john', fullName: 'John Doe', extendOutcome: 'authentication_needed' };
  }
  if (u === 'john' && password === 'eternal') {
    return { username: u, profile: 'standard', dataKey: 'john', fullName: 'John Doe', extendOutcome: 'no_action_needed' };
  }
  const numbered = /^john(\d{1,3})$/.exec(u);
  if (numbered) {
    const n = Number(numbered[1]);
    if (n >= 1 && n <= 100 && password === `doe${n}`) {
      return { username: u, profile: 'standard', dataKey: `john${n}`, fullName: 'John Doe', extendOutcome: 'authentication_needed' };
    }
    return undefined;
  }
  if (u === 'small' && password === 'small') {
    return { username: u, profile: 'small', dataKey: 'small', fullName: 'Sam Small', extendOutcome: 'authentication_needed' };
  }
  if (u === 'heavy' && password === 'heavy') {
    return { username: u, profile: 'heavy', dataKey: 'heavy', fullName: 'Harriet Heavy', extendOutcome: 'authentication_needed' };
  }
  if (u.startsWith('error.') && password === 'error') {
    const code = u.slice('error.'.length);
    if ((MOCK_ERROR_CODES as readonly string[]).includes(code)) {
      return { username: u, profile: 'standard', dataKey: 'john', fullName: 'John Doe', errorCode: code, extendOutcome: 'authentication_needed' };
    }
  }
  return undefined;
}
