/**
 * `user.registered` (from auth) → the user's profile. Runs in the consumer's inbox
 * transaction, so it is applied once per event; creating the profile is itself idempotent
 * too (an existing id is left as it is).
 */
import type { EventHandler } from '../../../shared/events/index.ts';
import type { userRegisteredV1 } from '../../../schema/events/index.ts';
import type { UserService } from '../domain/user.service.ts';

export function createUserRegisteredHandler(
  users: UserService,
): EventHandler<typeof userRegisteredV1> {
  return async ({ em, data }) => {
    await users.createProfile(em, {
      id: data.userId,
      email: data.email,
      name: data.name,
      role: data.role,
      createdAt: new Date(data.registeredAt),
    });
  };
}
