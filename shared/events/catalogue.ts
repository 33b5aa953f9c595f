/**
 * Event catalogue mechanism: each event type has a versioned payload schema (zod), shared by
 * producer and consumer. The platform's catalogue itself lives in `schema/events/` (the
 * cross-service contract); tests build their own with the same functions.
 */
import type { z } from 'zod';
import type { EventEnvelope } from './envelope.ts';
import { InvalidEventError } from './invalid-event-error.ts';

export interface EventType<TData = unknown> {
  /** Past-tense fact, e.g. `user.registered`. */
  readonly type: string;
  /** Payload schema version; a breaking change to the payload is a new version. */
  readonly version: number;
  readonly schema: z.ZodType<TData>;
}

export function defineEventType<TData>(
  type: string,
  version: number,
  schema: z.ZodType<TData>,
): EventType<TData> {
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
  /** Every type it knows, in definition order. */
  types(): string[];
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
  return {
    find: (type, version) => byKey.get(`${type}@${version}`),
    latest: (type) => latest.get(type),
    types: () => [...latest.keys()],
    parse(event) {
      const version = versionOf(event.dataschema);
      const definition = byKey.get(`${event.type}@${version}`);
      if (!definition) {
        throw new InvalidEventError(event.id, `unknown event type ${event.type} v${version}`);
      }
      const result = definition.schema.safeParse(event.data);
      if (!result.success) {
        const reason = result.error.issues
          .map((issue) => `${issue.path.join('.') || 'data'}: ${issue.message}`)
          .join('; ');
        throw new InvalidEventError(
          event.id,
          `${event.type} v${version} payload is invalid: ${reason}`,
        );
      }
      return result.data;
    },
  };
}
