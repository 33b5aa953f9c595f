/**
 * The platform's process catalogue: every service the code defines and its default port.
 * `platform/start.ts`, the gateway's subgraph list, the
 * docker-compose test and the docs all read this one list.
 */

export type ServiceName = 'gateway' | 'auth' | 'users' | 'catalog' | 'orders' | 'analytics';
export type SubgraphName = Exclude<ServiceName, 'gateway'>;

export interface ServiceDescriptor {
  readonly name: ServiceName;
  /** Default HTTP port (overridden by `PORT` when the service runs alone). */
  readonly port: number;
  readonly kind: 'gateway' | 'subgraph';
}

export const SERVICES: readonly ServiceDescriptor[] = [
  { name: 'gateway', port: 4000, kind: 'gateway' },
  { name: 'auth', port: 4001, kind: 'subgraph' },
  { name: 'users', port: 4002, kind: 'subgraph' },
  { name: 'catalog', port: 4003, kind: 'subgraph' },
  { name: 'orders', port: 4004, kind: 'subgraph' },
  { name: 'analytics', port: 4005, kind: 'subgraph' },
];

export const SUBGRAPHS = SERVICES.filter((s) => s.kind === 'subgraph');

export function serviceByName(name: string): ServiceDescriptor | undefined {
  return SERVICES.find((s) => s.name === name);
}
