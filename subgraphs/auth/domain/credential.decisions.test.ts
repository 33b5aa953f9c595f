/** Account rules as pure decisions: given an input, when deciding, then the outcome. */
import { ValidationError } from '../../../shared/errors/index.ts';
import { thrownBy } from '../../../shared/testing/index.ts';
import {
  assertStrongPassword,
  couldBePassword,
  normaliseEmail,
  roleForNewAccount,
} from './credential.decisions.ts';

describe('normaliseEmail', () => {
  it.each([
    ['Alice@Example.COM', 'alice@example.com'],
    ['  bob@example.com\t', 'bob@example.com'],
    ['ｃａｒｏｌ@example.com', 'carol@example.com'], // full-width letters fold (NFKC)
  ])('spells %j as %j', (raw, expected) => {
    expect(normaliseEmail(raw)).toBe(expected);
  });

  it.each([
    ['not-an-email'],
    [''],
    ['a@b'],
    [`${'x'.repeat(250)}@example.com`],
    ['a b@example.com'],
  ])('refuses %j as BAD_USER_INPUT on the field', (raw) => {
    expect(thrownBy(() => normaliseEmail(raw, 'email'))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'email',
    });
  });
});

describe('assertStrongPassword', () => {
  it('accepts a long, uncommon passphrase', () => {
    expect(
      thrownBy(() => assertStrongPassword('correct horse battery', 'a@example.com')),
    ).toBeUndefined();
  });

  it.each([
    ['nine characters', '123456789'],
    ['a common password', 'password123'],
    ['a common password in capitals', 'QWERTYUIOP'],
    ['one repeated character', 'zzzzzzzzzzzz'],
    ['three characters repeated', 'abcabcabcabc'],
    ['the email address itself', 'someone1234@example.com'],
    ["the email address's local part", 'someone1234'],
    ['257 characters', 'ab1'.repeat(86).slice(0, 257)],
  ])('refuses %s, naming the field', (_what, password) => {
    const error = thrownBy(() =>
      assertStrongPassword(password, 'someone1234@example.com', 'newPassword'),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'newPassword' });
  });

  it('counts characters, not UTF-16 units (10 emoji are 10 characters)', () => {
    expect(
      thrownBy(() => assertStrongPassword('🔑🐎🔋📎🌍🎲🧩🚲🎈🌵', 'a@example.com')),
    ).toBeUndefined();
  });
});

describe('couldBePassword', () => {
  it('is false only for input longer than any accepted password could be', () => {
    expect(couldBePassword('x'.repeat(512))).toBe(true);
    expect(couldBePassword('x'.repeat(513))).toBe(false);
  });
});

describe('roleForNewAccount', () => {
  it('makes the ADMIN_EMAIL account ADMIN and everyone else USER', () => {
    expect(roleForNewAccount('root@example.com', 'root@example.com')).toBe('ADMIN');
    expect(roleForNewAccount('alice@example.com', 'root@example.com')).toBe('USER');
    expect(roleForNewAccount('alice@example.com', undefined)).toBe('USER');
  });
});
