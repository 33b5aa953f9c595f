/**
 * Trusted documents: with a manifest of the operations clients may send (Apollo's
 * `apollo-persisted-query-manifest` format, version 1), the gateway runs those and nothing
 * else. A client sends an operation's id (`extensions.persistedQuery.sha256Hash`) alone or
 * with its body; either way the operation runs only when the sha256 of its text is in the
 * manifest. Anything else is refused before any subgraph is called, with
 * `PERSISTED_QUERY_NOT_IN_LIST` and HTTP 400, and is never registered as an APQ.
 *
 * `loadTrustedDocuments` reads and checks a manifest (format, version, every id being the
 * sha256 of its body) and fails with the path and the problem. `trustedDocumentsStore` serves
 * the manifest as the persisted-query store, so ids resolve to their bodies and nothing a
 * client registers is kept.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { z } from 'zod';
import { clientError } from '../../shared/errors/index.ts';
import type { ErrorCode } from '../../shared/errors/index.ts';
import { APQ_KEY_PREFIX } from './persisted-queries.ts';
import type { PersistedQueryStore } from './persisted-queries.ts';

/** The error code of an operation that is not in the manifest. */
export const NOT_IN_LIST: ErrorCode = 'PERSISTED_QUERY_NOT_IN_LIST';

/** The operations of a manifest: body by id (the sha256 of the body, hex). */
export type TrustedDocuments = ReadonlyMap<string, string>;

const manifestSchema = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(
    z.object({
      id: z.string().regex(/^[0-9a-f]{64}$/, 'expected the sha256 of the body, in hex'),
      name: z.string().optional(),
      type: z.enum(['query', 'mutation', 'subscription']).optional(),
      body: z.string().min(1),
    }),
  ),
});

export type PersistedQueryManifest = z.infer<typeof manifestSchema>;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The trusted documents of a parsed manifest; throws naming the first problem. */
export function trustedDocumentsOf(manifest: unknown): TrustedDocuments {
  const parsed = manifestSchema.safeParse(manifest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${issue.path.join('.') || 'manifest'}: ${issue.message}`);
  }
  const documents = new Map<string, string>();
  parsed.data.operations.forEach(({ id, body }, index) => {
    if (sha256Hex(body) !== id) {
      throw new Error(`operations.${index}.id: is not the sha256 of its body`);
    }
    documents.set(id, body);
  });
  return documents;
}

/** Reads the manifest at `path`; throws naming the file and what is wrong with it. */
export async function loadTrustedDocuments(path: string): Promise<TrustedDocuments> {
  try {
    return trustedDocumentsOf(JSON.parse(await readFile(path, 'utf8')));
  } catch (error) {
    throw new Error(`GATEWAY_TRUSTED_DOCUMENTS: ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The manifest as Apollo Server's persisted-query store: read-only, registrations dropped. */
export function trustedDocumentsStore(documents: TrustedDocuments): PersistedQueryStore {
  return {
    async get(key) {
      return key.startsWith(APQ_KEY_PREFIX)
        ? documents.get(key.slice(APQ_KEY_PREFIX.length))
        : undefined;
    },
    async set() {},
    async delete() {},
  };
}

export interface TrustedDocumentsPluginOptions<TContext extends BaseContext> {
  documents: TrustedDocuments;
  /**
   * Requests the gateway makes itself (a subscription's selection, resolved as a query) are
   * not clients' documents. @default none
   */
  isInternal?: (context: TContext) => boolean;
}

export function trustedDocumentsPlugin<TContext extends BaseContext>(
  options: TrustedDocumentsPluginOptions<TContext>,
): ApolloServerPlugin<TContext> {
  const { documents, isInternal } = options;
  return {
    async requestDidStart({ contextValue }) {
      if (isInternal?.(contextValue)) return;
      return {
        // After parsing and validation, before APQ registration and execution; Apollo Server
        // sets `queryHash` to the sha256 of the text it resolved (sent, or found by id).
        async didResolveOperation({ queryHash }) {
          if (documents.has(queryHash)) return;
          throw clientError('This operation is not in the list of trusted documents', NOT_IN_LIST, {
            extensions: { http: { status: 400 } },
          });
        },
      };
    },
  };
}
