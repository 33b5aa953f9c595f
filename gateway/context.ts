import type { AccessTokenClaims } from '../shared/auth/index.ts';
import type { RequestContext } from '../shared/server/index.ts';

/** Per-request state of the gateway. */
export interface GatewayContext extends RequestContext {
  /** The verified access token's claims; null for anonymous requests. */
  readonly accessClaims: AccessTokenClaims | null;
  /** The client's address (rate limits in subgraphs); null when unknown. */
  readonly clientIp: string | null;
}
