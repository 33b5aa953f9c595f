/**
 * Users domain service: reads profiles and creates them from `user.registered` events.
 * Every method takes the request's (or handler's) EntityManager; the service holds none.
 */
import type { EntityManager } from '../../../shared/db/index.ts';
import type { Role } from '../../../shared/auth/index.ts';
import { UserEntity } from './user.entity.ts';
import type { User } from './user.entity.ts';
import { isUserId } from './user.decisions.ts';

export interface NewProfile {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: Date;
}

export interface UserService {
  findById(em: EntityManager, id: string): Promise<User | null>;
  /** Creates the profile unless it exists already (idempotent: redeliveries are no-ops). */
  createProfile(em: EntityManager, profile: NewProfile): Promise<void>;
}

export function createUserService(): UserService {
  return {
    async findById(em, id) {
      if (!isUserId(id)) return null;
      return em.findOne(UserEntity, { id });
    },
    async createProfile(em, profile) {
      await em
        .createQueryBuilder(UserEntity)
        .insert({ ...profile, updatedAt: profile.createdAt })
        .onConflict('id')
        .ignore()
        .execute();
    },
  };
}
