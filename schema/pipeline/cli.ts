/**
 * The schema pipeline's command line, run from the project root (npm scripts do that):
 *
 *   node schema/pipeline/cli.ts compose          (npm run schema:compose)
 *
 * Exit codes: 0 success, 1 a composition error, 2 a usage error.
 */
import { describeIssue } from '../../gateway/supergraph.ts';
import type { CompositionIssue } from '../../gateway/supergraph.ts';
import { composeProject, writeSchemaFiles } from './compose.ts';

const USAGE = 'usage: node schema/pipeline/cli.ts compose';

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

const [command, ...rest] = process.argv.slice(2);
const root = process.cwd();
let code: number;
if (command === 'compose') {
  if (rest.length > 0) usageError(`compose takes no arguments, got ${rest.join(' ')}`);
  code = await compose(root);
} else {
  usageError(command ? `unknown command ${command}` : 'no command');
}
process.exitCode = code;
