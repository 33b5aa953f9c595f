/**
 * The gateway's response cache (GATEWAY_RESPONSE_CACHE): whole query responses in the
 * gateway's cache (Redis, shared by every instance), reused while their `@cacheControl` max
 * age lasts and dropped as soon as this instance's change feed consumes an event that
 * changes an entity they contain.
 *
 * Guarantees:
 * - Only what the subgraphs declare cacheable is stored: a query whose overall policy
 *   (computed by @apollo/gateway from each subgraph's `cache-control` header, i.e. from its
 *   `@cacheControl` hints) is PUBLIC with a max age above 0, with no errors. A field without
 *   a hint (e.g. a caller's own `me`) makes the response uncacheable; mutations never are.
 * - The key is the query's sha256, the operation name, the variables and the caller's access
 *   scope (anonymous, or the token's sorted scopes; never the user), so callers who might be
 *   authorised differently never share an entry.
 * - Invalidation by entity (see entity-tags.ts): each tag has a version in the cache; an
 *   entry records the versions of its tags when stored and is served only while they all
 *   still hold. An event bumps the version of `Type:<id>` and `Type:*` (one write each, for
 *   every instance). After this instance has consumed an event, none of its reads returns a
 *   response stored before it (an entry built from data read before the event but stored
 *   after it is not stored: the plugin remembers the tags it invalidated since each request
 *   started). Another instance that has not consumed the event yet may store such an entry;
 *   its own consumption of the event removes it.
 * - The cache is an optimisation: a cache failure is a miss (logged), never an error.
 * - `gateway_response_cache_total{result}` counts hit, miss (stored or not) and skip (not a
 *   query the cache can track); `gateway_response_cache_invalidations_total` counts entities
 *   invalidated once the writes are done.
 */
import { createHash, randomUUID } from 'node:crypto';
import { HeaderMap } from '@apollo/server';
import type { ApolloServerPlugin, BaseContext, GraphQLRequestContext } from '@apollo/server';
import { Kind } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Cache } from '../../shared/cache/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import type { ChangeFeed } from '../subscriptions/change-feed.ts';
import { entityTag, entityTagsOf } from './entity-tags.ts';
import type { TrackedEntity } from './entity-tags.ts';

export interface ResponseCacheOptions<TContext extends BaseContext> {
  /** The gateway's cache: entries under `response:`, tag versions under `entity:`. */
  cache: Cache;
  /** The API schema the gateway serves now. */
  schema: () => GraphQLSchema | undefined;
  /**
   * The entity types the supergraph now serving declares the changes of (`@changedBy` on the
   * type, `@lookup` for its lookups by id): only responses made of these are cached.
   */
  entities: () => readonly TrackedEntity[];
  /** Who the caller is for authorisation: `anonymous` or the sorted scopes. */
  scopeOf: (context: TContext) => string;
  /** Requests the gateway makes itself, which must see fresh data. @default none */
  isInternal?: (context: TContext) => boolean;
  /** The longest an entry is kept, whatever the hints say. @default 300 */
  maxAgeSeconds?: number;
  /** How long a tag version lives; an expired one is a miss. @default 86400 */
  tagTtlSeconds?: number;
  /** Bound of the in-memory log of recent invalidations. @default 10000 */
  maxRecentInvalidations?: number;
  registry: Registry;
  logger: Logger;
}

export interface ResponseCache<TContext extends BaseContext> {
  plugin: ApolloServerPlugin<TContext>;
  /**
   * Invalidates on the feed's entity changes; call before serving. Without a feed nothing is
   * ever invalidated, so the gateway refuses to start that way.
   */
  follow(feed: Pick<ChangeFeed, 'listenEntities'>): void;
  /** Stops listening to the feed and waits for invalidations in flight. */
  stop(): Promise<void>;
}

interface Entry {
  /** The version of each tag when the entry was stored. */
  versions: Record<string, string>;
  result: unknown;
  storedAt: number;
  maxAgeSeconds: number;
}

interface RequestState {
  key: string;
  tags: string[];
  /** The invalidation sequence number when the request started. */
  startedAt: number;
  hit: boolean;
}

