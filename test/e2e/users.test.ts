/**
 * The users subgraph end to end, through the gateway on real servers: the admin list (Relay
 * pages under concurrent sign-ups, search), ownership rules, profile changes that are never
 * served stale from the Redis cache, batched entity references (one SQL query for 100), role
 * changes and account deletion reaching auth through events.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { captureLogs, waitFor } from '../../shared/testing/index.ts';
import type { GraphQLResponse } from '../../shared/testing/index.ts';
import { claimsOf, codes, startTestPlatform, userRegisteredEvent } from './fixture.ts';
import type { TestPlatform } from './fixture.ts';

const ADMIN_EMAIL = 'admin@example.com';
const PASSWORD = 'correct horse battery staple';

let fixture: TestPlatform;
let redis: Redis;
let admin: Session;
const logs = captureLogs();

interface Session {
  accessToken: string;
  refreshToken: string;
  user: { id: string; email: string; name: string; role: string };
}

const PAYLOAD = 'accessToken refreshToken user { id email name role }';

async function register(email: string, name = 'Someone'): Promise<Session> {
  const response = await fixture.gql<{ register: Session }>(
    `mutation ($input: RegisterInput!) { register(input: $input) { ${PAYLOAD} } }`,
    { input: { email, password: PASSWORD, name } },
  );
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.register;
}

async function login(email: string): Promise<GraphQLResponse<{ login: Session }>> {
  return fixture.gql<{ login: Session }>(
    `mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { ${PAYLOAD} } }`,
    { email, password: PASSWORD },
  );
}

/** Waits until the users subgraph holds the profile (it arrives by event). */
async function profileExists(id: string): Promise<void> {
  await waitFor(
    async () => {
      const response = await fixture.gql<{ user: { id: string } | null }>(
        'query ($id: ID!) { user(id: $id) { id } }',
        { id },
        admin.accessToken,
      );
      return response.body.data?.user?.id === id;
    },
    { timeoutMs: 30_000, what: `profile ${id}` },
  );
}

/** Waits until every one of these profiles exists (events land on several partitions). */
async function profilesExist(ids: string[]): Promise<void> {
  const reps = ids.map((id) => ({ __typename: 'User', id }));
  await waitFor(
    async () => {
      const response = await fixture.subgraphGql<{ _entities: unknown[] }>('users', ENTITIES, {
        reps,
      });
      return response.body.data?._entities.every(Boolean);
    },
    { timeoutMs: 30_000, what: `${ids.length} profiles` },
  );
}

/** Profiles straight onto auth.events, as auth would publish them (fast bulk set-up). */
async function publishRegistrations(users: { id: string; email: string; name: string }[]) {
  const start = Date.parse('2026-11-01T00:00:00Z');
  await fixture.produce(
    'auth.events',
    users.map((user, index) =>
      userRegisteredEvent({ ...user, registeredAt: new Date(start + index * 1000).toISOString() }),
    ),
  );
}

