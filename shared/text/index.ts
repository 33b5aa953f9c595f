/**
 * Text PostgreSQL can store as given: well-formed Unicode without NUL. It refuses NUL in
 * `text` and `jsonb`, and a lone UTF-16 surrogate reaches it re-encoded as U+FFFD, so what
 * is stored differs from what was sent. The gateway and subgraphs refuse such arguments,
 * and the outbox refuses such events (shared/server/well-formed-text.ts, shared/events).
 */

/** Why `text` cannot be stored, or undefined when it can. */
export function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000)';
  if (!text.isWellFormed()) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

/** The first string in `value` that cannot be stored: where (`a.b[2]`) and why. */
export function illFormedIn(
  value: unknown,
  at: string,
): { where: string; problem: string } | undefined {
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? { where: at, problem } : undefined;
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = illFormedIn(item, `${at}[${index}]`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      // A key is text too (a JSON scalar's, say).
      const found = illFormedIn(key, `${at} (a key)`) ?? illFormedIn(item, `${at}.${key}`);
      if (found) return found;
    }
  }
  return undefined;
}
