/**
 * The variables of auth's own settings (tokens, sessions, signing keys, sign-in limits):
 * `platform/env.ts` puts them into the platform's environment, and `auth:rotate-key` reads
 * them beside the common ones. What each is for is in `platform/settings.ts`.
 */
import { z } from 'zod';
import { env } from '../../shared/config/index.ts';

export const authEnvShape = {
  AUTH_TOKEN_ISSUER: z.string().default('eventgraph-auth'),
  AUTH_TOKEN_AUDIENCE: z.string().default('eventgraph'),
  AUTH_ACCESS_TOKEN_TTL_SECONDS: env.positiveInt(900),
  AUTH_REFRESH_TOKEN_TTL_SECONDS: env.positiveInt(7 * 24 * 3600),
  AUTH_SIGNING_KEY_ROTATION_DAYS: z.coerce
    .number({ message: 'expected a whole number of days (0 = never)' })
    .int({ message: 'expected a whole number of days (0 = never)' })
    .min(0, { message: 'expected a whole number of days (0 = never)' })
    .default(30),
  AUTH_LOGIN_WINDOW_SECONDS: env.positiveInt(900),
  AUTH_LOGIN_MAX_ATTEMPTS_PER_EMAIL: env.positiveInt(10),
  AUTH_LOGIN_MAX_ATTEMPTS_PER_IP: env.positiveInt(100),
  AUTH_CREDENTIAL_OPS_PER_IP_PER_MINUTE: env.positiveInt(60),
};
