/**
 * Users subgraph wiring: profiles (Postgres schema `users`), the `User` entity, and the
 * `user.registered` consumer. Started by `platform/start.ts`, alone or with the others.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { TOPICS } from '../../schema/events/index.ts';
import type { EventBus } from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { createSubgraph } from '../../shared/server/index.ts';
import type { SubgraphHandle, SubgraphRuntimeConfig } from '../../shared/server/index.ts';
import { UserEntity } from './domain/user.entity.ts';
import { createUserService } from './domain/user.service.ts';
import { createUserRegisteredHandler } from './events/user-registered.handler.ts';
import { migrations } from './migrations/index.ts';
import { createUserResolvers } from './resolvers/user.resolvers.ts';

export const USERS_SDL = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface UsersSubgraphOptions {
  config: SubgraphRuntimeConfig;
  logger: Logger;
  /** Shared bus (embedded mode); otherwise the subgraph opens its own from config. */
  bus?: EventBus;
}

export async function startUsersSubgraph(options: UsersSubgraphOptions): Promise<SubgraphHandle> {
  return createSubgraph({
    name: 'users',
    typeDefs: parse(USERS_SDL),
    entities: [UserEntity],
    migrations,
    config: options.config,
    logger: options.logger,
    ...(options.bus ? { bus: options.bus } : {}),
    async wire({ db, bus }) {
      const users = createUserService();
      const onRegistered = createUserRegisteredHandler(db.orm, users);
      const registrations = await bus.subscribe({
        group: 'users.profiles',
        topics: [TOPICS.auth],
        handle: async (event) => {
          if (event.type === 'user.registered') await onRegistered(event);
        },
      });
      return { resolvers: createUserResolvers(users), stop: () => registrations.stop() };
    },
  });
}
