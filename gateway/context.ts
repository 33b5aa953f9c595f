import type { Request } from 'express';
import type { AccessTokenClaims } from '../shared/auth/index.ts';
import type { RequestContext } from '../shared/server/index.ts';

/** Per-request state of the gateway. */
export interface GatewayContext extends RequestContext {
  /** The verified access token's claims; null for anonymous requests. */
  readonly accessClaims: AccessTokenClaims | null;
  /** The client's address (rate limits in subgraphs); null when unknown. */
  readonly clientIp: string | null;
  /**
   * What the operations of this HTTP request have spent so far: a batch shares one context,
   * so its operations share one budget (limits/operation-limits.ts). Absent outside HTTP requests.
   */
  readonly spent?: { cost: number };
}

/**
 * The client's address: the connection's peer, or, behind proxies the gateway trusts
 * (GATEWAY_TRUSTED_PROXIES), the nearest address they forwarded that is not one of them.
 */
export function clientIpOf(req: Request): string | null {
  const address = req.ip;
  if (!address) return null;
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
