/**
 * The environment a process of the platform reads (see README's configuration table and
 * `.env.example`). Parsed once by `platform/start.ts`.
 */
import { z } from 'zod';
import { commonEnvSchema, env } from '../shared/config/index.ts';
import { SUBGRAPHS } from './services.ts';

export const platformEnvSchema = commonEnvSchema
  .extend({
    /** Run one service of the platform; unset runs everything in this process. */
    SERVICE: z
      .enum(['gateway', 'auth', 'users', 'catalog', 'orders', 'analytics'], {
        message: 'expected one of gateway, auth, users, catalog, orders, analytics',
      })
      .optional(),
    /** Port of the service (SERVICE set) or of the gateway (everything in one process). */
    PORT: env.port().optional(),
    AUTH_URL: env.httpUrl().optional(),
    USERS_URL: env.httpUrl().optional(),
    CATALOG_URL: env.httpUrl().optional(),
    ORDERS_URL: env.httpUrl().optional(),
    ANALYTICS_URL: env.httpUrl().optional(),
    /** The first account registered with this address becomes ADMIN. */
    ADMIN_EMAIL: z.email({ message: 'expected an email address' }).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.SERVICE !== 'gateway') return;
    for (const subgraph of SUBGRAPHS.filter((s) => s.implemented)) {
      const variable = `${subgraph.name.toUpperCase()}_URL` as 'USERS_URL';
      if (!value[variable]) {
        ctx.addIssue({
          code: 'custom',
          path: [variable],
          message: `expected the ${subgraph.name} subgraph's GraphQL URL when SERVICE=gateway`,
        });
      }
    }
  });

export type PlatformEnv = z.infer<typeof platformEnvSchema>;
