/**
 * Identity and edge security shared by the gateway, auth and every subgraph: who is
 * calling (identity), the access token's claims, the gateway → subgraph identity token, and
 * the revocation list auth writes and the gateway reads.
 */
export { ROLES } from './identity.ts';
export type { Caller, Identity, Role, TokenProfile } from './identity.ts';
export {
  ACCESS_TOKEN_ALGORITHM,
  ACCESS_TOKEN_TYPE,
  accessTokenClaimsSchema,
  identityFromClaims,
} from './access-token.ts';
export type { AccessTokenClaims } from './access-token.ts';
export {
  GATEWAY_SECRET_MIN_LENGTH,
  GATEWAY_TOKEN_HEADER,
  createGatewayTokens,
} from './gateway-token.ts';
export type { GatewayTokenOptions, GatewayTokens } from './gateway-token.ts';
export { createRevocationList, createRevocationReader } from './revocation.ts';
export type {
  RevocationList,
  RevocationListOptions,
  RevocationReader,
  TokenRef,
} from './revocation.ts';
