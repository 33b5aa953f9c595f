/**
 * `npm run schema:check`, the CI gate for the schema: one report of every problem, each with
 * its kind, code, the schema coordinate or file position it concerns, and a message.
 *
 * Errors (exit 1):
 * - composition: the subgraphs do not compose (nothing else can be checked then);
 * - drift: the checked-in `schema/*.graphql` differ from what the subgraphs compose to;
 * - breaking-change: the client API lost something against the base revision's
 *   `schema/api.graphql`, and `schema/breaking-changes.acknowledged.json` does not list it
 *   with a reason (an entry without one is itself an error);
 * - operation: a client operation under `schema/operations/**\/*.graphql` no longer
 *   validates against the composed API.
 * Warnings: composition hints, dangerous changes, acknowledgements that match nothing.
 * Notices: why breaking changes were not checked (no base), what was acknowledged.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { GraphQLError, Kind, Source, buildSchema, parse, validate } from 'graphql';
import type { DocumentNode, GraphQLSchema, Location } from 'graphql';
import { readSubgraphSdls } from '../composition.ts';
import type { CompositionIssue } from '../composition.ts';
import type { BaseSchema } from './base-revision.ts';
import {
  ACKNOWLEDGEMENTS_FILE,
  acknowledges,
  findApiChanges,
  parseAcknowledgements,
} from './breaking-changes.ts';
import type { Acknowledgement } from './breaking-changes.ts';
import {
  API_FILE,
  SCHEMA_DIR,
  composeSchema,
  composedSubgraphs,
  readGeneratedFiles,
} from './compose.ts';

export const OPERATIONS_DIR = path.join(SCHEMA_DIR, 'operations');

export type Severity = 'error' | 'warning' | 'notice';
export type IssueKind =
  | 'composition'
  | 'composition-hint'
  | 'drift'
  | 'breaking-change'
  | 'dangerous-change'
  | 'acknowledgement'
  | 'operation'
  | 'base';

export interface Issue {
  severity: Severity;
  kind: IssueKind;
  /** Stable code: composition's (e.g. INVALID_FIELD_SHARING), graphql-js's change type, or ours. */
  code: string;
  message: string;
  /** Schema coordinate, e.g. `User.email` or `Query.user(id:)`. */
  coordinate?: string;
  /** Project-relative file the issue points at, and where in it, when known. */
  file?: string;
  line?: number;
  column?: number;
  /** Further lines for people: other locations, a diff, how to fix it. */
  details?: string[];
}

export interface CheckReport {
  ok: boolean;
  /** The subgraphs composed. */
  subgraphs: string[];
  base:
    | { status: 'found'; ref: string; commit: string }
    | { status: 'absent' | 'invalid'; reason: string };
  counts: Record<Severity, number>;
  issues: Issue[];
}

export interface CheckOptions {
  /** Project root: `subgraphs/`, `schema/` and the acknowledgement file are read from it. */
  root: string;
  /** The base revision's `schema/api.graphql` (see base-revision.ts), or why there is none. */
  base: BaseSchema;
}

export async function checkSchema(options: CheckOptions): Promise<CheckReport> {
  const { root, base } = options;
  const issues: Issue[] = [];
  const sdls = await readSubgraphSdls(composedSubgraphs(), root);
  const composition = composeSchema(sdls);

  if (base.status === 'absent') {
    issues.push({
      severity: 'notice',
      kind: 'base',
      code: 'BASE_ABSENT',
      message: `breaking changes not checked: ${base.reason}`,
    });
  } else if (base.status === 'invalid') {
    issues.push({ severity: 'error', kind: 'base', code: 'BASE_NOT_FOUND', message: base.reason });
  }

  const acknowledgements = await readAcknowledgements(root);
  issues.push(...acknowledgements.issues);

  if (!composition.ok) {
    issues.push(...composition.errors.map((error) => compositionIssue('error', error)));
  } else {
    issues.push(...composition.hints.map((hint) => compositionIssue('warning', hint)));
    issues.push(...(await driftIssues(root, composition.files)));
    if (base.status === 'found') {
      const definitions = sdls.map((s) => ({
        current: parse(new Source(s.sdl, s.file)),
        base: parseOrUndefined(base.subgraphSdls.get(s.name)),
      }));
      issues.push(
        ...changeIssues(base, composition.apiSchema, definitions, acknowledgements.entries),
      );
    }
    issues.push(...(await operationIssues(root, composition.apiSchema)));
  }

  const counts = { error: 0, warning: 0, notice: 0 };
  for (const issue of issues) counts[issue.severity] += 1;
  return {
    ok: counts.error === 0,
    subgraphs: composition.subgraphs,
    base:
      base.status === 'found'
        ? { status: 'found', ref: base.ref, commit: base.commit }
        : { status: base.status, reason: base.reason },
    counts,
    issues,
  };
}

