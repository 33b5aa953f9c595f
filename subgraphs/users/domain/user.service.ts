/**
 * Users domain service: profiles (created from `user.registered`), the admin list, profile
 * and role changes and deletion, each committed with its event (outbox).
 *
 * Reads by id go through a per-request DataLoader over a cache-aside Redis entry per user:
 * N ids cost one MGET and at most one SQL query for the misses. Entries are removed right
 * after a change commits, again when the change's own event is consumed (`users.cache`,
 * covering a crash in between or a reader that re-cached an old row), and expire after
 * `ttlMs` as a last resort. A deleted account leaves a tombstone (id and time only), so a
 * late or redelivered `user.registered` cannot bring it back.
 */
import DataLoader from 'dataloader';
import { Counter } from 'prom-client';
import type { Identity, Role } from '../../../shared/auth/index.ts';
import { createCacheAside } from '../../../shared/cache/index.ts';
import type { Cache } from '../../../shared/cache/index.ts';
import { findRows } from '../../../shared/db/index.ts';
import type { EntityManager, EntityRow } from '../../../shared/db/index.ts';
import { NotFoundError } from '../../../shared/errors/index.ts';
import type { ServiceEvents } from '../../../shared/events/index.ts';
import type { Logger, ServiceMetrics } from '../../../shared/observability/index.ts';
import { userDeletedV1, userRoleChangedV1, userUpdatedV1 } from '../../../schema/events/index.ts';
import type {
  UserDeletedV1,
  UserRoleChangedV1,
  UserUpdatedV1,
} from '../../../schema/events/index.ts';
import { normaliseName } from '../../../schema/profile.ts';
import {
  afterCursor,
  connectionOf,
  decodeCursor,
  isUuid,
  likePattern,
  pageSize,
} from '../../../shared/server/index.ts';
import type { Connection } from '../../../shared/server/index.ts';
import { UserEntity } from './user.entity.ts';
import type { User } from './user.entity.ts';
import { assertAdmin, assertCanChangeUser } from './user.decisions.ts';
import type { UserView } from './user.decisions.ts';

export interface NewProfile {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: Date;
}

export type UserConnection = Connection<UserView>;

