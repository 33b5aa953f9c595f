/**
 * Every domain event of every `*.events` topic → `analytics.events` and the rollups, a whole
 * consumer batch per transaction (group `analytics.ingest`). Redeliveries are no-ops twice
 * over: the consumer's inbox skips known ids, and the events table's key drops any copy.
 */
import type { BatchHandler, EventEnvelope, EventType } from '../../../shared/events/index.ts';
import type { AnalyticsService } from '../domain/analytics.service.ts';

export function createIngestHandler(
  analytics: AnalyticsService,
  types: readonly EventType[],
): BatchHandler {
  return {
    types,
    async handle({ em, events }) {
      await analytics.ingest(
        em,
        // The payload as the catalogue parsed it (its schema's shape), in the envelope.
        events.map(({ event, data }): EventEnvelope => ({ ...event, data })),
      );
    },
  };
}
