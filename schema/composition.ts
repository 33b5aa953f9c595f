/**
 * Composition of the supergraph from each subgraph's SDL (`subgraphs/<name>/schema.graphql`,
 * the source of truth) with @apollo/composition — the one implementation that both the
 * schema pipeline (`schema/pipeline/`, which writes `schema/supergraph.graphql`) and the
 * gateway's live mode (`gateway/supergraph/`) use, kept here below both. Every error and
 * hint keeps its code and where it is: subgraph, file, line and column.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { GraphQLError, Source, getLocation, parse } from 'graphql';
import type { ASTNode, GraphQLSchema } from 'graphql';

export interface SubgraphEndpoint {
  name: string;
  /** GraphQL URL the gateway calls, e.g. http://127.0.0.1:4002/graphql. */
  url: string;
}

/** One subgraph's SDL, ready to compose. */
export interface SubgraphSdl extends SubgraphEndpoint {
  sdl: string;
  /** Where the SDL came from, as reports should show it (e.g. `subgraphs/users/schema.graphql`). */
  file: string;
}

/** A place in a subgraph's SDL. */
export interface SdlLocation {
  subgraph?: string;
  file: string;
  line: number;
  column: number;
}

/** A composition error or hint: its code, its message, and where it points. */
export interface CompositionIssue {
  code: string;
  message: string;
  locations: SdlLocation[];
}

export type CompositionOutcome =
  | {
      ok: true;
      supergraphSdl: string;
      /** What clients see: no federation/join internals, nothing `@inaccessible`. */
      apiSchema: GraphQLSchema;
      hints: CompositionIssue[];
    }
  | { ok: false; errors: CompositionIssue[] };

/** `subgraphs/<name>/schema.graphql`, relative to a root. */
export function subgraphSdlFile(name: string): string {
  return path.join('subgraphs', name, 'schema.graphql');
}

/** Reads the SDL of each subgraph from `<root>/subgraphs/<name>/schema.graphql`. */
export async function readSubgraphSdls(
  subgraphs: readonly SubgraphEndpoint[],
  root: string,
): Promise<SubgraphSdl[]> {
  return Promise.all(
    subgraphs.map(async ({ name, url }) => {
      const file = subgraphSdlFile(name);
      return { name, url, file, sdl: await readFile(path.join(root, file), 'utf8') };
    }),
  );
}

export class CompositionError extends Error {
  readonly issues: readonly CompositionIssue[];
  constructor(issues: readonly CompositionIssue[]) {
    super(
      `supergraph composition failed:\n${issues.map((issue) => `  - ${describeIssue(issue)}`).join('\n')}`,
    );
    this.name = 'CompositionError';
    this.issues = issues;
  }
}

/** `[CODE] message (file:line:column, …)` */
export function describeIssue(issue: CompositionIssue): string {
  const where = issue.locations.map((l) => `${l.file}:${l.line}:${l.column}`).join(', ');
  return `[${issue.code}] ${issue.message}${where ? ` (${where})` : ''}`;
}

/** Composes the subgraphs; never throws for a problem in the SDL (it is in `errors`). */
export function composeSubgraphs(subgraphs: readonly SubgraphSdl[]): CompositionOutcome {
  const subgraphOfFile = new Map(subgraphs.map((s) => [s.file, s.name]));
  const services = [];
  const syntaxErrors: CompositionIssue[] = [];
  for (const subgraph of subgraphs) {
    try {
      // The source name carries the file into every node's location, so errors can cite it.
      const typeDefs = parse(new Source(subgraph.sdl, subgraph.file));
      services.push({ name: subgraph.name, url: subgraph.url, typeDefs });
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      syntaxErrors.push(issueOf('INVALID_GRAPHQL', `[${subgraph.name}] ${error.message}`, error));
    }
  }
  if (syntaxErrors.length > 0) return { ok: false, errors: syntaxErrors };

  const result = composeServices(services);
  const locate = (nodes: readonly ASTNode[] | undefined) => locationsOf(nodes, subgraphOfFile);
  if (result.errors) {
    return {
      ok: false,
      errors: result.errors.map((error) => ({
        code: (error.extensions['code'] as string | undefined) ?? 'COMPOSITION_ERROR',
        message: error.message,
        locations: locate(error.nodes),
      })),
    };
  }
  return {
    ok: true,
    supergraphSdl: result.supergraphSdl,
    apiSchema: result.schema.toAPISchema().toGraphQLJSSchema(),
    hints: result.hints.map((hint) => ({
      code: hint.definition.code,
      message: hint.message,
      locations: locate(hint.nodes),
    })),
  };
}

function issueOf(code: string, message: string, error: GraphQLError): CompositionIssue {
  const file = error.source?.name ?? '(unknown)';
  return {
    code,
    message,
    locations: (error.locations ?? []).map(({ line, column }) => ({ file, line, column })),
  };
}

function locationsOf(
  nodes: readonly ASTNode[] | undefined,
  subgraphOfFile: ReadonlyMap<string, string>,
): SdlLocation[] {
  const locations: SdlLocation[] = [];
  for (const node of nodes ?? []) {
    if (!node.loc) continue;
    const { source } = node.loc;
    const { line, column } = getLocation(source, node.loc.start);
    const subgraph = subgraphOfFile.get(source.name);
    locations.push({ ...(subgraph ? { subgraph } : {}), file: source.name, line, column });
  }
  return locations;
}
