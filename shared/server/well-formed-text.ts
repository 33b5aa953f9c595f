/**
 * Text a database can store, checked at the edge: every string a request passes as an
 * argument (literal or variable, however deep in an input object or list) must be
 * well-formed Unicode without NUL. PostgreSQL refuses NUL in `text` and `jsonb`, and a lone
 * UTF-16 surrogate is stored altered (U+FFFD) — the client would be told one thing while
 * another is kept, and the event carrying it refused downstream. Refused with
 * BAD_USER_INPUT (HTTP 400) naming the argument, before anything runs.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { BREAK, GraphQLError, Kind, visit } from 'graphql';
import type { DocumentNode, ValueNode } from 'graphql';
import { illFormedIn } from '../text/index.ts';

function illFormedLiteral(
  node: ValueNode,
  at: string,
): { where: string; problem: string } | undefined {
  switch (node.kind) {
    case Kind.STRING:
      return illFormedIn(node.value, at);
    case Kind.LIST:
      for (const [index, item] of node.values.entries()) {
        const found = illFormedLiteral(item, `${at}[${index}]`);
        if (found) return found;
      }
      return undefined;
    case Kind.OBJECT:
      for (const field of node.fields) {
        const found = illFormedLiteral(field.value, `${at}.${field.name.value}`);
        if (found) return found;
      }
      return undefined;
    default:
      return undefined;
  }
}

/**
 * What each document's literals hold (null: nothing ill-formed), found once per parsed
 * document: a document is immutable, and Apollo Server keeps one per distinct text.
 */
const literalsChecked = new WeakMap<DocumentNode, { where: string; problem: string } | null>();

/** The first argument of `document` (its literals, fragments included, and its variables) that cannot be stored. */
export function illFormedArgument(
  document: DocumentNode,
  variables: Readonly<Record<string, unknown>> | undefined,
): { where: string; problem: string } | undefined {
  if (variables) {
    for (const name in variables) {
      const found = illFormedIn(variables[name], `$${name}`);
      if (found) return found;
    }
  }
  let found = literalsChecked.get(document);
  if (found === undefined) {
    found = null;
    visit(document, {
      Argument(node) {
        found = illFormedLiteral(node.value, node.name.value) ?? null;
        return found ? BREAK : false;
      },
    });
    literalsChecked.set(document, found);
  }
  return found ?? undefined;
}

/** Refuses a request with an argument that {@link illFormedArgument} finds. */
export function wellFormedTextPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request }) {
          const found = illFormedArgument(document, request.variables);
          if (!found) return;
          const field = found.where.replace(/^\$/, '').split(/[.[ ]/)[0];
          throw new GraphQLError(`Argument ${found.where} ${found.problem}`, {
            extensions: { code: 'BAD_USER_INPUT', field, http: { status: 400 } },
          });
        },
      };
    },
  };
}
