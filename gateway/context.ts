import type { RequestContext } from '../shared/server/index.ts';

/** Per-request state of the gateway. */
export type GatewayContext = RequestContext;
