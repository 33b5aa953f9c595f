/**
 * The gateway's side of the supergraph: composing this installation's subgraph SDL for the
 * live mode (composition itself is `schema/composition.ts`, shared with the schema
 * pipeline), reading which subgraphs a supergraph routes to, and acknowledging the
 * authorization features the gateway enforces itself.
 */
import { Kind, parse, print, visit } from 'graphql';
import type { DocumentNode } from 'graphql';
import { CompositionError, composeSubgraphs, readSubgraphSdls } from '../../schema/composition.ts';
import type { SubgraphEndpoint } from '../../schema/composition.ts';
import { DEFAULT_SUPERGRAPH_PATH, INSTALL_ROOT } from './install-paths.ts';

export { DEFAULT_SUPERGRAPH_PATH, INSTALL_ROOT };

/**
 * Composes the supergraph from the SDL files of this installation (the gateway's live
 * mode). Throws `CompositionError` listing every error.
 */
export async function composeSupergraph(subgraphs: readonly SubgraphEndpoint[]): Promise<string> {
  const outcome = composeSubgraphs(await readSubgraphSdls(subgraphs, INSTALL_ROOT));
  if (!outcome.ok) throw new CompositionError(outcome.errors);
  return outcome.supergraphSdl;
}

/**
 * The subgraphs a supergraph routes to (its `join__Graph` enum): name and the URL written
 * at composition. Throws when the document is not a supergraph.
 */
export function subgraphsOfSupergraph(document: DocumentNode): SubgraphEndpoint[] {
  const graphs = document.definitions.find(
    (definition) =>
      definition.kind === Kind.ENUM_TYPE_DEFINITION && definition.name.value === 'join__Graph',
  );
  if (graphs?.kind !== Kind.ENUM_TYPE_DEFINITION) {
    throw new Error('not a supergraph: it defines no join__Graph enum');
  }
  return (graphs.values ?? []).map((value) => {
    const graph = value.directives?.find((d) => d.name.value === 'join__graph');
    const argument = (name: string) => {
      const found = graph?.arguments?.find((arg) => arg.name.value === name)?.value;
      return found?.kind === Kind.STRING ? found.value : undefined;
    };
    const name = argument('name');
    if (name === undefined) {
      throw new Error(`not a supergraph: join__Graph.${value.name.value} has no @join__graph name`);
    }
    return { name, url: argument('url') ?? '' };
  });
}

/** Authorization features the gateway enforces itself (../authorization/authorization.plugin.ts). */
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
export function acknowledgeEnforcedFeatures(supergraph: string | DocumentNode): string {
  const document = visit(typeof supergraph === 'string' ? parse(supergraph) : supergraph, {
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
