// Jest runs in ESM mode (jose 6 and MikroORM 7 are ESM-only): `npm run test:jest` sets
// NODE_OPTIONS=--experimental-vm-modules. Node's own type stripper removes types (see
// test/setup/strip-types-transform.js); `npm run typecheck` checks them.
//
// Four tiers, chosen by where a test file is and what it is called, never by a list:
//   topology     test/topology/**/*.test.ts: the platform as deployed, a process per replica
//                (test/topology/topology.ts), killed and restarted under load;
//   e2e          test/e2e/**/*.test.ts: the platform, driven through the gateway;
//   integration  **/*.integration.test.ts: one adapter or tool on real PostgreSQL, Redis,
//                Kafka or Java;
//   unit         every other *.test.ts: nothing but this process and loopback servers it
//                starts itself (in-process HTTP servers, embedded PGlite).
// Only integration, e2e and topology run the global setup, which checks PostgreSQL and Redis and
// starts Kafka; jest runs it once however many of those tiers run. This file runs every
// tier; test/setup/<tier>.config.js runs one (`npm run test:unit`, `test:integration`,
// `test:e2e`, `test:topology`).

/** What every tier shares: the ESM transform and where test files may live. */
const common = {
  rootDir: import.meta.dirname,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': '<rootDir>/test/setup/strip-types-transform.js' },
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.data/'],
};

/** The tiers that need real services: they get the run's databases, Redis keys and topics. */
const withServices = {
  ...common,
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
};

/** Each tier as a jest project. */
export const tiers = {
  unit: {
    ...common,
    displayName: 'unit',
    testMatch: ['<rootDir>/**/*.test.ts'],
    testPathIgnorePatterns: [
      ...common.testPathIgnorePatterns,
      '\\.integration\\.test\\.ts$',
      '<rootDir>/test/e2e/',
      '<rootDir>/test/topology/',
    ],
  },
  integration: {
    ...withServices,
    displayName: 'integration',
    testMatch: ['<rootDir>/**/*.integration.test.ts'],
    testPathIgnorePatterns: [
      ...common.testPathIgnorePatterns,
      '<rootDir>/test/e2e/',
      '<rootDir>/test/topology/',
    ],
  },
  e2e: {
    ...withServices,
    displayName: 'e2e',
    testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
  },
  topology: {
    ...withServices,
    displayName: 'topology',
    testMatch: ['<rootDir>/test/topology/**/*.test.ts'],
  },
};

/** A jest run of the given tiers, with what jest reads once per run rather than per tier. */
export function runOf(...projects) {
  /** @type {import('jest').Config} */
  const config = {
    rootDir: import.meta.dirname,
    projects,
    reporters: ['default', '<rootDir>/test/setup/summary-reporter.js'],
    // A last-resort net for a hung test: tests wait on conditions (a log line, a port
    // answering, a process exit), never on the clock.
    testTimeout: 300_000,
    // Integration and e2e suites share one PostgreSQL, Redis and Kafka; two workers fit 2 cores.
    maxWorkers: 2,
  };
  return config;
}

export default runOf(tiers.unit, tiers.integration, tiers.e2e, tiers.topology);
