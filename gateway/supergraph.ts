/**
 * Composes the supergraph from each subgraph's SDL (`subgraphs/<name>/schema.graphql`, the
 * source of truth) with @apollo/composition. Errors name the subgraph and the code.
 */
import { readFile } from 'node:fs/promises';
import { composeServices } from '@apollo/composition';
import { Kind, parse, print, visit } from 'graphql';

export interface SubgraphEndpoint {
  name: string;
  /** GraphQL URL the gateway calls, e.g. http://127.0.0.1:4002/graphql. */
  url: string;
}

export class CompositionError extends Error {
  constructor(messages: string[]) {
    super(`supergraph composition failed:\n${messages.map((m) => `  - ${m}`).join('\n')}`);
    this.name = 'CompositionError';
  }
}

export function subgraphSdlPath(name: string): URL {
  return new URL(`../subgraphs/${name}/schema.graphql`, import.meta.url);
}

export async function composeSupergraph(subgraphs: readonly SubgraphEndpoint[]): Promise<string> {
  const services = await Promise.all(
    subgraphs.map(async ({ name, url }) => ({
      name,
      url,
      typeDefs: parse(await readFile(subgraphSdlPath(name), 'utf8')),
    })),
  );
  const result = composeServices(services);
  if (result.errors) {
    throw new CompositionError(
      result.errors.map((error) => {
        const code = (error.extensions['code'] as string | undefined) ?? 'COMPOSITION_ERROR';
        return `[${code}] ${error.message}`;
      }),
    );
  }
  return result.supergraphSdl;
}

/** Authorization features the gateway enforces itself (plugins/authorization.plugin.ts). */
const ENFORCED_FEATURES = [
  'https://specs.apollo.dev/authenticated/',
  'https://specs.apollo.dev/requiresScopes/',
];

/**
 * @apollo/gateway refuses a supergraph that links a `for: SECURITY` feature it does not
 * implement, so that no one runs with authorization silently ignored. This gateway does
 * implement `@authenticated` and `@requiresScopes` (the authorization plugin, installed
 * unconditionally), so it drops the `for:` of exactly those links before handing the
 * supergraph over; any other security feature still fails start-up.
 */
export function acknowledgeEnforcedFeatures(supergraphSdl: string): string {
  const document = visit(parse(supergraphSdl), {
    Directive(node) {
      if (node.name.value !== 'link') return undefined;
      const url = node.arguments?.find((arg) => arg.name.value === 'url')?.value;
      if (url?.kind !== Kind.STRING || !ENFORCED_FEATURES.some((f) => url.value.startsWith(f))) {
        return undefined;
      }
      return { ...node, arguments: node.arguments?.filter((arg) => arg.name.value !== 'for') };
    },
  });
  return print(document);
}
