/** The user profile, owned by the users subgraph (Postgres schema `users`). */
import { defineEntity, p } from '../../../shared/db/index.ts';
import type { Role } from '../../../shared/auth/index.ts';

export const UserEntity = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    id: p.uuid().primary(),
    email: p.string().unique(),
    name: p.string(),
    role: p.string().$type<Role>(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export type User = InstanceType<typeof UserEntity.class>;
