/**
 * The subgraphs the supergraph is composed of, in start order, each with the port it serves
 * on by default. `schema:compose` composes exactly these and writes each one's
 * docker-compose URL (`http://<name>:<port>/graphql`) into the checked-in supergraph; the
 * platform's process catalogue (`platform/services.ts`) is these and the gateway.
 */

export type SubgraphName = 'auth' | 'users' | 'catalog' | 'orders' | 'analytics';

export interface SubgraphDescriptor {
  readonly name: SubgraphName;
  /** Default HTTP port (overridden by `PORT` when the service runs alone). */
  readonly port: number;
}

export const SUBGRAPHS: readonly SubgraphDescriptor[] = [
  { name: 'auth', port: 4001 },
  { name: 'users', port: 4002 },
  { name: 'catalog', port: 4003 },
  { name: 'orders', port: 4004 },
  { name: 'analytics', port: 4005 },
];
