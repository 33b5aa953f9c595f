/**
 * Relay connections the way every subgraph pages: `first` 1–100, opaque `after`
 * cursors over a keyset `(createdAt, id)` — stable under concurrent inserts, no OFFSET —
 * and `search` terms made safe for SQL LIKE. Pure functions; bad input is BAD_USER_INPUT
 * naming the argument.
 */
import { ValidationError } from '../errors/index.ts';

export const PAGE_SIZE_DEFAULT = 20;
export const PAGE_SIZE_MAX = 100;

/** `first` of a connection: 1–100, 20 when absent. */
export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return PAGE_SIZE_DEFAULT;
  if (!Number.isInteger(first) || first < 1 || first > PAGE_SIZE_MAX) {
    throw new ValidationError('first', `first must be between 1 and ${PAGE_SIZE_MAX}`);
  }
  return first;
}

/** Where a page starts: after the row with this creation time and id (the sort key). */
export interface KeysetCursor {
  createdAt: Date;
  id: string;
}

/** Cursors are opaque to clients: base64url of the sort key. */
export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString(
    'base64url',
  );
}

/** Throws BAD_USER_INPUT (field `after`) for anything `encodeCursor` did not produce. */
export function decodeCursor(value: string): KeysetCursor {
  const invalid = () => new ValidationError('after', 'after is not a cursor from this list');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'string' ||
    typeof parsed[1] !== 'string' ||
    !isUuid(parsed[1])
  ) {
    throw invalid();
  }
  const createdAt = new Date(parsed[0]);
  if (Number.isNaN(createdAt.getTime())) throw invalid();
  return { createdAt, id: parsed[1] };
}

/**
 * The MikroORM filter for "rows after this cursor" in `(createdAt, id)` order, ascending or
 * descending; pair it with the same `orderBy`.
 */
export function afterCursor(
  after: KeysetCursor,
  direction: 'asc' | 'desc' = 'asc',
): Record<string, unknown> {
  const beyond = direction === 'asc' ? '$gt' : '$lt';
  return {
    $or: [
      { createdAt: { [beyond]: after.createdAt } },
      { createdAt: after.createdAt, id: { [beyond]: after.id } },
    ],
  };
}

export interface Connection<TNode> {
  edges: { cursor: string; node: TNode }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** A page from rows fetched with `limit + 1` (the extra row only says there is more). */
export function connectionOf<TNode extends KeysetCursor>(
  rows: readonly TNode[],
  limit: number,
): Connection<TNode> {
  const edges = rows.slice(0, limit).map((node) => ({ cursor: encodeCursor(node), node }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null },
  };
}

/** A `search` term for SQL LIKE: trimmed, wildcards escaped; null when there is nothing to match. */
export function likePattern(search: string | null | undefined): string | null {
  const term = search?.trim();
  if (!term) return null;
  if (term.length > 100)
    throw new ValidationError('search', 'search must be at most 100 characters');
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else names nothing (and must not reach SQL as a uuid). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
