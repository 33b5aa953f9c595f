/**
 * The scopes an access token grants, and which a role's tokens carry: auth writes them into
 * the token's `scope` claim, the subgraphs' schemas require them with `@requiresScopes`, and
 * the gateway enforces those against the claim.
 */
import type { Role } from '../shared/auth/index.ts';

/** Scopes an access token grants; `@requiresScopes` in subgraph schemas names these. */
export const SCOPES = {
  /** Any signed-in account. */
  user: 'user',
  /** Administration: other people's data, roles, the catalogue. */
  admin: 'admin',
} as const;

/** The scopes a role's access tokens carry. */
export function scopesForRole(role: Role): string[] {
  return role === 'ADMIN' ? [SCOPES.user, SCOPES.admin] : [SCOPES.user];
}