function compositionIssue(severity: Severity, issue: CompositionIssue): Issue {
  const [first, ...others] = issue.locations;
  return {
    severity,
    kind: severity === 'error' ? 'composition' : 'composition-hint',
    code: issue.code,
    message: issue.message,
    ...(first ? { file: first.file, line: first.line, column: first.column } : {}),
    ...(others.length > 0
      ? { details: others.map((l) => `also at ${l.file}:${l.line}:${l.column}`) }
      : {}),
  };
}

async function driftIssues(root: string, composed: ReadonlyMap<string, string>): Promise<Issue[]> {
  const onDisk = await readGeneratedFiles(root);
  const fix = 'run `npm run schema:compose` and commit schema/';
  const issues: Issue[] = [];
  for (const [file, expected] of composed) {
    const actual = onDisk.get(file);
    if (actual === undefined) {
      issues.push({
        severity: 'error',
        kind: 'drift',
        code: 'SCHEMA_FILE_MISSING',
        file,
        message: `${file} is missing: the subgraphs compose to it (${fix})`,
      });
    } else if (actual !== expected) {
      const diff = lineDiff(actual, expected);
      issues.push({
        severity: 'error',
        kind: 'drift',
        code: 'SCHEMA_DRIFT',
        file,
        line: diff.line,
        message: `${file} differs from what the subgraphs compose to (${fix})`,
        details: diff.lines,
      });
    }
  }
  for (const file of onDisk.keys()) {
    if (composed.has(file)) continue;
    issues.push({
      severity: 'error',
      kind: 'drift',
      code: 'SCHEMA_FILE_STALE',
      file,
      message: `${file} is not produced by composition any more (${fix}, which removes it)`,
    });
  }
  return issues;
}

/**
 * Where two texts differ, line by line (longest common subsequence): each hunk with its line
 * in the checked-in file, `-` lines checked in, `+` lines composed. At most `limit` changed
 * lines are shown.
 */
function lineDiff(
  checkedIn: string,
  composed: string,
  limit = 24,
): { line: number; lines: string[] } {
  const a = checkedIn.split('\n');
  const b = composed.split('\n');
  // common[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const width = b.length + 1;
  const common = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i * width + j] =
        a[i] === b[j]
          ? common[(i + 1) * width + j + 1]! + 1
          : Math.max(common[(i + 1) * width + j]!, common[i * width + j + 1]!);
    }
  }
  const hunks: { line: number; removed: string[]; added: string[] }[] = [];
  let hunk: (typeof hunks)[number] | undefined;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      hunk = undefined;
      i++;
      j++;
      continue;
    }
    if (!hunk) {
      hunk = { line: i + 1, removed: [], added: [] };
      hunks.push(hunk);
    }
    if (
      j >= b.length ||
      (i < a.length && common[(i + 1) * width + j]! >= common[i * width + j + 1]!)
    ) {
      hunk.removed.push(a[i++]!);
    } else {
      hunk.added.push(b[j++]!);
    }
  }
  const lines = ['- checked in, + composed:'];
  let shown = 0;
  let hidden = 0;
  for (const { line, removed, added } of hunks) {
    const changed = [...removed.map((l) => `- ${l}`), ...added.map((l) => `+ ${l}`)];
    if (shown >= limit) {
      hidden += changed.length;
      continue;
    }
    lines.push(`line ${line}:`, ...changed.slice(0, limit - shown).map((l) => `  ${l}`));
    hidden += Math.max(0, changed.length - (limit - shown));
    shown += changed.length;
  }
  if (hidden > 0) lines.push(`… ${hidden} more changed line(s)`);
  return { line: hunks[0]?.line ?? 1, lines };
}

function changeIssues(
  base: Extract<BaseSchema, { status: 'found' }>,
  current: GraphQLSchema,
  definitions: readonly SubgraphDefinitions[],
  acknowledgements: readonly Acknowledgement[],
): Issue[] {
  const against = `${base.ref} (${base.commit.slice(0, 10)})`;
  let baseSchema: GraphQLSchema;
  try {
    baseSchema = buildSchema(base.apiSdl);
  } catch (error) {
    return [
      {
        severity: 'error',
        kind: 'base',
        code: 'BASE_SCHEMA_INVALID',
        file: API_FILE,
        message: `${API_FILE} of ${against} is not a valid schema: ${(error as Error).message}`,
      },
    ];
  }
  const issues: Issue[] = [];
  const used = new Set<Acknowledgement>();
  for (const change of findApiChanges(baseSchema, current)) {
    const where = locate(change.coordinate, definitions);
    const common = {
      code: change.code,
      coordinate: change.coordinate,
      ...(where ?? { file: API_FILE }),
    };
    if (change.severity === 'dangerous') {
      issues.push({
        ...common,
        severity: 'warning',
        kind: 'dangerous-change',
        message: `${change.description} Existing operations stay valid but may see new values or behaviour (against ${against}).`,
      });
      continue;
    }
    const acknowledgement = acknowledgements.find((entry) => acknowledges(entry, change));
    if (acknowledgement) {
      used.add(acknowledgement);
      issues.push({
        ...common,
        severity: 'notice',
        kind: 'breaking-change',
        message: `${change.description} Acknowledged: ${acknowledgement.reason}`,
      });
      continue;
    }
    issues.push({
      ...common,
      severity: 'error',
      kind: 'breaking-change',
      message: `${change.description} Clients using it break (against ${against}).`,
      details: [
        `to ship it anyway, add to ${ACKNOWLEDGEMENTS_FILE}:`,
        `  { "code": "${change.code}", "coordinate": "${change.coordinate}", "reason": "<why clients can live with it>" }`,
      ],
    });
  }
  for (const entry of acknowledgements) {
    if (used.has(entry)) continue;
    issues.push({
      severity: 'warning',
      kind: 'acknowledgement',
      code: 'ACKNOWLEDGEMENT_UNUSED',
      coordinate: entry.coordinate,
      file: ACKNOWLEDGEMENTS_FILE,
      message: `${entry.code} ${entry.coordinate} is acknowledged but no such breaking change exists against ${against}; remove the entry`,
    });
  }
  return issues;
}

