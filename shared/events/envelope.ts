/**
 * The event envelope: CloudEvents 1.0 in JSON. `id` is a UUID v7 (time-ordered), `subject`
 * is the aggregate id and doubles as the Kafka key, so one aggregate's events stay in order.
 */
import { v7 as uuidv7 } from 'uuid';

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
  readonly data: TData;
  readonly traceparent?: string;
}

export interface NewEvent<TData> {
  source: string;
  type: string;
  subject: string;
  data: TData;
  traceparent?: string;
}

export interface EnvelopeDeps {
  /** @default () => new Date() */
  now?: () => Date;
  /** @default uuid v7 */
  newId?: () => string;
}

export function createEvent<TData>(
  event: NewEvent<TData>,
  deps: EnvelopeDeps = {},
): EventEnvelope<TData> {
  return {
    specversion: '1.0',
    id: (deps.newId ?? uuidv7)(),
    source: event.source,
    type: event.type,
    subject: event.subject,
    time: (deps.now?.() ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    data: event.data,
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
  };
}

/** Parses and shape-checks an envelope from JSON; throws with the reason on bad input. */
export function parseEnvelope(json: string): EventEnvelope {
  const value = JSON.parse(json) as Partial<EventEnvelope> | null;
  for (const field of ['id', 'source', 'type', 'subject', 'time'] as const) {
    if (typeof value?.[field] !== 'string' || value[field] === '') {
      throw new Error(`invalid event envelope: "${field}" must be a non-empty string`);
    }
  }
  if (value?.specversion !== '1.0')
    throw new Error('invalid event envelope: specversion must be 1.0');
  return value as EventEnvelope;
}
