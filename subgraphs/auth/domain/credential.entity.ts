/** An account's credentials, owned by the auth subgraph (Postgres schema `auth`). */
import type { Role } from '../../../shared/auth/index.ts';
import { defineEntity, p } from '../../../shared/db/index.ts';

export const CredentialEntity = defineEntity({
  name: 'Credential',
  tableName: 'credentials',
  properties: {
    id: p.uuid().primary(),
    /** Normalised (credential.decisions.ts normaliseEmail). */
    email: p.string().unique(),
    /** argon2id, PHC string format. */
    passwordHash: p.string(),
    /** As registered; the users subgraph owns the profile. */
    name: p.string(),
    role: p.string().$type<Role>(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    passwordChangedAt: p.datetime(),
  },
});

export type Credential = InstanceType<typeof CredentialEntity.class>;
