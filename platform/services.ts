/**
 * The platform's process catalogue: every service the code defines and its default port —
 * the gateway and the subgraphs the supergraph is composed of (`schema/subgraphs.ts`), in
 * start order. `platform/start.ts`, the gateway's subgraph list, the docker-compose test and
 * the docs all read this one list.
 */
import { SUBGRAPHS as COMPOSED_SUBGRAPHS } from '../schema/subgraphs.ts';
import type { SubgraphName } from '../schema/subgraphs.ts';

export type { SubgraphName };
export type ServiceName = 'gateway' | SubgraphName;

export interface ServiceDescriptor {
  readonly name: ServiceName;
  /** Default HTTP port (overridden by `PORT` when the service runs alone). */
  readonly port: number;
  readonly kind: 'gateway' | 'subgraph';
}

export const SERVICES: readonly ServiceDescriptor[] = [
  { name: 'gateway', port: 4000, kind: 'gateway' },
  ...COMPOSED_SUBGRAPHS.map((subgraph) => ({ ...subgraph, kind: 'subgraph' as const })),
];

export const SUBGRAPHS = SERVICES.filter((s) => s.kind === 'subgraph');

export function serviceByName(name: string): ServiceDescriptor | undefined {
  return SERVICES.find((s) => s.name === name);
}
