// dependency-cruiser rules (`npm run lint`): no import cycles, and imports point down the
// layers, never up. From the bottom:
//
//   kernel     shared/            generic mechanisms (events, db, cache, server, …)
//   contract   schema/            what services agree on (event catalogue, subgraph list,
//                                 composition) and the schema tooling
//   services   gateway/, subgraphs/<name>/   peers: none imports another
//   platform   platform/          composes the services into processes
//   top        bench/, test/      may import anything
//
// Test support (shared/testing/, and the test Kafka launcher test/kafka/ it starts) sits on
// top whatever its folder: test files (*.test.ts) anywhere may use it, production code never.
// Type-only imports count as imports. docs/architecture.md (Module map) explains the layers.

/** Folders above the kernel. */
const ABOVE_KERNEL = '^(schema|gateway|subgraphs|platform|bench|test)/';
/** Test support and test files, wherever they are (test/ and bench/ are above every layer). */
const TEST_SUPPORT = '^shared/testing/|[.]test[.]ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules must not import each other, directly or through others.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'kernel-imports-kernel',
      severity: 'error',
      comment: 'shared/ is the kernel: it imports nothing above it (shared/testing aside).',
      from: { path: '^shared/', pathNot: '^shared/testing/' },
      to: { path: ABOVE_KERNEL },
    },
    {
      name: 'test-support-imports-kernel',
      severity: 'error',
      comment: 'shared/testing serves every layer: it imports the kernel and test/kafka only.',
      from: { path: '^shared/testing/' },
      to: { path: ABOVE_KERNEL, pathNot: '^test/kafka/' },
    },
    {
      name: 'contract-below-services',
      severity: 'error',
      comment: 'schema/ is the contract under the services: it imports only the kernel.',
      from: { path: '^schema/' },
      to: { path: '^(gateway|subgraphs|platform|bench|test)/' },
    },
    {
      name: 'services-below-platform',
      severity: 'error',
      comment: 'The gateway and the subgraphs import the contract and the kernel only.',
      from: { path: '^(gateway|subgraphs)/' },
      to: { path: '^(platform|bench|test)/' },
    },
    {
      name: 'services-are-peers',
      severity: 'error',
      comment:
        'The gateway and each subgraph are peers: none imports another; they meet over HTTP ' +
        'and events, and share only schema/ and shared/.',
      from: { path: '^(gateway|subgraphs/[^/]+)/' },
      to: { path: '^(gateway|subgraphs/[^/]+)/', pathNot: '^$1/' },
    },
    {
      name: 'platform-below-bench-and-test',
      severity: 'error',
      comment: 'platform/ composes the services; benchmarks and tests sit above it.',
      from: { path: '^platform/' },
      to: { path: '^(bench|test)/' },
    },
    {
      name: 'production-imports-no-test-support',
      severity: 'error',
      comment: 'Production code never imports test support or test files.',
      from: { path: '^(shared|schema|gateway|subgraphs|platform)/', pathNot: TEST_SUPPORT },
      to: { path: TEST_SUPPORT },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '^(node_modules|dist|coverage|[.]data)/' },
    tsPreCompilationDeps: true,
    skipAnalysisNotInRules: true,
  },
};
