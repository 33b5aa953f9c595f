/**
 * The users subgraph's own `user.updated`, `user.role_changed` and `user.deleted` events →
 * drop the cached profile. The mutation already dropped it after commit; this second pass
 * (group `users.cache`) covers a crash in between and a reader that cached the old row
 * while the change was committing. Idempotent: deleting a missing key is a no-op.
 */
import type { EventHandler } from '../../../shared/events/index.ts';
import type {
  userDeletedV1,
  userRoleChangedV1,
  userUpdatedV1,
} from '../../../schema/events/index.ts';
import type { UserService } from '../domain/user.service.ts';

/** The events that change a cached profile. */
type ProfileChange = typeof userUpdatedV1 | typeof userRoleChangedV1 | typeof userDeletedV1;

export function createCacheInvalidationHandler(users: UserService): EventHandler<ProfileChange> {
  return async ({ data }) => {
    await users.invalidate(data.userId);
  };
}