/** A counter of the users subgraph's /metrics (summed over labels matching `labels`). */
async function usersMetric(name: string, labels = ''): Promise<number> {
  const users = fixture.platform.subgraphs.get('users')!;
  const text = await (await fetch(`${users.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const ENTITIES =
  'query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id name } } }';

beforeAll(async () => {
  fixture = await startTestPlatform(logs.logger, { ADMIN_EMAIL });
  redis = new Redis(fixture.redis.url);
  admin = await register(ADMIN_EMAIL, 'Admin');
  expect(admin.user.role).toBe('ADMIN');
  await profileExists(admin.user.id);
});

afterAll(async () => {
  redis?.disconnect();
  await fixture?.stop();
});

describe('the admin list of users', () => {
  const USERS_PAGE = `query ($first: Int, $after: String, $search: String) {
    users(first: $first, after: $after, search: $search) {
      edges { cursor node { id name email } }
      pageInfo { hasNextPage endCursor }
    }
  }`;
  type Page = {
    users: {
      edges: { cursor: string; node: { id: string; name: string; email: string } }[];
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
  };
  const tag = randomUUID().slice(0, 6);
  const bulk = Array.from({ length: 250 }, (_, i) => ({
    id: randomUUID(),
    email: `bulk${i}.${tag}@example.com`,
    name: `Bulk Person ${i} ${tag}`,
  }));

  beforeAll(async () => {
    await publishRegistrations(bulk);
    await profilesExist(bulk.map((user) => user.id));
  });

  it('pages through 250 users 100 at a time with no duplicates or gaps while others sign up', async () => {
    const seen: string[] = [];
    const signUps = Promise.all(
      Array.from({ length: 15 }, (_, i) => register(`concurrent${i}.${tag}@example.com`)),
    );
    let after: string | null = null;
    let pages = 0;
    do {
      const response: GraphQLResponse<Page> = await fixture.gql<Page>(
        USERS_PAGE,
        { first: 100, after },
        admin.accessToken,
      );
      expect(response.body.errors).toBeUndefined();
      const page = response.body.data!.users;
      expect(page.edges.length).toBeLessThanOrEqual(100);
      seen.push(...page.edges.map((edge) => edge.node.id));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      pages += 1;
    } while (after && pages < 10);
    await signUps;

    expect(new Set(seen).size).toBe(seen.length); // no duplicates
    const bulkIds: string[] = bulk.map((user) => user.id);
    expect(bulkIds.filter((id) => !seen.includes(id))).toEqual([]); // no gaps
    expect(pages).toBeGreaterThanOrEqual(3);
    // Oldest first: the bulk users registered "on 1 November" come in their order.
    const order = seen.filter((id) => bulkIds.includes(id));
    expect(order).toEqual(bulkIds);
  });

  it('finds users by part of the name or the email, ignoring case', async () => {
    const byName = await fixture.gql<Page>(
      USERS_PAGE,
      { first: 100, search: `person 17 ${tag}`.toUpperCase() },
      admin.accessToken,
    );
    expect(byName.body.data!.users.edges.map((edge) => edge.node.email)).toEqual([
      `bulk17.${tag}@example.com`,
    ]);
    const byEmail = await fixture.gql<Page>(
      USERS_PAGE,
      { first: 100, search: `LK24.${tag}` },
      admin.accessToken,
    );
    expect(byEmail.body.data!.users.edges.map((edge) => edge.node.name)).toEqual([
      `Bulk Person 24 ${tag}`,
    ]);
    const wildcards = await fixture.gql<Page>(
      USERS_PAGE,
      { first: 100, search: '%_%' },
      admin.accessToken,
    );
    expect(wildcards.body.data!.users.edges).toEqual([]); // % and _ are literal characters
  });

  it.each([
    [{ first: 0 }, 'first'],
    [{ first: 101 }, 'first'],
    [{ after: 'not-a-cursor' }, 'after'],
    [{ after: Buffer.from('["yesterday","x"]').toString('base64url') }, 'after'],
  ])('refuses %j with BAD_USER_INPUT naming the argument', async (args, field) => {
    const response = await fixture.gql(USERS_PAGE, args, admin.accessToken);
    expect(response.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
  });
});

describe('who may do what', () => {
  let alice: Session;
  let bob: Session;

  beforeAll(async () => {
    alice = await register(`alice.${randomUUID().slice(0, 6)}@example.com`, 'Alice');
    bob = await register(`bob.${randomUUID().slice(0, 6)}@example.com`, 'Bob');
    await profileExists(alice.user.id);
    await profileExists(bob.user.id);
  });

  it.each<[string, string, () => Record<string, unknown>]>([
    ['list users', '{ users { edges { node { id } } } }', () => ({})],
    [
      'change a role',
      'mutation ($id: ID!) { setUserRole(id: $id, role: ADMIN) { id } }',
      () => ({ id: bob.user.id }),
    ],
  ])('a USER may not %s (FORBIDDEN)', async (_what, query, variables) => {
    const response = await fixture.gql(query, variables(), bob.accessToken);
    expect(codes(response)).toEqual(['FORBIDDEN']);
  });

  it.each<[string, string, () => Record<string, unknown>]>([
    [
      "change someone else's profile",
      'mutation ($id: ID!) { updateProfile(input: { id: $id, name: "Hacked" }) { id } }',
      () => ({ id: alice.user.id }),
    ],
    [
      "delete someone else's account",
      'mutation ($id: ID!) { deleteUser(id: $id) }',
      () => ({ id: alice.user.id }),
    ],
  ])(
    'a USER may not %s: to them it does not exist (NOT_FOUND)',
    async (_what, query, variables) => {
      const response = await fixture.gql(query, variables(), bob.accessToken);
      expect(codes(response)).toEqual(['NOT_FOUND']);
      expect(JSON.stringify(response.body.data ?? null)).not.toContain('Alice');
    },
  );

  it("a USER reading someone else's profile gets null, as for an id that does not exist", async () => {
    const query = 'query ($id: ID!) { user(id: $id) { name } }';
    for (const id of [alice.user.id, randomUUID()]) {
      const response = await fixture.gql(query, { id }, bob.accessToken);
      expect(response.body).toEqual({ data: { user: null } });
    }
  });

  it('a USER changes their own name; it is trimmed and validated', async () => {
    const rename = (name: string) =>
      fixture.gql<{ updateProfile: { name: string } }>(
        'mutation ($name: String) { updateProfile(input: { name: $name }) { id name } }',
        { name },
        bob.accessToken,
      );
    expect((await rename('  Robert  ')).body.data?.updateProfile.name).toBe('Robert');
    expect((await rename('   ')).body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'name',
    });
    expect((await rename('x'.repeat(101))).body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'name',
    });
  });

  it('unknown ids are NOT_FOUND for changes, and null for reads', async () => {
    const unknown = randomUUID();
    const update = await fixture.gql(
      'mutation ($id: ID!) { updateProfile(input: { id: $id, name: "X" }) { id } }',
      { id: unknown },
      admin.accessToken,
    );
    expect(codes(update)).toEqual(['NOT_FOUND']);
    const remove = await fixture.gql(
      'mutation ($id: ID!) { deleteUser(id: $id) }',
      { id: 'nope' },
      admin.accessToken,
    );
    expect(codes(remove)).toEqual(['NOT_FOUND']);
    const read = await fixture.gql(
      'query ($id: ID!) { user(id: $id) { id } }',
      { id: unknown },
      admin.accessToken,
    );
    expect(read.body).toEqual({ data: { user: null } });
  });
});

describe('the profile cache', () => {
  it('serves repeated reads from Redis, and never a stale name after updateProfile', async () => {
    const carol = await register(`carol.${randomUUID().slice(0, 6)}@example.com`, 'Carol');
    await profileExists(carol.user.id);
    const read = async () =>
      (await fixture.gql<{ me: { name: string } }>('{ me { name } }', undefined, carol.accessToken))
        .body.data?.me.name;
    const reference = async () =>
      (
        await fixture.subgraphGql<{ _entities: { name: string }[] }>('users', ENTITIES, {
          reps: [{ __typename: 'User', id: carol.user.id }],
        })
      ).body.data?._entities[0]?.name;

    expect(await read()).toBe('Carol');
    const cacheKey = `${fixture.redis.prefix}users:user:${carol.user.id}`;
    expect(JSON.parse((await redis.get(cacheKey))!)).toMatchObject({ name: 'Carol' });
    const hitsBefore = await usersMetric('users_cache_lookups_total', 'result="hit"');
    expect(await read()).toBe('Carol');
    expect(await reference()).toBe('Carol');
    expect(await usersMetric('users_cache_lookups_total', 'result="hit"')).toBe(hitsBefore + 2);

    const renamed = await fixture.gql(
      'mutation { updateProfile(input: { name: "Caroline" }) { name } }',
      undefined,
      carol.accessToken,
    );
    expect(renamed.body).toEqual({ data: { updateProfile: { name: 'Caroline' } } });
    // Every read from now on, whichever way it comes, has the new name.
    for (let i = 0; i < 5; i += 1) {
      expect(await read()).toBe('Caroline');
      expect(await reference()).toBe('Caroline');
    }
  });

  it('resolves 100 User references with one SQL query, and none once they are cached', async () => {
    const tag = randomUUID().slice(0, 6);
    const hundred = Array.from({ length: 100 }, (_, i) => ({
      id: randomUUID(),
      email: `ref${i}.${tag}@example.com`,
      name: `Ref ${i}`,
    }));
    await publishRegistrations(hundred);
    await profilesExist(hundred.map((user) => user.id));
    await redis.del(...hundred.map((user) => `${fixture.redis.prefix}users:user:${user.id}`));
    const reps = hundred.map((user) => ({ __typename: 'User', id: user.id }));

    const before = await usersMetric('users_profile_queries_total');
    const cold = await fixture.subgraphGql<{ _entities: { id: string; name: string }[] }>(
      'users',
      ENTITIES,
      { reps },
    );
    expect(cold.body.data?._entities.map((user) => user.id)).toEqual(hundred.map((u) => u.id));
    expect(await usersMetric('users_profile_queries_total')).toBe(before + 1);

    const warm = await fixture.subgraphGql('users', ENTITIES, { reps });
    expect(warm.body.data).toEqual(cold.body.data);
    expect(await usersMetric('users_profile_queries_total')).toBe(before + 1);
  });
});

describe('roles and deletion reach auth by event', () => {
  it('setUserRole: the user is ADMIN from their next sign-in, and their old tokens stop working', async () => {
    const email = `dave.${randomUUID().slice(0, 6)}@example.com`;
    const dave = await register(email, 'Dave');
    await profileExists(dave.user.id);
    const promoted = await fixture.gql(
      'mutation ($id: ID!) { setUserRole(id: $id, role: ADMIN) { id role } }',
      { id: dave.user.id },
      admin.accessToken,
    );
    expect(promoted.body).toEqual({ data: { setUserRole: { id: dave.user.id, role: 'ADMIN' } } });

    await waitFor(
      async () =>
        codes(await fixture.gql('{ me { id } }', undefined, dave.accessToken))[0] ===
        'UNAUTHENTICATED',
      { timeoutMs: 20_000, what: "Dave's old token to be refused" },
    );
    const again = (await login(email)).body.data!.login;
    expect(claimsOf(again.accessToken)).toMatchObject({ role: 'ADMIN', scope: 'user admin' });
    const list = await fixture.gql(
      '{ users(first: 1) { edges { node { id } } } }',
      undefined,
      again.accessToken,
    );
    expect(list.body.errors).toBeUndefined();
  });

  it('deleteUser: the profile is gone from the database and the cache, and the tokens stop working', async () => {
    const email = `erin.${randomUUID().slice(0, 6)}@example.com`;
    const erin = await register(email, 'Erin');
    await profileExists(erin.user.id);
    await fixture.gql('{ me { name } }', undefined, erin.accessToken); // cached now
    const cacheKey = `${fixture.redis.prefix}users:user:${erin.user.id}`;
    expect(await redis.exists(cacheKey)).toBe(1);

    const deleted = await fixture.gql(
      'mutation ($id: ID!) { deleteUser(id: $id) }',
      { id: erin.user.id },
      erin.accessToken,
    );
    expect(deleted.body).toEqual({ data: { deleteUser: true } });
    expect(await redis.exists(cacheKey)).toBe(0);
    const asAdmin = await fixture.gql(
      'query ($id: ID!) { user(id: $id) { id name } }',
      { id: erin.user.id },
      admin.accessToken,
    );
    expect(asAdmin.body).toEqual({ data: { user: null } });
    // Not even the profile the token carries is served for a deleted account.
    const me = await fixture.gql('{ me { id } }', undefined, erin.accessToken);
    expect(me.body.data?.['me'] ?? null).toBeNull();

    await waitFor(
      async () =>
        codes(await fixture.gql('{ me { id } }', undefined, erin.accessToken))[0] ===
        'UNAUTHENTICATED',
      { timeoutMs: 20_000, what: "Erin's token to be refused" },
    );
    expect(codes(await login(email))).toEqual(['UNAUTHENTICATED']);
    const refresh = await fixture.gql(
      'mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken } }',
      { t: erin.refreshToken },
    );
    expect(codes(refresh)).toEqual(['UNAUTHENTICATED']);
  });
});
