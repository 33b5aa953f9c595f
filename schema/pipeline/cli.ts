/**
 * The schema pipeline's command line, run from the project root (npm scripts do that):
 *
 *   node schema/pipeline/cli.ts compose          (npm run schema:compose)
 *   node schema/pipeline/cli.ts check [--base <git-ref>] [--format text|json]
 *                                                (npm run schema:check)
 *
 * Exit codes: 0 success, 1 a composition error or a failed check, 2 a usage error.
 * `check` also prints GitHub Actions annotations when GITHUB_ACTIONS=true (text format).
 */
import { parseArgs } from 'node:util';
import { describeIssue } from '../composition.ts';
import type { CompositionIssue } from '../composition.ts';
import { readBaseSchema } from './base-revision.ts';
import { checkSchema } from './check.ts';
import { composeProject, composedSubgraphs, writeSchemaFiles } from './compose.ts';
import { formatGithubAnnotations, formatJson, formatText } from './report.ts';

const USAGE = `usage: node schema/pipeline/cli.ts compose
       node schema/pipeline/cli.ts check [--base <git-ref>] [--format text|json]`;

function usageError(message: string): never {
  process.stderr.write(`schema: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function compose(root: string): Promise<number> {
  const composition = await composeProject(root);
  const print = (label: string, issues: readonly CompositionIssue[]) => {
    for (const issue of issues) process.stderr.write(`${label}: ${describeIssue(issue)}\n`);
  };
  if (!composition.ok) {
    print('error', composition.errors);
    process.stderr.write(
      `schema:compose failed: ${composition.errors.length} composition error(s) in ${composition.subgraphs.join(', ')}; schema/ left as it was\n`,
    );
    return 1;
  }
  print('hint', composition.hints);
  const result = await writeSchemaFiles(root, composition.files);
  for (const file of result.written) process.stdout.write(`wrote ${file}\n`);
  for (const file of result.removed) process.stdout.write(`removed ${file}\n`);
  process.stdout.write(
    `schema:compose: composed ${composition.subgraphs.join(', ')}; ${result.written.length} file(s) written, ${result.unchanged.length} unchanged, ${result.removed.length} removed\n`,
  );
  return 0;
}

async function check(root: string, args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { base: { type: 'string' }, format: { type: 'string', default: 'text' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usageError((error as Error).message);
  }
  if (values.format !== 'text' && values.format !== 'json') {
    usageError(`--format: expected text or json, got ${JSON.stringify(values.format)}`);
  }
  const base = await readBaseSchema({
    root,
    ref: values.base,
    subgraphs: composedSubgraphs().map((s) => s.name),
  });
  const report = await checkSchema({ root, base });
  if (values.format === 'json') {
    process.stdout.write(formatJson(report));
  } else {
    process.stdout.write(formatText(report));
    if (process.env['GITHUB_ACTIONS'] === 'true') {
      process.stdout.write(formatGithubAnnotations(report));
    }
  }
  return report.ok ? 0 : 1;
}

const [command, ...rest] = process.argv.slice(2);
const root = process.cwd();
let run: () => Promise<number>;
if (command === 'compose') {
  if (rest.length > 0) usageError(`compose takes no arguments, got ${rest.join(' ')}`);
  run = () => compose(root);
} else if (command === 'check') {
  run = () => check(root, rest);
} else {
  usageError(command ? `unknown command ${command}` : 'no command');
}
try {
  process.exitCode = await run();
} catch (error) {
  // Not a finding but a failure to look (e.g. a subgraph without its schema.graphql).
  process.stderr.write(`schema:${command} failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
