/**
 * `user.registered` (from auth) → the user's profile. Idempotent: a redelivered event finds
 * the profile already there and changes nothing.
 */
import type { MikroORM } from '../../../shared/db/index.ts';
import type { EventEnvelope } from '../../../shared/events/index.ts';
import { parsePayload } from '../../../schema/events/index.ts';
import type { UserService } from '../domain/user.service.ts';

export function createUserRegisteredHandler(orm: MikroORM, users: UserService) {
  return async (event: EventEnvelope): Promise<void> => {
    const payload = parsePayload('user.registered', event);
    await users.createProfile(orm.em.fork(), {
      id: payload.userId,
      email: payload.email,
      name: payload.name,
      role: payload.role,
      createdAt: new Date(payload.registeredAt),
    });
  };
}
