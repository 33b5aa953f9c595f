/**
 * Auth and edge security end to end, through the gateway on real servers (PostgreSQL, Redis,
 * Kafka): the account lifecycle, every way a forged or stale token is
 * refused, subgraphs refusing callers that bypass the gateway, refresh-token reuse, login
 * rate limits, signing-key rotation, and the account events on Kafka.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey as JoseKey, JWK } from 'jose';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createGatewayTokens } from '../../shared/auth/index.ts';
import { captureLogs, postGraphQL, waitFor } from '../../shared/testing/index.ts';
import type { GraphQLResponse } from '../../shared/testing/index.ts';
import type { AuthSubgraphHandle } from '../../subgraphs/auth/main.ts';
import { TEST_GATEWAY_SECRET, claimsOf, codes, decodePart, startTestPlatform } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const LOGIN_WINDOW_SECONDS = 3;
const MAX_ATTEMPTS_PER_EMAIL = 10;
const MAX_ATTEMPTS_PER_IP = 40;
const ADMIN_EMAIL = 'root@example.com';
const PASSWORD = 'correct horse battery staple';

let fixture: TestPlatform;
const logs = captureLogs();

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger, {
    ADMIN_EMAIL,
    AUTH_LOGIN_WINDOW_SECONDS: String(LOGIN_WINDOW_SECONDS),
    AUTH_LOGIN_MAX_ATTEMPTS_PER_EMAIL: String(MAX_ATTEMPTS_PER_EMAIL),
    AUTH_LOGIN_MAX_ATTEMPTS_PER_IP: String(MAX_ATTEMPTS_PER_IP),
  });
});

afterAll(async () => {
  await fixture?.stop();
});

interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: { id: string; email: string; name: string; role: string; createdAt: string };
}

const PAYLOAD = 'accessToken refreshToken expiresIn user { id email name role createdAt }';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { ${PAYLOAD} } }`;
const LOGIN = `mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { ${PAYLOAD} } }`;
const REFRESH = `mutation ($token: String!) { refreshToken(refreshToken: $token) { ${PAYLOAD} } }`;
const ME = '{ me { id email name role } }';

let counter = 0;
function uniqueEmail(name: string): string {
  counter += 1;
  return `${name}.${counter}.${randomUUID().slice(0, 8)}@example.com`;
}

async function register(email = uniqueEmail('user'), name = 'Test User'): Promise<Tokens> {
  const response = await fixture.gql<{ register: Tokens }>(REGISTER, {
    input: { email, password: PASSWORD, name },
  });
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.register;
}

async function login(email: string, password = PASSWORD) {
  return fixture.gql<{ login: Tokens }>(LOGIN, { email, password });
}

/** Refused as UNAUTHENTICATED with no data at all. */
function expectRefused(response: GraphQLResponse): void {
  expect(codes(response)).toEqual(['UNAUTHENTICATED']);
  expect(response.body.data ?? null).toBeNull();
}

/** The signing key auth uses now, read from its table (to forge tokens with bad claims). */
async function currentSigningKey(): Promise<{ kid: string; privateJwk: JWK; publicJwk: JWK }> {
  const client = new pg.Client({ connectionString: fixture.database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ kid: string; private_jwk: JWK; public_jwk: JWK }>(
      'select kid, private_jwk, public_jwk from auth.signing_keys where retired_at is null',
    );
    expect(rows).toHaveLength(1);
    return { kid: rows[0]!.kid, privateJwk: rows[0]!.private_jwk, publicJwk: rows[0]!.public_jwk };
  } finally {
    await client.end();
  }
}

