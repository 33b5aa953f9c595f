/**
 * The event envelope: CloudEvents 1.0 in JSON. `id` is a UUID v7 (time-ordered), `subject`
 * is the aggregate id and doubles as the Kafka key, so one aggregate's events stay in order;
 * `dataschema` names the payload's type and version in the catalogue.
 */
import { v7 as uuidv7 } from 'uuid';
import { InvalidEventError } from './invalid-event-error.ts';

export interface EventEnvelope<TData = unknown> {
  readonly specversion: '1.0';
  readonly id: string;
  /** The publishing service, e.g. `users`. */
  readonly source: string;
  /** Past-tense fact, e.g. `user.registered`. */
  readonly type: string;
  /** Aggregate id. */
  readonly subject: string;
  /** ISO-8601 timestamp of when the fact happened. */
  readonly time: string;
  readonly datacontenttype: 'application/json';
  /** `urn:eventgraph:<type>:v<version>`. */
  readonly dataschema?: string;
  readonly data: TData;
  /** W3C trace context of the operation that caused the event. */
  readonly traceparent?: string;
}

export interface NewEvent<TData = unknown> {
  type: string;
  subject: string;
  data: TData;
  traceparent?: string | undefined;
}

export interface EnvelopeDeps {
  /** @default () => new Date() */
  now?: () => Date;
  /** @default uuid v7 */
  newId?: () => string;
}

export function createEnvelope<TData>(
  source: string,
  event: NewEvent<TData>,
  dataschema: string | undefined,
  deps: EnvelopeDeps = {},
): EventEnvelope<TData> {
  return {
    specversion: '1.0',
    id: (deps.newId ?? uuidv7)(),
    source,
    type: event.type,
    subject: event.subject,
    time: (deps.now?.() ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    ...(dataschema ? { dataschema } : {}),
    data: event.data,
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
  };
}

/** Parses and shape-checks an envelope from JSON; throws `InvalidEventError` on bad input. */
export function parseEnvelope(json: string): EventEnvelope {
  let value: Partial<EventEnvelope> | null;
  try {
    value = JSON.parse(json) as Partial<EventEnvelope> | null;
  } catch {
    throw new InvalidEventError(undefined, 'message is not JSON');
  }
  const id = typeof value?.id === 'string' ? value.id : undefined;
  for (const field of ['id', 'source', 'type', 'subject', 'time'] as const) {
    if (typeof value?.[field] !== 'string' || value[field] === '') {
      throw new InvalidEventError(id, `envelope field "${field}" must be a non-empty string`);
    }
  }
  if (value?.specversion !== '1.0') throw new InvalidEventError(id, 'specversion must be 1.0');
  return value as EventEnvelope;
}
