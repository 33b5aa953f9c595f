/**
 * Analytics subgraph wiring: the event store and rollups (Postgres schema `analytics`), fed
 * by one consumer group over every service's topic, and the graph's figures: `eventCounts`,
 * `dailyMetrics`, `topProducts`, `User.activity` and `Product.sales`. Publishes nothing.
 * Started by `platform/platform.ts`, alone or with the others.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { TOPICS, catalogue } from '../../schema/events/index.ts';
import type { EventTransport } from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import { createSubgraph } from '../../shared/server/index.ts';
import type { SubgraphHandle, SubgraphRuntimeConfig } from '../../shared/server/index.ts';
import { createAnalyticsService } from './domain/analytics.service.ts';
import { createIngestHandler } from './events/ingest.handler.ts';
import { migrations } from './migrations/index.ts';
import { createAnalyticsResolvers } from './resolvers/analytics.resolvers.ts';

/** How long the ingest lets a batch of events fill before it stores them. */
export const ANALYTICS_BATCH_WINDOW_MS = 500;

export const ANALYTICS_SDL = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface AnalyticsSubgraphOptions {
  config: SubgraphRuntimeConfig;
  logger: Logger;
  /** Shared transport (embedded mode); otherwise the subgraph opens its own from config. */
  transport?: EventTransport;
}

export async function startAnalyticsSubgraph(
  options: AnalyticsSubgraphOptions,
): Promise<SubgraphHandle> {
  return createSubgraph({
    name: 'analytics',
    typeDefs: parse(ANALYTICS_SDL),
    entities: [],
    migrations,
    catalogue,
    config: options.config,
    logger: options.logger,
    ...(options.transport ? { transport: options.transport } : {}),
    async wire({ events, metrics, logger }) {
      const analytics = createAnalyticsService({
        schema: options.config.dbSchema ?? 'analytics',
        logger,
        metrics,
      });
      await events.consume({
        group: 'analytics.ingest',
        topics: Object.values(TOPICS),
        batchHandler: createIngestHandler(analytics, catalogue.definitions()),
        // Figures, not answers anyone waits on: a batch per half second and partition costs
        // a transaction where a batch per event cost one each.
        batchWindowMs: ANALYTICS_BATCH_WINDOW_MS,
      });
      return { resolvers: createAnalyticsResolvers(analytics) };
    },
  });
}
