// Integration tests: real Kafka, MongoDB-wire server, Vault and Zipkin (started once by globalSetup, or reused).
const preset = require('./jest.preset.js');

module.exports = {
  ...preset,
  displayName: 'integration',
  rootDir: __dirname,
  testMatch: ['<rootDir>/{apps,libs,tests}/**/*.int-spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // dist/apps/<service>/package.json (the bundles) shares its name with apps/<service>/package.json
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  globalSetup: '<rootDir>/libs/testing/src/global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/global-teardown.ts',
  // the secret scan last (tests/integration/zz-secret-scan.int-spec.ts), the rest in jest's order
  testSequencer: '<rootDir>/jest.integration.sequencer.js',
  testTimeout: 120_000,
  slowTestThreshold: 30,
};
