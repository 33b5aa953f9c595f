// Jest runs in ESM mode (jose 6 and MikroORM 7 are ESM-only): `npm run test:jest` sets
// NODE_OPTIONS=--experimental-vm-modules. Node's own type stripper removes types (see
// test/setup/strip-types-transform.js); `npm run typecheck` checks them.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': '<rootDir>/test/setup/strip-types-transform.js' },
  testMatch: ['<rootDir>/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.data/'],
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  reporters: ['default', '<rootDir>/test/setup/summary-reporter.js'],
  testTimeout: 60_000,
  // Integration suites share one PostgreSQL, Redis and test broker; two workers fit 2 cores.
  maxWorkers: 2,
};
