/**
 * The profile rules both auth (at `register`) and users (at `updateProfile`) apply, so a
 * name one accepts the other never refuses (the `user.registered` payload allows the same).
 */
import { ValidationError } from '../shared/errors/index.ts';

const NAME_MAX_LENGTH = 100;

/** A display name: trimmed, 1–100 characters; BAD_USER_INPUT naming `field` otherwise. */
export function normaliseName(raw: string, field = 'name'): string {
  const name = raw.normalize('NFC').trim();
  if (name.length === 0) throw new ValidationError(field, 'Name must not be empty');
  if ([...name].length > NAME_MAX_LENGTH) {
    throw new ValidationError(field, `Name must be at most ${NAME_MAX_LENGTH} characters long`);
  }
  return name;
}
