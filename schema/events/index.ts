/**
 * The event catalogue: every cross-service event type with its versioned payload schema,
 * shared by producer and consumer. A payload that does not match is rejected with the
 * event id (see `parsePayload`). Topics are `<service>.events`.
 */
import { z } from 'zod';
import type { EventEnvelope } from '../../shared/events/index.ts';

export const TOPICS = {
  auth: 'auth.events',
  users: 'users.events',
  catalog: 'catalog.events',
  orders: 'orders.events',
} as const;

export const userRegisteredV1 = z.object({
  userId: z.uuid(),
  email: z.email(),
  name: z.string().min(1).max(100),
  role: z.enum(['USER', 'ADMIN']),
  registeredAt: z.iso.datetime(),
});

/** Payload schemas by event type. */
export const EVENT_PAYLOADS = {
  'user.registered': userRegisteredV1,
} as const;

export type EventType = keyof typeof EVENT_PAYLOADS;
export type EventPayload<T extends EventType> = z.infer<(typeof EVENT_PAYLOADS)[T]>;

export class InvalidEventPayloadError extends Error {
  readonly eventId: string;
  constructor(event: Pick<EventEnvelope, 'id' | 'type'>, reason: string) {
    super(`event ${event.id} (${event.type}) has an invalid payload: ${reason}`);
    this.name = 'InvalidEventPayloadError';
    this.eventId = event.id;
  }
}

/** Validates `event.data` against its type's schema; throws `InvalidEventPayloadError`. */
export function parsePayload<T extends EventType>(type: T, event: EventEnvelope): EventPayload<T> {
  const result = EVENT_PAYLOADS[type].safeParse(event.data);
  if (!result.success) {
    throw new InvalidEventPayloadError(
      event,
      result.error.issues.map((i) => `${i.path.join('.') || 'data'}: ${i.message}`).join('; '),
    );
  }
  return result.data;
}
