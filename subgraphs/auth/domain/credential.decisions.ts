/**
 * Pure decisions about accounts: how an email is normalised, what makes a password weak,
 * and which role a new account gets (names: schema/profile.ts). No I/O; given/when/then tests.
 */
import { z } from 'zod';
import type { Role } from '../../../shared/auth/index.ts';
import { ValidationError } from '../../../shared/errors/index.ts';
import { COMMON_PASSWORDS } from './common-passwords.ts';

const PASSWORD_MIN_LENGTH = 10;
/** Longer inputs only cost hashing time; no real password needs more. */
export const PASSWORD_MAX_LENGTH = 256;
const EMAIL_MAX_LENGTH = 254;

const emailSchema = z.email();

/**
 * One spelling per mailbox: trimmed, Unicode-normalised (NFKC) and lower-cased, so
 * `Alice@Example.com ` and `alice@example.com` are one account. Throws on a malformed one.
 */
export function normaliseEmail(raw: string, field = 'email'): string {
  const email = raw.normalize('NFKC').trim().toLowerCase();
  if (email.length > EMAIL_MAX_LENGTH || !emailSchema.safeParse(email).success) {
    throw new ValidationError(field, 'Enter a valid email address');
  }
  return email;
}

/** Throws BAD_USER_INPUT naming `field` when the password is too weak or too long. */
export function assertStrongPassword(password: string, email: string, field = 'password'): void {
  if ([...password].length < PASSWORD_MIN_LENGTH) {
    throw new ValidationError(
      field,
      `Password must be at least ${PASSWORD_MIN_LENGTH} characters long`,
    );
  }
  if ([...password].length > PASSWORD_MAX_LENGTH) {
    throw new ValidationError(
      field,
      `Password must be at most ${PASSWORD_MAX_LENGTH} characters long`,
    );
  }
  const lowered = password.toLowerCase();
  const localPart = email.split('@')[0] ?? '';
  if (
    COMMON_PASSWORDS.has(lowered) ||
    new Set(lowered).size < 4 ||
    lowered === email ||
    lowered === localPart
  ) {
    throw new ValidationError(field, 'Password is too common or too easy to guess');
  }
}

/**
 * False for input no stored password can match, so it is refused without hashing it:
 * registration allows at most 256 code points, which is at most 512 UTF-16 units.
 */
export function couldBePassword(password: string): boolean {
  return password.length <= PASSWORD_MAX_LENGTH * 2;
}

/** The account registered with ADMIN_EMAIL is ADMIN; everyone else starts as USER. */
export function roleForNewAccount(email: string, adminEmail: string | undefined): Role {
  return adminEmail !== undefined && email === adminEmail ? 'ADMIN' : 'USER';
}
