/**
 * Who is calling. Subgraphs receive the caller's identity only from a token the gateway
 * signs (the edge-security work); until that lands every request is anonymous, so
 * resolvers already decide on `identity === null` the way they will later.
 */

export type Role = 'USER' | 'ADMIN';

export interface Identity {
  readonly userId: string;
  readonly role: Role;
  readonly scopes: readonly string[];
}
