/**
 * Who is calling. The gateway verifies the client's access token and hands each subgraph
 * the caller as a short-lived token it signs (gateway-token.ts); subgraphs take the caller
 * from that token only, never from a header a client could set.
 */

export const ROLES = ['USER', 'ADMIN'] as const;
export type Role = (typeof ROLES)[number];

/** The profile as it was when the access token was issued. */
export interface TokenProfile {
  readonly email: string;
  readonly name: string;
  readonly createdAt: Date;
}

/** A signed-in caller, as the access token described them. */
export interface Identity {
  readonly userId: string;
  readonly role: Role;
  readonly scopes: readonly string[];
  /** The session (refresh-token family) the access token belongs to. */
  readonly sessionId: string;
  /** The access token's `jti` and expiry: logout revokes exactly this token. */
  readonly tokenId: string;
  readonly tokenExpiresAt: Date;
  /**
   * Lets the users subgraph answer for a just-registered account before the
   * `user.registered` event has created its profile (read-your-writes).
   */
  readonly profile: TokenProfile;
}

/** Everything a subgraph knows about who sent a request. */
export interface Caller {
  /** Null for anonymous requests. */
  readonly identity: Identity | null;
  /** The client's address as the gateway saw it (rate limits); null when unknown. */
  readonly clientIp: string | null;
}
