/**
 * The event catalogue: every cross-service event type with its versioned payload schema,
 * shared by producer and consumer (the contract beside the supergraph). A payload that does
 * not match is rejected with the event id, on publish and on consume. Topics are
 * `<source service>.events`; a breaking payload change is a new version, and consumers
 * handle every version still in flight.
 */
import { z } from 'zod';
import { createCatalogue, defineEventType, eventsTopic } from '../../shared/events/index.ts';

/** Each publishing service's topic (analytics publishes nothing). */
export const TOPICS = {
  auth: eventsTopic('auth'),
  users: eventsTopic('users'),
  catalog: eventsTopic('catalog'),
  orders: eventsTopic('orders'),
} as const;

/** auth → a new account exists (users creates the profile). */
export const userRegisteredV1 = defineEventType(
  'user.registered',
  1,
  z.object({
    userId: z.uuid(),
    email: z.email(),
    name: z.string().min(1).max(100),
    role: z.enum(['USER', 'ADMIN']),
    registeredAt: z.iso.datetime(),
  }),
);
export type UserRegisteredV1 = z.infer<typeof userRegisteredV1.schema>;

/** auth → someone signed in (analytics counts logins). */
export const userLoggedInV1 = defineEventType(
  'user.logged_in',
  1,
  z.object({ userId: z.uuid(), sessionId: z.uuid(), loggedInAt: z.iso.datetime() }),
);
export type UserLoggedInV1 = z.infer<typeof userLoggedInV1.schema>;

/** auth → a session ended by logout. */
export const userLoggedOutV1 = defineEventType(
  'user.logged_out',
  1,
  z.object({ userId: z.uuid(), sessionId: z.uuid(), loggedOutAt: z.iso.datetime() }),
);
export type UserLoggedOutV1 = z.infer<typeof userLoggedOutV1.schema>;

/** auth → the password changed; every other session of the account was ended. */
export const userPasswordChangedV1 = defineEventType(
  'user.password_changed',
  1,
  z.object({ userId: z.uuid(), changedAt: z.iso.datetime() }),
);
export type UserPasswordChangedV1 = z.infer<typeof userPasswordChangedV1.schema>;

/** users → a profile changed (auth keeps the name it puts in tokens). */
export const userUpdatedV1 = defineEventType(
  'user.updated',
  1,
  z.object({ userId: z.uuid(), name: z.string().min(1).max(100), updatedAt: z.iso.datetime() }),
);
export type UserUpdatedV1 = z.infer<typeof userUpdatedV1.schema>;

/** users → an ADMIN changed someone's role (auth ends their sessions: new tokens, new role). */
export const userRoleChangedV1 = defineEventType(
  'user.role_changed',
  1,
  z.object({
    userId: z.uuid(),
    role: z.enum(['USER', 'ADMIN']),
    previousRole: z.enum(['USER', 'ADMIN']),
    changedAt: z.iso.datetime(),
  }),
);
export type UserRoleChangedV1 = z.infer<typeof userRoleChangedV1.schema>;

/** users → an account was deleted (auth deletes its credentials and ends its sessions). */
export const userDeletedV1 = defineEventType(
  'user.deleted',
  1,
  z.object({ userId: z.uuid(), deletedAt: z.iso.datetime() }),
);
export type UserDeletedV1 = z.infer<typeof userDeletedV1.schema>;

export const catalogue = createCatalogue([
  userRegisteredV1,
  userLoggedInV1,
  userLoggedOutV1,
  userPasswordChangedV1,
  userUpdatedV1,
  userRoleChangedV1,
  userDeletedV1,
]);
