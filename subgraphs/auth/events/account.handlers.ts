/**
 * What auth does with the users subgraph's events (group `auth.accounts` on `users.events`).
 * Each runs in the consumer's inbox transaction and is idempotent, so redeliveries are no-ops.
 *
 * - `user.updated`: the name auth puts in tokens and sign-in payloads follows the profile.
 * - `user.role_changed`: the role auth puts in tokens follows, and the account's sessions end,
 *   so no token with the old role (and its scopes) outlives the change by more than the
 *   time this event takes to arrive.
 * - `user.deleted`: the credentials are deleted and every session ends.
 */
import type { RevocationList } from '../../../shared/auth/index.ts';
import type { EventHandler } from '../../../shared/events/index.ts';
import type {
  UserDeletedV1,
  UserRoleChangedV1,
  UserUpdatedV1,
} from '../../../schema/events/index.ts';
import { CredentialEntity } from '../domain/credential.entity.ts';

export function createAccountHandlers(revocations: RevocationList) {
  const userUpdated: EventHandler<UserUpdatedV1> = async ({ em, data }) => {
    await em.nativeUpdate(CredentialEntity, { id: data.userId }, { name: data.name });
  };
  const userRoleChanged: EventHandler<UserRoleChangedV1> = async ({ em, data }) => {
    await em.nativeUpdate(CredentialEntity, { id: data.userId }, { role: data.role });
    await revocations.revokeUserSessions(data.userId);
  };
  const userDeleted: EventHandler<UserDeletedV1> = async ({ em, data }) => {
    // Sessions first: should the delete fail, the event is retried and nobody stays signed in.
    await revocations.revokeUserSessions(data.userId);
    await em.nativeDelete(CredentialEntity, { id: data.userId });
  };
  return {
    'user.updated': userUpdated,
    'user.role_changed': userRoleChanged,
    'user.deleted': userDeleted,
  };
}
