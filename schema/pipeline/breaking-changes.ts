/**
 * What changed for clients between two versions of the API schema (`schema/api.graphql`):
 * graphql-js's `findBreakingChanges` and `findDangerousChanges`, each change given its
 * schema coordinate (`User.email`, `Query.user(id:)`, `Role.ADMIN`, `@deprecated(reason:)`),
 * and the acknowledgement file that lets a deliberate breaking change through.
 *
 * Breaking: an operation that was valid may now fail (a field, type, argument or enum value
 * removed; a type changed; a required argument or input field added). Dangerous: valid
 * operations stay valid but may behave differently (an enum value or union member added, an
 * argument default changed).
 */
import {
  BreakingChangeType,
  DangerousChangeType,
  findBreakingChanges,
  findDangerousChanges,
} from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { z } from 'zod';

export interface ApiChange {
  severity: 'breaking' | 'dangerous';
  /** graphql-js's change type, e.g. FIELD_REMOVED. */
  code: string;
  /** Schema coordinate of what changed. */
  coordinate: string;
  /** graphql-js's sentence, e.g. "User.email was removed." */
  description: string;
}

/**
 * How to read the coordinate out of each kind of description: graphql-js names what changed
 * only in its sentence (graphql 16's wording; breaking-changes.test.ts pins every kind).
 * The template is applied with `String.replace`, so `$1` is the first group.
 */
const COORDINATES: Record<string, readonly [RegExp, string]> = {
  [BreakingChangeType.TYPE_REMOVED]: [/^(?:Standard scalar )?(\w+) was removed.*$/, '$1'],
  [BreakingChangeType.TYPE_CHANGED_KIND]: [/^(\w+) changed from .*$/, '$1'],
  [BreakingChangeType.TYPE_REMOVED_FROM_UNION]: [/^\w+ was removed from union type (\w+)\.$/, '$1'],
  [BreakingChangeType.VALUE_REMOVED_FROM_ENUM]: [
    /^(\w+) was removed from enum type (\w+)\.$/,
    '$2.$1',
  ],
  [BreakingChangeType.REQUIRED_INPUT_FIELD_ADDED]: [
    /^A required field (\w+) on input type (\w+) was added\.$/,
    '$2.$1',
  ],
  [BreakingChangeType.IMPLEMENTED_INTERFACE_REMOVED]: [
    /^(\w+) no longer implements interface \w+\.$/,
    '$1',
  ],
  [BreakingChangeType.FIELD_REMOVED]: [/^(\w+)\.(\w+) was removed\.$/, '$1.$2'],
  [BreakingChangeType.FIELD_CHANGED_KIND]: [/^(\w+)\.(\w+) changed type from .*$/, '$1.$2'],
  [BreakingChangeType.REQUIRED_ARG_ADDED]: [
    /^A required arg (\w+) on (\w+)\.(\w+) was added\.$/,
    '$2.$3($1:)',
  ],
  [BreakingChangeType.ARG_REMOVED]: [/^(\w+)\.(\w+) arg (\w+) was removed\.$/, '$1.$2($3:)'],
  [BreakingChangeType.ARG_CHANGED_KIND]: [
    /^(\w+)\.(\w+) arg (\w+) has changed type from .*$/,
    '$1.$2($3:)',
  ],
  [BreakingChangeType.DIRECTIVE_REMOVED]: [/^(\w+) was removed\.$/, '@$1'],
  [BreakingChangeType.DIRECTIVE_ARG_REMOVED]: [/^(\w+) was removed from (\w+)\.$/, '@$2($1:)'],
  [BreakingChangeType.REQUIRED_DIRECTIVE_ARG_ADDED]: [
    /^A required arg (\w+) on directive (\w+) was added\.$/,
    '@$2($1:)',
  ],
  [BreakingChangeType.DIRECTIVE_REPEATABLE_REMOVED]: [
    /^Repeatable flag was removed from (\w+)\.$/,
    '@$1',
  ],
  [BreakingChangeType.DIRECTIVE_LOCATION_REMOVED]: [/^\w+ was removed from (\w+)\.$/, '@$1'],
  [DangerousChangeType.VALUE_ADDED_TO_ENUM]: [/^(\w+) was added to enum type (\w+)\.$/, '$2.$1'],
  [DangerousChangeType.TYPE_ADDED_TO_UNION]: [/^\w+ was added to union type (\w+)\.$/, '$1'],
  [DangerousChangeType.OPTIONAL_INPUT_FIELD_ADDED]: [
    /^An optional field (\w+) on input type (\w+) was added\.$/,
    '$2.$1',
  ],
  [DangerousChangeType.OPTIONAL_ARG_ADDED]: [
    /^An optional arg (\w+) on (\w+)\.(\w+) was added\.$/,
    '$2.$3($1:)',
  ],
  [DangerousChangeType.IMPLEMENTED_INTERFACE_ADDED]: [
    /^\w+ added to interfaces implemented by (\w+)\.$/,
    '$1',
  ],
  [DangerousChangeType.ARG_DEFAULT_VALUE_CHANGE]: [
    /^(\w+)\.(\w+) arg (\w+) (?:has changed defaultValue|defaultValue was removed).*$/,
    '$1.$2($3:)',
  ],
};