export function createResponseCache<TContext extends BaseContext>(
  options: ResponseCacheOptions<TContext>,
): ResponseCache<TContext> {
  const { cache, logger } = options;
  const maxAgeSeconds = options.maxAgeSeconds ?? 300;
  const tagTtlMs = (options.tagTtlSeconds ?? 24 * 3600) * 1000;
  const maxRecent = options.maxRecentInvalidations ?? 10_000;
  const results = new Counter({
    name: 'gateway_response_cache_total',
    help: 'Queries looked up in the response cache, by result (hit, miss, skip)',
    labelNames: ['result'] as const,
    registers: [options.registry],
  });
  const invalidations = new Counter({
    name: 'gateway_response_cache_invalidations_total',
    help: 'Entities whose cached responses were invalidated by a consumed domain event',
    labelNames: ['type'] as const,
    registers: [options.registry],
  });
  const tagKey = (tag: string) => `entity:${tag}`;

  // Invalidations this instance made, by tag, numbered; older ones are forgotten in bulk and
  // any request that started before the forgotten ones does not store its response.
  let sequence = 0;
  let forgottenUpTo = 0;
  const recent = new Map<string, number>();
  const invalidatedSince = (tags: readonly string[], startedAt: number) =>
    startedAt < forgottenUpTo || tags.some((tag) => (recent.get(tag) ?? 0) > startedAt);

  // Tags whose new version is being written: their entries are not served meanwhile.
  const writing = new Map<string, number>();
  const pending = new Set<Promise<void>>();
  const invalidate = (typename: string, id: string) => {
    const tags = [entityTag(typename, id), entityTag(typename, null)];
    sequence++;
    if (recent.size >= maxRecent) {
      recent.clear();
      forgottenUpTo = sequence;
    }
    for (const tag of tags) {
      recent.set(tag, sequence);
      writing.set(tag, (writing.get(tag) ?? 0) + 1);
    }
    const write = Promise.all(tags.map((tag) => cache.set(tagKey(tag), randomUUID(), tagTtlMs)))
      .then(
        () => {
          invalidations.inc({ type: typename });
        },
        (error: unknown) => {
          // The entries stay until their max age: say so loudly.
          logger.error({ err: error, typename, id }, 'response cache: invalidation failed');
        },
      )
      .finally(() => {
        for (const tag of tags) {
          const left = writing.get(tag)! - 1;
          if (left) writing.set(tag, left);
          else writing.delete(tag);
        }
        pending.delete(write);
      });
    pending.add(write);
  };
  const unlisten: (() => void)[] = [];

  /** The current version of each tag, creating the missing ones. */
  const versionsOf = async (tags: readonly string[]): Promise<Record<string, string> | null> => {
    const current = tags.length ? await cache.getMany(...tags.map(tagKey)) : [];
    const versions: Record<string, string> = {};
    for (const [index, tag] of tags.entries()) {
      let version = current[index] ?? null;
      if (version === null) {
        const fresh = randomUUID();
        // Never overwrite a version an invalidation just wrote.
        if (await cache.compareAndSwap(tagKey(tag), null, fresh, tagTtlMs)) version = fresh;
        else version = await cache.get(tagKey(tag));
      }
      if (version === null) return null;
      versions[tag] = version;
    }
    return versions;
  };

  const lookup = async (key: string): Promise<Entry | null> => {
    const startedAt = sequence;
    const raw = await cache.get(`response:${key}`);
    if (!raw) return null;
    const entry = JSON.parse(raw) as Entry;
    const tags = Object.keys(entry.versions);
    if (tags.some((tag) => writing.has(tag))) return null;
    const current = tags.length ? await cache.getMany(...tags.map(tagKey)) : [];
    // An invalidation during the reads may not be in what they returned.
    if (invalidatedSince(tags, startedAt)) return null;
    return tags.every((tag, index) => current[index] === entry.versions[tag]) ? entry : null;
  };

  const keyOf = (request: GraphQLRequestContext<TContext>, scope: string) =>
    createHash('sha256')
      .update(
        JSON.stringify([
          request.queryHash,
          request.operationName ?? null,
          canonical(request.request.variables ?? {}),
          scope,
        ]),
      )
      .digest('hex');

  const plugin: ApolloServerPlugin<TContext> = {
    async requestDidStart({ contextValue }) {
      if (options.isInternal?.(contextValue)) return;
      const state: RequestState = { key: '', tags: [], startedAt: sequence, hit: false };
      return {
        async responseForOperation(request) {
          const schema = options.schema();
          const tags =
            schema && request.operation
              ? entityTagsOf(
                  schema,
                  request.operation,
                  request.document
                    ? Object.fromEntries(
                        request.document.definitions.flatMap((definition) =>
                          definition.kind === Kind.FRAGMENT_DEFINITION
                            ? [[definition.name.value, definition]]
                            : [],
                        ),
                      )
                    : {},
                  request.request.variables ?? {},
                  options.entities(),
                )
              : null;
          if (!tags) {
            results.inc({ result: 'skip' });
            return null;
          }
          state.key = keyOf(request, options.scopeOf(request.contextValue));
          state.tags = tags;
          let entry: Entry | null = null;
          try {
            entry = await lookup(state.key);
          } catch (error) {
            logger.warn({ err: error }, 'response cache: lookup failed');
          }
          if (!entry) {
            results.inc({ result: 'miss' });
            return null;
          }
          results.inc({ result: 'hit' });
          state.hit = true;
          const ageSeconds = Math.floor((Date.now() - entry.storedAt) / 1000);
          request.overallCachePolicy.replace({
            maxAge: Math.max(1, entry.maxAgeSeconds - ageSeconds),
            scope: 'PUBLIC',
          });
          return {
            http: { status: undefined, headers: new HeaderMap() },
            body: { kind: 'single', singleResult: entry.result as never },
          };
        },
        async willSendResponse(request) {
          if (!state.key || state.hit) return;
          const policy = request.overallCachePolicy.policyIfCacheable();
          const body = request.response.body;
          if (!policy || policy.scope !== 'PUBLIC') return;
          if (body.kind !== 'single' || body.singleResult.errors) return;
          if (invalidatedSince(state.tags, state.startedAt)) return;
          try {
            const versions = await versionsOf(state.tags);
            // An invalidation while the versions were read: the data may predate it.
            if (!versions || invalidatedSince(state.tags, state.startedAt)) return;
            const maxAge = Math.min(policy.maxAge, maxAgeSeconds);
            const entry: Entry = {
              versions,
              result: body.singleResult,
              storedAt: Date.now(),
              maxAgeSeconds: maxAge,
            };
            await cache.set(`response:${state.key}`, JSON.stringify(entry), maxAge * 1000);
          } catch (error) {
            logger.warn({ err: error }, 'response cache: store failed');
          }
        },
      };
    },
  };

  return {
    plugin,
    follow(feed) {
      unlisten.push(feed.listenEntities((typename, change) => invalidate(typename, change.id)));
    },
    async stop() {
      for (const stopListening of unlisten) stopListening();
      await Promise.all([...pending]);
    },
  };
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` make one key. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