describe('the account lifecycle', () => {
  it('register → me → login → refresh → logout; afterwards the old tokens are refused', async () => {
    const email = uniqueEmail('flow');
    const registered = await register(`  ${email.toUpperCase()} `, 'Flow Person');
    expect(registered.user).toMatchObject({ email, name: 'Flow Person', role: 'USER' });
    expect(registered.expiresIn).toBe(900);

    // Read-your-writes: the profile event may not have reached users yet; `me` answers anyway.
    const me = await fixture.gql(ME, undefined, registered.accessToken);
    expect(me.body).toEqual({
      data: { me: { id: registered.user.id, email, name: 'Flow Person', role: 'USER' } },
    });

    const loggedIn = await login(email.toUpperCase());
    expect(loggedIn.body.errors).toBeUndefined();
    const session = loggedIn.body.data!.login;
    expect(session.user.id).toBe(registered.user.id);

    const refreshed = await fixture.gql<{ refreshToken: Tokens }>(REFRESH, {
      token: session.refreshToken,
    });
    expect(refreshed.body.errors).toBeUndefined();
    const next = refreshed.body.data!.refreshToken;
    expect(next.refreshToken).not.toBe(session.refreshToken);
    expect((await fixture.gql(ME, undefined, next.accessToken)).body.data).toEqual({
      me: expect.objectContaining({ id: registered.user.id }),
    });

    const logout = await fixture.gql(
      'mutation ($token: String) { logout(refreshToken: $token) }',
      { token: next.refreshToken },
      next.accessToken,
    );
    expect(logout.body).toEqual({ data: { logout: true } });

    expectRefused(await fixture.gql(ME, undefined, next.accessToken));
    expectRefused(await fixture.gql(REFRESH, { token: next.refreshToken }));
    // The session that registered is a different one: it is still signed in.
    expect((await fixture.gql(ME, undefined, registered.accessToken)).body.data).toEqual({
      me: expect.objectContaining({ id: registered.user.id }),
    });
  });

  it('logout without a refresh token still ends the whole session', async () => {
    const registered = await register();
    const refreshed = await fixture.gql<{ refreshToken: Tokens }>(REFRESH, {
      token: registered.refreshToken,
    });
    const newer = refreshed.body.data!.refreshToken;

    const logout = await fixture.gql('mutation { logout }', undefined, registered.accessToken);
    expect(logout.body).toEqual({ data: { logout: true } });

    // The session's other access token and its newest refresh token went with it.
    expectRefused(await fixture.gql(ME, undefined, newer.accessToken));
    expectRefused(await fixture.gql(REFRESH, { token: newer.refreshToken }));
  });

  it('refuses weak passwords, malformed emails and names with BAD_USER_INPUT naming the field', async () => {
    const attempt = (input: Record<string, string>) =>
      fixture.gql(REGISTER, {
        input: { email: uniqueEmail('weak'), password: PASSWORD, name: 'Weak', ...input },
      });
    const cases: [Record<string, string>, string][] = [
      [{ password: 'short1!' }, 'password'],
      [{ password: 'password123' }, 'password'],
      [{ password: 'QWERTYUIOP' }, 'password'],
      [{ password: 'aaaaaaaaaaaaaaaa' }, 'password'],
      [{ password: 'x'.repeat(257) }, 'password'],
      [{ email: 'not-an-email' }, 'email'],
      [{ name: '   ' }, 'name'],
      [{ name: 'n'.repeat(101) }, 'name'],
    ];
    for (const [input, field] of cases) {
      const response = await attempt(input);
      expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
      expect(response.body.data ?? null).toBeNull();
    }
  });

  it('refuses a second account for the same address, however it is spelt, with CONFLICT', async () => {
    const email = uniqueEmail('dup');
    await register(email);
    const again = await fixture.gql(REGISTER, {
      input: { email: ` ${email.toUpperCase()}`, password: PASSWORD, name: 'Dup' },
    });
    expect(codes(again)).toEqual(['CONFLICT']);
  });

  it('makes the ADMIN_EMAIL account ADMIN, with the admin scope, and only that one', async () => {
    const admin = await register(ADMIN_EMAIL.toUpperCase(), 'Root');
    expect(admin.user.role).toBe('ADMIN');
    expect(decodePart(admin.accessToken, 1)).toMatchObject({ role: 'ADMIN', scope: 'user admin' });
    const other = await register();
    expect(other.user.role).toBe('USER');
    expect(decodePart(other.accessToken, 1)).toMatchObject({ role: 'USER', scope: 'user' });

    const query = 'query ($id: ID!) { user(id: $id) { id } }';
    // The profile arrives by event; an admin reads anyone's once it exists.
    const byAdmin = await waitFor(
      async () => {
        const response = await fixture.gql(query, { id: other.user.id }, admin.accessToken);
        return response.body.data?.['user'] ? response : undefined;
      },
      { timeoutMs: 20_000, what: "the other user's profile" },
    );
    expect(byAdmin.body).toEqual({ data: { user: { id: other.user.id } } });
    // To a USER, someone else's account is as absent as a missing one.
    const byUser = await fixture.gql(query, { id: admin.user.id }, other.accessToken);
    expect(byUser.body).toEqual({ data: { user: null } });
  });

  it('changePassword: the new password works, the old does not, other sessions end', async () => {
    const email = uniqueEmail('change');
    const first = await register(email);
    const second = (await login(email)).body.data!.login;
    const change = (currentPassword: string, newPassword: string, token: string) =>
      fixture.gql(
        'mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }',
        { c: currentPassword, n: newPassword },
        token,
      );

    const wrong = await change(
      'not my password at all',
      'a brand new passphrase',
      second.accessToken,
    );
    expect(wrong.body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'currentPassword',
    });
    const weak = await change(PASSWORD, '1234567890', second.accessToken);
    expect(weak.body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'newPassword',
    });
    expectRefused(await change(PASSWORD, 'a brand new passphrase', ''));

    const changed = await change(PASSWORD, 'a brand new passphrase', second.accessToken);
    expect(changed.body).toEqual({ data: { changePassword: true } });

    expect(codes(await login(email))).toEqual(['UNAUTHENTICATED']);
    expect((await login(email, 'a brand new passphrase')).body.errors).toBeUndefined();
    // The session that changed it stays; the other one (from register) is over.
    expect((await fixture.gql(ME, undefined, second.accessToken)).body.data?.['me']).toBeTruthy();
    expectRefused(await fixture.gql(ME, undefined, first.accessToken));
    expectRefused(await fixture.gql(REFRESH, { token: first.refreshToken }));
  });
});

