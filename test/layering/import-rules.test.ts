/**
 * The import rules `npm run lint` checks (`.dependency-cruiser.js`), proven on a small tree
 * of its own in a temporary directory: the tree as the layers allow passes, and the same
 * tree with one planted violation per rule — among them the cycles and upward imports the
 * code once had — fails, each violation reported under its rule. So a rule that stopped
 * matching, or a lint script that stopped running the check, fails here.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CONFIG = '.dependency-cruiser.js';
/** What `npm run lint` runs, from the project root. */
const LINT_CHECK = `depcruise --config ${CONFIG} .`;

/** Files by path, each importing (for its side effects) the paths listed. */
type Tree = Record<string, readonly string[]>;

/** One module per layer, importing only downwards (tests and test support as allowed). */
const LAYERED: Tree = {
  'shared/events/index.ts': [],
  'shared/testing/index.ts': ['../events/index.ts', '../../test/kafka/index.ts'],
  'shared/events/events.test.ts': ['./index.ts', '../testing/index.ts'],
  'schema/events/index.ts': ['../../shared/events/index.ts'],
  'schema/composition.ts': [],
  'schema/pipeline/compose.ts': ['../composition.ts'],
  'gateway/server.ts': ['../schema/composition.ts', '../shared/events/index.ts'],
  'subgraphs/users/main.ts': ['../../schema/events/index.ts', '../../shared/events/index.ts'],
  'subgraphs/orders/main.ts': ['../../schema/events/index.ts'],
  'subgraphs/orders/main.test.ts': ['./main.ts', '../../shared/testing/index.ts'],
  'platform/env.ts': [],
  'platform/platform.ts': [
    './env.ts',
    '../gateway/server.ts',
    '../subgraphs/users/main.ts',
    '../subgraphs/orders/main.ts',
  ],
  'test/kafka/index.ts': ['../../shared/events/index.ts'],
  'test/e2e/platform.test.ts': ['../../platform/platform.ts', '../../shared/testing/index.ts'],
  'bench/platform.bench.ts': ['../platform/platform.ts', '../test/kafka/index.ts'],
};

/** A violation of each rule, planted into the layered tree: file, imports, rule. */
const PLANTED: { file: string; imports: readonly string[]; rule: string }[] = [
  { file: 'shared/cache/index.ts', imports: ['./cache-aside.ts'], rule: 'no-circular' },
  { file: 'shared/cache/cache-aside.ts', imports: ['./index.ts'], rule: 'no-circular' },
  {
    file: 'shared/server/subgraph.ts',
    imports: ['../../schema/events/index.ts'],
    rule: 'kernel-imports-kernel',
  },
  {
    file: 'shared/testing/platform.ts',
    imports: ['../../platform/platform.ts'],
    rule: 'test-support-imports-kernel',
  },
  {
    file: 'schema/pipeline/check.ts',
    imports: ['../../gateway/server.ts'],
    rule: 'contract-below-services',
  },
  {
    file: 'subgraphs/users/set-role.ts',
    imports: ['../../platform/env.ts'],
    rule: 'services-below-platform',
  },
  {
    file: 'gateway/users.ts',
    imports: ['../subgraphs/users/main.ts'],
    rule: 'services-are-peers',
  },
  {
    file: 'subgraphs/orders/gateway.ts',
    imports: ['../../gateway/server.ts'],
    rule: 'services-are-peers',
  },
  {
    file: 'subgraphs/orders/users.ts',
    imports: ['../users/main.ts'],
    rule: 'services-are-peers',
  },
  {
    file: 'platform/kafka.ts',
    imports: ['../test/kafka/index.ts'],
    rule: 'platform-below-bench-and-test',
  },
  {
    file: 'shared/server/fixtures.ts',
    imports: ['../testing/index.ts'],
    rule: 'production-imports-no-test-support',
  },
];

interface Check {
  /** The check's exit code: the number of violations. */
  code: number;
  /** Each violation as `<rule>: <importing file>`. */
  violations: string[];
  output: string;
}

const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Writes the tree into a new project with this one's rules, and runs the lint's check there. */
async function check(tree: Tree): Promise<Check> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'import-rules-'));
  dirs.push(dir);
  await copyFile(path.join(ROOT, CONFIG), path.join(dir, CONFIG));
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  for (const [file, imports] of Object.entries(tree)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    const body = imports.map((target) => `import '${target}';\n`).join('');
    await writeFile(path.join(dir, file), `${body}export {};\n`);
  }
  const [command = '', ...args] = LINT_CHECK.split(' ');
  const bin = path.join(ROOT, 'node_modules/.bin', command);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, ...args], { cwd: dir }, (error, stdout, stderr) => {
      const code = typeof error?.code === 'number' ? error.code : error ? -1 : 0;
      if (code < 0) return reject(error ?? new Error('no exit code'));
      const output = stdout + stderr;
      const violations = [...output.matchAll(/^\s*error (\S+): (\S+) →/gm)].map(
        ([, rule, from]) => `${rule}: ${from}`,
      );
      resolve({ code, violations, output });
    });
  });
}

it('is what npm run lint runs', async () => {
  const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };

  expect(manifest.scripts['lint']).toContain(LINT_CHECK);
});

it('passes a tree whose imports all point down the layers', async () => {
  const result = await check(LAYERED);

  expect(result).toEqual({
    code: 0,
    violations: [],
    output: expect.stringContaining('no dependency violations found'),
  });
});

it('fails on each planted violation, naming its rule and the importing file', async () => {
  const planted: Tree = Object.fromEntries(PLANTED.map(({ file, imports }) => [file, imports]));

  const result = await check({ ...LAYERED, ...planted });

  const layerViolations = PLANTED.filter(({ rule }) => rule !== 'no-circular').map(
    ({ rule, file }) => `${rule}: ${file}`,
  );
  expect(result.violations.filter((v) => !v.startsWith('no-circular:')).sort()).toEqual(
    layerViolations.sort(),
  );
  // One cycle, reported once from one of its two modules.
  expect(result.violations.filter((v) => v.startsWith('no-circular:'))).toEqual([
    expect.stringMatching(/^no-circular: shared\/cache\/(index|cache-aside)\.ts$/),
  ]);
  expect(result.code).toBe(result.violations.length);
});
