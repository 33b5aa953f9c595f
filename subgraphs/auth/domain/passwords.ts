/**
 * Password hashing with argon2id. Verifying an unknown account's password still costs one
 * hash (against a throwaway hash), so response time does not tell which emails exist.
 */
import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import type { HashOptions } from 'argon2';

export interface PasswordHasherOptions {
  /** argon2 memory in KiB. @default 19456 (OWASP's argon2id baseline: 19 MiB, t=2, p=1) */
  memoryCostKib?: number;
  /** argon2 iterations. @default 2 */
  timeCost?: number;
  /** argon2 lanes. @default 1 */
  parallelism?: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Checks `password` against `hash`; with `hash` null, burns the same time and fails. */
  verify(hash: string | null, password: string): Promise<boolean>;
  /** True when `hash` was made with other parameters than today's (rehash on next login). */
  needsRehash(hash: string): boolean;
}

export async function createPasswordHasher(
  options: PasswordHasherOptions = {},
): Promise<PasswordHasher> {
  const params: HashOptions = {
    type: argon2.argon2id,
    memoryCost: options.memoryCostKib ?? 19_456,
    timeCost: options.timeCost ?? 2,
    parallelism: options.parallelism ?? 1,
  };
  const decoy = await argon2.hash(randomBytes(32).toString('hex'), params);
  return {
    hash: (password) => argon2.hash(password, params),
    async verify(hash, password) {
      try {
        const ok = await argon2.verify(hash ?? decoy, password);
        return hash !== null && ok;
      } catch {
        // A malformed stored hash verifies nothing.
        return false;
      }
    },
    needsRehash: (hash) => argon2.needsRehash(hash, params),
  };
}