/** The coordinate of a change; its description when the wording is not one graphql-js uses. */
function coordinateOf(code: string, description: string): string {
  const known = COORDINATES[code];
  return known && known[0].test(description)
    ? description.replace(known[0], known[1])
    : description;
}

/** Breaking changes first, then dangerous ones, each in graphql-js's order. */
export function findApiChanges(base: GraphQLSchema, current: GraphQLSchema): ApiChange[] {
  return [
    ...findBreakingChanges(base, current).map((change) => ({
      severity: 'breaking' as const,
      code: change.type,
      coordinate: coordinateOf(change.type, change.description),
      description: change.description,
    })),
    ...findDangerousChanges(base, current).map((change) => ({
      severity: 'dangerous' as const,
      code: change.type,
      coordinate: coordinateOf(change.type, change.description),
      description: change.description,
    })),
  ];
}

/** Deliberate breaking changes, each with the reason it may ship. */
export const ACKNOWLEDGEMENTS_FILE = 'schema/breaking-changes.acknowledged.json';

export interface Acknowledgement {
  code: string;
  coordinate: string;
  reason: string;
}

const acknowledgementsSchema = z.array(
  z.object({
    code: z.enum(Object.values(BreakingChangeType) as [string, ...string[]], {
      message: `expected a breaking change code (${Object.values(BreakingChangeType).join(', ')})`,
    }),
    coordinate: z
      .string({ message: 'expected the schema coordinate the check reported, e.g. User.email' })
      .min(1, { message: 'expected the schema coordinate the check reported, e.g. User.email' }),
    reason: z
      .string({ message: 'expected a reason: why clients can live with this change' })
      .trim()
      .min(1, { message: 'expected a reason: why clients can live with this change' }),
  }),
  { message: 'expected a JSON array of { "code", "coordinate", "reason" } entries' },
);

export interface AcknowledgementsFile {
  entries: Acknowledgement[];
  /** What is wrong with the file, one line each naming the entry; empty when it is fine. */
  problems: string[];
}

/** Parses the acknowledgement file's text; an entry without a reason is a problem. */
export function parseAcknowledgements(text: string): AcknowledgementsFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { entries: [], problems: [`not valid JSON: ${(error as Error).message}`] };
  }
  const result = acknowledgementsSchema.safeParse(json);
  if (result.success) return { entries: result.data, problems: [] };
  const raw = Array.isArray(json) ? (json as Record<string, unknown>[]) : [];
  return {
    entries: [],
    problems: result.error.issues.map((issue) => {
      const [index, field] = issue.path;
      if (typeof index !== 'number') return issue.message;
      const entry = raw[index] ?? {};
      const label = [entry['code'], entry['coordinate']].filter((v) => typeof v === 'string');
      const name = `entry ${index + 1}${label.length > 0 ? ` (${label.join(' ')})` : ''}`;
      return `${name}${field === undefined ? '' : `: ${String(field)}`}: ${issue.message}`;
    }),
  };
}

export function acknowledges(entry: Acknowledgement, change: ApiChange): boolean {
  return entry.code === change.code && entry.coordinate === change.coordinate;
}
