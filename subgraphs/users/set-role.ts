/**
 * `npm run users:set-role -- <email> <ADMIN|USER>`: grants or revokes ADMIN on an existing
 * account, as an ADMIN's `setRole` mutation does: the profile's role changes and
 * `user.role_changed` is published with it (outbox). Auth then puts the new role in tokens
 * and ends the account's sessions; users drops its cached profile. A running platform
 * applies the event within moments; a stopped one when it starts.
 *
 * Reads the variables every process of the platform reads (DATABASE_URL; without it, the
 * embedded database under DATA_DIR, which must not be in use by a running `npm start`).
 */
import { parseArgs } from 'node:util';
import { ROLES } from '../../shared/auth/index.ts';
import type { Role } from '../../shared/auth/index.ts';
import { createMemoryCache } from '../../shared/cache/index.ts';
import { ConfigError, commonEnvSchema, loadConfig } from '../../shared/config/index.ts';
import { startDatabase } from '../../shared/db/index.ts';
import { NotFoundError } from '../../shared/errors/index.ts';
import { createOutbox } from '../../shared/events/index.ts';
import { createLogger, createMetrics } from '../../shared/observability/index.ts';
import { catalogue } from '../../schema/events/index.ts';
import { UserEntity } from './domain/user.entity.ts';
import { createUserService } from './domain/user.service.ts';
import { migrations } from './migrations/index.ts';

const USAGE = 'usage: npm run users:set-role -- <email> <ADMIN|USER>';

function fail(message: string): never {
  process.stderr.write(`users:set-role: ${message}\n`);
  process.exit(1);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { help: { type: 'boolean', short: 'h', default: false } },
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const [email, rawRole] = positionals;
if (!email || !rawRole || positionals.length > 2) fail(USAGE);
const role = rawRole.toUpperCase();
if (!(ROLES as readonly string[]).includes(role)) {
  fail(`the role must be one of ${ROLES.join(', ')}, got "${rawRole}"`);
}

let env;
try {
  env = loadConfig(commonEnvSchema);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  fail(error.problems.join('; '));
}
const logger = createLogger({ level: env.LOG_LEVEL === 'info' ? 'warn' : env.LOG_LEVEL });
try {
  const db = await startDatabase({
    schema: 'users',
    url: env.DATABASE_URL,
    dataDir: `${env.DATA_DIR}/users`,
    entities: [UserEntity],
    migrations,
    logger,
  });
  try {
    const outbox = createOutbox({ schema: 'users', source: 'users', catalogue });
    const users = createUserService({
      // The running users service drops its cached profile when it consumes the event.
      cache: createMemoryCache('users-cli'),
      events: { publish: (em, type, events) => outbox.publish(em, type, events) },
      metrics: createMetrics('users-cli'),
      logger,
      schema: 'users',
    });
    const { user, previousRole } = await users.setRoleByEmail(
      db.orm.em.fork(),
      email,
      role as Role,
    );
    process.stdout.write(
      previousRole === user.role
        ? `${user.email} (${user.id}) is already ${user.role}; nothing changed\n`
        : `${user.email} (${user.id}) is now ${user.role} (was ${previousRole}); ` +
            'its sessions end once auth applies user.role_changed\n',
    );
  } finally {
    await db.stop();
  }
} catch (error) {
  fail(
    error instanceof NotFoundError ? `no account has the email ${email}` : (error as Error).message,
  );
}
