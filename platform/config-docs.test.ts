/**
 * docs/configuration.md and `.env.example` are generated: they must be what
 * `npm run docs:config` writes from the schema and its descriptions. Needs no server.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CONFIG_DOCS_COMMAND,
  CONFIG_DOC_FILES,
  REPOSITORY_ROOT,
  composeVariables,
  renderConfigDocs,
  renderEnvExample,
} from './config-docs.ts';
import { platformEnvSchema } from './env.ts';
import { SETTINGS } from './settings.ts';

/** Where `actual` first departs from `expected`, to say in a failure. */
function firstDifference(actual: string, expected: string): string {
  const have = actual.split('\n');
  const want = expected.split('\n');
  const line = want.findIndex((text, index) => have[index] !== text);
  const at = line === -1 ? want.length : line;
  return `line ${at + 1}: has ${JSON.stringify(have[at])}, expected ${JSON.stringify(want[at])}`;
}

describe('configuration docs', () => {
  it(`are what ${CONFIG_DOCS_COMMAND} writes`, async () => {
    const expected = await renderConfigDocs();
    const stale: string[] = [];
    for (const file of CONFIG_DOC_FILES) {
      const actual = await readFile(path.join(REPOSITORY_ROOT, file), 'utf8').catch(() => '');
      if (actual !== expected[file]) {
        stale.push(`${file} (${firstDifference(actual, expected[file])})`);
      }
    }
    if (stale.length > 0) {
      throw new Error(
        `Out of date: ${stale.join('; ')}. Run ${CONFIG_DOCS_COMMAND} and commit the result.`,
      );
    }
  });

  it('describe every variable the schema accepts, and nothing else', () => {
    expect(Object.keys(SETTINGS).sort()).toEqual(Object.keys(platformEnvSchema.shape).sort());
  });

  it('do not depend on the terminal they are generated from (LOG_FORMAT)', async () => {
    const stdoutIsTTY = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
    try {
      Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true });
      const onTerminal = await renderConfigDocs();
      Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
      expect(await renderConfigDocs()).toEqual(onTerminal);
    } finally {
      if (stdoutIsTTY) Object.defineProperty(process.stdout, 'isTTY', stdoutIsTTY);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    }
  });

  it('refuse a variable docker compose reads from .env that nothing describes', () => {
    expect(() => renderEnvExample('image: x\nenvironment:\n  A: ${UNDESCRIBED_PORT:-1}\n')).toThrow(
      /docker-compose.yml reads UNDESCRIBED_PORT from .env: describe it in COMPOSE_SETTINGS/,
    );
  });

  it("read docker compose's defaults and required variables", () => {
    const found = composeVariables('a: ${A:-x}\nb: ${B:?set B}\nc: ${C}\nd: ${A:-y}\n');
    expect(Object.fromEntries(found)).toEqual({
      A: { default: 'x', required: false },
      B: { default: '', required: true },
      C: { default: '', required: false },
    });
  });
});
