/**
 * `npm run schema:compose`: composes the subgraphs of schema/subgraphs.ts from
 * their SDL and produces the checked-in contracts under `schema/`:
 *
 * - `schema/<name>.graphql`: each subgraph's SDL as composed (printed, normalised);
 * - `schema/supergraph.graphql`: the supergraph the gateway serves (SUPERGRAPH_PATH), with
 *   each subgraph's docker-compose URL (`http://users:4002/graphql`). Those URLs never decide
 *   where requests go: the gateway maps each subgraph NAME to its configured endpoint;
 * - `schema/api.graphql`: the client-facing API (no federation internals), types and fields
 *   sorted by name, so its diff shows only what changed for clients whatever the order of
 *   the subgraphs or of composition's output.
 *
 * The output is a pure function of the SDL files: the same input gives byte-identical files,
 * which is what the drift check (check.ts) relies on. Files are replaced atomically (write,
 * then rename), so a gateway watching `schema/supergraph.graphql` never reads half a file.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lexicographicSortSchema, parse, print, printSchema } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { composeSubgraphs, readSubgraphSdls } from '../composition.ts';
import type { CompositionIssue, SubgraphEndpoint, SubgraphSdl } from '../composition.ts';
import { SUBGRAPHS } from '../subgraphs.ts';

/** Where the generated files live, relative to the project root. */
export const SCHEMA_DIR = 'schema';
export const SUPERGRAPH_FILE = path.join(SCHEMA_DIR, 'supergraph.graphql');
export const API_FILE = path.join(SCHEMA_DIR, 'api.graphql');

/** Every top-level `schema/*.graphql` is generated; anything composition does not produce is stale. */
function isGeneratedFile(relativePath: string): boolean {
  return path.dirname(relativePath) === SCHEMA_DIR && relativePath.endsWith('.graphql');
}

/** The subgraphs that are composed, at their docker-compose URLs. */
export function composedSubgraphs(): SubgraphEndpoint[] {
  return SUBGRAPHS.map((s) => ({
    name: s.name,
    url: `http://${s.name}:${s.port}/graphql`,
  }));
}

export type SchemaComposition =
  | {
      ok: true;
      subgraphs: string[];
      /** Project-relative path → content, every generated file. */
      files: ReadonlyMap<string, string>;
      apiSchema: GraphQLSchema;
      hints: CompositionIssue[];
    }
  | { ok: false; subgraphs: string[]; errors: CompositionIssue[] };

/** Composes SDL already in hand (tests compose modified copies this way). */
export function composeSchema(sdls: readonly SubgraphSdl[]): SchemaComposition {
  const subgraphs = sdls.map((s) => s.name);
  const outcome = composeSubgraphs(sdls);
  if (!outcome.ok) return { ok: false, subgraphs, errors: outcome.errors };
  const files = new Map<string, string>();
  for (const { name, file, sdl } of sdls) {
    files.set(path.join(SCHEMA_DIR, `${name}.graphql`), generated(file, [], print(parse(sdl))));
  }
  const sources =
    subgraphs.length === 1
      ? (sdls[0]?.file ?? '')
      : `subgraphs/{${subgraphs.join(',')}}/schema.graphql`;
  files.set(
    SUPERGRAPH_FILE,
    generated(
      sources,
      ['The supergraph the gateway serves (SUPERGRAPH_PATH).'],
      outcome.supergraphSdl,
    ),
  );
  files.set(
    API_FILE,
    generated(
      sources,
      ['The API clients see: no federation internals; types and fields sorted by name.'],
      printSchema(lexicographicSortSchema(outcome.apiSchema)),
    ),
  );
  return { ok: true, subgraphs, files, apiSchema: outcome.apiSchema, hints: outcome.hints };
}

/** Reads `<root>/subgraphs/<name>/schema.graphql` of every composed subgraph and composes them. */
export async function composeProject(root: string): Promise<SchemaComposition> {
  return composeSchema(await readSubgraphSdls(composedSubgraphs(), root));
}

export interface WriteResult {
  written: string[];
  unchanged: string[];
  removed: string[];
}

/** Writes the generated files under `root` and removes stale generated ones. */
export async function writeSchemaFiles(
  root: string,
  files: ReadonlyMap<string, string>,
): Promise<WriteResult> {
  const current = await readGeneratedFiles(root);
  const result: WriteResult = { written: [], unchanged: [], removed: [] };
  for (const [file, content] of files) {
    if (current.get(file) === content) {
      result.unchanged.push(file);
      continue;
    }
    const target = path.join(root, file);
    const temporary = `${target}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, content);
    await rename(temporary, target);
    result.written.push(file);
  }
  for (const file of current.keys()) {
    if (files.has(file)) continue;
    await rm(path.join(root, file));
    result.removed.push(file);
  }
  return result;
}

/** The generated files as they are on disk under `root` (path → content). */
export async function readGeneratedFiles(root: string): Promise<Map<string, string>> {
  const entries = await readdir(path.join(root, SCHEMA_DIR), { withFileTypes: true }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    },
  );
  const found = new Map<string, string>();
  for (const entry of entries) {
    const file = path.join(SCHEMA_DIR, entry.name);
    if (entry.isFile() && isGeneratedFile(file)) {
      found.set(file, await readFile(path.join(root, file), 'utf8'));
    }
  }
  return found;
}

function generated(source: string, about: string[], body: string): string {
  const header = [`Generated by \`npm run schema:compose\` from ${source}. Do not edit.`, ...about];
  return `${header.map((line) => `# ${line}\n`).join('')}\n${body.trimEnd()}\n`;
}
