/**
 * The revision whose `schema/api.graphql` breaking changes are judged against, read with git.
 *
 * With `--base <ref>` that revision itself. Without it, the fork point of HEAD from
 * `origin/main` (or a local `main` when there is no remote): what a pull request will be
 * merged into, not whatever main has gained since. On main itself that is HEAD, so the
 * check then judges uncommitted changes.
 *
 * No base is never an error when none was asked for (a shallow CI clone, a repository
 * without main, a base from before `schema/api.graphql` existed): the breaking-change check
 * is skipped with a notice saying why. A `--base` that does not resolve is an error, so a
 * typo cannot switch the check off.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { API_FILE, SCHEMA_DIR } from './compose.ts';

const run = promisify(execFile);

/** Refs tried, in order, when no `--base` is given. */
export const DEFAULT_BASE_REFS = ['origin/main', 'main'] as const;

export type BaseSchema =
  | {
      status: 'found';
      ref: string;
      commit: string;
      apiSdl: string;
      /** The base's `schema/<name>.graphql` by subgraph (to tell where a removed thing was). */
      subgraphSdls: ReadonlyMap<string, string>;
    }
  /** Nothing to compare against; the check says why and skips breaking changes. */
  | { status: 'absent'; reason: string }
  /** The requested base does not exist: an error. */
  | { status: 'invalid'; reason: string };

export interface ReadBaseSchemaOptions {
  /** Project root (the git work tree, or a directory in it). */
  root: string;
  /** `--base`; unset: the fork point from origin/main or main. */
  ref?: string | undefined;
  /** Subgraphs whose base SDL to read, if the base has it. */
  subgraphs: readonly string[];
}

export async function readBaseSchema(options: ReadBaseSchemaOptions): Promise<BaseSchema> {
  const { root, ref } = options;
  const git = async (...args: string[]): Promise<string | undefined> => {
    try {
      const { stdout } = await run('git', args, { cwd: root, maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    } catch {
      return undefined;
    }
  };
  const commitOf = async (name: string) =>
    (await git('rev-parse', '--verify', '--quiet', `${name}^{commit}`))?.trim();

  let base: { ref: string; commit: string };
  if (ref !== undefined) {
    const commit = await commitOf(ref);
    if (!commit) {
      return { status: 'invalid', reason: `--base ${ref}: no such git revision in ${root}` };
    }
    base = { ref, commit };
  } else {
    if ((await git('rev-parse', '--is-inside-work-tree'))?.trim() !== 'true') {
      return { status: 'absent', reason: `${root} is not a git work tree` };
    }
    let found: { ref: string; commit: string } | undefined;
    for (const candidate of DEFAULT_BASE_REFS) {
      if (!(await commitOf(candidate))) continue;
      const forkPoint = (await git('merge-base', 'HEAD', candidate))?.trim();
      if (forkPoint) {
        found = { ref: `merge-base of HEAD and ${candidate}`, commit: forkPoint };
        break;
      }
    }
    if (!found) {
      return {
        status: 'absent',
        reason: `no base revision (none of ${DEFAULT_BASE_REFS.join(', ')} shares history with HEAD; a shallow clone?); pass --base <ref>`,
      };
    }
    base = found;
  }
  // `./` makes the path relative to the root, wherever it sits in the repository.
  const apiSdl = await git('show', `${base.commit}:./${API_FILE}`);
  if (apiSdl === undefined) {
    return {
      status: 'absent',
      reason: `the base (${base.ref}, ${base.commit.slice(0, 10)}) has no ${API_FILE}: nothing to compare against`,
    };
  }
  const subgraphSdls = new Map<string, string>();
  for (const name of options.subgraphs) {
    const sdl = await git('show', `${base.commit}:./${path.join(SCHEMA_DIR, `${name}.graphql`)}`);
    if (sdl !== undefined) subgraphSdls.set(name, sdl);
  }
  return { status: 'found', ...base, apiSdl, subgraphSdls };
}
