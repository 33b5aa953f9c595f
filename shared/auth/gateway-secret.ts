/**
 * The rule for GATEWAY_TOKEN_SECRET, in a module of its own: the start-up settings check it
 * without loading the token code.
 */

/** Shortest secret accepted: HS256 wants at least 256 bits of key. */
export const GATEWAY_SECRET_MIN_LENGTH = 32;