export interface UserServiceOptions {
  /** The users subgraph's cache (its own prefix). */
  cache: Cache;
  events: Pick<ServiceEvents, 'publish'>;
  metrics: ServiceMetrics;
  logger: Logger;
  /** Postgres schema of the users tables. */
  schema: string;
  /** Safety-net expiry of a cached profile. @default 300000 (5 min) */
  ttlMs?: number;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface UserService {
  /** A per-request loader: batched, cache-aside reads by id (null: no such profile). */
  createLoader(em: EntityManager): DataLoader<string, UserView | null>;
  /** True when the account was deleted (its id must not be served from a token either). */
  isDeleted(em: EntityManager, id: string): Promise<boolean>;
  list(
    em: EntityManager,
    identity: Identity | null,
    args: { first?: number | null; after?: string | null; search?: string | null },
  ): Promise<UserConnection>;
  updateProfile(
    em: EntityManager,
    identity: Identity | null,
    input: { id?: string | null; name?: string | null },
  ): Promise<UserView>;
  setRole(em: EntityManager, identity: Identity | null, id: string, role: Role): Promise<UserView>;
  /**
   * The operators' path (`npm run users:set-role`, no identity): sets the role of the account
   * with `email`, as `setRole` does; its previous role with it. NOT_FOUND when none has it.
   */
  setRoleByEmail(
    em: EntityManager,
    email: string,
    role: Role,
  ): Promise<{ user: UserView; previousRole: Role }>;
  delete(em: EntityManager, identity: Identity | null, id: string): Promise<boolean>;
  /** Creates the profile unless it exists or was deleted (idempotent: redeliveries are no-ops). */
  createProfile(em: EntityManager, profile: NewProfile): Promise<void>;
  /** Drops cached profiles. */
  invalidate(...ids: string[]): Promise<void>;
}

export function createUserService(options: UserServiceOptions): UserService {
  const { cache, events, logger } = options;
  const ttlMs = options.ttlMs ?? 300_000;
  const now = options.now ?? (() => new Date());
  const tombstones = `"${options.schema}".deleted_users`;
  const lookups = new Counter({
    name: 'users_cache_lookups_total',
    help: 'Profile lookups by id, by where they were answered from',
    labelNames: ['result'] as const,
    registers: [options.metrics.registry],
  });
  const queries = new Counter({
    name: 'users_profile_queries_total',
    help: 'SQL queries issued to load profiles by id (one per batch of cache misses)',
    registers: [options.metrics.registry],
  });

  const cached = createCacheAside<UserView>({
    cache,
    key: (id) => `user:${id}`,
    ttlMs,
    logger,
    name: 'users',
    revive: reviveView,
  });
  const invalidate = (...ids: string[]) => cached.invalidate(...ids);

  const isDeleted = async (em: EntityManager, id: string) => {
    if (!isUuid(id)) return false;
    const rows = await em.execute<unknown[]>(`select 1 from ${tombstones} where id = ?`, [id]);
    return rows.length > 0;
  };

  const load = async (em: EntityManager, id: string): Promise<User> => {
    if (!isUuid(id)) throw new NotFoundError('User');
    const user = await em.findOne(UserEntity, { id });
    if (!user) throw new NotFoundError('User');
    return user;
  };

  /** Sets the role of the user `find` returns, with its `user.role_changed` event. */
  const changeRole = async (
    em: EntityManager,
    find: (tx: EntityManager) => Promise<User>,
    role: Role,
  ): Promise<{ user: UserView; previousRole: Role }> => {
    const { user, previousRole } = await em.transactional(async (tx) => {
      const found = await find(tx);
      const previousRole = found.role;
      if (previousRole === role) return { user: found, previousRole };
      found.role = role;
      found.updatedAt = now();
      await tx.flush();
      const data: UserRoleChangedV1 = {
        userId: found.id,
        role,
        previousRole,
        changedAt: found.updatedAt.toISOString(),
      };
      await events.publish(tx, userRoleChangedV1, [{ subject: found.id, data }]);
      return { user: found, previousRole };
    });
    await invalidate(user.id);
    return { user: viewOf(user), previousRole };
  };

  return {
    createLoader(em) {
      return new DataLoader<string, UserView | null>(async (ids) => {
        const valid = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
        const { found, hits, misses } = await cached.read(valid, async (missing) => {
          queries.inc();
          const rows = await findRows(em, UserEntity, { id: { $in: missing } });
          return new Map(rows.map((row) => [row.id, viewOf(row)]));
        });
        lookups.inc({ result: 'hit' }, hits);
        lookups.inc({ result: 'miss' }, misses);
        // Ids are matched as Postgres matches uuids: whatever the case they were given in.
        return ids.map((id) => found.get(id.toLowerCase()) ?? null);
      });
    },

    isDeleted,

    async list(em, identity, args) {
      assertAdmin(identity);
      const limit = pageSize(args.first);
      const after = args.after ? decodeCursor(args.after) : null;
      const pattern = likePattern(args.search);
      const conditions: object[] = [];
      if (after) conditions.push(afterCursor(after));
      if (pattern) {
        conditions.push({ $or: [{ name: { $ilike: pattern } }, { email: { $ilike: pattern } }] });
      }
      const rows = await findRows(em, UserEntity, conditions.length ? { $and: conditions } : {}, {
        orderBy: { createdAt: 'asc', id: 'asc' },
        limit: limit + 1,
      });
      return connectionOf(rows.map(viewOf), limit);
    },

    async updateProfile(em, identity, input) {
      // One spelling for events and cache keys (Postgres matches uuids in any case).
      const id = (input.id ?? identity?.userId ?? '').toLowerCase();
      assertCanChangeUser(identity, id);
      const name =
        input.name === undefined || input.name === null ? null : normaliseName(input.name);
      const updated = await em.transactional(async (tx) => {
        const user = await load(tx, id);
        if (name === null || name === user.name) return user;
        user.name = name;
        user.updatedAt = now();
        await tx.flush();
        const data: UserUpdatedV1 = { userId: id, name, updatedAt: user.updatedAt.toISOString() };
        await events.publish(tx, userUpdatedV1, [{ subject: id, data }]);
        return user;
      });
      await invalidate(id);
      return viewOf(updated);
    },

    async setRole(em, identity, rawId, role) {
      assertAdmin(identity);
      const id = rawId.toLowerCase();
      const { user } = await changeRole(em, (tx) => load(tx, id), role);
      return user;
    },

    async setRoleByEmail(em, email, role) {
      return changeRole(
        em,
        async (tx) => {
          const normalised = email.normalize('NFKC').trim().toLowerCase();
          const user = await tx.findOne(UserEntity, { email: normalised });
          if (!user) throw new NotFoundError('User');
          return user;
        },
        role,
      );
    },

    async delete(em, identity, rawId) {
      const id = rawId.toLowerCase();
      assertCanChangeUser(identity, id);
      await em.transactional(async (tx) => {
        const user = await load(tx, id);
        const at = now();
        tx.remove(user);
        await tx.flush();
        await tx.execute(`insert into ${tombstones} (id, deleted_at) values (?, ?)`, [id, at]);
        const data: UserDeletedV1 = { userId: id, deletedAt: at.toISOString() };
        await events.publish(tx, userDeletedV1, [{ subject: id, data }]);
      });
      await invalidate(id);
      return true;
    },

    async createProfile(em, profile) {
      if (await isDeleted(em, profile.id)) return;
      await em
        .createQueryBuilder(UserEntity)
        .insert({ ...profile, updatedAt: profile.createdAt })
        .onConflict('id')
        .ignore()
        .execute();
    },

    invalidate,
  };
}

function viewOf(user: EntityRow<User>): UserView {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    createdAt: new Date(user.createdAt),
  };
}

/** A view from its cached JSON (dates come back as strings). */
function reviveView(json: unknown): UserView | null {
  const parsed = json as UserView & { createdAt: string };
  if (typeof parsed?.id !== 'string') return null;
  return { ...parsed, createdAt: new Date(parsed.createdAt) };
}
