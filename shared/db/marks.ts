/**
 * The comments in front of a statement's text that change how it goes out: read by MikroORM's
 * `onQuery` hook (prepared-statements.ts) and by each pooled connection (fewer-round-trips.ts).
 */

/** Goes out with the transaction's next statement (`sentWithNext`). */
export const WITH_NEXT = '/* sent with the next statement */ ';

/** What a query builder's `.comment(PREPARED_COMMENT)` puts in front: `PREPARED` (findRows). */
export const PREPARED_COMMENT = 'prepared';

/** Goes out as the `execute` of a prepared statement (`prepared`). */
export const PREPARED = `/* ${PREPARED_COMMENT} */ `;
