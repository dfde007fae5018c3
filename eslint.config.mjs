// Lint: typescript-eslint recommended + Nx module boundaries by tag (STYLE.md §4).
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const transports = ['kafkajs', 'mongoose', 'mongodb', 'node-vault', 'express', '@grpc/grpc-js'];
// Only libs/platform/telemetry (tag type:telemetry) may load the OpenTelemetry SDK; everyone else uses @opentelemetry/api.
const otelSdk = ['@opentelemetry/sdk-*', '@opentelemetry/exporter-*', '@opentelemetry/instrumentation*', '@opentelemetry/resources'];

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '**/generated/**', 'tmp/**', '.infra/**', '.nx/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:contract', 'type:util', 'type:data-access', 'type:telemetry', 'type:runtime'],
              bannedExternalImports: otelSdk,
            },
            {
              sourceTag: 'type:runtime',
              onlyDependOnLibsWithTags: ['type:contract', 'type:util', 'type:data-access', 'type:telemetry'],
              bannedExternalImports: otelSdk,
            },
            {
              sourceTag: 'type:data-access',
              onlyDependOnLibsWithTags: ['type:util', 'type:contract', 'type:data-access'],
              bannedExternalImports: otelSdk,
            },
            { sourceTag: 'type:telemetry', onlyDependOnLibsWithTags: ['type:util'] },
            {
              sourceTag: 'type:util',
              onlyDependOnLibsWithTags: ['type:util'],
              bannedExternalImports: [...transports, ...otelSdk],
            },
            { sourceTag: 'type:contract', onlyDependOnLibsWithTags: ['type:contract'], bannedExternalImports: transports },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:contract', 'type:util', 'type:data-access', 'type:telemetry', 'type:runtime', 'type:testing'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:auth-gateway', onlyDependOnLibsWithTags: ['scope:auth-gateway', 'scope:shared'] },
            { sourceTag: 'scope:token-vault', onlyDependOnLibsWithTags: ['scope:token-vault', 'scope:shared'] },
            { sourceTag: 'scope:data-fetcher', onlyDependOnLibsWithTags: ['scope:data-fetcher', 'scope:shared'] },
            { sourceTag: 'scope:enrichment', onlyDependOnLibsWithTags: ['scope:enrichment', 'scope:shared'] },
            { sourceTag: 'scope:reconciliation', onlyDependOnLibsWithTags: ['scope:reconciliation', 'scope:shared'] },
            { sourceTag: 'scope:truelayer-sandbox', onlyDependOnLibsWithTags: ['scope:truelayer-sandbox', 'scope:shared'] },
          ],
        },
      ],
    },
  },
  {
    // The local MongoDB-wire server has no multi-document transactions: it applies a session transaction's writes
    // one by one and then fails commitTransaction (code 59), so a transaction would half-apply. Designs do without
    // them (infra/README.md, "The store"); this keeps it so.
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name=/^(withTransaction|startTransaction|commitTransaction)$/]",
          message: 'no multi-document transactions: the local store half-applies them (see infra/README.md, "The store")',
        },
      ],
    },
  },
  {
    // Domain code stays pure: no transports, no database drivers.
    files: ['apps/*/src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: transports.map((name) => ({ name, message: 'domain code must not import transports' })) }],
    },
  },
  {
    // Tests of any project may use the shared test harness (@ais/testing); other boundaries still hold.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/test/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: ['@ais/testing'],
          depConstraints: [{ sourceTag: '*', onlyDependOnLibsWithTags: ['*'] }],
        },
      ],
    },
  },
  {
    // Benchmarks drive the services' own modules (the store, the fetch planner, the harness) next to a bare
    // baseline, by path like the integration tests; they are no project any code depends on.
    files: ['bench/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/test/**/*.ts', 'tools/**/*', 'bench/**/*'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
];