describe('access tokens the gateway refuses (UNAUTHENTICATED, no data)', () => {
  let victim: Tokens;
  let key: Awaited<ReturnType<typeof currentSigningKey>>;

  beforeAll(async () => {
    victim = await register(uniqueEmail('victim'), 'Victim');
    key = await currentSigningKey();
  });

  /** Signs `claims` (merged over valid ones) with auth's real key, unless told otherwise. */
  async function forge(
    claims: Record<string, unknown> = {},
    options: { header?: Record<string, unknown>; privateJwk?: JWK } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const valid = decodePart(victim.accessToken, 1);
    const privateKey = await importJWK(options.privateJwk ?? key.privateJwk, 'ES256');
    return new SignJWT({ ...valid, iat: now, exp: now + 600, jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...options.header })
      .sign(privateKey);
  }

  it('accepts a token forged with the real key and valid claims (so the refusals below are about the one thing each changes)', async () => {
    const response = await fixture.gql(ME, undefined, await forge());
    expect(response.body.data?.['me']).toMatchObject({ id: victim.user.id });
  });

  it.each<[string, () => Promise<string>]>([
    [
      'alg none (unsigned)',
      async () => {
        const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: key.kid }));
        return `${header.toString('base64url')}.${victim.accessToken.split('.')[1]}.`;
      },
    ],
    [
      'alg none with a dummy signature',
      async () => {
        const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: key.kid }));
        return `${header.toString('base64url')}.${victim.accessToken.split('.')[1]}.c2ln`;
      },
    ],
    [
      'HS256 signed with the public key (PEM) as the secret',
      async () => {
        const pem = await exportSPKI(
          (await importJWK(key.publicJwk, 'ES256', { extractable: true })) as JoseKey,
        );
        return new SignJWT(decodePart(victim.accessToken, 1))
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })
          .sign(new TextEncoder().encode(pem));
      },
    ],
    [
      'HS256 signed with the public JWK as the secret',
      async () =>
        new SignJWT(decodePart(victim.accessToken, 1))
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })
          .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk))),
    ],
    [
      'expired',
      () =>
        forge({
          iat: Math.floor(Date.now() / 1000) - 1200,
          exp: Math.floor(Date.now() / 1000) - 60,
        }),
    ],
    ['issued in the future', () => forge({ iat: Math.floor(Date.now() / 1000) + 3600 })],
    ['the wrong audience', () => forge({ aud: 'someone-else' })],
    ['the wrong issuer', () => forge({ iss: 'https://evil.example.com' })],
    ['no expiry', () => forge({ exp: undefined })],
    ['a missing session claim', () => forge({ sid: undefined })],
    ['another token type (typ)', () => forge({}, { header: { typ: 'JWT' } })],
    [
      'a tampered payload (role ADMIN), original signature',
      async () => {
        const [header, payload, signature] = victim.accessToken.split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as object;
        const tampered = Buffer.from(
          JSON.stringify({ ...claims, role: 'ADMIN', scope: 'user admin' }),
        ).toString('base64url');
        return `${header}.${tampered}.${signature}`;
      },
    ],
    [
      'a signature by an unknown key (under an unknown kid)',
      async () => {
        const { privateKey } = await generateKeyPair('ES256', { extractable: true });
        return forge(
          {},
          { privateJwk: await exportJWK(privateKey), header: { kid: 'attacker-key' } },
        );
      },
    ],
    [
      "a signature by an unknown key, claiming auth's kid",
      async () => {
        const { privateKey } = await generateKeyPair('ES256', { extractable: true });
        return forge({}, { privateJwk: await exportJWK(privateKey) });
      },
    ],
  ])('refuses a token with %s', async (_what, make) => {
    const response = await fixture.gql(ME, undefined, await make());
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('Bearer');
    expectRefused(response);
  });

  it('refuses a revoked token (after logout)', async () => {
    const session = await register();
    await fixture.gql('mutation { logout }', undefined, session.accessToken);
    expectRefused(await fixture.gql(ME, undefined, session.accessToken));
  });

  it.each([
    ['an empty Bearer', 'Bearer '],
    ['another scheme', `Basic ${Buffer.from('a:b').toString('base64')}`],
    ['a token without a scheme', 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln'],
    ['three dots of nothing', 'Bearer ..'],
    ['random bytes', `Bearer ${Buffer.from(randomUUID()).toString('base64')}`],
    ['non-JSON segments', 'Bearer aGVsbG8.d29ybGQ.c2ln'],
    ['JSON that is not an object', `Bearer ${Buffer.from('[1]').toString('base64url')}.e30.c2ln`],
    ['an absurdly long token', `Bearer ${'a'.repeat(8000)}.b.c`],
    ['control characters', 'Bearer abc\tdef'],
  ])('refuses %s in the Authorization header', async (_what, header) => {
    const response = await fetch(`${fixture.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: header },
      body: JSON.stringify({ query: ME }),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as GraphQLResponse['body'];
    expectRefused({ status: response.status, headers: response.headers, body });
  });
});

describe('subgraphs called directly, bypassing the gateway', () => {
  let victim: Tokens;
  const query = 'query ($id: ID!) { me { id email } user(id: $id) { id email } }';

  beforeAll(async () => {
    victim = await register(uniqueEmail('direct'), 'Direct Victim');
  });

  const direct = async (headers: Record<string, string>) => {
    const users = fixture.platform.subgraphs.get('users')!;
    return postGraphQL(`${users.url}/graphql`, query, { id: victim.user.id }, headers);
  };

  it('serves a request carrying a valid gateway token (the control case)', async () => {
    const response = await fixture.subgraphGql(
      'users',
      query,
      { id: victim.user.id },
      claimsOf(victim.accessToken),
    );
    expect(response.body.data?.['me']).toMatchObject({ id: victim.user.id });
  });

  it.each<[string, () => Promise<Record<string, string>>]>([
    ['no gateway token at all', async () => ({})],
    [
      'forged identity headers',
      async () => ({
        'x-user-id': victim.user.id,
        'x-user-role': 'ADMIN',
        'x-forwarded-user': victim.user.id,
        authorization: `Bearer ${victim.accessToken}`,
      }),
    ],
    [
      'a gateway token signed with the wrong secret',
      async () => ({
        'x-eventgraph-gateway-token': await createGatewayTokens({
          secret: 'not-the-secret-but-long-enough-0123456789',
        }).sign({ claims: claimsOf(victim.accessToken), clientIp: null }),
      }),
    ],
    [
      'an expired gateway token signed with the right secret',
      async () => {
        const past = new Date(Date.now() - 10 * 60_000);
        return {
          'x-eventgraph-gateway-token': await createGatewayTokens({
            secret: TEST_GATEWAY_SECRET,
            now: () => past,
          }).sign({ claims: claimsOf(victim.accessToken), clientIp: null }),
        };
      },
    ],
    [
      "the victim's own access token as the gateway token",
      async () => ({ 'x-eventgraph-gateway-token': victim.accessToken }),
    ],
    [
      'an unsigned gateway token',
      async () => {
        const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
        const now = Math.floor(Date.now() / 1000);
        return {
          'x-eventgraph-gateway-token': `${part({ alg: 'none', typ: 'eventgraph-gateway+jwt' })}.${part(
            {
              iss: 'eventgraph-gateway',
              aud: 'eventgraph-subgraphs',
              iat: now,
              exp: now + 60,
              usr: decodePart(victim.accessToken, 1),
            },
          )}.`,
        };
      },
    ],
  ])('refuses %s with 401 and no data', async (_what, headers) => {
    const response = await direct(await headers());
    expect(response.status).toBe(401);
    expectRefused(response);
    expect(JSON.stringify(response.body)).not.toContain(victim.user.email);
  });
});

describe('refresh-token rotation', () => {
  it('reusing a rotated token ends the session: the newest refresh and access tokens stop working', async () => {
    const session = await register();
    const first = await fixture.gql<{ refreshToken: Tokens }>(REFRESH, {
      token: session.refreshToken,
    });
    const newest = first.body.data!.refreshToken;
    expect((await fixture.gql(ME, undefined, newest.accessToken)).body.data?.['me']).toBeTruthy();

    const reuse = await fixture.gql(REFRESH, { token: session.refreshToken });
    expect(codes(reuse)).toEqual(['UNAUTHENTICATED']);
    expect(reuse.body.errors?.[0]?.message).toMatch(/already used/);

    expectRefused(await fixture.gql(REFRESH, { token: newest.refreshToken }));
    expectRefused(await fixture.gql(ME, undefined, newest.accessToken));
  });

  it('lets only one of two concurrent uses of one refresh token win, and ends the session', async () => {
    const session = await register();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => fixture.gql(REFRESH, { token: session.refreshToken })),
    );
    const winners = results.filter((response) => !response.body.errors);
    expect(winners).toHaveLength(1);
    expect(results.flatMap(codes)).toEqual(Array<string>(4).fill('UNAUTHENTICATED'));
    for (const winner of winners) {
      const tokens = (winner.body.data as { refreshToken: Tokens }).refreshToken;
      expectRefused(await fixture.gql(REFRESH, { token: tokens.refreshToken }));
    }
  });

  it('refuses garbage and unknown refresh tokens', async () => {
    for (const token of ['', 'garbage', `${randomUUID()}.${'A'.repeat(43)}`, 'a'.repeat(5000)]) {
      expectRefused(await fixture.gql(REFRESH, { token }));
    }
  });
});

describe('login rate limits', () => {
  it('after too many wrong passwords for one email, even the right one is refused until the window passes', async () => {
    const email = uniqueEmail('brute');
    await register(email);

    const results: unknown[] = [];
    for (let i = 0; i < 20; i += 1)
      results.push(codes(await login(email, `wrong password ${i}`))[0]);
    expect(results).toEqual([
      ...Array<string>(MAX_ATTEMPTS_PER_EMAIL).fill('UNAUTHENTICATED'),
      ...Array<string>(20 - MAX_ATTEMPTS_PER_EMAIL).fill('RATE_LIMITED'),
    ]);

    const right = await login(email);
    expect(codes(right)).toEqual(['RATE_LIMITED']);
    const retryAfter = right.body.errors?.[0]?.extensions?.['retryAfter'] as number;
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(LOGIN_WINDOW_SECONDS);
    expect(right.body.data ?? null).toBeNull();

    await sleep(retryAfter * 1000 + 200);
    const later = await login(email);
    expect(later.body.errors).toBeUndefined();
    expect(later.body.data?.login.user.email).toBe(email);
  });

  it('limits attempts per client address across many emails', async () => {
    // A platform of its own with an hour's window: every attempt counts however long a busy
    // machine makes the 41 decoy password checks take, and no earlier test's attempts do.
    const own = await startTestPlatform(logs.logger, {
      AUTH_LOGIN_WINDOW_SECONDS: '3600',
      AUTH_LOGIN_MAX_ATTEMPTS_PER_IP: String(MAX_ATTEMPTS_PER_IP),
    });
    try {
      const outcomes = await Promise.all(
        Array.from({ length: MAX_ATTEMPTS_PER_IP + 1 }, async () => {
          const answer = await own.gql(LOGIN, {
            email: uniqueEmail('nobody'),
            password: 'whatever password',
          });
          return String(codes(answer)[0]);
        }),
      );
      const count = (code: string) => outcomes.filter((outcome) => outcome === code).length;
      expect({
        UNAUTHENTICATED: count('UNAUTHENTICATED'),
        RATE_LIMITED: count('RATE_LIMITED'),
      }).toEqual({ UNAUTHENTICATED: MAX_ATTEMPTS_PER_IP, RATE_LIMITED: 1 });
    } finally {
      await own.stop();
    }
  });
});

describe('signing-key rotation', () => {
  it('keeps tokens signed with the old key valid while new tokens use the new key', async () => {
    const email = uniqueEmail('rotate');
    const before = await register(email);
    const oldKid = decodePart(before.accessToken, 0)['kid'];

    const auth = fixture.platform.subgraphs.get('auth') as AuthSubgraphHandle;
    const newKid = await auth.signingKeys.rotate();
    expect(newKid).not.toBe(oldKid);

    const after = (await login(email)).body.data!.login;
    expect(decodePart(after.accessToken, 0)['kid']).toBe(newKid);
    // The gateway has only the old key cached: the unknown kid makes it refetch the JWKS.
    expect((await fixture.gql(ME, undefined, after.accessToken)).body.data?.['me']).toBeTruthy();
    expect((await fixture.gql(ME, undefined, before.accessToken)).body.data?.['me']).toBeTruthy();

    const jwks = (await (await fetch(`${auth.url}/.well-known/jwks.json`)).json()) as {
      keys: JWK[];
    };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());
    for (const published of jwks.keys) {
      expect(published).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(published).not.toHaveProperty('d'); // never the private part
    }
  });
});

describe('account events', () => {
  it('publishes user.registered, user.logged_in, user.password_changed and user.logged_out to auth.events', async () => {
    const email = uniqueEmail('events');
    const registered = await register(email);
    const session = (await login(email)).body.data!.login;
    await fixture.gql(
      'mutation { changePassword(currentPassword: "correct horse battery staple", newPassword: "another good passphrase") }',
      undefined,
      session.accessToken,
    );
    await fixture.gql('mutation { logout }', undefined, session.accessToken);

    const kafka = new kafkajs.Kafka({
      brokers: fixture.kafka.brokers,
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const consumer = kafka.consumer({
      groupId: `${fixture.kafka.topicPrefix}test-reader-${randomUUID()}`,
      sessionTimeout: 6000,
    });
    const seen: { type: string; subject: string; data: Record<string, unknown> }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({
        topic: `${fixture.kafka.topicPrefix}auth.events`,
        fromBeginning: true,
      });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const event = JSON.parse(message.value!.toString()) as (typeof seen)[number];
          if (event.subject === registered.user.id) seen.push(event);
        },
      });
      await waitFor(() => seen.length >= 4, { timeoutMs: 30_000, what: 'four account events' });
    } finally {
      await consumer.disconnect();
    }
    expect(seen.map((event) => event.type)).toEqual([
      'user.registered',
      'user.logged_in',
      'user.password_changed',
      'user.logged_out',
    ]);
    expect(seen[0]!.data).toMatchObject({ userId: registered.user.id, email, role: 'USER' });
    expect(seen[1]!.data).toMatchObject({ sessionId: decodePart(session.accessToken, 1)['sid'] });
    // Events carry no secrets.
    expect(JSON.stringify(seen)).not.toMatch(/passphrase|staple|argon2/);
  });
});
