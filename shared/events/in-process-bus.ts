/**
 * In-process event bus for embedded mode (one process, no broker). Each group gets its own
 * FIFO queue per topic and handles one event at a time, so per-subject order holds; a
 * failing handler is retried with backoff, then the event is logged and skipped. Events
 * published before a group subscribed are not replayed (nothing is persisted here).
 */
import type { Logger } from '../observability/index.ts';
import type { EventBus, EventHandler, Subscription } from './bus.ts';
import type { EventEnvelope } from './envelope.ts';

export interface InProcessBusOptions {
  logger: Logger;
  /** Attempts per event before it is skipped. @default 5 */
  maxAttempts?: number;
  /** First retry delay, doubled per attempt. @default 50 */
  retryBaseMs?: number;
}

interface GroupQueue {
  readonly group: string;
  readonly topics: ReadonlySet<string>;
  readonly handle: EventHandler;
  readonly pending: { topic: string; event: EventEnvelope; offset: number }[];
  running: Promise<void> | undefined;
  stopped: boolean;
}

export function createInProcessBus(options: InProcessBusOptions): EventBus {
  const { logger } = options;
  const maxAttempts = options.maxAttempts ?? 5;
  const retryBaseMs = options.retryBaseMs ?? 50;
  const groups = new Set<GroupQueue>();
  const offsets = new Map<string, number>();

  const drain = async (queue: GroupQueue) => {
    while (!queue.stopped && queue.pending.length > 0) {
      const { topic, event, offset } = queue.pending[0]!;
      for (let attempt = 1; ; attempt++) {
        try {
          await queue.handle(event, { topic, partition: 0, offset: String(offset) });
          break;
        } catch (error) {
          if (attempt >= maxAttempts || queue.stopped) {
            logger.error(
              {
                err: error,
                group: queue.group,
                topic,
                eventId: event.id,
                type: event.type,
                attempt,
              },
              'event handler failed; event skipped',
            );
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, retryBaseMs * 2 ** (attempt - 1)));
        }
      }
      queue.pending.shift();
    }
    queue.running = undefined;
  };

  return {
    mode: 'in-process',
    async publish(topic, events) {
      for (const event of events) {
        const offset = offsets.get(topic) ?? 0;
        offsets.set(topic, offset + 1);
        for (const queue of groups) {
          if (queue.stopped || !queue.topics.has(topic)) continue;
          queue.pending.push({ topic, event, offset });
          queue.running ??= drain(queue);
        }
      }
    },
    async subscribe({ group, topics, handle }): Promise<Subscription> {
      const queue: GroupQueue = {
        group,
        topics: new Set(topics),
        handle,
        pending: [],
        running: undefined,
        stopped: false,
      };
      groups.add(queue);
      return {
        async stop() {
          // Let the event in hand finish; what is still queued is dropped with the process.
          queue.stopped = true;
          await queue.running;
          groups.delete(queue);
        },
      };
    },
    async ping() {},
    async stop() {
      await Promise.all(
        [...groups].map(async (queue) => {
          queue.stopped = true;
          await queue.running;
        }),
      );
      groups.clear();
    },
  };
}
