/**
 * The signing-key store against a real PostgreSQL: one key on first start, the same key
 * after a restart, rotation (on demand, and automatically by age) keeps the retired key
 * published until its tokens have expired, and two instances agree on one key.
 */
import { jwtVerify, SignJWT, createLocalJWKSet } from 'jose';
import { startDatabase } from '../../../shared/db/index.ts';
import type { Database } from '../../../shared/db/index.ts';
import { createTestDatabase, testLogger, waitFor } from '../../../shared/testing/index.ts';
import type { TestDatabase } from '../../../shared/testing/index.ts';
import { migrations } from '../migrations/index.ts';
import { startSigningKeyStore } from './signing-keys.ts';
import type { SigningKeyStore, SigningKeyStoreOptions } from './signing-keys.ts';

const logger = testLogger();
const HOUR = 3600_000;
let database: TestDatabase;
let db: Database;
const stores: SigningKeyStore[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = await startDatabase({
    schema: 'auth',
    url: database.url,
    dataDir: '',
    entities: [],
    migrations,
    logger,
  });
});

afterEach(() => {
  for (const store of stores.splice(0)) store.stop();
});

afterAll(async () => {
  await db?.stop();
  await database?.drop();
});

/** A clock tests move by hand. */
function clock(start = Date.parse('2026-11-22T12:00:00Z')) {
  let now = start;
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}

async function open(options: Partial<SigningKeyStoreOptions> = {}) {
  const store = await startSigningKeyStore({
    orm: db.orm,
    schema: 'auth',
    logger,
    retainMs: HOUR,
    rotateAfterMs: 0,
    ...options,
  });
  stores.push(store);
  return store;
}

async function signedBy(store: SigningKeyStore): Promise<string> {
  const { kid, privateKey } = store.current();
  return new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
}

async function verifies(store: SigningKeyStore, token: string): Promise<boolean> {
  return jwtVerify(token, createLocalJWKSet(store.jwks()), { algorithms: ['ES256'] }).then(
    () => true,
    () => false,
  );
}

beforeEach(async () => {
  await db.orm.em.fork().execute('delete from auth.signing_keys');
});

it('creates one key on first start and reuses it after a restart', async () => {
  const first = await open();
  const kid = first.current().kid;
  first.stop();
  const second = await open();
  expect(second.current().kid).toBe(kid);
  expect(second.jwks().keys.map((k) => k.kid)).toEqual([kid]);
});

it('two instances starting at once agree on one key', async () => {
  const [a, b] = await Promise.all([open(), open()]);
  expect(a.current().kid).toBe(b.current().kid);
});

it('rotation signs with the new key and keeps the old one published until retainMs has passed', async () => {
  const time = clock();
  const store = await open({ now: time.now });
  const oldToken = await signedBy(store);
  const oldKid = store.current().kid;

  const newKid = await store.rotate();
  expect(store.current().kid).toBe(newKid);
  expect(await verifies(store, oldToken)).toBe(true);
  expect(await verifies(store, await signedBy(store))).toBe(true);

  time.advance(HOUR - 1000);
  await store.refresh();
  expect(store.jwks().keys.map((k) => k.kid)).toContain(oldKid);

  time.advance(2000);
  await store.refresh();
  expect(store.jwks().keys.map((k) => k.kid)).toEqual([newKid]);
  expect(await verifies(store, oldToken)).toBe(false);
});

it('rotates by itself once the signing key is older than rotateAfterMs', async () => {
  const time = clock();
  const store = await open({ now: time.now, rotateAfterMs: 24 * HOUR, refreshIntervalMs: 20 });
  const first = store.current().kid;
  time.advance(23 * HOUR);
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(store.current().kid).toBe(first);
  time.advance(2 * HOUR);
  await waitFor(() => store.current().kid !== first, { what: 'the store to rotate by itself' });
  expect(store.jwks().keys.map((k) => k.kid)).toContain(first);
});

it('publishes public keys only', async () => {
  const store = await open();
  for (const key of store.jwks().keys) {
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(key).not.toHaveProperty('d');
  }
});
