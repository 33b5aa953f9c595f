/**
 * The gateway's live feed of entity changes, for subscriptions and the response cache: one
 * consumer per gateway instance (a group of its own, starting at the newest messages: no
 * replay of history) on the topics the supergraph's `@changedBy` declarations name (see
 * live-schema.ts), each event checked against the event catalogue like every consumer's,
 * turned into the changes it declares and fanned out in memory to their listeners.
 * Listeners are called synchronously and must not block; a listener that throws is logged
 * and the others still hear the change.
 *
 * Two kinds of listener: a subscription field's (`listen`), which hears the events that field
 * declares, for one entity or every one; and the entities' (`listenEntities`), which hears
 * every change to what a query of an entity type can return.
 *
 * Each partition of a topic is consumed in order, and a subject's events share a partition,
 * so one entity's changes reach listeners in the order they happened. Every change carries a
 * number that grows with each event the feed consumes.
 */
import { randomUUID } from 'node:crypto';
import { parseEnvelope } from '../../shared/events/index.ts';
import type {
  EventCatalogue,
  EventEnvelope,
  EventTransport,
  Subscription,
} from '../../shared/events/index.ts';
import type { Logger } from '../../shared/observability/index.ts';
import type { DataPath, EventBinding, LiveSchema } from './live-schema.ts';

/** One entity changed by one event, as a subscription field or entity type declares it. */
export interface Change {
  /** The entity's id. */
  readonly id: string;
  /** The event's type, e.g. `parcel.delivered`. */
  readonly type: string;
  /** Field values the event leaves in the entity (its binding's `set`). */
  readonly set: Readonly<Record<string, string>>;
  /** The entity's version after the event, when its binding declares where it is. */
  readonly version: string | null;
  /** Grows with every event the feed consumes: a later change has a larger one. */
  readonly sequence: number;
}

export type ChangeListener = (change: Change) => void;

