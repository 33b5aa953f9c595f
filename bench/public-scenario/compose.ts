/**
 * The public scenario's supergraph, composed with @apollo/composition from ./subgraphs.ts at
 * bench start (the subgraph URLs in it are placeholders: every gateway is given its own).
 */
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { PUBLIC_SUBGRAPHS } from './subgraphs.ts';

/** The supergraph SDL; throws with composition's messages when it does not compose. */
export function composePublicSupergraph(): string {
  const result = composeServices(
    PUBLIC_SUBGRAPHS.map(({ name, typeDefs }) => ({
      name,
      url: `http://127.0.0.1:9/${name}`,
      typeDefs: parse(typeDefs),
    })),
  );
  if (result.errors) {
    throw new Error(
      `the public scenario does not compose:\n${result.errors.map((e) => e.message).join('\n')}`,
    );
  }
  return result.supergraphSdl;
}
