/**
 * The keys access tokens are signed with (ES256), kept in auth's `signing_keys` table so
 * every auth instance signs with the same newest key and publishes the same JWKS.
 *
 * Rotation without downtime: a rotation adds a new key and retires the old one, which stays
 * published (`/.well-known/jwks.json`) until every token it signed has expired (`retainMs`),
 * then is deleted. Verifiers refetch the JWKS when they meet an unknown `kid`. Rotation
 * happens on demand (`rotate()`, `npm run auth:rotate-key`) and when the signing key is
 * older than `rotateAfterMs`; an advisory lock makes concurrent rotations by several
 * instances one rotation.
 */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { ACCESS_TOKEN_ALGORITHM } from '../../../shared/auth/index.ts';
import type { MikroORM } from '../../../shared/db/index.ts';
import type { Logger } from '../../../shared/observability/index.ts';

export interface SigningKeyStoreOptions {
  orm: MikroORM;
  /** Postgres schema holding `signing_keys`. */
  schema: string;
  logger: Logger;
  /** How long a retired key stays published: the access-token lifetime plus clock leeway. */
  retainMs: number;
  /** Rotate when the signing key is older than this (ms); 0 never rotates on its own. */
  rotateAfterMs: number;
  /** How often keys are re-read, to pick up other instances' rotations. @default 30000 */
  refreshIntervalMs?: number;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
}

export interface SigningKeyStore {
  /** The key new tokens are signed with: the newest unretired one. */
  current(): SigningKey;
  /** The public keys that may still verify unexpired tokens, as a JWKS document. */
  jwks(): { keys: JWK[] };
  /** Re-reads the keys when the copy in memory is older than `maxAgeMs`. */
  refresh(maxAgeMs?: number): Promise<void>;
  /** Adds a new signing key and retires the current one; resolves to the new `kid`. */
  rotate(): Promise<string>;
  stop(): void;
}

interface KeyRow {
  kid: string;
  private_jwk: JWK;
  public_jwk: JWK;
  created_at: Date | string;
  retired_at: Date | string | null;
}

interface LoadedKeys {
  signing: SigningKey & { createdAt: Date };
  published: JWK[];
  loadedAt: number;
}

export async function startSigningKeyStore(
  options: SigningKeyStoreOptions,
): Promise<SigningKeyStore> {
  const { orm, logger, retainMs } = options;
  const table = `"${options.schema}".signing_keys`;
  const now = options.now ?? (() => new Date());
  const imported = new Map<string, CryptoKey>();
  let loaded: LoadedKeys | undefined;

  /** Rotates inside one transaction under a lock; `onlyIf` re-checks the need under it. */
  const rotateLocked = async (onlyIf?: (newestActive: Date | undefined) => boolean) =>
    orm.em.fork({ disableContextResolution: true }).transactional(async (em) => {
      await em.execute(
        `select pg_advisory_xact_lock(hashtextextended('eventgraph:signing_keys:' || ?, 0))`,
        [options.schema],
      );
      const [newest] = await em.execute<{ created_at: Date | string }[]>(
        `select created_at from ${table} where retired_at is null order by created_at desc limit 1`,
      );
      // The driver hands timestamps over as strings (MikroORM keeps their time zone exact).
      if (onlyIf && !onlyIf(newest ? new Date(newest.created_at) : undefined)) return undefined;
      const { privateKey, publicKey } = await generateKeyPair(ACCESS_TOKEN_ALGORITHM, {
        extractable: true,
      });
      const publicJwk = await exportJWK(publicKey);
      // The RFC 7638 thumbprint names the key by its content; the suffix keeps it unique.
      const kid = `${await calculateJwkThumbprint(publicJwk)}.${randomUUID().slice(0, 8)}`;
      const at = now();
      await em.execute(`update ${table} set retired_at = ? where retired_at is null`, [at]);
      await em.execute(
        `insert into ${table} (kid, private_jwk, public_jwk, created_at) values (?, ?, ?, ?)`,
        [
          kid,
          JSON.stringify(await exportJWK(privateKey)),
          JSON.stringify({ ...publicJwk, kid, alg: ACCESS_TOKEN_ALGORITHM, use: 'sig' }),
          at,
        ],
      );
      await em.execute(`delete from ${table} where retired_at < ?`, [
        new Date(at.getTime() - retainMs),
      ]);
      logger.info(
        { kid },
        'auth: new signing key; the previous one stays published until its tokens expire',
      );
      return kid;
    });

  const load = async (): Promise<void> => {
    const rows = await orm.em.fork({ disableContextResolution: true }).execute<KeyRow[]>(
      `select kid, private_jwk, public_jwk, created_at, retired_at from ${table}
         where retired_at is null or retired_at >= ?
         order by created_at desc`,
      [new Date(now().getTime() - retainMs)],
    );
    const active = rows.find((row) => row.retired_at === null);
    if (!active) throw new Error('no active signing key');
    let privateKey = imported.get(active.kid);
    if (!privateKey) {
      privateKey = (await importJWK(active.private_jwk, ACCESS_TOKEN_ALGORITHM)) as CryptoKey;
      imported.set(active.kid, privateKey);
    }
    loaded = {
      signing: { kid: active.kid, privateKey, createdAt: new Date(active.created_at) },
      published: rows.map((row) => row.public_jwk),
      loadedAt: Date.now(),
    };
  };

  const dueForRotation = (newest: Date | undefined) =>
    newest === undefined ||
    (options.rotateAfterMs > 0 && now().getTime() - newest.getTime() >= options.rotateAfterMs);

  const refresh = async () => {
    if (!loaded || dueForRotation(loaded.signing.createdAt)) await rotateLocked(dueForRotation);
    await load();
  };

  await refresh();
  const timer = setInterval(() => {
    refresh().catch((error: unknown) =>
      logger.warn({ err: error }, 'auth: could not refresh signing keys; using the ones loaded'),
    );
  }, options.refreshIntervalMs ?? 30_000);
  timer.unref();

  return {
    current: () => loaded!.signing,
    jwks: () => ({ keys: loaded!.published }),
    async refresh(maxAgeMs = 0) {
      if (Date.now() - loaded!.loadedAt >= maxAgeMs) await load();
    },
    async rotate() {
      const kid = await rotateLocked();
      await load();
      return kid!;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
