/**
 * Event catalogue mechanism: each event type has a versioned payload schema (zod), shared by
 * producer and consumer. The platform's catalogue itself lives in `schema/events/` (the
 * cross-service contract); tests build their own with the same functions.
 *
 * A definition is also the handle code uses for its event type: publishing takes the
 * definition and a payload of its schema's type, and a consumer's handlers are bound to
 * definitions (`on` in consumer.ts), so a payload or a handler that does not fit its event
 * type is a compile error rather than a dead letter.
 */
import type { z } from 'zod';
import type { EventEnvelope } from './envelope.ts';
import { InvalidEventError } from './invalid-event-error.ts';

/** One version of one event type. `TName` and `TSchema` keep the name and payload typed. */
export interface EventType<TName extends string = string, TSchema extends z.ZodType = z.ZodType> {
  /** Past-tense fact, e.g. `user.registered`. */
  readonly type: TName;
  /** Payload schema version; a breaking change to the payload is a new version. */
  readonly version: number;
  readonly schema: TSchema;
}

/** The payload of an event type as its schema produces it: what a handler receives. */
export type EventData<T extends EventType> = z.output<T['schema']>;

/** The payload of an event type as its schema accepts it: what a publisher gives. */
export type EventInput<T extends EventType> = z.input<T['schema']>;

export function defineEventType<const TName extends string, TSchema extends z.ZodType>(
  type: TName,
  version: number,
  schema: TSchema,
): EventType<TName, TSchema> {
  return { type, version, schema };
}

/** `dataschema` attribute of an envelope: names the payload's type and version. */
export function dataSchemaUri(type: string, version: number): string {
  return `urn:eventgraph:${type}:v${version}`;
}

export interface EventCatalogue {
  /** The definition for a type and version, if the catalogue knows it. */
  find(type: string, version: number): EventType | undefined;
  /** The newest version of a type. */
  latest(type: string): EventType | undefined;
  /** Every definition it holds (each version of each type), in definition order. */
  definitions(): readonly EventType[];
  /** The definition an envelope names: its type, at the version its `dataschema` gives (v1 without one). */
  definitionOf(event: Pick<EventEnvelope, 'type' | 'dataschema'>): EventType | undefined;
  /** Validates an envelope's `data`; throws `InvalidEventError` naming the event id. */
  parse(event: Pick<EventEnvelope, 'id' | 'type' | 'data' | 'dataschema'>): unknown;
}

export function createCatalogue(definitions: readonly EventType[]): EventCatalogue {
  const byKey = new Map<string, EventType>();
  const latest = new Map<string, EventType>();
  for (const definition of definitions) {
    byKey.set(`${definition.type}@${definition.version}`, definition);
    if ((latest.get(definition.type)?.version ?? 0) < definition.version) {
      latest.set(definition.type, definition);
    }
  }
  const versionOf = (dataschema: string | undefined): number => {
    const match = dataschema ? /:v(\d+)$/.exec(dataschema) : null;
    return match ? Number(match[1]) : 1;
  };
  const definitionOf = (event: Pick<EventEnvelope, 'type' | 'dataschema'>) =>
    byKey.get(`${event.type}@${versionOf(event.dataschema)}`);
  return {
    find: (type, version) => byKey.get(`${type}@${version}`),
    latest: (type) => latest.get(type),
    definitions: () => [...definitions],
    definitionOf,
    parse(event) {
      const definition = definitionOf(event);
      if (!definition) {
        const version = versionOf(event.dataschema);
        throw new InvalidEventError(event.id, `unknown event type ${event.type} v${version}`);
      }
      const result = definition.schema.safeParse(event.data);
      if (!result.success) {
        const reason = result.error.issues
          .map((issue) => `${issue.path.join('.') || 'data'}: ${issue.message}`)
          .join('; ');
        throw new InvalidEventError(
          event.id,
          `${event.type} v${definition.version} payload is invalid: ${reason}`,
        );
      }
      return result.data;
    },
  };
}
