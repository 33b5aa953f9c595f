// Jest runs in ESM mode (jose 6 and MikroORM 7 are ESM-only): `npm run test:jest` sets
// NODE_OPTIONS=--experimental-vm-modules. @swc/jest strips types; `npm run typecheck` checks them.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2024' },
        module: { type: 'es6' },
      },
    ],
  },
  testMatch: ['<rootDir>/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.data/'],
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  reporters: ['default', '<rootDir>/test/setup/summary-reporter.js'],
  testTimeout: 60_000,
  // Integration suites share one PostgreSQL, Redis and test broker; two workers fit 2 cores.
  maxWorkers: 2,
};
