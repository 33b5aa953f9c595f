/**
 * `npm run auth:rotate-key`: adds a new access-token signing key now and retires the current
 * one, which stays published until its tokens have expired. Running auth instances pick the
 * new key up within 30 s; the gateway fetches it on the first token it sees signed with it.
 * Reads the same environment as the platform: the common variables and auth's own
 * (DATABASE_URL; without it, the embedded database under DATA_DIR, which must not be in use
 * by a running `npm start`).
 */
import { ConfigError, commonEnvSchema, loadConfig } from '../../shared/config/index.ts';
import { startDatabase } from '../../shared/db/index.ts';
import { createLogger } from '../../shared/observability/index.ts';
import { startSigningKeyStore } from './domain/signing-keys.ts';
import { authEnvShape } from './env.ts';
import { migrations } from './migrations/index.ts';

let env;
try {
  env = loadConfig(commonEnvSchema.extend(authEnvShape));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`auth:rotate-key: ${error.problems.join('; ')}\n`);
  process.exit(1);
}
const logger = createLogger({ level: env.LOG_LEVEL === 'info' ? 'warn' : env.LOG_LEVEL });
try {
  const db = await startDatabase({
    schema: 'auth',
    url: env.DATABASE_URL,
    dataDir: `${env.DATA_DIR}/auth`,
    entities: [],
    migrations,
    logger,
  });
  try {
    const keys = await startSigningKeyStore({
      orm: db.orm,
      schema: 'auth',
      logger,
      retainMs: env.AUTH_ACCESS_TOKEN_TTL_SECONDS * 1000 + 60_000,
      rotateAfterMs: 0,
    });
    const previous = keys.current().kid;
    const kid = await keys.rotate();
    keys.stop();
    process.stdout.write(`new signing key ${kid}; ${previous} verifies until its tokens expire\n`);
  } finally {
    await db.stop();
  }
} catch (error) {
  process.stderr.write(`auth:rotate-key: ${(error as Error).message}\n`);
  process.exit(1);
}
