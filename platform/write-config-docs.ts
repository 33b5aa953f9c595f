/**
 * `npm run docs:config`: writes docs/configuration.md and `.env.example` from the settings'
 * schema and descriptions (see config-docs.ts), and says which of them changed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPOSITORY_ROOT, renderConfigDocs } from './config-docs.ts';

const files = await renderConfigDocs();
for (const [file, content] of Object.entries(files)) {
  const target = path.join(REPOSITORY_ROOT, file);
  const current = await readFile(target, 'utf8').catch(() => undefined);
  if (current === content) {
    process.stdout.write(`${file}: up to date\n`);
    continue;
  }
  await writeFile(target, content);
  process.stdout.write(`${file}: written\n`);
}
