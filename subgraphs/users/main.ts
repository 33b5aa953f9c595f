/**
 * Users subgraph wiring: profiles (Postgres schema `users`), the `User` entity with its
 * cache, the `user.registered` consumer and the cache-invalidation consumer of its own
 * events. Started by `platform/platform.ts`, alone or with the others.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import {
  TOPICS,
  catalogue,
  userDeletedV1,
  userRegisteredV1,
  userRoleChangedV1,
  userUpdatedV1,
} from '../../schema/events/index.ts';
import { on } from '../../shared/events/index.ts';
import type { EventTransport } from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { createSubgraph } from '../../shared/server/index.ts';
import type { SubgraphHandle, SubgraphRuntimeConfig } from '../../shared/server/index.ts';
import { UserEntity } from './domain/user.entity.ts';
import { createUserService } from './domain/user.service.ts';
import { createCacheInvalidationHandler } from './events/cache-invalidation.handler.ts';
import { createUserRegisteredHandler } from './events/user-registered.handler.ts';
import { migrations } from './migrations/index.ts';
import { createUserResolvers } from './resolvers/user.resolvers.ts';

export const USERS_SDL = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface UsersSubgraphOptions {
  config: SubgraphRuntimeConfig;
  logger: Logger;
  /** Shared transport (embedded mode); otherwise the subgraph opens its own from config. */
  transport?: EventTransport;
}

export async function startUsersSubgraph(options: UsersSubgraphOptions): Promise<SubgraphHandle> {
  return createSubgraph({
    name: 'users',
    typeDefs: parse(USERS_SDL),
    entities: [UserEntity],
    migrations,
    catalogue,
    config: options.config,
    logger: options.logger,
    ...(options.transport ? { transport: options.transport } : {}),
    async wire({ cache, events, metrics, logger }) {
      const users = createUserService({
        cache,
        events,
        metrics,
        logger,
        schema: options.config.dbSchema ?? 'users',
      });
      await events.consume({
        group: 'users.profiles',
        topics: [TOPICS.auth],
        handlers: [on(userRegisteredV1, createUserRegisteredHandler(users))],
      });
      const invalidate = createCacheInvalidationHandler(users);
      await events.consume({
        group: 'users.cache',
        topics: [TOPICS.users],
        handlers: [
          on(userUpdatedV1, invalidate),
          on(userRoleChangedV1, invalidate),
          on(userDeletedV1, invalidate),
        ],
      });
      return { resolvers: createUserResolvers(users) };
    },
  });
}
