/**
 * Users subgraph wiring: profiles (Postgres schema `users`), the `User` entity, and the
 * `user.registered` consumer. Started by `platform/start.ts`, alone or with the others.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { TOPICS, catalogue } from '../../schema/events/index.ts';
import type { EventTransport } from '../../shared/events/index.ts';
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
    async wire({ events }) {
      const users = createUserService();
      await events.consume({
        group: 'users.profiles',
        topics: [TOPICS.auth],
        handlers: { 'user.registered': createUserRegisteredHandler(users) },
      });
      return { resolvers: createUserResolvers(users) };
    },
  });
}