export interface ChangeFeed {
  /** Hears the changes a subscription field declares: of one entity (`id`), or all (`id` null). */
  listen(field: string, id: string | null, listener: ChangeListener): () => void;
  /** Hears every change to an entity type's data. */
  listenEntities(listener: (typename: string, change: Change) => void): () => void;
  /** The number of the newest change consumed (0 before any). */
  sequence(): number;
  /** Listeners currently registered (for metrics and tests). */
  size(): number;
  /**
   * Consumes the topics the supergraph now serving names, when they differ from those
   * consumed (a reloaded supergraph): a new consumer starts at the newest messages, then the
   * old one stops. Rejects, leaving the old consumer, when the new one cannot start.
   */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

export interface ChangeFeedOptions {
  transport: EventTransport;
  catalogue: EventCatalogue;
  /** The declarations of the supergraph now serving; read for every event. */
  live: () => LiveSchema;
  logger: Logger;
  /** Names this instance's consumer group. @default a random UUID */
  instanceId?: string;
}

/** The values at a path of an event's data, walking into arrays; strings and numbers only. */
export function valuesAt(data: unknown, path: DataPath): string[] {
  let current: unknown[] = [data];
  for (const step of path) {
    const next: unknown[] = [];
    for (const value of current) {
      const child =
        value !== null && typeof value === 'object' && !Array.isArray(value)
          ? (value as Record<string, unknown>)[step]
          : undefined;
      if (Array.isArray(child)) next.push(...(child as unknown[]));
      else if (child !== undefined) next.push(child);
    }
    current = next;
  }
  return current.flatMap((value) =>
    typeof value === 'string' || typeof value === 'number' ? [String(value)] : [],
  );
}

/** The changes one binding makes of an event (none when the event is not one it names). */
export function changesOf(
  binding: EventBinding,
  topic: string,
  event: Pick<EventEnvelope, 'type' | 'data'>,
  sequence: number,
): Change[] {
  if (binding.topic !== topic || !binding.events.has(event.type)) return [];
  const matches =
    binding.when.length === 0 ||
    binding.when.some(({ path, value }) => valuesAt(event.data, path).includes(value));
  if (!matches) return [];
  const version = binding.version ? (valuesAt(event.data, binding.version)[0] ?? null) : null;
  return [...new Set(valuesAt(event.data, binding.key))].map((id) => ({
    id,
    type: event.type,
    set: binding.set,
    version,
    sequence,
  }));
}

export async function startChangeFeed(options: ChangeFeedOptions): Promise<ChangeFeed> {
  const { transport, catalogue, logger } = options;
  const listeners = new Map<string, Set<ChangeListener>>();
  const entityListeners = new Set<(typename: string, change: Change) => void>();
  const keyOf = (field: string, id: string | null) => `${field}\u0000${id ?? ''}`;
  let count = 0;
  let sequence = 0;

  const call = <T extends unknown[]>(listener: (...args: T) => void, ...args: T) => {
    try {
      listener(...args);
    } catch (error) {
      logger.error({ err: error }, 'change listener failed');
    }
  };

  const dispatch = (topic: string, event: EventEnvelope) => {
    const live = options.live();
    const number = ++sequence;
    for (const entity of live.entities) {
      for (const binding of entity.bindings) {
        for (const change of changesOf(binding, topic, event, number)) {
          for (const listener of entityListeners) call(listener, entity.typename, change);
        }
      }
    }
    for (const [field, subscription] of live.subscriptions) {
      for (const binding of subscription.bindings) {
        for (const change of changesOf(binding, topic, event, number)) {
          for (const key of [keyOf(field, change.id), keyOf(field, null)]) {
            for (const listener of listeners.get(key) ?? []) call(listener, change);
          }
        }
      }
    }
  };

  const instanceId = options.instanceId ?? randomUUID();
  let generation = 0;
  const consume = (topics: readonly string[]): Promise<Subscription> => {
    // A group per topic set: a new set starts at the newest messages, like the first.
    const group = `gateway.subscriptions.${instanceId}${generation > 0 ? `.${generation}` : ''}`;
    generation++;
    return transport.subscribe({
      group,
      topics: [...topics],
      fromBeginning: false,
      async eachBatch(messages) {
        for (const message of messages) {
          let event: EventEnvelope;
          try {
            event = parseEnvelope(message.value);
            // Only an event something is bound to is worth checking and dispatching.
            if (!options.live().events.get(message.topic)?.has(event.type)) continue;
            event = { ...event, data: catalogue.parse(event) };
          } catch (error) {
            // Nothing a subscriber can be told about; the services' consumers dead-letter it.
            logger.warn(
              { err: error, topic: message.topic },
              'change feed skipped an invalid event',
            );
            continue;
          }
          dispatch(message.topic, event);
        }
        return messages.length;
      },
    });
  };

  const topicsOf = (live: LiveSchema) => [...live.events.keys()].sort();
  let topics = topicsOf(options.live());
  let subscription = topics.length > 0 ? await consume(topics) : null;
  if (!subscription) logger.info('gateway: the supergraph declares no event-fed fields');

  return {
    listen(field, id, listener) {
      const key = keyOf(field, id);
      let set = listeners.get(key);
      if (!set) listeners.set(key, (set = new Set()));
      set.add(listener);
      count++;
      return () => {
        if (!set.delete(listener)) return;
        count--;
        if (set.size === 0) listeners.delete(key);
      };
    },
    listenEntities(listener) {
      entityListeners.add(listener);
      return () => void entityListeners.delete(listener);
    },
    sequence: () => sequence,
    size: () => count,
    async refresh() {
      const wanted = topicsOf(options.live());
      if (wanted.join('\u0000') === topics.join('\u0000')) return;
      const next = wanted.length > 0 ? await consume(wanted) : null;
      const previous = subscription;
      [subscription, topics] = [next, wanted];
      logger.info({ topics: wanted }, 'change feed: now consuming the topics the supergraph names');
      await previous?.stop();
    },
    stop: async () => {
      await subscription?.stop();
    },
  };
}
