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
import { on } from '../../../shared/events/index.ts';
import type { HandlerBinding } from '../../../shared/events/index.ts';
import { userDeletedV1, userRoleChangedV1, userUpdatedV1 } from '../../../schema/events/index.ts';
import { CredentialEntity } from '../domain/credential.entity.ts';

export function createAccountHandlers(revocations: RevocationList): HandlerBinding[] {
  return [
    on(userUpdatedV1, async ({ em, data }) => {
      await em.nativeUpdate(CredentialEntity, { id: data.userId }, { name: data.name });
    }),
    on(userRoleChangedV1, async ({ em, data }) => {
      await em.nativeUpdate(CredentialEntity, { id: data.userId }, { role: data.role });
      await revocations.revokeUserSessions(data.userId);
    }),
    on(userDeletedV1, async ({ em, data }) => {
      // Sessions first: should the delete fail, the event is retried and nobody stays signed in.
      await revocations.revokeUserSessions(data.userId);
      await em.nativeDelete(CredentialEntity, { id: data.userId });
    }),
  ];
}