async function readAcknowledgements(
  root: string,
): Promise<{ entries: Acknowledgement[]; issues: Issue[] }> {
  let text: string;
  try {
    text = await readFile(path.join(root, ACKNOWLEDGEMENTS_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], issues: [] };
    throw error;
  }
  const parsed = parseAcknowledgements(text);
  return {
    entries: parsed.entries,
    issues: parsed.problems.map((problem) => ({
      severity: 'error',
      kind: 'acknowledgement',
      code: 'ACKNOWLEDGEMENT_INVALID',
      file: ACKNOWLEDGEMENTS_FILE,
      message: `${ACKNOWLEDGEMENTS_FILE}: ${problem}`,
    })),
  };
}

/** A subgraph's SDL now and at the base revision (undefined: the base did not have it). */
interface SubgraphDefinitions {
  current: DocumentNode;
  base: DocumentNode | undefined;
}

function parseOrUndefined(sdl: string | undefined): DocumentNode | undefined {
  if (sdl === undefined) return undefined;
  try {
    return parse(sdl);
  } catch {
    return undefined;
  }
}

/**
 * Where a coordinate is defined in the subgraphs' current SDL: the argument, field or enum
 * value itself, or, when it was removed, the type that lost it, in the subgraph that had it
 * at the base revision. Undefined when even the type is gone.
 */
function locate(
  coordinate: string,
  definitions: readonly SubgraphDefinitions[],
): { file: string; line: number; column: number } | undefined {
  const match = /^(\w+)(?:\.(\w+))?(?:\((\w+):\))?$/.exec(coordinate);
  if (!match) return undefined;
  const parts = match.slice(1).filter((part): part is string => part !== undefined);
  const owners = definitions.filter(
    ({ base }) => base && find(base, parts).length === parts.length,
  );
  let best: Location | undefined;
  let depth = 0;
  for (const { current } of owners.length > 0 ? owners : definitions) {
    const found = find(current, parts);
    if (found.length > depth) {
      depth = found.length;
      best = found.at(-1);
    }
  }
  if (!best) return undefined;
  return { file: best.source.name, line: best.startToken.line, column: best.startToken.column };
}

/** The locations of a coordinate's type, member and argument in a document, as far as they exist. */
function find(document: DocumentNode, [typeName, memberName, argumentName]: string[]): Location[] {
  let deepest: Location[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.DIRECTIVE_DEFINITION || !('name' in definition)) continue;
    if (definition.name?.value !== typeName || !definition.loc) continue;
    const found = [definition.loc];
    const members = [
      ...('fields' in definition ? (definition.fields ?? []) : []),
      ...('values' in definition ? (definition.values ?? []) : []),
    ];
    const member = memberName ? members.find((m) => m.name.value === memberName) : undefined;
    if (member?.loc) {
      found.push(member.loc);
      const argument =
        argumentName && 'arguments' in member
          ? member.arguments?.find((a) => a.name.value === argumentName)
          : undefined;
      if (argument?.loc) found.push(argument.loc);
    }
    if (found.length > deepest.length) deepest = found;
  }
  return deepest;
}

async function operationIssues(root: string, api: GraphQLSchema): Promise<Issue[]> {
  const directory = path.join(root, OPERATIONS_DIR);
  let files: string[];
  try {
    files = (await readdir(directory, { recursive: true }))
      .filter((file) => file.endsWith('.graphql'))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const issues: Issue[] = [];
  for (const name of files) {
    const file = path.join(OPERATIONS_DIR, name);
    const source = new Source(await readFile(path.join(root, file), 'utf8'), file);
    let document: DocumentNode;
    try {
      document = parse(source);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      issues.push(operationIssue(file, 'GRAPHQL_PARSE_FAILED', error));
      continue;
    }
    for (const error of validate(api, document)) {
      issues.push(operationIssue(file, 'GRAPHQL_VALIDATION_FAILED', error));
    }
  }
  return issues;
}

function operationIssue(file: string, code: string, error: GraphQLError): Issue {
  const at = error.locations?.[0];
  return {
    severity: 'error',
    kind: 'operation',
    code,
    file,
    ...(at ? { line: at.line, column: at.column } : {}),
    message: `${file}: ${error.message}`,
  };
}
